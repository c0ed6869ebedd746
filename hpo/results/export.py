"""``hpo export``: the best trials of a study as complete, runnable training configs.

A trial is the spec's ``train:`` block with the holes filled, so exporting it writes that
block with the winning values in, under a comment header saying where it came from::

    # study: quickstart
    # trial: 7 (rank 1 of 12 complete trials)
    # val_acc: 0.9756 (max)
    ...
    seed: 0
    data: {name: digits, val_fraction: 0.2}
    ...

``hpo train`` runs the file unchanged; it reads the ``study:`` line of the header to put
its results under ``studies/<study>/retrain/``.
"""

from __future__ import annotations

import datetime as dt
import re
from pathlib import Path
from typing import Any

import optuna
import yaml
from optuna.trial import FrozenTrial

from hpo.errors import HpoError
from hpo.results.table import ranked_trials, study_metric, study_mode
from hpo.spec.sections import spec_from_text
from hpo.spec.trainer import DEFAULT_TRAINER, check_train_config, load_trainer
from hpo.study.records import state_counts
from hpo.study.summary import format_params
from hpo.study.versions import SEARCH_HASH_ATTR, SPEC_SOURCE_ATTR, SPEC_TEXT_ATTR

_STUDY_LINE = re.compile(r"^#\s*study:\s*(?P<name>\S+)\s*$")


def best_trials(study: optuna.Study, top: int = 1) -> list[FrozenTrial]:
    """The ``top`` best COMPLETE trials; refuses a study where none has finished."""
    if top < 1:
        raise HpoError(f"--top {top}: expected a number of trials of at least 1")
    ranked = ranked_trials(study)
    if not ranked:
        counts = state_counts(study.get_trials(deepcopy=False))
        raise HpoError(
            f"study {study.study_name} has no finished trial to export yet ({counts['PRUNED']} pruned, "
            f"{counts['FAIL']} failed, {counts['RUNNING']} running): a trial is exported once it has run "
            "all its epochs; see `hpo status` for what happened"
        )
    return ranked[:top]


def trial_config(study: optuna.Study, trial: FrozenTrial) -> dict[str, Any]:
    """The training config the trial ran: as stored with it, else rebuilt from the spec."""
    config = trial.user_attrs.get("config")
    source = f"study {study.study_name}, trial {trial.number}"
    if config is None:
        text = study.user_attrs.get(SPEC_TEXT_ATTR)
        if not text:
            raise HpoError(f"{source}: the trial stores no config and the study no spec to rebuild it from")
        from hpo.spec.space import replay

        spec = spec_from_text(text, study.user_attrs.get(SPEC_SOURCE_ATTR, "stored spec"))
        try:
            config = replay(spec.space, spec.train, trial.params)
        except KeyError as exc:
            raise HpoError(f"{source}: its parameters do not fit the stored spec (no value for {exc.args[0]})") from None
    _, contract = load_trainer(DEFAULT_TRAINER, source)
    check_train_config(config, contract, source, "")
    return config


def export_text(study: optuna.Study, trial: FrozenTrial, rank: int, of: int, path: Path) -> str:
    """The config file of ``trial``: a comment header, then the training config."""
    config = trial_config(study, trial)
    finished = trial.datetime_complete.isoformat(sep=" ", timespec="seconds") if trial.datetime_complete else "-"
    header = [
        f"study: {study.study_name}",
        f"trial: {trial.number} (rank {rank} of {of} complete trials)",
        f"{study_metric(study)}: {trial.value:.6g} ({study_mode(study)})",
        f"params: {format_params(trial.params)}",
        f"trial finished: {finished}",
        f"exported: {dt.datetime.now().isoformat(sep=' ', timespec='seconds')}",
        f"search hash: {study.user_attrs.get(SEARCH_HASH_ATTR, '-')}",
        f"spec: {study.user_attrs.get(SPEC_SOURCE_ATTR, '-')}",
        f"retrain: hpo train {path} --seeds 0 1 2 --final",
    ]
    body = yaml.safe_dump(config, sort_keys=False, default_flow_style=None, width=100)
    return "".join(f"# {line}\n" for line in header) + "\n" + body


def export_paths(output: Path, count: int) -> list[Path]:
    """``best.yaml`` for one config; ``best-1.yaml``, ``best-2.yaml``, ... for several."""
    if count == 1:
        return [output]
    return [output.with_name(f"{output.stem}-{i}{output.suffix or '.yaml'}") for i in range(1, count + 1)]


def export_best(study: optuna.Study, output: Path, top: int = 1) -> list[tuple[Path, FrozenTrial]]:
    """Write the ``top`` best trials' configs; returns (file, trial) pairs, best first."""
    trials = best_trials(study, top)
    of = len(ranked_trials(study))
    paths = export_paths(output, len(trials))
    texts = [export_text(study, trial, rank, of, path) for rank, (path, trial) in enumerate(zip(paths, trials), start=1)]
    output.parent.mkdir(parents=True, exist_ok=True)
    for path, text in zip(paths, texts):
        path.write_text(text, encoding="utf-8")
    return list(zip(paths, trials))


def study_of_config(path: Path) -> str | None:
    """The study an exported config came from (its header's ``study:`` line), if any."""
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except (OSError, UnicodeDecodeError):
        return None
    for line in lines:
        if not line.startswith("#"):
            break
        match = _STUDY_LINE.match(line)
        if match:
            return match.group("name")
    return None

"""``hpo export``: the best trials of a study as complete, runnable training configs.

A trial is the spec's ``train:`` block with the holes filled, so exporting it writes that
block with the winning values in, under a comment header saying where it came from::

    # study: sklearn_digits
    # trainer: examples.sklearn_trainer:train
    # trial: 6 (rank 1 of 3 complete trials)
    # val_acc: 0.955556 (max)
    ...
    seed: 0
    epochs: 5
    ...

``hpo train`` runs the file unchanged (hpo.results.header): it calls the trainer the
header names, summarises its metric, and puts its results under ``studies/<study>/retrain/``.

A study of several objectives exports its Pareto front, ranked by the first objective, one
file per trial (``best-1.yaml``, ...), each header giving every objective's value. A trial
that breaks a constraint is never exported.

With ``weights``, each trial's kept final weights (hpo.study.weights) are written beside its
config, named after it: ``best.yaml`` and ``best.model.pt`` (``best-2.yaml``,
``best-2.model.pt``, ...), so that configs exported together stay paired with their weights
in one folder. A trial whose weights were not kept is refused before any file is written.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import optuna
import yaml
from optuna.artifacts import FileSystemArtifactStore
from optuna.trial import FrozenTrial, TrialState

from hpo.errors import HpoError
from hpo.format import format_params
from hpo.results.header import header_text
from hpo.results.table import ranked_trials, study_metrics
from hpo.spec.sections import spec_from_text
from hpo.spec.trainer import DEFAULT_TRAINER, check_train_config, load_trainer
from hpo.spec.yamlfile import parse_yaml
from hpo.study.keys import CONFIG_ATTR, SEARCH_HASH_ATTR, SPEC_SOURCE_ATTR, SPEC_TEXT_ATTR, TRAINER_ATTR
from hpo.study.records import state_counts
from hpo.study.summary import feasible, study_modes
from hpo.study.weights import artifact_dir, artifact_store, download_weights, holds_weights, stored_weights


def best_trials(study: optuna.Study, top: int | None = 1) -> list[FrozenTrial]:
    """The ``top`` best feasible COMPLETE trials (None: the best one, or with several
    objectives the whole Pareto front); refuses a study where none has finished."""
    if top is not None and top < 1:
        raise HpoError(f"--top {top}: expected a number of trials of at least 1")
    ranked = ranked_trials(study)
    if not ranked:
        trials = study.get_trials(deepcopy=False)
        counts = state_counts(trials)
        infeasible = sum(t.state == TrialState.COMPLETE and not feasible(t) for t in trials)
        broke = f", {infeasible} complete but breaking a constraint" if infeasible else ""
        raise HpoError(
            f"study {study.study_name} has no finished trial to export yet ({counts['PRUNED']} pruned, "
            f"{counts['FAIL']} failed, {counts['RUNNING']} running{broke}): a trial is exported once it has run "
            "all its epochs and meets every constraint; see `hpo status` for what happened"
        )
    if top is None:
        return ranked if len(study.directions) > 1 else ranked[:1]
    return ranked[:top]


def study_trainer(study: optuna.Study) -> str:
    """The ``module:function`` the study's trials called: as recorded with the study, else
    the ``trainer:`` of its stored spec, else the default."""
    recorded = study.user_attrs.get(TRAINER_ATTR)
    if recorded:
        return str(recorded)
    text = study.user_attrs.get(SPEC_TEXT_ATTR)
    raw = parse_yaml(text, "stored spec") if text else None
    named = raw.get("trainer") if isinstance(raw, dict) else None
    return named if isinstance(named, str) and named else DEFAULT_TRAINER


def trial_config(study: optuna.Study, trial: FrozenTrial) -> dict[str, Any]:
    """The training config the trial ran: as stored with it, else rebuilt from the spec;
    checked with the study's trainer's schema, if it declares one."""
    config = trial.user_attrs.get(CONFIG_ATTR)
    source = f"study {study.study_name}, trial {trial.number}"
    trainer = study_trainer(study)
    if config is None:
        text = study.user_attrs.get(SPEC_TEXT_ATTR)
        if not text:
            raise HpoError(f"{source}: the trial stores no config and the study no spec to rebuild it from")
        from hpo.spec.space import replay

        spec = spec_from_text(text, study.user_attrs.get(SPEC_SOURCE_ATTR, "stored spec"), trainer)
        try:
            config = replay(spec.space, spec.train, trial.params)
        except KeyError as exc:
            raise HpoError(f"{source}: its parameters do not fit the stored spec (no value for {exc.args[0]})") from None
    _, contract = load_trainer(trainer, source)
    check_train_config(config, contract, source, "")
    return config


def export_text(study: optuna.Study, trial: FrozenTrial, rank: int, of: int, path: Path, facts: Mapping[str, str] | None = None) -> str:
    """The config file of ``trial``: a comment header (hpo.results.header), with ``facts``
    added before its last line, then the training config."""
    config = trial_config(study, trial)
    finished = trial.datetime_complete.isoformat(sep=" ", timespec="seconds") if trial.datetime_complete else "-"
    several = len(study.directions) > 1
    among = "trials on the Pareto front, by the first objective" if several else "complete trials"
    # the first objective as a single one is written (hpo train reads it); the others named apart
    # from the header's own keys (a metric may well be called params)
    named = [m if i == 0 else f"{m} (objective {i + 1})" for i, m in enumerate(study_metrics(study))]
    objectives = {name: f"{value:.6g} ({mode})" for name, value, mode in zip(named, trial.values, study_modes(study))}
    header = {
        "study": study.study_name,
        "trainer": study_trainer(study),
        "trial": f"{trial.number} (rank {rank} of {of} {among})",
        **objectives,
        "params": format_params(trial.params),
        "trial finished": finished,
        "exported": dt.datetime.now().isoformat(sep=" ", timespec="seconds"),
        "search hash": study.user_attrs.get(SEARCH_HASH_ATTR, "-"),
        "spec": study.user_attrs.get(SPEC_SOURCE_ATTR, "-"),
        **(facts or {}),
        "retrain": retrain_command(study, path),
    }
    body = yaml.safe_dump(config, sort_keys=False, default_flow_style=None, width=100)
    return header_text(header) + "\n" + body


def retrain_command(study: optuna.Study, path: Path) -> str:
    """``hpo train`` of an exported config over three seeds; on the test split when the
    study's trainer can train on train+val (hpo.results.retrain)."""
    from hpo.results.retrain import takes_run_options

    function, _ = load_trainer(study_trainer(study), f"study {study.study_name}")
    return f"hpo train {path} --seeds 0 1 2" + (" --final" if takes_run_options(function) else "")


def export_paths(output: Path, count: int) -> list[Path]:
    """``best.yaml`` for one config; ``best-1.yaml``, ``best-2.yaml``, ... for several."""
    if count == 1:
        return [output]
    return [output.with_name(f"{output.stem}-{i}{output.suffix or '.yaml'}") for i in range(1, count + 1)]


def export_best(study: optuna.Study, output: Path, top: int | None = 1, weights: bool = False) -> list[tuple[Path, FrozenTrial]]:
    """Write the ``top`` best trials' configs (and their weights); returns (file, trial) pairs, best first."""
    return write_exports(study, output, [(trial, {}) for trial in best_trials(study, top)], weights)


def write_exports(
    study: optuna.Study, output: Path, chosen: list[tuple[FrozenTrial, Mapping[str, str]]], weights: bool = False
) -> list[tuple[Path, FrozenTrial]]:
    """Write the configs of the ``chosen`` trials, each with its extra header facts, in
    the order given (see :func:`export_paths`), and with ``weights`` each one's weights
    beside it (:func:`weights_path`); returns (file, trial) pairs."""
    ranked = ranked_trials(study)
    rank = {trial.number: position for position, trial in enumerate(ranked, start=1)}
    paths = export_paths(output, len(chosen))
    trials = [trial for trial, _ in chosen]
    texts = [export_text(study, trial, rank[trial.number], len(ranked), path, facts) for path, (trial, facts) in zip(paths, chosen)]
    records: list[Mapping[str, Any]] = []
    if weights:  # refused here, before any file is written
        store = artifact_store(study.study_name)
        records = kept_weights(study, trials, store)
    output.parent.mkdir(parents=True, exist_ok=True)
    for path, text in zip(paths, texts):
        path.write_text(text, encoding="utf-8")
    for path, record in zip(paths, records):
        download_weights(record, store, weights_path(path, record))
    return list(zip(paths, trials))


def weights_path(config: Path, record: Mapping[str, Any]) -> Path:
    """Where the weights exported beside ``config`` go: ``best.yaml`` -> ``best.model.pt``."""
    return config.with_name(f"{config.stem}.{record['file']}")


def kept_weights(study: optuna.Study, trials: list[FrozenTrial], store: FileSystemArtifactStore) -> list[Mapping[str, Any]]:
    """The weights record of each of ``trials``; refuses, naming the trials that hold weights,
    when one of them has none in the store."""
    records = [stored_weights(trial, store) for trial in trials]
    missing = [trial.number for trial, record in zip(trials, records) if record is None]
    if not missing:
        return [record for record in records if record is not None]
    complete = study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,))
    holders = [str(trial.number) for trial in complete if holds_weights(trial, store)]
    held = f"the trials that hold weights: {', '.join(holders)}" if holders else "no trial of it holds weights"
    raise HpoError(
        f"--weights: study {study.study_name} kept no weights of trial(s) {', '.join(map(str, missing))} "
        f"in {artifact_dir(study.study_name)}; "
        f"{held}. Only the best checkpoint.keep complete trials keep their final weights (those a better trial pushed out "
        "are dropped), and only of a trainer that hands report its state; retrain the config with `hpo train` instead, "
        "or export without --weights"
    )

"""``hpo confirm``'s plan, and ``hpo export --confirmed``.

The plan takes the study's top trials (COMPLETE, best first, as ``hpo export`` ranks
them), each one's stored training config with ``seed`` set per seed, as ``hpo train
--seeds`` sets it, and leaves out every (trial, seed) the study already holds a run of
(hpo.study.confirm): a second ``hpo confirm`` with more seeds or a larger ``--top`` runs
only what is missing, and a killed one resumes. Everything is checked before the first
run, so a refused command leaves the study as it was: the study has one objective, the
seeds are at least two and distinct, each config passes the trainer's schema, and the
trainer's ``prepare`` and ``check`` accept the configs on this machine.

A stored failed run counts as done: the same config with the same seed fails again.

``hpo export --confirmed`` writes the winners by the bound (not the mean: see
hpo.study.confirm) in the format ``hpo export`` writes, with a header line saying how they
fared over the seeds.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

import optuna
from optuna.trial import FrozenTrial

from hpo.errors import HpoError
from hpo.format import format_spread, format_value
from hpo.results.confirm_view import bound_name
from hpo.results.export import best_trials, study_trainer, trial_config, write_exports
from hpo.results.retrain import check_seeds
from hpo.spec.preflight import prepare_configs
from hpo.spec.sections import Spec, spec_from_text
from hpo.spec.trainer import check_train_config
from hpo.study.confirm import PlannedRun, confirm_records, confirmed_trials
from hpo.study.keys import SPEC_SOURCE_ATTR, SPEC_TEXT_ATTR
from hpo.study.summary import study_mode


@dataclass
class ConfirmPlan:
    """The trials to confirm, the runs still to do and the spec they run under."""

    spec: Spec
    trials: list[FrozenTrial]
    runs: list[PlannedRun]
    stored: int  # runs of these trials and seeds the study already holds: not run again
    notes: list[str]


def plan_confirm(study: optuna.Study, top: int, seeds: list[int]) -> ConfirmPlan:
    """What ``hpo confirm STUDY --top top --seeds seeds`` runs; raises HpoError before
    anything runs or is written (see module doc)."""
    name = study.study_name
    if len(study.directions) > 1:
        raise HpoError(
            f"study {name} has {len(study.directions)} objectives: hpo confirm ranks trials by one value and its spread, "
            "so it confirms single-objective studies only"
        )
    check_seeds(seeds)
    if len(seeds) < 2:
        shown = " ".join(map(str, seeds)) or "(none)"
        raise HpoError(f"--seeds {shown}: confirming needs at least two seeds, for a spread over them; e.g. --seeds 1 2 3")
    trials = best_trials(study, top)
    text = study.user_attrs.get(SPEC_TEXT_ATTR)
    if not text:
        raise HpoError(f"study {name} stores no spec: hpo confirm needs its resources, metric and trainer")
    spec = spec_from_text(text, study.user_attrs.get(SPEC_SOURCE_ATTR, "stored spec"), study_trainer(study))
    stored = confirm_records(study.user_attrs)
    configs = {trial.number: trial_config(study, trial) for trial in trials}
    runs: list[PlannedRun] = []
    for trial in trials:
        source = f"study {name}, trial {trial.number}"
        for seed in (seed for seed in seeds if seed not in stored.get(trial.number, {})):
            seeded = {**configs[trial.number], "seed": seed}
            check_train_config(seeded, spec.contract, source, "")
            runs.append(PlannedRun(trial.number, seed, seeded))
    notes = [f"the study has only {len(trials)} complete trial(s), not {top}: confirming those"] if len(trials) < top else []
    searched = sorted({config["seed"] for config in configs.values() if "seed" in config} & set(seeds))
    if searched:
        notes.append(f"seed {', '.join(map(str, searched))}: the search trained with it, so those runs repeat the search's, luck included")
    to_run = {run.trial for run in runs}
    _check_trainer(spec, [config for number, config in configs.items() if number in to_run], f"study {name}")
    return ConfirmPlan(spec, trials, runs, len(trials) * len(seeds) - len(runs), notes)


def _check_trainer(spec: Spec, configs: list[dict], source: str) -> None:
    """The trainer's ``prepare`` (data on disk) and ``check`` on each config, as ``hpo train`` does."""
    prepare_configs(spec.contract, spec.trainer, configs, False, source)
    if spec.contract.check is None:
        return
    for config in configs:
        try:
            spec.contract.check(config)
        except Exception as exc:  # the trainer's verdict on this machine, whatever its type: one line
            raise HpoError(f"{source}: {str(exc).strip() or type(exc).__name__}") from exc


def export_confirmed(study: optuna.Study, output: Path, top: int | None = 1, weights: bool = False) -> list[tuple[Path, FrozenTrial]]:
    """Write the ``top`` confirmed trials by the bound, best first (None: the first), and
    with ``weights`` their kept weights; refuses a study without confirm records."""
    rows = confirmed_trials(study)
    if not rows:
        name = study.study_name
        raise HpoError(f"study {name} has no confirmed trials to export: run `hpo confirm {name} --seeds 1 2 3` first")
    mode = study_mode(study)
    chosen: list[tuple[FrozenTrial, Mapping[str, str]]] = []
    for row in rows[: top or 1]:
        spread = format_spread(row.mean, row.std, len(row.values)) if row.mean is not None else "-"
        fact = f"#{row.bound_rank} by the {bound_name(mode)} {format_value(row.bound)}; mean ± std {spread} over {len(row.values)} seeds"
        chosen.append((row.trial, {"confirmed": fact}))
    return write_exports(study, output, chosen, weights)

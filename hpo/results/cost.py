"""What a study cost, and what pruning saved: epochs, wall time, CPU and GPU hours.

Counted over every trial that started (complete, pruned, failed, running; not a warm
start's, which an earlier version paid for), from its
records (:func:`hpo.study.records.trained_epochs_of`, its ``seconds``) and the resources of the
spec the study stores (the latest run's: ``resources:`` may change between runs).

Without pruning, each PRUNED trial would have run ``train.epochs``; every other trial would
have run what it ran (a failed trial fails all the same, a trainer's own early stopping is
not ASHA's doing). The difference is what pruning saved.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from dataclasses import dataclass

import optuna
from optuna.trial import FrozenTrial, TrialState

from hpo.contract import validate_strict
from hpo.spec.sections import ResourcesSection
from hpo.spec.yamlfile import parse_yaml
from hpo.study.keys import SECONDS_ATTR, SPEC_TEXT_ATTR
from hpo.study.records import epochs_of, is_warm_start, trained_epochs_of

HOUR_S = 3600.0


@dataclass(frozen=True)
class StudyCost:
    """The figures of :func:`study_cost`; None where the stored spec does not say."""

    trials: int  # trials that started
    epochs: int  # epochs they ran, summed
    epochs_unpruned: int | None  # epochs they would have run without pruning
    wall_seconds: float  # time during which at least one trial ran
    trial_seconds: float  # the trials' own seconds, summed
    cpus_per_trial: float | None
    gpus_per_trial: float | None

    @property
    def epochs_saved(self) -> int | None:
        return None if self.epochs_unpruned is None else self.epochs_unpruned - self.epochs

    @property
    def saved_fraction(self) -> float | None:
        """Of the epochs without pruning, the part pruning saved."""
        if not self.epochs_unpruned:
            return None
        return (self.epochs_unpruned - self.epochs) / self.epochs_unpruned

    @property
    def cpu_hours(self) -> float | None:
        return None if self.cpus_per_trial is None else self.trial_seconds * self.cpus_per_trial / HOUR_S

    @property
    def gpu_hours(self) -> float | None:
        return None if self.gpus_per_trial is None else self.trial_seconds * self.gpus_per_trial / HOUR_S


def study_cost(study: optuna.Study, now: dt.datetime | None = None) -> StudyCost:
    """The cost of ``study`` so far (a running trial counts up to ``now``)."""
    spec = _stored_spec(study)
    train = spec.get("train")
    epochs = train.get("epochs") if isinstance(train, dict) else None
    resources = validate_strict(ResourcesSection, spec.get("resources") or {}) if spec else None
    return cost_of(
        [t for t in study.get_trials(deepcopy=False) if not is_warm_start(t)],
        int(epochs) if isinstance(epochs, int) else None,
        resources,
        now or dt.datetime.now(),
    )


def cost_of(trials: Iterable[FrozenTrial], max_epochs: int | None, resources: ResourcesSection | None, now: dt.datetime) -> StudyCost:
    """The cost of ``trials`` under a spec of ``train.epochs: max_epochs`` and ``resources``."""
    started = [(t, t.datetime_start) for t in trials if t.datetime_start is not None]
    epochs = sum(trained_epochs_of(t) for t, _ in started)  # a resumed trial's curve starts with epochs trained before
    unpruned = None
    if max_epochs is not None:
        unpruned = epochs + sum(max(max_epochs - epochs_of(t), 0) for t, _ in started if t.state == TrialState.PRUNED)
    return StudyCost(
        trials=len(started),
        epochs=epochs,
        epochs_unpruned=unpruned,
        wall_seconds=busy_seconds((start, t.datetime_complete or now) for t, start in started),
        trial_seconds=sum(_seconds(t, start, now) for t, start in started),
        cpus_per_trial=None if resources is None else resources.cpus_per_trial,
        gpus_per_trial=None if resources is None else resources.gpus_per_trial,
    )


def busy_seconds(spans: Iterable[tuple[dt.datetime, dt.datetime]]) -> float:
    """Seconds covered by at least one of ``spans``: overlapping trials count once, and
    the time between runs of a resumed study not at all."""
    total = 0.0
    end: dt.datetime | None = None
    for start, stop in sorted(spans):
        if end is None or start > end:
            total += (stop - start).total_seconds()
            end = stop
        elif stop > end:
            total += (stop - end).total_seconds()
            end = stop
    return total


def _seconds(trial: FrozenTrial, start: dt.datetime, now: dt.datetime) -> float:
    """The trial's recorded seconds; a trial that has none yet (running, or ended by another
    tool) counts from its ``start`` to its end, or to ``now``."""
    recorded = trial.user_attrs.get(SECONDS_ATTR)
    return float(recorded) if recorded is not None else ((trial.datetime_complete or now) - start).total_seconds()


def _stored_spec(study: optuna.Study) -> dict:
    """The spec the study stores, as plain data ({} if it stores none)."""
    text = study.user_attrs.get(SPEC_TEXT_ATTR)
    spec = parse_yaml(text, f"study {study.study_name}: its stored spec") if text else None
    return spec if isinstance(spec, dict) else {}

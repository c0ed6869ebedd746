"""A study in numbers and words: which value is better, counts by state and the best
trial, as the live panel, ``hpo status``, the report and the exports show them."""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass, field

import optuna
from optuna.study import StudyDirection
from optuna.trial import FrozenTrial, TrialState

from hpo.format import format_gain, format_value
from hpo.study.keys import BASELINE_ATTR
from hpo.study.records import is_warm_start, state_counts


def score(value: float | None, mode: str) -> float:
    """``value`` turned so that higher is better: negated when ``mode`` is ``min``. No
    value, or NaN, is the worst of all."""
    if value is None or math.isnan(value):
        return -math.inf
    return float(value) if mode == "max" else -float(value)


def better(value: float, than: float | None, mode: str) -> bool:
    """Whether ``value`` beats ``than`` (None: nothing to beat yet); a tie does not."""
    return than is None or score(value, mode) > score(than, mode)


def best_of(values: Iterable[float], mode: str) -> float:
    """The best of ``values``: the highest for ``max``, the lowest for ``min``."""
    return max(values, key=lambda value: score(value, mode))


def ranked(trials: Iterable[FrozenTrial], mode: str) -> list[FrozenTrial]:
    """Trials that have a value, best first; of equal values the earlier trial first."""
    return sorted((t for t in trials if t.value is not None), key=lambda t: (-score(t.value, mode), t.number))


def direction_of(mode: str) -> StudyDirection:
    """The Optuna direction of a spec's ``mode``."""
    return StudyDirection.MAXIMIZE if mode == "max" else StudyDirection.MINIMIZE


def study_mode(study: optuna.Study) -> str:
    """The spec's ``mode`` of a study: ``max`` or ``min``."""
    return "max" if study.direction == StudyDirection.MAXIMIZE else "min"


def versus_baseline(best: FrozenTrial | None, trials: Iterable[FrozenTrial]) -> str | None:
    """The best trial against the user's baseline (``train:`` as it is, marked
    ``BASELINE_ATTR``): "best 0.9312 vs your baseline 0.9105 (+2.1 points)", as ``hpo run``,
    ``hpo status`` and the report say it. None while there is no best trial, or the baseline
    has not finished (or failed)."""
    marked = [t for t in trials if t.user_attrs.get(BASELINE_ATTR) and t.state in (TrialState.COMPLETE, TrialState.PRUNED)]
    if best is None or best.value is None or not marked:
        return None
    baseline = next((t for t in marked if t.state == TrialState.COMPLETE), marked[0])
    if baseline.number == best.number:
        return f"best {format_value(best.value)} is your baseline (trial {baseline.number}): no trial has beaten it yet"
    if baseline.state == TrialState.PRUNED:
        epoch = max(baseline.intermediate_values, default=None)
        at = "" if epoch is None else f" at epoch {epoch} ({format_value(baseline.intermediate_values[epoch])})"
        return f"best {format_value(best.value)} vs your baseline: pruned{at} (trial {baseline.number})"
    assert baseline.value is not None  # a COMPLETE trial has its value
    return f"best {format_value(best.value)} vs your baseline {format_value(baseline.value)} ({format_gain(best.value, baseline.value)})"


@dataclass
class Tally:
    """Counts and best trial of a study, updated as trials end."""

    target: int
    mode: str
    complete: int = 0
    pruned: int = 0
    failed: int = 0
    running: set[int] = field(default_factory=set)
    best: FrozenTrial | None = None
    warm: int = 0  # trials a warm start copied in: candidates for the best, but not the runs' own, so counted apart

    @classmethod
    def from_trials(cls, trials: list[FrozenTrial], target: int, mode: str) -> Tally:
        tally = cls(target=target, mode=mode)
        own = [t for t in trials if not is_warm_start(t)]
        counts = state_counts(own)
        tally.complete, tally.pruned, tally.failed = counts["COMPLETE"], counts["PRUNED"], counts["FAIL"]
        tally.running = {t.number for t in own if t.state == TrialState.RUNNING}
        tally.warm = len(trials) - len(own)
        for trial in trials:
            tally._consider(trial)
        return tally

    @property
    def finished(self) -> int:
        return self.complete + self.pruned

    def add(self, trial: FrozenTrial) -> None:
        self.running.discard(trial.number)
        if trial.state == TrialState.COMPLETE:
            self.complete += 1
        elif trial.state == TrialState.PRUNED:
            self.pruned += 1
        elif trial.state == TrialState.FAIL:
            self.failed += 1
        self._consider(trial)

    def _consider(self, trial: FrozenTrial) -> None:
        if trial.state != TrialState.COMPLETE or trial.value is None:
            return
        if better(trial.value, None if self.best is None else self.best.value, self.mode):
            self.best = trial

    def summary(self) -> str:
        line = (
            f"{self.finished}/{self.target} finished ({self.complete} complete, {self.pruned} pruned), "
            f"{len(self.running)} running, {self.failed} failed"
        )
        if self.warm:
            line += f", and {self.warm} from a warm start"
        if self.best is not None:
            line += f"; best {format_value(self.best.value)} (trial {self.best.number})"
        return line

"""A study in numbers and words: which value is better, counts by state and the best
trial, as the live panel, ``hpo status``, the report and the exports show them.

Everything that ranks trials or picks the best goes through here, so that two rules hold
everywhere at once:

- a study with several objectives (``study.metric: [val_acc, params]``) is ranked by its
  first one, and its best trials are its Pareto front (:func:`pareto_front`): feasible
  COMPLETE trials no other one beats on every objective;
- a trial that breaks a constraint (``constraints:``, recorded with Optuna's
  ``Trial.set_constraint``) is kept and shown, but is never the best, never on the front,
  and never exported (:func:`feasible`).
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

import optuna
from optuna.study import StudyDirection
from optuna.trial import FrozenTrial, TrialState

from hpo.format import format_gain, format_number, format_value
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


def first_value(trial: FrozenTrial) -> float | None:
    """The trial's value of the study's first objective (its only one, in a single-objective
    study); None when it has none (failed, running). Optuna's ``FrozenTrial.value`` refuses a
    trial of several objectives, so hpo reads a value through here."""
    return trial.values[0] if trial.values else None


def feasible(trial: FrozenTrial) -> bool:
    """Whether the trial meets every constraint recorded with it (none: it does)."""
    return all(violation <= 0 for violation in trial.constraints.values())


def broken_constraints(trial: FrozenTrial) -> list[str]:
    """The constraints the trial breaks, as written in the spec (``params <= 2e+06``)."""
    return [name for name, violation in trial.constraints.items() if violation > 0]


def ranked(trials: Iterable[FrozenTrial], mode: str) -> list[FrozenTrial]:
    """Trials that have a value, best first by the (first) objective; feasible ones before
    any that breaks a constraint; of equal values the earlier trial first."""
    valued = (t for t in trials if first_value(t) is not None)
    return sorted(valued, key=lambda t: (not feasible(t), -score(first_value(t), mode), t.number))


def dominates(a: Sequence[float], b: Sequence[float], modes: Sequence[str]) -> bool:
    """Whether values ``a`` are at least as good as ``b`` on every objective and better on one."""
    pairs = [(score(x, mode), score(y, mode)) for x, y, mode in zip(a, b, modes)]
    return all(x >= y for x, y in pairs) and any(x > y for x, y in pairs)


def pareto_front(trials: Iterable[FrozenTrial], modes: Sequence[str]) -> list[FrozenTrial]:
    """The feasible COMPLETE trials no other one dominates (Optuna's ``Study.best_trials``),
    ranked by the first objective; of trials with equal values, each is on the front."""
    candidates = [t for t in trials if t.state == TrialState.COMPLETE and t.values and feasible(t)]
    front = [t for t in candidates if not any(dominates(o.values, t.values, modes) for o in candidates)]
    return ranked(front, modes[0])


def best_trials(trials: Iterable[FrozenTrial], modes: Sequence[str]) -> list[FrozenTrial]:
    """What a study found, best first: the feasible COMPLETE trials ranked by the objective,
    or with several objectives, the Pareto front ranked by the first."""
    if len(modes) > 1:
        return pareto_front(trials, modes)
    return [t for t in ranked(trials, modes[0]) if t.state == TrialState.COMPLETE and feasible(t)]


def values_text(trial: FrozenTrial, metrics: Sequence[str]) -> str:
    """``val_acc 0.9712, params 12,345``: each objective's value of a trial of several,
    else its one value."""
    if len(metrics) < 2 or len(trial.values or ()) < len(metrics):
        return format_value(first_value(trial))
    shown = [format_value(value) if i == 0 else format_number(value) for i, value in enumerate(trial.values)]
    return ", ".join(f"{metric} {value}" for metric, value in zip(metrics, shown))


def direction_of(mode: str) -> StudyDirection:
    """The Optuna direction of a spec's ``mode``."""
    return StudyDirection.MAXIMIZE if mode == "max" else StudyDirection.MINIMIZE


def study_modes(study: optuna.Study) -> tuple[str, ...]:
    """The spec's ``mode`` of each of a study's objectives: ``max`` or ``min``."""
    return tuple("max" if direction == StudyDirection.MAXIMIZE else "min" for direction in study.directions)


def study_mode(study: optuna.Study) -> str:
    """The spec's ``mode`` of a study's (first) objective: ``max`` or ``min``."""
    return study_modes(study)[0]


def versus_baseline(best: FrozenTrial | None, trials: Iterable[FrozenTrial]) -> str | None:
    """The best trial against the user's baseline (``train:`` as it is, marked
    ``BASELINE_ATTR``): "best 0.9312 vs your baseline 0.9105 (+2.1 points)", as ``hpo run``,
    ``hpo status`` and the report say it. None while there is no best trial, or the baseline
    has not finished (or failed)."""
    marked = [t for t in trials if t.user_attrs.get(BASELINE_ATTR) and t.state in (TrialState.COMPLETE, TrialState.PRUNED)]
    if best is None or len(best.values or ()) != 1 or best.value is None or not marked:
        return None  # several objectives have no one best to compare
    baseline = next((t for t in marked if t.state == TrialState.COMPLETE), marked[0])
    if baseline.number == best.number:
        return f"best {format_value(best.value)} is your baseline (trial {baseline.number}): no trial has beaten it yet"
    if baseline.state == TrialState.PRUNED:
        epoch = max(baseline.intermediate_values, default=None)
        at = "" if epoch is None else f" at epoch {epoch} ({format_value(baseline.intermediate_values[epoch])})"
        return f"best {format_value(best.value)} vs your baseline: pruned{at} (trial {baseline.number})"
    if not feasible(baseline):
        broken = ", ".join(broken_constraints(baseline))
        return f"best {format_value(best.value)} vs your baseline: it breaks {broken} (trial {baseline.number})"
    assert baseline.value is not None  # a COMPLETE trial has its value
    return f"best {format_value(best.value)} vs your baseline {format_value(baseline.value)} ({format_gain(best.value, baseline.value)})"


@dataclass
class Tally:
    """Counts and best trial of a study, updated as trials end.

    ``modes`` holds one mode per objective (default: ``mode`` alone). With one, :attr:`best`
    is the best feasible COMPLETE trial; with several there is no one best (:attr:`best`
    stays None) and :attr:`front` is the Pareto front.
    """

    target: int
    mode: str  # of the first objective
    complete: int = 0
    pruned: int = 0
    failed: int = 0
    running: set[int] = field(default_factory=set)
    best: FrozenTrial | None = None
    modes: tuple[str, ...] = ()
    warm: int = 0  # trials a warm start copied in: candidates for the best, but not the runs' own, so counted apart
    _front: list[FrozenTrial] = field(default_factory=list)  # kept as trials come: no trial is read twice

    def __post_init__(self) -> None:
        self.modes = self.modes or (self.mode,)

    @property
    def front(self) -> list[FrozenTrial]:
        """The Pareto front so far (several objectives); empty for a single objective."""
        return ranked(self._front, self.mode)

    @classmethod
    def from_trials(cls, trials: list[FrozenTrial], target: int, mode: str | Sequence[str]) -> Tally:
        """``mode``: the study's mode, or one per objective (:func:`study_modes`)."""
        modes = (mode,) if isinstance(mode, str) else tuple(mode)
        tally = cls(target=target, mode=modes[0], modes=modes)
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
        if trial.state != TrialState.COMPLETE or not trial.values or not feasible(trial):
            return
        if len(self.modes) > 1:
            if not any(dominates(kept.values, trial.values, self.modes) for kept in self._front):
                self._front = [kept for kept in self._front if not dominates(trial.values, kept.values, self.modes)] + [trial]
        elif better(trial.values[0], None if self.best is None else self.best.value, self.mode):
            self.best = trial

    def summary(self) -> str:
        line = (
            f"{self.finished}/{self.target} finished ({self.complete} complete, {self.pruned} pruned), "
            f"{len(self.running)} running, {self.failed} failed"
        )
        if self.warm:
            line += f", and {self.warm} from a warm start"
        if len(self.modes) > 1:
            line += f"; Pareto front: {len(self.front)} trials"
        elif self.best is not None:
            line += f"; best {format_value(self.best.value)} (trial {self.best.number})"
        return line

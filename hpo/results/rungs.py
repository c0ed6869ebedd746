"""The deepest rung a study's trials share: where pruned trials are compared with the rest.

ASHA stops most trials after their first epochs, so a hard-pruned study has few COMPLETE
trials and many PRUNED ones. Each holds its metric at every epoch it ran (its intermediate
values, step = epoch), and at one epoch they compare as fairly as complete trials do at
their last. So the report's parallel coordinates, slices and importances, and ``hpo
status`` when few trials are complete, rank the finished trials at the deepest epoch that
a third of them, and at least :data:`MIN_SHARED`, reached. A third, so that the comparison
holds most of what the study learnt (the last epoch, reached by a few survivors, would
leave out every pruned trial); at least four, because fewer say little and importances need
four. Since the count of trials drops where ASHA stops them, that epoch is one of its rungs
or the last epoch.

Only finished trials (COMPLETE and PRUNED) are compared, as ASHA's own rungs hold them:
a failed trial's values may come from a run that went wrong, and a running trial's move
while one reads them.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass

import optuna
from optuna.trial import FrozenTrial, TrialState

from hpo.study.records import FINISHED_STATES
from hpo.study.summary import direction_of, first_value, score

MIN_SHARED = 4  # trials a rung needs to be compared at: fewer say little, and importances need 4


@dataclass(frozen=True)
class RungTrial:
    """A trial at the rung: its metric at the rung's epoch, and its final value if COMPLETE."""

    trial: FrozenTrial
    value: float

    @property
    def final(self) -> float | None:
        return first_value(self.trial) if self.trial.state == TrialState.COMPLETE else None


@dataclass(frozen=True)
class Rung:
    """The trials that reached epoch ``step``, best first at that epoch (of equal values,
    the earlier trial first, as ASHA breaks ties)."""

    step: int
    trials: tuple[RungTrial, ...]
    mode: str
    needed: int  # the trials an epoch had to hold to be chosen

    def count(self, state: TrialState) -> int:
        return sum(t.trial.state == state for t in self.trials)

    def describe(self, metric: str) -> str:
        """``val_acc at epoch 4, 9 trials (1 complete, 8 pruned)``"""
        n = len(self.trials)
        counts = f"{self.count(TrialState.COMPLETE)} complete, {self.count(TrialState.PRUNED)} pruned"
        return f"{metric} at epoch {self.step}, {n} trial{'' if n == 1 else 's'} ({counts})"


def shared_rung(trials: Iterable[FrozenTrial], mode: str, min_shared: int = MIN_SHARED) -> Rung | None:
    """The deepest epoch at least a third of the finished trials, and at least
    ``min_shared``, reported a finite value for; in a smaller study, the deepest of the
    epochs the most reached. None when no finished trial has reported an epoch."""
    finished = [t for t in trials if t.state in FINISHED_STATES]
    reached = Counter(step for t in finished for step, value in t.intermediate_values.items() if math.isfinite(value))
    if not reached:
        return None
    needed = max(min_shared, math.ceil(len(finished) / 3))
    enough = [step for step, count in reached.items() if count >= needed]
    step = max(enough) if enough else max(reached, key=lambda s: (reached[s], s))
    at_step = [RungTrial(t, t.intermediate_values[step]) for t in finished if math.isfinite(t.intermediate_values.get(step, math.nan))]
    return Rung(step, tuple(sorted(at_step, key=lambda r: (-score(r.value, mode), r.trial.number))), mode, needed)


def rung_study(rung: Rung) -> optuna.Study:
    """The rung's trials as an in-memory study of COMPLETE trials valued at the rung, with
    their parameters and distributions: Optuna's analyses (importances) read only COMPLETE
    trials."""
    verbosity = optuna.logging.get_verbosity()
    optuna.logging.set_verbosity(optuna.logging.WARNING)  # not the line Optuna logs for each study it creates
    try:
        study = optuna.create_study(direction=direction_of(rung.mode))
    finally:
        optuna.logging.set_verbosity(verbosity)
    study.add_trials(
        optuna.trial.create_trial(params=t.trial.params, distributions=t.trial.distributions, value=t.value) for t in rung.trials
    )
    return study

"""When a study has found enough: ``study.target`` and ``study.patience``.

Both rules are judged on the study's stored trials, never on what one run saw, so every
driver of a study and every resumed run reaches the same verdict, with the same words:
a study that met its target ends a second ``hpo run`` at once. The trials are walked in the
order they finished (COMPLETE or PRUNED; a failed trial says nothing of the search), and the
first rule to fire there is the verdict: trials that were still running when it fired, and
finished after it, do not undo it.

- ``target``: a COMPLETE trial whose value reaches it (``>=`` for ``max``, ``<=`` for
  ``min``). A pruned trial's value is that of an unfinished training, so it never counts;
  nor does a trial that breaks a constraint.

With several objectives both rules judge the first one (the one trials are pruned on).
- ``patience``: that many finished trials in a row without a COMPLETE value better than the
  best so far (a tie is not better); pruned trials count as trials without one, as they
  are the search spending its budget on configs that did not win. A warm start's trials
  (hpo.study.warmstart) set the best to beat but are not counted: patience is the new
  version's own trials without a better one.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime

from optuna.trial import FrozenTrial, TrialState

from hpo.format import format_number
from hpo.study.records import FINISHED_STATES, is_warm_start
from hpo.study.summary import better, feasible, first_value


@dataclass(frozen=True)
class StopRules:
    """A study's stop rules (``study.target``, ``study.patience``); None: not set.

    Args:
        metric: The study's metric, named in the verdict.
        mode: ``max`` or ``min``.
        target: The value that ends the search once a COMPLETE trial reaches it.
        patience: Finished trials in a row without a better COMPLETE value that end it.
    """

    metric: str
    mode: str
    target: float | None = None
    patience: int | None = None

    def verdict(self, trials: Iterable[FrozenTrial]) -> str | None:
        """Why the study is done, e.g. ``target val_acc >= 0.97 reached by trial 5``; None
        while no rule has fired (or none is set)."""
        if self.target is None and self.patience is None:
            return None
        best: FrozenTrial | None = None
        without = 0  # finished trials since the best one (or since the start) that did not beat it
        for trial in finish_order(trials):
            value = first_value(trial) if trial.state == TrialState.COMPLETE and feasible(trial) else None
            if value is not None and self.target is not None and self._reaches(value, self.target):
                return f"target {self.metric} {self._operator} {format_number(self.target)} reached by trial {trial.number}"
            if value is not None and better(value, None if best is None else first_value(best), self.mode):
                best, without = trial, 0
                continue
            if is_warm_start(trial):
                continue
            without += 1
            if self.patience is not None and without >= self.patience:
                since = f"since trial {best.number}" if best is not None else "since the start (none complete)"
                return f"patience: {without} finished trials without a better one {since}"
        return None

    @property
    def _operator(self) -> str:
        return ">=" if self.mode == "max" else "<="

    def _reaches(self, value: float, target: float) -> bool:
        return value >= target if self.mode == "max" else value <= target


def finish_order(trials: Iterable[FrozenTrial]) -> list[FrozenTrial]:
    """The finished (COMPLETE or PRUNED) trials, in the order they finished; of trials that
    finished at the same instant, the lower number first."""
    finished = (t for t in trials if t.state in FINISHED_STATES)
    return sorted(finished, key=lambda t: (t.datetime_complete or datetime.max, t.number))

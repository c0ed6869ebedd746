"""Promotion-type ASHA: ``scheduler: {type: asha, promotion: true}``.

Plain ASHA (hpo.engine.schedulers) decides once, as a trial arrives at a rung: continue or
stop. Here a trial that reaches a rung is paused there, its checkpoint kept, and whenever a
worker is free the best paused trial of the highest rung that ranks in the top ``⌊n/η⌋``
of the ``n`` trials that have reached that rung (at least one, as in plain ASHA) is
promoted: resumed from its checkpoint; if none can be, a new trial starts (Li et al.,
"A System for Massively Parallel Hyperparameter Tuning", MLSys 2020, Algorithm 2; Syne
Tune's ``type="promotion"``). A trial that is ranked low early is not lost: once enough
trials have reached its rung, it goes on. The rung rule, ties (to the earlier arrival),
NaN (the worst, stopped at once: it can never be promoted) and the start from the study
are plain ASHA's.

A trial arriving at a rung is the one to go on when the rule promotes it first: it then
continues without a pause. Otherwise Ray pauses it (``PAUSE``) and
:meth:`StudyPromotionScheduler.choose_trial_to_run` hands Ray the paused trial to resume,
never one the rule does not promote. The searcher keeps a paused trial open: the study
holds one RUNNING trial per config, with the rung it waits at as its ``paused_at``
attribute, and one unbroken curve.

Ray counts a paused trial as live in ``max_concurrent_trials``, so with every slot holding
a paused trial no new trial would start and nothing could be promoted. The Tuner's limit is
lifted for this scheduler and the searcher keeps ``resources.max_concurrent`` itself,
counting running trials only (it asks :meth:`paused_at`); it proposes a trial only for a
free slot that no promotion takes, so no study trial waits PENDING behind a promoted one.

The end. The study ends when the searcher ends it (a stop rule, the time budget, too many
failures) or when no trial runs, none can be promoted and no place is left under
``study.trials`` (the paused trials count among the places). Then the paused trials are
stopped and recorded PRUNED at their last epoch, their checkpoints deleted; a trial that
arrives at a rung after the end continues if the rule promotes it, else it is paused and
stopped. At a time-budget pause, Ctrl-C or a kill they stay resumable instead: failed as
interrupted and queued again, as any interrupted trial, with their checkpoint and their
``paused_at``. A resumed run starts its rungs from the study, queued paused trials
included (their scores are the interrupted trial's), holds them in the queue, and the
searcher claims one from the queue when the rule promotes it (:meth:`queued`,
:meth:`promote`). A trial killed between its promotion and its next epoch is still marked
paused, and waits for a promotion again.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any, Protocol

import optuna
from optuna.trial import TrialState
from ray.tune.experiment import Trial
from ray.tune.schedulers import TrialScheduler

from hpo.contract import FINISHED
from hpo.engine.schedulers import StudyASHAScheduler
from hpo.study.keys import PAUSED_AT_ATTR, RESUMED_FROM_ATTR
from hpo.study.summary import score

__all__ = ["StudyPromotionScheduler"]


class SearchEnd(Protocol):
    """What the scheduler reads of the searcher: whether the study is ending."""

    @property
    def ending(self) -> bool: ...


class StudyPromotionScheduler(StudyASHAScheduler):
    """Promotion-type ASHA over the study's trials (see module doc).

    Args:
        study: Its COMPLETE and PRUNED trials fill the rungs at the start, and so do the
            queued trials that continue an interrupted one; those queued paused at a rung
            wait there.
        metric, mode, max_t, grace_period, reduction_factor: As for plain ASHA.
    """

    def __init__(self, study: optuna.Study, *, metric: str, mode: str, max_t: int, grace_period: int, reduction_factor: int) -> None:
        super().__init__(study, metric=metric, mode=mode, max_t=max_t, grace_period=grace_period, reduction_factor=reduction_factor)
        self._paused: dict[int, int] = {}  # trial number -> the rung (epoch) it waits at
        self._queued: set[int] = set()  # of those, the ones waiting in the study's queue (an earlier run paused them)
        self._held: dict[int, Trial] = {}  # of those, the ones Ray holds PAUSED in this run
        self._search: SearchEnd | None = None
        trials = study.get_trials(deepcopy=False)
        by_number = {trial.number: trial for trial in trials}
        for trial in trials:
            resumed = trial.user_attrs.get(RESUMED_FROM_ATTR)
            if trial.state != TrialState.WAITING or not isinstance(resumed, Mapping) or resumed.get("trial") not in by_number:
                continue
            curve = by_number[int(resumed["trial"])].intermediate_values
            for epoch, recorded in self._rungs.items():
                if epoch <= int(resumed["epoch"]) and epoch in curve:
                    recorded[trial.number] = score(curve[epoch], mode)
            paused_at = trial.user_attrs.get(PAUSED_AT_ATTR)
            if paused_at in self._rungs and trial.number in self._rungs[paused_at]:
                self._paused[trial.number] = paused_at
                self._queued.add(trial.number)

    def follow(self, search: SearchEnd) -> None:
        """Read from ``search`` whether the study is ending (module doc)."""
        self._search = search

    def __getstate__(self) -> dict[str, Any]:
        """Ray pickles the Tuner with its scheduler: without Ray's trials or the searcher."""
        return {**self.__dict__, "_held": {}, "_search": None}

    # ------------------------------------------------------------------ the rule

    def next_promotion(self) -> int | None:
        """The paused trial to promote next: the best one the rule promotes at the highest
        rung where one does; None if none can be promoted."""
        for epoch in sorted(self._rungs, reverse=True):
            for number in self._promoted_at(epoch):
                if self._paused.get(number) == epoch:
                    return number
        return None

    def _promoted_at(self, epoch: int) -> list[int]:
        """The top ``⌊n/η⌋`` (at least one) of the trials at rung ``epoch``, best first; a
        tie goes to the trial that arrived first."""
        recorded = self._rungs[epoch]  # dicts keep the order of arrival, and sorted() keeps it among equals
        return sorted(recorded, key=lambda number: -recorded[number])[: self._kept(len(recorded))]

    def paused_at(self, number: int) -> int | None:
        """The rung trial ``number`` is paused at, or None."""
        return self._paused.get(number)

    def is_paused(self, number: int) -> bool:
        """Whether trial ``number`` waits at a rung (in Ray or in the study's queue)."""
        return number in self._paused

    def queued(self) -> set[int]:
        """The paused trials that wait in the study's queue, not in Ray."""
        return set(self._queued)

    def promote(self, number: int) -> None:
        """Trial ``number`` goes on: the searcher took it from the queue, or Ray resumes it."""
        self._paused.pop(number, None)
        self._queued.discard(number)
        self._held.pop(number, None)

    # ------------------------------------------------------------------ Ray's interface

    def on_trial_result(self, tune_controller: Any, trial: Trial, result: dict) -> str:
        epoch = self._judged_epoch(result)
        if epoch is None:
            return TrialScheduler.CONTINUE
        if epoch >= self._max_t or result.get(FINISHED):
            return TrialScheduler.STOP  # it has run all it will: never paused there, so that it ends COMPLETE
        recorded = self._rungs.get(epoch)
        number = trial.config["trial_number"]
        if recorded is None or number in recorded:  # not a rung, or passed it before a retry or a resume
            return TrialScheduler.CONTINUE
        recorded[number] = score(result[self._metric], self._mode)  # higher is better; NaN is -inf
        if recorded[number] == -math.inf:
            return TrialScheduler.STOP
        self._paused[number] = epoch
        ending = self._search is not None and self._search.ending
        goes_on = number in self._promoted_at(epoch) if ending else self.next_promotion() == number
        if goes_on:
            self.promote(number)
            return TrialScheduler.CONTINUE
        self._held[number] = trial
        return TrialScheduler.PAUSE

    def choose_trial_to_run(self, tune_controller: Any) -> Trial | None:
        """The paused trial the rule promotes, else a new (PENDING) trial; once the study is
        ending, the paused trials are stopped instead (the searcher records them)."""
        if self._search is not None and self._search.ending:
            for number, paused in list(self._held.items()):
                if paused.status == Trial.PAUSED:
                    self.promote(number)  # out of the rungs' waiting list: it ends here
                    tune_controller.stop_trial(paused)
        else:
            promoted = self.next_promotion()
            held = self._held.get(promoted) if promoted is not None else None
            if promoted is not None and held is not None and held.status == Trial.PAUSED:
                self.promote(promoted)
                return held
        return next((trial for trial in tune_controller.get_trials() if trial.status == Trial.PENDING), None)

    def on_trial_remove(self, tune_controller: Any, trial: Trial) -> None:
        self._forget(trial)

    def on_trial_error(self, tune_controller: Any, trial: Trial) -> None:
        self._forget(trial)

    def on_trial_complete(self, tune_controller: Any, trial: Trial, result: dict) -> None:
        self._forget(trial)

    def _forget(self, trial: Trial) -> None:
        """A trial that ended (stopped, failed) waits at no rung any more."""
        number = trial.config.get("trial_number")
        if isinstance(number, int) and self._held.get(number) is trial:
            self.promote(number)

    def debug_string(self) -> str:
        return super().debug_string().replace("ASHA:", "promotion ASHA:", 1) + f"; {len(self._paused)} paused"

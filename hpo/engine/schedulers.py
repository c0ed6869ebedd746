"""The schedulers of ``scheduler:``, built from the spec over the study's trials.

ASHA as the spec describes it: at each rung, keep the top 1/reduction_factor.

``scheduler: {type: asha, grace_period: g, reduction_factor: η}`` puts rungs at
``g, g·η, g·η², ...`` epochs below ``max_t = train.epochs`` (with ``fidelity: data_fraction``
the epochs before the last rung train on less of the data: hpo.spec.fidelity). A trial that reaches a rung
continues only if it is among the top ``⌊n / η⌋`` of the ``n`` trials that have reached
that rung, itself included: the promotion rule of asynchronous successive halving (Li et
al., "A System for Massively Parallel Hyperparameter Tuning", MLSys 2020). A trial is not
paused to be promoted later (``promotion: true`` does that: hpo.engine.promotion), so the
rule is applied when it arrives; while a rung holds
fewer than η trials, only one better than all the others there continues, as in Optuna's
``SuccessiveHalvingPruner`` (stopping them all would leave a small study without a single
complete trial). A trial that ties an earlier one at the boundary is stopped: the earlier
one holds the place.

With ``recheck_rung_below: true``, a trial past the first rung continues only if it would
also still be promoted at the rung below: its own score there must still rank in the top
1/η of the trials that have reached that rung, the ones that came after it included (a
tie still going to the earlier one). Promoting on arrival lets the first trials through
on scores that later trials beat, and a trial that learnt nothing, alone at its rungs,
runs all its epochs; the recheck takes such a promotion back at the next rung. Scores are
compared at one epoch only: a trial's score after more epochs is never set against
others' after fewer, so a trial alone at its rungs whose score dips a little (0.900 after
one epoch, 0.895 after three) continues. It is off by default: plain ASHA is the rule
that is published and that users expect, and a change to the rule earns its place by
what ``benchmarks/search_efficiency.py`` measures.

Two differences from Ray's ``ASHAScheduler``:

- Ray compares an arriving trial with a percentile of the values before it, interpolated
  (with two of them, two thirds of the way from the lower to the higher), and a tie
  passes. Here a trial must rank in the top ``⌊n / η⌋``, so while a rung holds few trials
  it must beat them all, and trials at chance level, which often tie exactly (a model
  that predicts one class scores that class's share), stop.
- Ray's rungs start empty in every run, so after a resume the first trials at each
  rung run on whatever their score. Here they start from the study: every finished
  trial's intermediate value at a rung's epoch, so a resumed run (or a second driver
  that starts later) compares its trials with all the study's trials, not only its own.

The median stopping rule (Golovin et al., "Google Vizier", KDD 2017), as Ray's
``MedianStoppingRule`` applies it: at an epoch ``t`` from ``grace_period`` on, a trial stops
if its best value so far is strictly worse than the median, over the other trials that have
reached ``t``, of each one's mean value from ``grace_period`` to ``t``; while fewer than
``min_samples_required`` others have reached ``t``, it continues. It is hpo's own class, not
Ray's, for two reasons. Ray's keeps its curves by Ray trial of the run, in private state that
no public method fills, so a resumed run could not start from the study's curves. And while
it has too few others to judge a trial and another trial is pending, Ray's pauses the trial
to let the other run (``min_time_slice``; ``hard_stop`` does not prevent it): a trainer that
cannot resume would start over. Here the curves are the study's intermediate values, a
trial is known by its number, and the rule only ever continues or stops.

HyperBand (Li et al., JMLR 2018) is Ray's ``HyperBandScheduler``, on the epochs the trainer
reports: trials fill brackets in turn; in each, a trial that reaches the bracket's milestone
is PAUSED until every trial of the bracket has, then the top ``1/η`` are resumed from their
checkpoints (hpo.engine.trainable) and the others stopped (PRUNED). The searcher keeps a
paused trial open, so the study holds one trial per config with one curve; a trial resumed
from a checkpoint older than its pause (``checkpoint.every`` above 1) runs the epochs since
again, and they replace the first ones, as for a retried trial. A paused trial holds none of
``resources.max_concurrent``'s places: the searcher keeps that limit itself, counting
running trials only (Ray's own limit counts paused trials, so with fewer places than a
bracket has trials, its first trials waited paused for bracket-mates that never started,
and Ray judged the bracket without them). Three things differ from Ray's class: a
result without the epoch or the metric (a trainer's error, a pause at the time budget)
goes past the scheduler, as with ASHA; a NaN is the worst value, where Ray would sort it
anywhere; and a trial is stopped at its last epoch (or when the trainer says
it has finished), never paused there, so that it ends COMPLETE (hpo.engine.gate settles
these three before Ray's rule, for PBT too). Its brackets are not
started from the study: a bracket compares trials that run together, each paused until the
others reach the milestone, and a finished trial can no longer be paused or resumed. A
resumed run starts new brackets; a trial the last run left resumes from its checkpoint in
one of them.

Population Based Training is Ray's ``PopulationBasedTraining`` over the spec's space
(hpo.engine.population, whose doc says what it perturbs and how): trials are paused to be
exploited and started again from another trial's checkpoint, and the searcher records
each exploit. Like HyperBand it is not started from the study: it compares the trials
that run together.
"""

from __future__ import annotations

import math
import statistics
from typing import Any

import optuna
from optuna.trial import TrialState
from ray.tune.experiment import Trial
from ray.tune.schedulers import FIFOScheduler, HyperBandScheduler, TrialScheduler

from hpo.contract import EPOCH
from hpo.engine.gate import ResultGate
from hpo.engine.population import StudyPopulationBasedTraining
from hpo.engine.trainable import reported_epoch
from hpo.spec.fidelity import rung_epochs
from hpo.spec.sections import PBTSection, Spec
from hpo.study.summary import score

__all__ = ["StudyASHAScheduler", "StudyHyperBandScheduler", "StudyMedianStoppingRule", "build_scheduler"]


def build_scheduler(spec: Spec, study: optuna.Study) -> TrialScheduler:
    """The spec's scheduler, started from the study's finished trials; FIFO for ``type: none``.
    Promotion ASHA and PBT then follow the searcher (their ``follow``)."""
    section = spec.scheduler
    if section.type == "asha":
        rungs: dict[str, Any] = {
            "metric": spec.metric,
            "mode": spec.mode,
            "max_t": spec.epochs,
            "grace_period": section.grace_period,
            "reduction_factor": section.reduction_factor,
        }
        if section.promotion:
            from hpo.engine.promotion import StudyPromotionScheduler  # it builds on StudyASHAScheduler, below

            return StudyPromotionScheduler(study, **rungs)
        return StudyASHAScheduler(study, **rungs, recheck_rung_below=section.recheck_rung_below)
    if section.type == "median":
        return StudyMedianStoppingRule(
            study, metric=spec.metric, mode=spec.mode, grace_period=section.grace_period, min_samples_required=section.min_samples_required
        )
    if section.type == "hyperband":
        return StudyHyperBandScheduler(metric=spec.metric, mode=spec.mode, max_t=spec.epochs, reduction_factor=section.reduction_factor)
    if isinstance(section, PBTSection):
        return StudyPopulationBasedTraining(metric=spec.metric, mode=spec.mode, max_t=spec.epochs, space=spec.space, section=section)
    return FIFOScheduler()


class _StudyStoppingScheduler(FIFOScheduler):
    """What hpo's stopping schedulers share: the metric and mode come from the spec (never
    from Ray), and a result that carries no epoch or no metric (a trainer's error report)
    is let through: the trial ends by itself."""

    def __init__(self, metric: str, mode: str) -> None:
        super().__init__()
        self._metric = metric
        self._mode = mode

    def set_search_properties(self, metric: str | None, mode: str | None, **spec: Any) -> bool:
        return True

    def _judged_epoch(self, result: dict) -> int | None:
        """The epoch ``result`` reports its metric at; None for a result to let through."""
        epoch = reported_epoch(result)
        return None if epoch is None or self._metric not in result else epoch


class StudyASHAScheduler(_StudyStoppingScheduler):
    """Asynchronous successive halving over the study's trials (see module doc).

    Ray calls every method from its controller thread, one result at a time; trials
    running at once reach the rungs in some order, and each is compared with the trials
    that reached its rung before it. Trials are known by their study number, so a trial
    that Ray retries after its worker died is not counted twice.

    Args:
        study: Its COMPLETE and PRUNED trials fill the rungs at the start.
        metric, mode: The per-epoch value compared at the rungs, and its direction.
        max_t: Epochs of a full trial; a trial is stopped there.
        grace_period: Epochs every trial runs before it can be stopped (the first rung).
        reduction_factor: η: the top 1/η of the trials at a rung continue (the best one
            while fewer than η have reached it).
        recheck_rung_below: Past the first rung, a trial must also still be in the top
            1/η of the rung below, the trials that reached it later included.
    """

    def __init__(
        self,
        study: optuna.Study,
        *,
        metric: str,
        mode: str,
        max_t: int,
        grace_period: int,
        reduction_factor: int,
        recheck_rung_below: bool = False,
    ) -> None:
        super().__init__(metric, mode)
        self._max_t = max_t
        self._reduction_factor = reduction_factor
        self._recheck_rung_below = recheck_rung_below
        self._rungs: dict[int, dict[int, float]] = {epoch: {} for epoch in rung_epochs(grace_period, reduction_factor, max_t)}
        for trial in study.get_trials(deepcopy=False, states=(TrialState.COMPLETE, TrialState.PRUNED)):
            for epoch, recorded in self._rungs.items():
                if epoch in trial.intermediate_values:
                    recorded[trial.number] = score(trial.intermediate_values[epoch], mode)

    def on_trial_result(self, tune_controller: Any, trial: Trial, result: dict) -> str:
        epoch = self._judged_epoch(result)
        if epoch is None:
            return TrialScheduler.CONTINUE
        if epoch >= self._max_t:
            return TrialScheduler.STOP
        recorded = self._rungs.get(epoch)
        number = trial.config["trial_number"]
        if recorded is None or number in recorded:  # not a rung, or passed it before a retry
            return TrialScheduler.CONTINUE
        arrived = score(result[self._metric], self._mode)  # higher is better; NaN is -inf
        ahead = sum(other >= arrived for other in recorded.values())
        recorded[number] = arrived
        if ahead >= self._kept(len(recorded)) or arrived == -math.inf:
            return TrialScheduler.STOP
        if self._recheck_rung_below and not self._still_promoted_below(epoch, number):
            return TrialScheduler.STOP
        return TrialScheduler.CONTINUE

    def _kept(self, reached: int) -> int:
        """How many of the trials that reached a rung continue: the top 1/η, at least one."""
        return max(1, reached // self._reduction_factor)

    def _still_promoted_below(self, epoch: int, number: int) -> bool:
        """Whether trial ``number``'s score at the rung below ``epoch`` is still in the top
        1/η there, given every trial that has reached that rung since it did (true at the
        first rung, and for a trial with no score there). Each trial is compared at one
        epoch only: a trial's score after more epochs is never set against others' after
        fewer. A tie goes to the trial that reached the rung first, as on arrival."""
        below = [rung for rung in self._rungs if rung < epoch]
        recorded = self._rungs[max(below)] if below else {}
        if number not in recorded:
            return True
        own, arrivals = recorded[number], list(recorded)  # dicts keep the order of arrival
        earlier = set(arrivals[: arrivals.index(number)])
        ahead = sum(other > own or (other == own and key in earlier) for key, other in recorded.items())
        return ahead < self._kept(len(recorded))

    def debug_string(self) -> str:
        return "ASHA: " + ", ".join(f"epoch {epoch}: {len(recorded)} trials" for epoch, recorded in self._rungs.items())


class StudyMedianStoppingRule(_StudyStoppingScheduler):
    """The median stopping rule over the study's trials (see module doc).

    Args:
        study: The curves (intermediate values) of its COMPLETE and PRUNED trials are
            there from the start.
        metric, mode: The per-epoch value compared, and its direction.
        grace_period: Epochs every trial runs before it can be stopped; the others' means
            are taken from this epoch on.
        min_samples_required: Other trials that must have reached an epoch for a trial to
            be judged at it.
    """

    def __init__(self, study: optuna.Study, *, metric: str, mode: str, grace_period: int, min_samples_required: int) -> None:
        super().__init__(metric, mode)
        self._grace_period = grace_period
        self._min_samples_required = min_samples_required
        self._curves: dict[int, dict[int, float]] = {
            trial.number: dict(trial.intermediate_values)
            for trial in study.get_trials(deepcopy=False, states=(TrialState.COMPLETE, TrialState.PRUNED))
            if trial.intermediate_values
        }

    def on_trial_result(self, tune_controller: Any, trial: Trial, result: dict) -> str:
        epoch = self._judged_epoch(result)
        if epoch is None:
            return TrialScheduler.CONTINUE
        number = trial.config["trial_number"]
        # a trial Ray retried after its worker died reports its epochs again: they replace the first attempt's
        curve = {e: value for e, value in self._curves.get(number, {}).items() if e < epoch}
        curve[epoch] = float(result[self._metric])
        self._curves[number] = curve
        if epoch < self._grace_period:
            return TrialScheduler.CONTINUE
        others = [self._running_mean(values, epoch) for other, values in self._curves.items() if other != number]
        means = [mean for mean in others if mean is not None]
        if len(means) < self._min_samples_required:
            return TrialScheduler.CONTINUE
        best = max(score(value, self._mode) for value in curve.values())  # higher is better; NaN is -inf
        return TrialScheduler.STOP if best < score(statistics.median(means), self._mode) else TrialScheduler.CONTINUE

    def _running_mean(self, curve: dict[int, float], epoch: int) -> float | None:
        """A trial's mean value from the grace period to ``epoch``; None if it has not
        reached ``epoch``, or the mean is not finite (as Ray leaves such a trial out)."""
        if not curve or max(curve) < epoch:
            return None
        window = [value for e, value in curve.items() if self._grace_period <= e <= epoch]
        mean = statistics.fmean(window) if window else math.nan
        return mean if math.isfinite(mean) else None

    def debug_string(self) -> str:
        return f"median stopping rule: {len(self._curves)} trials"


class StudyHyperBandScheduler(HyperBandScheduler):
    """Ray's HyperBand on the trainer's epochs (see module doc).

    Args:
        metric, mode: The per-epoch value compared at the milestones, and its direction.
        max_t: Epochs of a full trial; a trial is stopped there.
        reduction_factor: η: the top 1/η of a bracket's trials go on at each milestone.
    """

    def __init__(self, *, metric: str, mode: str, max_t: int, reduction_factor: int) -> None:
        super().__init__(time_attr=EPOCH, metric=metric, mode=mode, max_t=max_t, reduction_factor=reduction_factor)
        self._gate = ResultGate(metric, mode, max_t)
        self._trials: dict[int, Trial] = {}  # by study number: the searcher asks which are paused

    def on_trial_add(self, tune_controller: Any, trial: Trial) -> None:
        super().on_trial_add(tune_controller, trial)
        self._trials[trial.config["trial_number"]] = trial

    def is_paused(self, number: int) -> bool:
        """Whether trial ``number`` waits for its bracket, PAUSED: it holds no worker, and
        the searcher counts it out of ``max_concurrent`` (see module doc)."""
        trial = self._trials.get(number)
        return trial is not None and trial.status == Trial.PAUSED

    def set_search_properties(self, metric: str | None, mode: str | None, **spec: Any) -> bool:
        return True  # metric and mode come from the spec, never from Ray

    def on_trial_result(self, tune_controller: Any, trial: Trial, result: dict) -> str:
        compared = self._gate.admit(result)
        if isinstance(compared, str):
            return compared  # no metric to compare, or its last epoch: decided before Ray's rule (hpo.engine.gate)
        return super().on_trial_result(tune_controller, trial, compared)

"""A Ray Tune ``Searcher`` that owns the Optuna study: ask, report, tell.

Ray's own ``OptunaSearch`` records a trial that ASHA stopped as COMPLETE and drops the
result at which it was stopped. Here the study is the record of truth:

- ``suggest`` asks the study and samples the space into a config (define-by-run), on an
  in-memory replica that writes through to the study (``hpo.engine.replica``);
- ``on_trial_result`` stores each epoch's metric as an intermediate value (an epoch that
  ends within a second of the last write waits for the next one or the trial's end);
- ``on_trial_complete`` stores the result Ray passes only there (the one at which a
  scheduler stopped the trial), then tells the final state: COMPLETE when the trainer's
  last report says ``finished`` (all epochs, or its own early stopping), PRUNED when it
  ended without it (ASHA stopped it), FAIL when it raised or reported no finite value of
  the metric, with the reason.

Checkpoints (hpo.engine.checkpoints): ``record_checkpoint`` stores each trial's latest in
the study with the epochs and history it holds. A trial interrupted (Ctrl-C, a dead driver,
the time budget) is queued again with that checkpoint; the trial that takes its place
continues from it with the same parameters, its curve starting with the interrupted
trial's epochs up to the checkpoint, so the study shows one unbroken curve, under the new
number, that says where it came from (``resumed_from``). The interrupted trial stays FAIL
("interrupted"), as a trial without a checkpoint does, so the counts are as before.
A trial told COMPLETE first leaves its final weights, taken from the checkpoint of its
last report, if they enter the study's best ``checkpoint.keep`` (hpo.study.weights); the
weights of the trial they push out go.

Under Population Based Training (hpo.engine.population) the scheduler tells
``record_exploit`` when a trial goes on from another's checkpoint with a perturbed copy of
its config. The Optuna trial keeps the parameters it started with (they cannot change);
each exploit is appended to its ``perturbations`` attribute: the epoch it was compared at,
the trial and epoch it was copied from, and the parameters it runs from there (all of them).
Its curve stays one per-epoch curve: its own values up to the copied epoch (the other
trial's values for the epochs it skipped, when that one was ahead), then the epochs it runs
from there, which replace its own, as for a retried trial. An interrupted trial resumes
with the parameters of its last exploit, and the trial that continues it keeps the
attribute. PBT may copy the checkpoint of a top trial's latest result before Ray hands that
checkpoint to hpo: the exploit is then recorded when it comes, before the exploited trial
reports again. Checkpoints then go only once no trial can start from them
(hpo.engine.checkpoints.SharedCheckpoints).

With several objectives, the first is the per-epoch metric above (pruned on, its best or
last epoch the trial's value); each other one is taken from the last epoch that reports
it. Each of ``constraints:`` is judged on the last epoch that reports its metric and
recorded with ``Trial.set_constraint`` (how far the value breaks it; at most 0 meets it),
which Optuna's samplers and ``Study.best_trials`` read. A COMPLETE trial missing an
objective or a constrained metric fails, with the name of what it did not report.

Only the driver runs this code, so workers on other nodes never touch the database.
The searcher also decides when the study is done: it keeps proposing trials until
exactly ``study.trials`` have finished, because a trial that fails does not count, or
until a stop rule (``study.target``, ``study.patience``: hpo.study.stoprules) fires on the
study's finished trials. While
it waits for the last running trials, it recovers those whose driver died (another
driver on the same study killed mid-run), so that no run waits for an orphan.
"""

from __future__ import annotations

import copy
import logging
import math
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import Any, Protocol

import optuna
from optuna.trial import FrozenTrial, TrialState
from ray.tune.search import Searcher

from hpo.contract import EPOCH, FINISHED
from hpo.engine.checkpoints import SharedCheckpoints, discard_checkpoints, ray_trial_directory, trial_directory
from hpo.engine.failures import FailureStreak
from hpo.engine.replica import StudyReplica
from hpo.engine.samplers import ConditionalGridSampler
from hpo.engine.trainable import ERROR_KEY, ERROR_TYPE_KEY, PAUSED_KEY, STATE_FILE, reported_epoch
from hpo.spec.objectives import Constraint
from hpo.spec.space import Space, fill_partial, sample
from hpo.study.keys import (
    CHECKPOINT_ATTR,
    CONFIG_ATTR,
    EPOCHS_ATTR,
    ERROR_ATTR,
    ERROR_TYPE_ATTR,
    GRID_POINT_ATTR,
    HISTORY_ATTR,
    HISTORY_KEYS,
    LOG_ATTR,
    PAUSED_AT_ATTR,
    PERTURBATIONS_ATTR,
    RAY_TRIAL_ID,
    REQUEUED_FROM_ATTR,
    RESUMED_FROM_ATTR,
    SECONDS_ATTR,
    WORKER_ATTR,
    WORKER_KEYS,
)
from hpo.study.records import FINISHED_STATES, INTERRUPTED_TYPE, is_warm_start, recover_orphans, requeued_attrs
from hpo.study.stoprules import StopRules
from hpo.study.storage import trial_log_path
from hpo.study.summary import best_of, study_modes
from hpo.study.weights import artifact_store, drop_beyond, enters_best, upload_weights

PAUSED = "paused at the time budget"  # the error of a trial the time budget stopped, queued to resume
RECOVERY_INTERVAL_S = 5.0  # while waiting for running trials, look for orphans this often
WRITE_INTERVAL_S = 1.0  # an epoch this soon after a trial's last write waits for its next one

_log = logging.getLogger(__name__)


class PausedTrials(Protocol):
    """What the searcher asks of a scheduler that pauses trials (HyperBand, promotion
    ASHA), to keep ``max_concurrent`` itself: Ray's limit counts a paused trial as running."""

    def is_paused(self, number: int) -> bool: ...


class RungPauses(PausedTrials, Protocol):
    """What the searcher asks of a scheduler that pauses trials at rungs and promotes them
    (hpo.engine.promotion), trials known by their study numbers."""

    def paused_at(self, number: int) -> int | None: ...

    def queued(self) -> set[int]: ...

    def next_promotion(self) -> int | None: ...

    def promote(self, number: int) -> None: ...


class TrialObserver(Protocol):
    """What the progress display needs to know (see hpo.engine.progress)."""

    def trial_started(self, number: int) -> None: ...

    def trial_finished(self, trial: FrozenTrial) -> None: ...


@dataclass
class _LiveTrial:
    trial: optuna.Trial  # on the replica
    number: int  # in the study
    ray_trial_id: str
    started: float = field(default_factory=time.time)
    values: dict[int, float] = field(default_factory=dict)
    written_at: float = field(default_factory=time.monotonic)  # created in the database: a write
    history: list[dict[str, Any]] = field(default_factory=list)
    last: Mapping[str, Any] = field(default_factory=dict)
    checkpoints: set[str] = field(default_factory=set)  # Ray trial directories holding this curve's checkpoints
    final: str | None = None  # the checkpoint of its last report: its final weights, when the study keeps them
    paused_at: int | None = None  # the rung it waits at, as recorded in the study (hpo.engine.promotion)
    perturbations: list[dict[str, Any]] = field(default_factory=list)  # its exploits under PBT (PERTURBATIONS_ATTR)
    exploit: _Exploit | None = None  # an exploit whose result is still to be recorded
    awaited: _AwaitedExploit | None = None  # an exploit from a checkpoint Ray has yet to hand hpo


@dataclass
class _AwaitedExploit:
    """An exploit from a checkpoint hpo has not recorded yet: PBT takes a top trial's
    checkpoint of its latest result as soon as Ray has saved it, which may be before Ray
    hands it to the callbacks (hpo.engine.checkpoints.CheckpointRecorder). The exploit is
    recorded when it comes, which is before the exploited trial reports again."""

    epoch: int
    checkpoint: str
    params: dict[str, Any]
    directory: str | None
    results: int = 0  # of the exploited trial since: the one the exploit was decided on, then none


@dataclass
class _Exploit:
    """An exploit of a trial under PBT: after ``epoch`` it goes on from another's checkpoint
    of epoch ``copied``; ``values`` and ``history`` are that trial's epochs in between."""

    epoch: int
    copied: int
    values: dict[int, float]
    history: list[dict[str, Any]]


class StudySearcher(Searcher):
    """Propose and record trials of one study (see module doc).

    Args:
        study: The Optuna study (its sampler proposes the values).
        storage: The study's storage, written through Optuna's public storage API.
        space: The parsed search space.
        base_config: The spec's ``train:`` block, copied and filled for each trial.
        metric, mode: The per-epoch key to optimise and its direction (of the first
            objective, with several).
        reported: The other names the trainer declares it reports (hpo.contract): kept in
            each epoch's history with the metric.
        objectives: The metrics of the other objectives, of a study with several: each
            trial's value of them is the last one it reported.
        constraints: What a trial must meet to count, recorded with it (see module doc).
        objective: ``best`` or ``last`` epoch as a complete trial's value.
        target: Finished trials (COMPLETE + PRUNED) the study must reach.
        time_budget_s: Stop proposing trials after this many seconds.
        pause_at_budget: Then also pause the running trials at their next checkpoint, to
            resume in the next run (else they finish).
        observer: Told about starts and ends (progress display); optional.
        grid: The grid sampler, when the spec searches a grid: it says when every point
            is held, and which point each trial holds (recorded with the trial).
        failures: Told each trial's end; proposing stops when it says so (study.max_failures).
        rules: The study's stop rules; proposing stops once one fires (its verdict is
            :attr:`stopped`).
        keep: How many of the best COMPLETE trials keep their final weights, as Optuna
            artifacts (``checkpoint.keep``; hpo.study.weights).
        paused: The scheduler, when it pauses trials: the searcher then keeps
            ``max_concurrent`` itself, counting running trials only (Ray's own limit
            would count the paused ones, and wait for ever once they fill it).
        max_concurrent: Trials running at once, with ``paused`` (or ``pauses``).
        pauses: The scheduler, when it pauses trials at rungs and promotes them: the
            searcher takes a queued paused trial only when it is promoted, records where
            each waits, and ends the paused trials when the study ends (see :meth:`suggest`).
        clone_window: Under PBT, the epochs of a trial's latest checkpoints another trial
            may copy (see module doc); None: a trial's checkpoints are its own.
    """

    def __init__(
        self,
        study: optuna.Study,
        storage: optuna.storages.BaseStorage,
        space: Space,
        base_config: Mapping[str, Any],
        *,
        metric: str,
        mode: str,
        reported: tuple[str, ...] = (),
        objectives: tuple[str, ...] = (),
        constraints: tuple[Constraint, ...] = (),
        objective: str,
        target: int,
        time_budget_s: float | None = None,
        pause_at_budget: bool = False,
        observer: TrialObserver | None = None,
        grid: ConditionalGridSampler | None = None,
        failures: FailureStreak | None = None,
        rules: StopRules | None = None,
        keep: int = 0,
        paused: PausedTrials | None = None,
        max_concurrent: int | None = None,
        pauses: RungPauses | None = None,
        clone_window: int | None = None,
    ) -> None:
        super().__init__(metric=metric, mode=mode)
        self._study = study
        self._storage = storage
        # the checkpoint a resume reads is written after the epochs and history it holds
        self._replica = StudyReplica(study, storage, written_last=(CHECKPOINT_ATTR,))
        self._space = space
        self._base = dict(base_config)
        self._objectives = objectives
        self._constraints = constraints
        kept = (*HISTORY_KEYS, metric, *reported, *objectives, *(c.metric for c in constraints))
        self._history_keys = tuple(dict.fromkeys(kept))
        self._objective = objective
        self._target = target
        self._deadline = time.monotonic() + time_budget_s if time_budget_s else None
        self._pause_at = time.time() + time_budget_s if time_budget_s and pause_at_budget else None  # for the trials, on any node
        self._observer = observer
        self._grid = grid
        self._failures = failures
        self._live: dict[str, _LiveTrial] = {}
        self._errored: dict[str, _LiveTrial] = {}
        self._recovered_at = time.monotonic()  # the run recovered orphans as it started
        self._rules = rules
        self._keep = keep
        self._shared = SharedCheckpoints(clone_window) if clone_window else None
        self._modes = study_modes(study)  # of every objective: how the best trials rank
        self._judged = -1  # finished trials when the rules were last judged: judged again only when one more finished
        self.budget_spent = False
        self.paused = 0  # trials paused at the time budget
        self.stopped: str | None = None  # the verdict of the stop rule that fired
        self._paused = paused if paused is not None else pauses
        self._max_concurrent = max_concurrent
        self._pauses = pauses
        self.ending = False  # no trial will be started or promoted any more: paused ones are ended

    def __getstate__(self) -> dict[str, Any]:
        """Ray pickles the Tuner for its own restore, which hpo never uses: a run resumes
        from the study. The pickled copy carries no database handle or live trials."""
        state = dict(self.__dict__)
        for key in ("_study", "_storage", "_replica", "_observer", "_live", "_errored", "_grid", "_rules", "_paused", "_pauses"):
            state[key] = None
        return state

    # ------------------------------------------------------------------ Ray's interface

    def set_search_properties(self, metric: str | None, mode: str | None, config: dict, **spec: Any) -> bool:
        return True  # metric and mode come from the spec, never from Ray

    # Ray's annotation omits the Searcher.FINISHED string its own docs say to return
    def suggest(self, trial_id: str) -> dict[str, Any] | str | None:  # type: ignore[override]
        suggested = self._suggest(trial_id)
        if suggested == Searcher.FINISHED and not self.ending:
            self._end_paused()
        return suggested

    def _suggest(self, trial_id: str) -> dict[str, Any] | str | None:
        if self._deadline is not None and time.monotonic() >= self._deadline:
            self.budget_spent = True
            return Searcher.FINISHED
        if self._failures is not None and self._failures.stop:
            return Searcher.FINISHED  # running trials end as they would; none is started
        self._replica.maybe_sync()
        finished, running = self._study_counts()
        if self._rules is not None and finished != self._judged:
            self._judged = finished
            self.stopped = self._rules.verdict(self._replica.finished_trials())
        if self.stopped is not None:
            return Searcher.FINISHED  # running trials end as they would; none is started
        if finished >= self._target:
            return Searcher.FINISHED
        held: set[int] = set()
        promoted = None
        paused = self._paused
        running_here = sum(paused is None or not paused.is_paused(live.number) for live in self._live.values())
        if self._max_concurrent is not None and running_here >= self._max_concurrent:
            return None  # every slot runs a trial; paused ones hold none
        if self._pauses is not None:
            promoted, held = self._pauses.next_promotion(), self._pauses.queued()
            if promoted is not None and promoted not in held:
                return None  # Ray resumes it in the free slot (the scheduler's choose_trial_to_run)
            if promoted is None and not running_here and finished + running + len(held) >= self._target:
                self._end_paused()  # nothing runs, nothing can be promoted, no place is left
                return None  # once the paused trials Ray holds are stopped, the study has its trials
        if finished + running >= self._target:
            self._recover_orphans()
            return None  # enough are running; ask again once one ends (it may fail)
        if self._grid is not None and self._grid.exhausted(self._replica.trials(), self._replica.waiting()):
            return None if self._live or self._errored else Searcher.FINISHED
        trial = self._replica.ask(self._target, held=held, only=promoted)
        if trial is None:  # the places left are queued or taken: ask again in a moment
            if self._pauses is not None and promoted is not None:
                self._pauses.promote(promoted)  # another driver claimed it: not this run's to resume, nor to wait for
            return None
        try:
            config = sample(trial, self._space, self._base)
        except Exception as exc:  # a space that passed validation should never get here
            raise RuntimeError(f"sampling a trial failed: {exc}") from exc
        trial.set_user_attr(CONFIG_ATTR, config)
        point = self._grid.point_of(trial.number) if self._grid is not None else None
        if point is not None:
            trial.set_user_attr(GRID_POINT_ATTR, point)
        if not self._replica.start(trial, self._target):
            return None  # another driver took the last place since the replica was read
        live = _LiveTrial(trial, self._replica.number(trial), trial_id)
        if self._pauses is not None and promoted is not None:
            self._pauses.promote(live.number)
            trial.set_user_attr(PAUSED_AT_ATTR, None)  # promoted: it waits at its rung no more
        resume = self._resume(live)
        self._live[trial_id] = live
        # under the directory `hpo run` runs in, on whichever node runs the trial; recorded
        # with its first epoch's write, or at its end
        log = trial_log_path(self._study.study_name, live.number).absolute()
        trial.set_user_attr(LOG_ATTR, str(log))
        if resume is not None:
            self._replica.flush(trial)  # its first epochs, taken over: the curve is whole at once
        if self._observer:
            self._observer.trial_started(live.number)
        # params: for the trackers
        params = dict(trial.params)
        if live.perturbations:  # it goes on with the parameters of its last exploit
            params = dict(live.perturbations[-1]["params"])
            config = fill_partial(self._space, self._base, params)
        suggested = {"config": config, "trial_number": live.number, "log_file": str(log), "params": params}
        if resume is not None:
            suggested["resume_from"] = resume
        if self._pause_at is not None:
            suggested["pause_at"] = self._pause_at
        return suggested

    def on_trial_result(self, trial_id: str, result: dict[str, Any]) -> None:
        self._replica.settle()  # checkpoints recorded since the last result: the ones they replace go
        live = self._live.get(trial_id)
        if live is not None:
            if live.awaited is not None:
                live.awaited.results += 1
                if live.awaited.results > 1:  # it goes on, and the copied checkpoint never came
                    _log.warning("trial %d was exploited from a checkpoint hpo did not record: %s", live.number, live.awaited.checkpoint)
                    live.awaited = None
            self._record_epoch(live, result)
            if self._pauses is not None:
                self._record_pause(live, self._pauses.paused_at(live.number))

    def on_trial_complete(self, trial_id: str, result: dict[str, Any] | None = None, error: bool = False) -> None:
        live = self._live.pop(trial_id, None)
        if live is None:
            return
        if result:
            self._record_epoch(live, result)
        if live.paused_at is not None:  # it waited at a rung (hpo.engine.promotion): promoted since, or stopped there
            if not result and self.budget_spent and self._pause_at is not None:  # to resume in the next run, still paused there
                self.paused += 1
                self._interrupt(live, INTERRUPTED_TYPE, PAUSED)
                return
            live.paused_at = None
            live.trial.set_user_attr(PAUSED_AT_ATTR, None)  # an ended trial waits nowhere; told below
        if result and result.get(PAUSED_KEY):
            self.paused += 1
            self._interrupt(live, INTERRUPTED_TYPE, PAUSED)
        elif error:
            # Ray tells the searcher before the callbacks that carry the exception;
            # TrialErrorCallback calls record_error right after with the reason.
            self._errored[trial_id] = live
        elif result and result.get(ERROR_TYPE_KEY):
            self._fail(live, str(result[ERROR_TYPE_KEY]), str(result.get(ERROR_KEY, "")))
        elif not live.values:
            self._fail(live, "NoFiniteValue", f"no finite {self.metric} was reported")
        elif result and result.get(FINISHED):
            self._complete(live)
        else:
            self._judge_constraints(live)
            self._tell(live, TrialState.PRUNED)

    # ------------------------------------------------------------------ hpo's interface

    def record_error(self, trial_id: str, error_type: str, message: str) -> None:
        """Fail a trial Ray marked as errored, with the reason its callback found."""
        live = self._errored.pop(trial_id, None)
        if live is not None:
            self._fail(live, error_type, message)

    def record_checkpoint(self, trial_id: str, path: str, epoch: int, final: bool = False) -> None:
        """Store a trial's latest checkpoint (hpo.engine.checkpoints calls this once Ray
        has it whole), with the epochs it holds: written while the trial trains on, and
        the trial's next waits for it, so a run killed from then on resumes the trial from
        it. Once it is written, the checkpoint it replaces goes, and on the trial's first,
        the one it started from. The checkpoint of its last report
        (``final``) is only held for its weights: a trial interrupted before it is told
        resumes from the one before."""
        live = self._live.get(trial_id)
        if live is None:
            return
        if final:
            live.final = path
            live.checkpoints.add(trial_directory(path))
            if self._shared is not None:
                self._shared.holds(trial_id, trial_directory(path))
            return
        replaced = live.trial.user_attrs.get(CHECKPOINT_ATTR)
        live.trial.set_user_attr(CHECKPOINT_ATTR, {"path": path, "epoch": epoch})
        live.trial.set_user_attr(HISTORY_ATTR, [h for h in live.history if h[EPOCH] <= epoch])
        live.written_at = time.monotonic()
        if self._shared is not None:
            # written now: under pbt another trial may go on from any checkpoint of the window
            # the sweep keeps, and the window is reckoned from what the study has recorded
            self._replica.flush(live.trial)
            self._shared.written(trial_id, path, epoch)
            self._shared.sweep()
            self._record_awaited_exploits(path)
            return
        # written while the trial trains on (hpo.engine.background_writes); the one it replaces goes once it is
        self._replica.flush_behind(live.trial, partial(_replace_checkpoint, live, path, replaced))

    def record_exploit(self, trial_id: str, epoch: int, checkpoint: str, params: Mapping[str, Any], directory: str | None) -> None:
        """Record that PBT exploited a trial after ``epoch``: it goes on from ``checkpoint``
        (another trial's) with ``params`` (see module doc). From now on it resumes from that
        checkpoint, with these parameters, should the run be interrupted. ``directory`` is
        its own trial directory, where its checkpoints before the exploit lie."""
        live = self._live.get(trial_id)
        if live is None or self._shared is None:
            return
        origin = self._shared.origin(checkpoint)
        if origin is None:  # not handed to hpo yet (see _AwaitedExploit)
            live.awaited = _AwaitedExploit(epoch, checkpoint, dict(params), directory)
            return
        source = self._live.get(origin[0])
        if source is None:  # its writer ended, and Ray no longer compares an ended trial: a bug
            _log.warning("trial %d was exploited from a checkpoint of a trial that ended: %s", live.number, checkpoint)
            return
        copied = origin[1]
        # Ray hands the searcher the result of ``epoch`` after the scheduler: the curve changes once it is recorded
        live.exploit = _Exploit(
            epoch,
            copied,
            {step: value for step, value in source.values.items() if epoch < step <= copied},
            [dict(h) for h in source.history if epoch < h[EPOCH] <= copied],
        )
        live.perturbations.append({EPOCH: epoch, "cloned_from": source.number, "from_epoch": copied, "params": dict(params)})
        live.trial.set_user_attr(PERTURBATIONS_ATTR, list(live.perturbations))  # a copy: the replica writes what changed
        # its own directory is named too: a run killed now resumes it from the copy, and the next run deletes its own
        live.trial.set_user_attr(CHECKPOINT_ATTR, {"path": checkpoint, "epoch": copied, **({"directory": directory} if directory else {})})
        if directory:
            self._shared.holds(trial_id, directory)
        self._shared.copied(trial_id, checkpoint)
        self._shared.sweep()

    def _record_awaited_exploits(self, path: str) -> None:
        """Record the exploits that copied ``path`` before it was recorded (see
        _AwaitedExploit); a trial whose result the exploit was decided on is recorded
        already continues from the copy at once."""
        waiting = [(live, awaited) for live in self._live.values() if (awaited := live.awaited) is not None and awaited.checkpoint == path]
        for live, awaited in waiting:
            live.awaited = None
            self.record_exploit(live.ray_trial_id, awaited.epoch, path, awaited.params, awaited.directory)
            if awaited.results and live.exploit is not None:
                self._continue_from_copy(live, live.exploit)
                live.exploit = None

    def fail_unfinished(self, error_type: str, message: str) -> int:
        """Fail every trial still open (Ctrl-C, a crash of Ray) and queue its parameters
        again, as recovering a dead driver's trial does: the next run starts with them, and
        a grid point is not lost to an interruption. Returns how many."""
        open_trials = {**self._live, **self._errored}
        self._live.clear()
        self._errored.clear()
        for live in open_trials.values():
            self._interrupt(live, error_type, message)
        return len(open_trials)

    def _record_pause(self, live: _LiveTrial, paused_at: int | None) -> None:
        """Record in the study, at once, the rung ``live`` waits at (None: it goes on): a
        run killed from here on knows it as paused there (hpo.engine.promotion)."""
        if paused_at == live.paused_at:
            return
        live.paused_at = paused_at
        live.trial.set_user_attr(PAUSED_AT_ATTR, paused_at)
        self._replica.flush(live.trial)
        live.written_at = time.monotonic()

    def _end_paused(self) -> None:
        """The study ends: no trial is started or promoted any more. The paused trials Ray
        holds are stopped by the scheduler (and recorded by :meth:`on_trial_complete`);
        those waiting in the queue are recorded PRUNED here, at their last epoch, except at
        a time-budget pause, where they wait for the next run."""
        self.ending = True
        if self._pauses is None or (self.budget_spent and self._pause_at is not None):
            return
        for number in sorted(self._pauses.queued()):
            self._pauses.promote(number)
            trial = self._replica.ask(self._target, only=number)
            if trial is None or not self._replica.start(trial, self._target):
                continue  # another driver took it
            live = _LiveTrial(trial, self._replica.number(trial), "")
            self._resume(live)
            trial.set_user_attr(PAUSED_AT_ATTR, None)
            if self._observer:
                self._observer.trial_started(live.number)
            self._judge_constraints(live)
            self._tell(live, TrialState.PRUNED)

    def _interrupt(self, live: _LiveTrial, error_type: str, message: str) -> None:
        """Fail ``live`` as interrupted and queue it again, from its checkpoint if it has one."""
        self._fail(live, error_type, message)
        # one ended elsewhere was queued by the recovery that ended it, or failed by a user on purpose
        if live.trial.params and not self._replica.ended_elsewhere(live.trial):
            self._study.enqueue_trial(live.trial.params, user_attrs=requeued_attrs(live.number, live.trial.user_attrs))

    def study_trials(self) -> list[FrozenTrial]:
        """The study's trials, numbered as in the study (this driver's as it told them)."""
        return self._replica.study_trials()

    def _study_counts(self) -> tuple[int, int]:
        """(finished, running) trials of the study, over every driver working on it.

        Several drivers may share one study; each counts the others' trials too, so
        together they stop at exactly the target. The others' trials are as of the
        replica's last sync (at most a second old); this driver's own are in the replica
        as it tells them. Counts a moment old are safe: the replica checks each new trial
        against the study. A warm start's trials are not the runs' own: they count for none.
        """
        trials = [t for t in self._replica.trials((TrialState.COMPLETE, TrialState.PRUNED, TrialState.RUNNING)) if not is_warm_start(t)]
        finished = sum(t.state in FINISHED_STATES for t in trials)
        return finished, len(trials) - finished

    def _recover_orphans(self) -> None:
        """Recover the running trials of drivers that died since this run started
        (every ``RECOVERY_INTERVAL_S`` while it waits): without it, a co-driver killed
        mid-run leaves trials that count as running for ever, and this run never ends."""
        if time.monotonic() - self._recovered_at < RECOVERY_INTERVAL_S:
            return
        self._recovered_at = time.monotonic()
        if recover_orphans(self._study, self._storage, self._replica.running_elsewhere()):
            self._replica.sync()

    # ------------------------------------------------------------------ recording

    def _record_epoch(self, live: _LiveTrial, result: Mapping[str, Any]) -> None:
        if self.metric not in result:
            return
        epoch = reported_epoch(result)
        epoch = len(live.history) + 1 if epoch is None else epoch
        if live.history and epoch <= live.history[-1][EPOCH]:
            # Ray retried the trial after its worker died: the new attempt's epochs
            # replace the first attempt's from here on.
            live.history = [h for h in live.history if h[EPOCH] < epoch]
            live.values = {e: v for e, v in live.values.items() if e < epoch}
        value = float(result[self.metric])
        live.history.append({EPOCH: epoch, **{k: result[k] for k in self._history_keys if k in result}})
        if math.isfinite(value):
            live.values[epoch] = value
            self._replica.report(live.trial, epoch, value)
            # An epoch within WRITE_INTERVAL_S of the last write waits for the next one or
            # the trial's end: one write for many epochs when they are short.
            if time.monotonic() - live.written_at >= WRITE_INTERVAL_S:
                self._replica.flush(live.trial)
                live.written_at = time.monotonic()
        live.last = result
        if live.exploit is not None and live.exploit.epoch == epoch:
            self._continue_from_copy(live, live.exploit)
            live.exploit = None

    def _continue_from_copy(self, live: _LiveTrial, exploit: _Exploit) -> None:
        """The curve of a trial exploited after ``exploit.epoch`` (see module doc): its own
        values up to the copied epoch, then those of the trial it copied, which was ahead."""
        kept = min(exploit.epoch, exploit.copied)
        live.values = {e: v for e, v in live.values.items() if e <= kept}
        live.history = [h for h in live.history if h[EPOCH] <= kept] + exploit.history
        for step, value in sorted(exploit.values.items()):
            if math.isfinite(value):
                live.values[step] = value
                self._replica.report(live.trial, step, value)
        live.trial.set_user_attr(HISTORY_ATTR, list(live.history))  # a copy: the list grows, and the replica writes what changed
        # one write with the exploit's record: a run killed from here on resumes it from the copy, its curve whole
        self._replica.flush(live.trial)
        live.written_at = time.monotonic()

    def _resume(self, live: _LiveTrial) -> str | None:
        """For a queued trial that continues an interrupted one from its checkpoint
        (``resumed_from``): take over that trial's epochs up to the checkpoint, as this
        trial's first, and return the checkpoint's path; else None. A queued trial that runs
        an interrupted one again (``requeued_from``) also takes over that trial's directory of
        checkpoints: one Ray stored after the last record (a kill between the two) is named
        by no record, and goes with the ones this trial replaces."""
        requeued = live.trial.user_attrs.get(REQUEUED_FROM_ATTR)
        if isinstance(requeued, int):
            live.checkpoints = {ray_trial_directory(self._study.study_name, requeued)}
            if self._shared is not None:
                self._shared.leftover(ray_trial_directory(self._study.study_name, requeued))
        resumed = live.trial.user_attrs.get(RESUMED_FROM_ATTR)
        if not isinstance(resumed, Mapping):
            return None
        epoch, path = int(resumed["epoch"]), str(resumed["path"])
        study_id = self._storage.get_study_id_from_name(self._study.study_name)
        before = self._storage.get_trial(self._storage.get_trial_id_from_study_id_trial_number(study_id, int(resumed["trial"])))
        live.history = [dict(h) for h in before.user_attrs.get(HISTORY_ATTR, []) if h.get(EPOCH, math.inf) <= epoch]
        live.perturbations = [dict(p) for p in before.user_attrs.get(PERTURBATIONS_ATTR, [])]
        if live.perturbations:
            live.trial.set_user_attr(PERTURBATIONS_ATTR, list(live.perturbations))
        for step, value in sorted(before.intermediate_values.items()):
            if step <= epoch and math.isfinite(value):
                live.values[step] = value
                self._replica.report(live.trial, step, value)
        live.trial.set_user_attr(CHECKPOINT_ATTR, {"path": path, "epoch": epoch})  # its latest, until it writes one
        live.checkpoints.add(trial_directory(path))
        if self._shared is not None:
            self._shared.start_from(live.ray_trial_id, path)
            if resumed.get("directory"):  # the interrupted trial's own, when it went on from a copy
                self._shared.leftover(str(resumed["directory"]))
        return path

    def _complete(self, live: _LiveTrial) -> None:
        """Tell a finished trial COMPLETE with its value of every objective; FAIL if it did
        not report one of them, or a metric a constraint names."""
        values = [self._final_value(live)]
        for metric in self._objectives:
            value = _last_reported(live, metric)
            if value is None:
                self._fail(live, "NoFiniteValue", f"no finite {metric} was reported (an objective of the study)")
                return
            values.append(value)
        missing = self._judge_constraints(live)
        if missing is not None:
            self._fail(live, "NoFiniteValue", f"no finite {missing.metric} was reported (constraint {missing.text})")
            return
        stored = self._keep_weights(live, values)
        self._tell(live, TrialState.COMPLETE, values)
        if stored:
            self._drop_weights()

    def _keep_weights(self, live: _LiveTrial, values: list[float]) -> bool:
        """Upload the final weights of ``live``, about to be told COMPLETE with ``values``,
        if they enter the study's best ``keep`` (hpo.study.weights); whether they did. A
        failure to keep them costs the weights, never the trial."""
        if not self._keep or live.final is None or self._replica.ended_elsewhere(live.trial):
            return False
        candidate = copy.copy(next(t for t in self._replica.trials((TrialState.RUNNING,)) if t.number == live.trial.number))
        candidate.state, candidate.values = TrialState.COMPLETE, values
        try:
            store = artifact_store(self._study.study_name, create=True)
            if not enters_best(candidate, self._replica.trials((TrialState.COMPLETE,)), self._modes, self._keep, store):
                return False
            upload_weights(live.trial, Path(live.final) / STATE_FILE, store)
        except Exception as exc:  # an unreadable state, a full disk: the trial is complete all the same
            _log.warning("could not keep the weights of trial %d: %s", live.number, exc)
            return False
        return True

    def _drop_weights(self) -> None:
        """Remove the weights of the trials a newly kept one pushed out of the best ``keep``."""
        store = artifact_store(self._study.study_name)
        try:
            drop_beyond(self._replica.trials((TrialState.COMPLETE,)), self._modes, self._keep, store)
        except OSError as exc:  # weights left in the store cost space, never the study
            _log.warning("could not remove the weights of trials out of the best %d: %s", self._keep, exc)

    def _judge_constraints(self, live: _LiveTrial) -> Constraint | None:
        """Record each constraint's violation with the trial; returns the first one whose
        metric it did not report (not recorded), None when every one was."""
        missing = None
        for constraint in self._constraints:
            value = _last_reported(live, constraint.metric)
            if value is None:
                missing = missing or constraint
                continue
            live.trial.set_constraint(constraint.text, constraint.violation(value))
        return missing

    def _final_value(self, live: _LiveTrial) -> float:
        if self._objective == "last":
            return live.values[max(live.values)]
        return best_of(live.values.values(), self.mode)

    def _fail(self, live: _LiveTrial, error_type: str, message: str) -> None:
        self._tell(live, TrialState.FAIL, attrs={ERROR_TYPE_ATTR: error_type, ERROR_ATTR: message[:2000]})

    def _tell(self, live: _LiveTrial, state: TrialState, values: list[float] | None = None, attrs: Mapping[str, Any] | None = None) -> None:
        last = live.last
        user = {
            **(attrs or {}),
            EPOCHS_ATTR: len(live.history),
            SECONDS_ATTR: round(time.time() - live.started, 3),
            HISTORY_ATTR: live.history,
            WORKER_ATTR: {RAY_TRIAL_ID: live.ray_trial_id, **{key: last[key] for key in WORKER_KEYS if key in last}},
        }
        for key, attr in user.items():
            live.trial.set_user_attr(key, attr)
        frozen = self._replica.tell(live.trial, state, values if state == TrialState.COMPLETE else None)
        interrupted = user.get(ERROR_TYPE_ATTR) == INTERRUPTED_TYPE  # hpo stopped it: no verdict on the trainer, and it resumes
        if self._shared is not None:
            self._shared.ended(live.ray_trial_id, interrupted)
            self._shared.sweep()
        elif not interrupted:
            discard_checkpoints(live.checkpoints)
        if self._failures is not None and not interrupted:
            self._failures.record(state, user.get(ERROR_TYPE_ATTR), user.get(ERROR_ATTR))
        if self._observer:
            self._observer.trial_finished(frozen)


def _replace_checkpoint(live: _LiveTrial, path: str, replaced: object) -> None:
    """Delete what a trial's newly recorded checkpoint at ``path`` replaces: the checkpoint
    recorded before it (``replaced``), or, on the trial's first, the directories it held
    till then (the one it resumed from)."""
    own = trial_directory(path)
    if own not in live.checkpoints:
        discard_checkpoints(live.checkpoints)
        live.checkpoints = {own}
    elif isinstance(replaced, Mapping) and replaced.get("path") != path:
        discard_checkpoints([str(replaced["path"])])


def _last_reported(live: _LiveTrial, metric: str) -> float | None:
    """The trial's value of ``metric`` at the last epoch that reported it, if finite."""
    value = next((epoch[metric] for epoch in reversed(live.history) if metric in epoch), None)
    try:
        number = float(value) if value is not None else math.nan
    except (TypeError, ValueError):
        return None
    return number if math.isfinite(number) else None

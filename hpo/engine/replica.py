"""The study as the sampler sees it: a copy in memory, written through to the study.

A sampler reads the whole study each time it proposes. Through a database storage that
is a full read per trial, so the sampler works on a replica in Optuna's
``InMemoryStorage`` instead, and the study's storage receives what changed at the
points the searcher chooses (:meth:`StudyReplica.start`, :meth:`StudyReplica.flush`,
:meth:`StudyReplica.tell`), or in the background while the trial trains on
(:meth:`StudyReplica.flush_behind`, hpo.engine.background_writes). Both sides are read and written only through Optuna's public
API: ``BaseStorage``'s methods, ``Study.ask`` / ``Study.tell`` / ``Study.enqueue_trial``.

The study stays the record of truth and the only thing drivers share:

- a trial is created there with its parameters, config and driver mark in one call,
  and kept only if fewer than the target trials come before it (by number, which the
  storage gives in creation order); otherwise it is given back to the queue;
- queued (WAITING) trials are claimed there (Optuna lets one claim win) before the
  replica runs them;
- :meth:`StudyReplica.sync` takes in other drivers' new trials and the end of their
  running ones: one small query while nothing changed.

Replica trials have numbers of their own (another driver's trial can arrive after this
driver's later ones); :meth:`StudyReplica.number` gives a trial's number in the study.

In a study of several objectives the replica holds no intermediate values: the study gets
each epoch's value of the first objective as always, but the sampler never sees them.
Optuna's samplers do not expect them there (Optuna's ``Trial.report`` refuses a study of
several objectives, and TPE ranks a pruned trial that has them by ``Study.direction``,
which such a study does not have), so its sampler learns from COMPLETE trials, as it would
in Optuna itself.
"""

from __future__ import annotations

import copy
import logging
import math
import time
from collections.abc import Callable, Container, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from functools import partial
from typing import Any

import optuna
from optuna.exceptions import UpdateFinishedTrialError
from optuna.trial import FrozenTrial, TrialState

from hpo.engine.background_writes import BackgroundWrites
from hpo.study.keys import FIXED_PARAMS_ATTR
from hpo.study.records import FINISHED_STATES, driver_mark, is_warm_start

TAKEN_STATES = (TrialState.COMPLETE, TrialState.PRUNED, TrialState.RUNNING)  # and the queue's WAITING
SYNC_INTERVAL_S = 1.0  # the sampler sees other drivers' trials at most this late

_log = logging.getLogger(__name__)


@dataclass
class _Written:
    """What a storage holds of a trial, so that only what changed is written to it: the
    study's copy of this driver's trials, the replica's of the others'."""

    trial_id: int  # in that storage
    params: set[str] = field(default_factory=set)
    steps: dict[int, float] = field(default_factory=dict)
    user_attrs: dict[str, Any] = field(default_factory=dict)
    system_attrs: dict[str, Any] = field(default_factory=dict)
    ended_elsewhere: bool = False

    @classmethod
    def of(cls, trial_id: int, trial: FrozenTrial) -> _Written:
        """What the storage holds when trial ``trial_id`` there is ``trial``."""
        return cls(trial_id, set(trial.params), dict(trial.intermediate_values), dict(trial.user_attrs), dict(trial.system_attrs))


class StudyReplica:
    """An in-memory replica of ``study`` that writes through to ``storage`` (its storage).

    ``study.sampler`` proposes on the replica, :attr:`study`; the searcher asks, reports
    and sets attributes there, and calls :meth:`flush` (or :meth:`tell`) when the study
    should have it.

    Each write is a transaction of its own, so a run killed during a flush leaves the
    study with the flush's first writes only. ``written_last`` names the user attributes
    that say the rest is there (the checkpoint a resume reads, with the epochs it holds):
    they are written after every other change of their flush.
    """

    def __init__(self, study: optuna.Study, storage: optuna.storages.BaseStorage, written_last: Sequence[str] = ()) -> None:
        self._storage = storage
        self._written_last = tuple(written_last)
        self._study_id = storage.get_study_id_from_name(study.study_name)
        self._memory = optuna.storages.InMemoryStorage()
        self.study = optuna.create_study(
            storage=self._memory, sampler=study.sampler, study_name=study.study_name, directions=study.directions
        )
        self._memory_study_id = self._memory.get_study_id_from_name(study.study_name)
        self._several = len(study.directions) > 1
        self._steps: dict[int, dict[int, float]] = {}  # replica number -> epochs reported, of several objectives (module doc)
        self._study_attrs = dict(storage.get_study_system_attrs(self._study_id))
        for key, value in self._study_attrs.items():
            self._memory.set_study_system_attr(self._memory_study_id, key, value)
        self._mine: dict[int, _Written] = {}  # replica number -> this driver's trial in the study
        self._mine_by_id: dict[int, int] = {}  # trial id in the study -> replica number, of this driver's
        self._others: dict[int, int] = {}  # trial id in the study -> replica number, of the others'
        self._numbers: dict[int, int] = {}  # replica number -> number in the study
        self._open_elsewhere: dict[int, int] = {}  # trial id -> number: others' running trials
        self._waiting: dict[int, int] = {}  # trial id -> number: trials waiting in the queue
        self._background = BackgroundWrites()  # keyed by replica number, of this driver's trials
        trials = study.get_trials(deepcopy=False)
        for trial in trials:
            needs_id = trial.state in (TrialState.RUNNING, TrialState.WAITING)
            self._take_in(self._trial_id(trial.number) if needs_id else None, trial)
        self._next_number = len(trials)  # the first study number not read yet
        self._synced_at = time.monotonic()

    # ------------------------------------------------------------------ reading

    def number(self, trial: optuna.Trial) -> int:
        """The trial's number in the study (the one the dashboard and the records show)."""
        return self._numbers[trial.number]

    def trials(self, states: Container[TrialState] | None = None) -> list[FrozenTrial]:
        """The replica's trials: the study as of the last :meth:`sync`, plus this driver's.
        Trials waiting in the queue are not among them (see :meth:`waiting`)."""
        return self.study.get_trials(deepcopy=False, states=states)

    def waiting(self) -> int:
        """Trials waiting in the study's queue, as of the last :meth:`sync`."""
        return len(self._waiting)

    def running_elsewhere(self) -> list[FrozenTrial]:
        """Other drivers' trials that were RUNNING at the last :meth:`sync`, numbered as
        in the study."""
        running = self.trials((TrialState.RUNNING,))
        return self._as_in_study(trial for trial in running if trial.number not in self._mine)

    def study_trials(self) -> list[FrozenTrial]:
        """The study's trials, numbered as in the study: the replica after a
        :meth:`sync`, which spares a full read of the study. Trials waiting in the queue
        are left out."""
        self.sync()
        return self._as_in_study(self.trials())

    def finished_trials(self) -> list[FrozenTrial]:
        """The study's finished (COMPLETE or PRUNED) trials as of the last :meth:`sync`,
        numbered as in the study; no read of the study."""
        return self._as_in_study(self.trials(FINISHED_STATES))

    def _as_in_study(self, trials: Iterable[FrozenTrial]) -> list[FrozenTrial]:
        """Copies of replica trials with their numbers in the study, in that order."""
        numbered = []
        for trial in trials:
            if trial.number in self._numbers:
                trial = copy.copy(trial)
                trial.number = self._numbers[trial.number]
                numbered.append(trial)
        return sorted(numbered, key=lambda trial: trial.number)

    def maybe_sync(self) -> None:
        """:meth:`sync`, at most once per ``SYNC_INTERVAL_S``."""
        if time.monotonic() - self._synced_at >= SYNC_INTERVAL_S:
            self.sync()

    def sync(self) -> None:
        """Take in what other drivers changed in the study: new trials, and the end (or
        the claim) of the ones that were running or waiting."""
        self._synced_at = time.monotonic()
        self._take_in_new()
        tracked = {**self._open_elsewhere, **self._waiting}
        if not tracked:
            return
        open_now = {
            trial.number: trial
            for trial in self._storage.get_all_trials(self._study_id, deepcopy=False, states=(TrialState.RUNNING, TrialState.WAITING))
        }
        for trial_id, number in tracked.items():
            now = open_now.get(number)
            if now is None:
                self._take_in(trial_id, self._storage.get_trial(trial_id))
            elif now.state != (TrialState.WAITING if trial_id in self._waiting else TrialState.RUNNING):
                self._take_in(trial_id, now)

    def _take_in_new(self) -> None:
        while True:
            try:
                trial_id = self._storage.get_trial_id_from_study_id_trial_number(self._study_id, self._next_number)
            except KeyError:
                return
            mine = self._mine_by_id.get(trial_id)
            if mine is not None:
                self._numbers[mine] = self._next_number
            else:
                self._take_in(trial_id, self._storage.get_trial(trial_id))
            self._next_number += 1

    def _take_in(self, trial_id: int | None, trial: FrozenTrial) -> None:
        """Bring another driver's trial (or a queued one) into the replica, or bring its
        replica up to date."""
        if trial_id is not None and trial_id in self._mine_by_id:
            return
        if trial.state == TrialState.WAITING:
            assert trial_id is not None  # read by id: the replica tracks it
            self._waiting[trial_id] = trial.number
            if self._open_elsewhere.pop(trial_id, None) is not None:  # given back by its driver
                given_back = self._others.pop(trial_id)
                del self._numbers[given_back]
                self._memory.set_trial_state_values(self._memory_id(given_back), TrialState.FAIL)
            return
        if trial_id is not None:
            self._waiting.pop(trial_id, None)
            if trial.state.is_finished():
                self._open_elsewhere.pop(trial_id, None)
            else:
                self._open_elsewhere[trial_id] = trial.number
        replica_number = self._others.get(trial_id) if trial_id is not None else None
        if replica_number is None:
            memory_id = self._memory.create_new_trial(self._memory_study_id, template_trial=self._sampler_view(trial))
            replica_number = self._memory.get_trial_number_from_id(memory_id)
            self._numbers[replica_number] = trial.number
            if trial_id is not None:
                self._others[trial_id] = replica_number
        else:
            self._catch_up(self._memory_id(replica_number), trial)

    def _catch_up(self, memory_id: int, newer: FrozenTrial) -> None:
        """Bring a replica trial of another driver up to ``newer``, its version in the study."""
        current = self._memory.get_trial(memory_id)
        if current.state.is_finished():
            return
        _write_trial(self._sampler_view(newer), _Written.of(memory_id, current), self._memory)
        if newer.state != current.state:
            self._memory.set_trial_state_values(memory_id, newer.state, newer.values)

    # ------------------------------------------------------------------ asking

    def ask(self, target: int, held: Container[int] = (), only: int | None = None) -> optuna.Trial | None:
        """A trial to sample, or None if the study has no place for one now.

        The oldest queued trial that lies within ``target`` is claimed in the study and
        asked of the replica with its parameters fixed; else a new trial is asked of the
        replica, to be created in the study by :meth:`start`. Queued trials numbered in
        ``held`` stay in the queue, holding their places (trials paused at a rung:
        hpo.engine.promotion); with ``only``, that queued trial is claimed (held or not), or none.
        """
        taken = self._taken()
        within = set(taken[:target])
        for trial_id, number in sorted(self._waiting.items(), key=lambda item: item[1]):
            if number not in within or (number in held if only is None else number != only):
                continue
            del self._waiting[trial_id]
            if not self._claim(trial_id):
                # another driver took it: track it as that driver's (running, or already
                # ended), so it counts, and is recovered if that driver dies; read the rest again
                self._take_in(trial_id, self._storage.get_trial(trial_id))
                self._synced_at = -math.inf
                return None
            queued = self._storage.get_trial(trial_id)
            self.study.enqueue_trial({**queued.system_attrs.get(FIXED_PARAMS_ATTR, {}), **queued.params}, user_attrs=queued.user_attrs)
            trial = self.study.ask()
            self._adopt(trial, _Written.of(trial_id, queued))
            self._numbers[trial.number] = number
            return trial
        if len(taken) >= target or only is not None:
            return None
        return self.study.ask()

    def _taken(self) -> list[int]:
        """The study numbers of the places taken, as of the last sync: trials finished
        (COMPLETE, PRUNED), running, or waiting in the queue; in order. A warm start's
        trials take no place: the target counts the runs' own trials."""
        numbered = [self._numbers[t.number] for t in self.trials(TAKEN_STATES) if t.number in self._numbers and not is_warm_start(t)]
        return sorted(numbered + list(self._waiting.values()))

    def _claim(self, trial_id: int) -> bool:
        """Take a queued trial in the study, with this driver's mark at once (a RUNNING
        trial without a live driver's mark is an orphan to other drivers)."""
        try:
            if not self._storage.set_trial_state_values(trial_id, TrialState.RUNNING):
                return False
        except UpdateFinishedTrialError:
            return False
        for key, value in driver_mark().items():
            self._storage.set_trial_system_attr(trial_id, key, value)
        return True

    def start(self, trial: optuna.Trial, target: int) -> bool:
        """Record a sampled trial in the study with this driver's mark; False if it was
        given back because ``target`` trials came before it (another driver took the last
        place since this one read the study)."""
        if trial.number in self._mine:  # a queued trial, claimed in the study already
            self.flush(trial)
            return True
        frozen = self._frozen(trial)
        template = FrozenTrial(
            number=0,
            state=TrialState.RUNNING,
            value=None,
            datetime_start=frozen.datetime_start or datetime.now(),
            datetime_complete=None,
            params=frozen.params,
            distributions=frozen.distributions,
            user_attrs=frozen.user_attrs,
            system_attrs={**frozen.system_attrs, **driver_mark()},
            intermediate_values={},
            trial_id=0,
        )
        written = _Written.of(self._storage.create_new_trial(self._study_id, template_trial=template), template)
        self._adopt(trial, written)
        self._take_in_new()  # reads this trial's number and every trial before it
        number = self._numbers[trial.number]
        if sum(taken < number for taken in self._taken()) < target:
            return True
        # Of two drivers creating the last place at once, the later one gives it back to
        # the queue, sampled: the next ask that finds a place within the target takes it.
        self._storage.set_trial_state_values(written.trial_id, TrialState.WAITING)
        self._waiting[written.trial_id] = number
        del self._mine[trial.number], self._mine_by_id[written.trial_id], self._numbers[trial.number]
        self.study.tell(trial, state=TrialState.FAIL)  # the replica's copy; the study's waits in the queue
        return False

    def _adopt(self, trial: optuna.Trial, written: _Written) -> None:
        self._mine[trial.number] = written
        self._mine_by_id[written.trial_id] = trial.number

    # ------------------------------------------------------------------ writing

    def report(self, trial: optuna.Trial, step: int, value: float) -> None:
        """Set the trial's value at ``step``; a step reported again (a retried trial
        running its epochs again) takes the new value."""
        if self._several:  # for the study only (module doc)
            self._steps.setdefault(trial.number, {})[step] = value
            return
        self._memory.set_trial_intermediate_value(self._memory_id(trial.number), step, value)

    def flush(self, trial: optuna.Trial) -> None:
        """Write to the study what the replica has of ``trial`` that the study has not:
        parameters, intermediate values, attributes, and the sampler's study attributes."""
        self.settle(wait=True)
        written = self._mine[trial.number]
        if written.ended_elsewhere:
            return
        try:
            self._write_changes(trial, written)
        except UpdateFinishedTrialError:
            self._ended_elsewhere(trial.number, written)

    def flush_behind(self, trial: optuna.Trial, then: Callable[[], None]) -> None:
        """:meth:`flush` on the writing thread (hpo.engine.background_writes): returns
        once the trial's write before is done, and ``then`` runs, on this thread, in the
        first :meth:`settle` after this one is. A trial finished elsewhere writes nothing
        more, and ``then`` never runs."""
        self._settle_one(trial.number, wait=True)
        written = self._mine[trial.number]
        if written.ended_elsewhere:
            return
        self._background.submit(trial.number, self._changes(trial, written), then)

    def settle(self, *, wait: bool = False) -> None:
        """Run the ``then`` of each background write that is done (of all, after waiting
        for them, with ``wait``); a write refused because another process finished its
        trial leaves that trial finished elsewhere, as :meth:`flush` would."""
        for number in self._background.keys():
            self._settle_one(number, wait=wait)

    def _settle_one(self, number: int, *, wait: bool) -> None:
        if not wait and not self._background.done(number):
            return
        try:
            self._background.wait(number)
        except UpdateFinishedTrialError:
            self._ended_elsewhere(number, self._mine[number])

    def tell(self, trial: optuna.Trial, state: TrialState, values: float | Sequence[float] | None = None) -> FrozenTrial:
        """Finish ``trial`` in the study, then in the replica, with its value (or one value
        per objective) if COMPLETE; returns the finished trial, numbered as in the study. A
        trial that another process finished first (another driver's recovery, "mark as
        failed" in the dashboard) keeps that state."""
        self.settle(wait=True)
        written = self._mine[trial.number]
        values = [values] if isinstance(values, (int, float)) else values
        stored = self._final_values(trial, state, values)
        try:
            if written.ended_elsewhere:
                raise UpdateFinishedTrialError("already finished elsewhere")
            self._write_changes(trial, written)
            self._storage.set_trial_state_values(written.trial_id, state, stored)
            frozen = self.study.tell(trial, list(values) if state == TrialState.COMPLETE and values else None, state=state)
        except UpdateFinishedTrialError:
            frozen = self._ended_elsewhere(trial.number, written)
        frozen = copy.copy(frozen)
        frozen.number = self._numbers[trial.number]
        if self._several and state == TrialState.PRUNED and not written.ended_elsewhere:
            frozen.values = stored  # as the study holds it: the replica kept its epochs apart (module doc)
        return frozen

    def ended_elsewhere(self, trial: optuna.Trial) -> bool:
        """Whether another process finished this driver's ``trial`` before it told it."""
        return self._mine[trial.number].ended_elsewhere

    def _final_values(self, trial: optuna.Trial, state: TrialState, values: Sequence[float] | None) -> list[float] | None:
        """The values Optuna's ``Study.tell`` records: the values of a COMPLETE trial, the
        last finite intermediate value of a PRUNED one (of the first objective, as Optuna
        records it for several objectives too)."""
        if state == TrialState.COMPLETE:
            return None if not values else list(values)
        if state == TrialState.PRUNED:
            frozen = self._recorded(trial)
            last = frozen.last_step
            if last is not None and math.isfinite(frozen.intermediate_values[last]):
                return [frozen.intermediate_values[last]]
        return None

    def _ended_elsewhere(self, number: int, written: _Written) -> FrozenTrial:
        """The study already holds trial ``number`` (the replica's) as finished: the
        replica takes that state."""
        written.ended_elsewhere = True
        recorded = self._storage.get_trial(written.trial_id)
        memory_id = self._memory_id(number)
        if not self._memory.get_trial(memory_id).state.is_finished():
            self._memory.set_trial_state_values(memory_id, recorded.state, recorded.values)
            _log.warning(
                "trial %d was finished in the study by another process (%s); it keeps that state",
                self._numbers[number],
                recorded.state.name,
            )
        return self._memory.get_trial(memory_id)

    def _write_changes(self, trial: optuna.Trial, written: _Written) -> None:
        for write in self._changes(trial, written):
            write()

    def _changes(self, trial: optuna.Trial, written: _Written) -> list[Callable[[], object]]:
        """The writes that bring the study's copy of ``trial`` up to the replica's, and the
        sampler's study attributes; ``written`` and the study's attributes note them now."""
        writes = _trial_writes(self._recorded(trial), written, self._storage, self._written_last)
        _write_changed(
            self._memory.get_study_system_attrs(self._memory_study_id),
            self._study_attrs,
            _queued(writes, self._storage.set_study_system_attr, self._study_id),
        )
        return writes

    def _frozen(self, trial: optuna.Trial) -> FrozenTrial:
        return self._memory.get_trial(self._memory_id(trial.number))

    def _recorded(self, trial: optuna.Trial) -> FrozenTrial:
        """This driver's ``trial`` as the study is to hold it: the replica's copy, with the
        epochs it reported when the replica keeps them apart (several objectives)."""
        frozen = self._frozen(trial)
        if not self._several:
            return frozen
        frozen = copy.copy(frozen)
        frozen.intermediate_values = dict(self._steps.get(trial.number, {}))
        return frozen

    def _sampler_view(self, trial: FrozenTrial) -> FrozenTrial:
        """A trial of the study as the replica holds it: without its epochs' values in a
        study of several objectives (module doc)."""
        if not self._several or not trial.intermediate_values:
            return trial
        trial = copy.copy(trial)
        trial.intermediate_values = {}
        return trial

    def _memory_id(self, replica_number: int) -> int:
        return self._memory.get_trial_id_from_study_id_trial_number(self._memory_study_id, replica_number)

    def _trial_id(self, number: int) -> int:
        return self._storage.get_trial_id_from_study_id_trial_number(self._study_id, number)


def _write_trial(now: FrozenTrial, written: _Written, storage: optuna.storages.BaseStorage) -> None:
    """Write to ``storage`` what ``now`` holds beyond ``written`` (what the storage holds
    of that trial): parameters, intermediate values, attributes; and note it there."""
    for write in _trial_writes(now, written, storage):
        write()


def _trial_writes(
    now: FrozenTrial, written: _Written, storage: optuna.storages.BaseStorage, last: Sequence[str] = ()
) -> list[Callable[[], object]]:
    """The writes to ``storage`` of what ``now`` holds beyond ``written``, in the order
    :func:`_write_trial` makes them, the user attributes named in ``last`` after all the
    others; ``written`` notes them at once."""
    trial_id = written.trial_id
    writes: list[Callable[[], object]] = []
    for name, value in now.params.items():
        if name not in written.params:
            distribution = now.distributions[name]
            writes.append(partial(storage.set_trial_param, trial_id, name, distribution.to_internal_repr(value), distribution))
            written.params.add(name)
    for step, value in now.intermediate_values.items():
        if step not in written.steps or not _same(written.steps[step], value):
            writes.append(partial(storage.set_trial_intermediate_value, trial_id, step, value))
            written.steps[step] = value
    user_attrs = {key: value for key, value in now.user_attrs.items() if key not in last}
    _write_changed(user_attrs, written.user_attrs, _queued(writes, storage.set_trial_user_attr, trial_id))
    _write_changed(now.system_attrs, written.system_attrs, _queued(writes, storage.set_trial_system_attr, trial_id))
    ending = {key: now.user_attrs[key] for key in last if key in now.user_attrs}
    _write_changed(ending, written.user_attrs, _queued(writes, storage.set_trial_user_attr, trial_id))
    return writes


def _queued(writes: list[Callable[[], object]], setter: Callable[..., object], owner: int) -> Callable[[str, Any], None]:
    """A ``write`` for :func:`_write_changed` that adds ``setter(owner, key, value)`` to
    ``writes`` instead of calling it."""
    return lambda key, value: writes.append(partial(setter, owner, key, value))


def _write_changed(now: Mapping[str, Any], written: dict[str, Any], write: Callable[[str, Any], None]) -> None:
    """``write`` each entry of ``now`` that ``written`` (what the other side holds) lacks
    or holds with another value, and note it there."""
    for key, value in now.items():
        if key not in written or written[key] != value:
            write(key, value)
            written[key] = value


def _same(a: float, b: float) -> bool:
    return a == b or (math.isnan(a) and math.isnan(b))

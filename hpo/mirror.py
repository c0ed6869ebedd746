"""The study as the searcher works on it: sampled in memory, recorded in the database.

Through Optuna's RDB storage every ask, suggest, report, attribute and tell is an ORM
transaction of its own, and every sample reads the study back through the ORM: about
60 ms of CPU per trial on Ray's controller thread, where plain Ray Tune's in-memory
OptunaSearch spends 4 (``benchmarks/study_work.py``). So the sampler works on a replica
of the study in Optuna's in-memory storage, and the database receives what changed as
plain SQL statements on Optuna's own tables, one transaction at each point the searcher
chooses (:meth:`StudyMirror.flush`, :meth:`StudyMirror.tell`). Optuna 2's cached
storage buffered writes the same way.

The database stays the record of truth, and the only thing shared between drivers:

- a trial is created there first, with its number, its driver mark and the check that it
  is within the study's target, all in one transaction;
- the replica starts as the whole study and takes in other drivers' trials (their
  creation, their end) whenever :meth:`StudyMirror.sync` runs, which :meth:`ask` does
  each time, so the sampler sees them when it proposes, as before;
- trials waiting in the queue (parameters enqueued by a resumed run) are claimed in the
  database, atomically, before the replica runs them.

Replica trials have numbers of their own (another driver's trial can arrive after this
driver's later ones); :meth:`StudyMirror.number` gives a trial's number in the study.
"""

from __future__ import annotations

import copy
import json
from collections.abc import Container, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any

import optuna
import sqlalchemy as sa
from optuna.distributions import distribution_to_json
from optuna.storages._rdb import models
from optuna.trial import FrozenTrial, TrialState

from hpo.records import driver_mark

_TAKEN_STATES = (TrialState.COMPLETE, TrialState.PRUNED, TrialState.RUNNING, TrialState.WAITING)

_STUDIES = models.StudyModel.__table__
_STUDY_SYSTEM_ATTRS = models.StudySystemAttributeModel.__table__
_TRIALS = models.TrialModel.__table__
_PARAMS = models.TrialParamModel.__table__
_VALUES = models.TrialValueModel.__table__
_INTERMEDIATE = models.TrialIntermediateValueModel.__table__
_USER_ATTRS = models.TrialUserAttributeModel.__table__
_SYSTEM_ATTRS = models.TrialSystemAttributeModel.__table__


class _ReplicaStorage(optuna.storages.InMemoryStorage):
    """Optuna's in-memory storage, plus what a replica needs: replace a trial by its newer
    version from the database, and note the study attributes a sampler sets (QMC counts
    its sequence there) so that they reach the database too."""

    def __init__(self) -> None:
        super().__init__()
        self.unsaved_study_attrs: dict[str, Any] = {}

    def set_study_system_attr(self, study_id: int, key: str, value: Any) -> None:
        super().set_study_system_attr(study_id, key, value)
        self.unsaved_study_attrs[key] = value

    def replace_trial(self, trial_id: int, newer: FrozenTrial) -> None:
        with self._lock:
            current = self._get_trial(trial_id)
            newer = copy.copy(newer)
            newer.number, newer._trial_id = current.number, trial_id
            self._set_trial(trial_id, newer)
            self._update_cache(trial_id, self._trial_id_to_study_id_and_number[trial_id][0])


@dataclass
class _Stored:
    """What the database holds of one of this driver's trials, to write only what changed."""

    trial_id: int
    params: set[str] = field(default_factory=set)
    steps: set[int] = field(default_factory=set)
    user_attrs: dict[str, Any] = field(default_factory=dict)
    system_attrs: dict[str, Any] = field(default_factory=dict)


class StudyMirror:
    """An in-memory replica of ``study`` (on Optuna's RDB storage) that writes through.

    ``study.sampler`` proposes on the replica, :attr:`study`; the searcher asks, reports
    and sets attributes there, and calls :meth:`flush` (or :meth:`tell`) when the
    database should have it.
    """

    def __init__(self, study: optuna.Study) -> None:
        backend = getattr(study._storage, "_backend", study._storage)
        if not isinstance(backend, optuna.storages.RDBStorage):
            raise TypeError(f"a study on Optuna's RDB storage is needed, not {type(backend).__name__}")
        self._backend = backend
        self._engine: sa.Engine = backend.engine
        self._study_id = study._study_id
        self._replica = _ReplicaStorage()
        self.study = optuna.create_study(
            storage=self._replica, sampler=study.sampler, study_name=study.study_name, directions=study.directions
        )
        for key, value in study._storage.get_study_system_attrs(study._study_id).items():
            optuna.storages.InMemoryStorage.set_study_system_attr(self._replica, self.study._study_id, key, value)
        self._mine: dict[int, _Stored] = {}  # replica trial id -> this driver's trial in the database
        self._others: dict[int, int] = {}  # database trial id -> replica trial id
        self._numbers: dict[int, int] = {}  # replica trial id -> number in the study
        self._running_elsewhere: set[int] = set()  # database ids of others' trials that may still end
        self._waiting: set[int] = set()  # database ids of trials waiting in the queue
        self._last_seen = 0  # the highest database trial id read
        self._take_in(study.get_trials(deepcopy=False))

    # ------------------------------------------------------------------ reading

    def number(self, trial: optuna.Trial) -> int:
        """The trial's number in the study (the one the dashboard and the records show)."""
        return self._numbers[trial._trial_id]

    def trials(self, states: Container[TrialState] | None = None) -> list[FrozenTrial]:
        """The replica's trials: the study as of the last :meth:`sync`, plus this driver's."""
        return self.study.get_trials(deepcopy=False, states=states)

    def study_trials(self) -> list[FrozenTrial]:
        """The study's trials, numbered as in the database: the replica after a
        :meth:`sync`, which spares a full read of the study through Optuna's ORM.
        Trials waiting in the queue are left out."""
        self.sync()
        trials = []
        for trial in self.trials():
            trial = copy.copy(trial)
            trial.number = self._numbers[trial._trial_id]
            trials.append(trial)
        return sorted(trials, key=lambda trial: trial.number)

    def sync(self) -> None:
        """Take in what other drivers changed in the database: new trials, and the end of
        the ones that were running or waiting. One small query when nothing changed."""
        query = sa.select(_TRIALS.c.trial_id, _TRIALS.c.state).where(
            _TRIALS.c.study_id == self._study_id,
            sa.or_(_TRIALS.c.trial_id > self._last_seen, _TRIALS.c.trial_id.in_(self._running_elsewhere | self._waiting)),
        )
        mine = {stored.trial_id for stored in self._mine.values()}
        with self._engine.connect() as conn:
            changed = [(trial_id, state) for trial_id, state in conn.execute(query) if trial_id not in mine]
        if not changed:
            return
        self._last_seen = max(self._last_seen, *(trial_id for trial_id, _ in changed))
        self._waiting.update(trial_id for trial_id, state in changed if state == TrialState.WAITING)
        known = {t._trial_id: t.state for t in self.trials()}
        self._take_in(
            self._backend.get_trial(trial_id)
            for trial_id, state in changed
            if state != TrialState.WAITING and known.get(self._others.get(trial_id, -1)) != state
        )

    def _take_in(self, trials: Iterable[FrozenTrial]) -> None:
        for trial in trials:
            self._last_seen = max(self._last_seen, trial._trial_id)
            if trial.state == TrialState.WAITING:
                self._waiting.add(trial._trial_id)
                continue
            self._waiting.discard(trial._trial_id)
            if trial.state.is_finished():
                self._running_elsewhere.discard(trial._trial_id)
            else:
                self._running_elsewhere.add(trial._trial_id)
            replica_id = self._others.get(trial._trial_id)
            if replica_id is None:
                replica_id = self._others[trial._trial_id] = self._replica.create_new_trial(self.study._study_id, trial)
                self._numbers[replica_id] = trial.number
            else:
                self._replica.replace_trial(replica_id, trial)

    # ------------------------------------------------------------------ writing

    def ask(self, target: int) -> optuna.Trial | None:
        """A new trial of the study, or None if ``target`` trials asked before it are
        already finished, running or queued (another driver took the last place).

        The trial is created (or a queued one claimed) in the database with this driver's
        mark in one transaction, then asked of the replica, where the sampler proposes.
        """
        self.sync()
        now, mark = _utc_now(), driver_mark()
        with self._engine.begin() as conn:
            if self._engine.dialect.name != "sqlite":  # SQLite's insert below locks the database
                conn.execute(sa.select(_STUDIES.c.study_id).where(_STUDIES.c.study_id == self._study_id).with_for_update())
            claimed = self._claim_waiting(conn, now)
            trial_id, number, taken_before = claimed if claimed else self._create(conn, now)
            if taken_before >= target:
                # Trials are numbered in the order they are asked, in every driver: of two
                # drivers asking for the last place at once, the later one gives it back, to
                # the queue and unsampled, and the next ask takes it.
                conn.execute(_TRIALS.update().where(_TRIALS.c.trial_id == trial_id).values(state=TrialState.WAITING))
                return None
            if claimed:  # a queued trial may hold a mark from an older run
                for key, value in mark.items():
                    _upsert_attr(conn, _SYSTEM_ATTRS, _SYSTEM_ATTRS.c.trial_id, trial_id, key, value)
            else:
                _write_attrs(conn, _SYSTEM_ATTRS, trial_id, mark, {})
        stored = _Stored(trial_id, system_attrs=dict(mark))
        if claimed:
            queued = self._backend.get_trial(trial_id)  # its enqueued parameters and attributes
            stored.user_attrs, stored.system_attrs = dict(queued.user_attrs), {**queued.system_attrs, **mark}
            template = copy.copy(queued)
            template.state, template.system_attrs = TrialState.WAITING, stored.system_attrs
            self._replica.create_new_trial(self.study._study_id, template)
        trial = self.study.ask()  # takes the claimed trial, the only one waiting in the replica
        self._mine[trial._trial_id] = stored
        self._numbers[trial._trial_id] = number
        return trial

    def _create(self, conn: sa.Connection, now: datetime) -> tuple[int, int, int]:
        """Insert a running trial; returns (its id, its number, trials taken before it)."""
        trial_id = conn.execute(
            _TRIALS.insert().values(study_id=self._study_id, state=TrialState.RUNNING, datetime_start=now)
        ).inserted_primary_key[0]
        # The study is locked: the trials before this one are exactly those of lower id.
        taken = sa.case((_TRIALS.c.state.in_(_TAKEN_STATES), 1), else_=0)
        number, taken_before = conn.execute(
            sa.select(sa.func.count(), sa.func.coalesce(sa.func.sum(taken), 0)).where(
                _TRIALS.c.study_id == self._study_id, _TRIALS.c.trial_id < trial_id
            )
        ).one()
        conn.execute(_TRIALS.update().where(_TRIALS.c.trial_id == trial_id).values(number=number))
        return trial_id, number, taken_before

    def _claim_waiting(self, conn: sa.Connection, now: datetime) -> tuple[int, int, int] | None:
        """Take the oldest trial waiting in the queue (as of the last sync): atomically, as
        another driver may be taking it at the same moment. Returns (its id, its number,
        trials taken before it), or None if none could be taken."""
        for trial_id in sorted(self._waiting):
            taken = conn.execute(
                _TRIALS.update()
                .where(_TRIALS.c.trial_id == trial_id, _TRIALS.c.state == TrialState.WAITING)
                .values(state=TrialState.RUNNING, datetime_start=now)
            )
            self._waiting.discard(trial_id)
            if taken.rowcount == 1:
                number = conn.execute(sa.select(_TRIALS.c.number).where(_TRIALS.c.trial_id == trial_id)).scalar_one()
                taken_before = conn.execute(
                    sa.select(sa.func.count()).where(
                        _TRIALS.c.study_id == self._study_id,
                        _TRIALS.c.number < number,
                        _TRIALS.c.state.in_(_TAKEN_STATES),
                    )
                ).scalar_one()
                return trial_id, number, taken_before
            self._running_elsewhere.add(trial_id)  # taken by another driver: the next sync reads it
        return None

    def flush(self, trial: optuna.Trial) -> None:
        """Write to the database, in one transaction, what the replica has of ``trial``
        that the database has not: parameters, intermediate values, attributes."""
        with self._engine.begin() as conn:
            self._write_changes(conn, trial)

    def tell(self, trial: optuna.Trial, state: TrialState, value: float | None = None) -> FrozenTrial:
        """Finish ``trial`` (as ``Study.tell``) and write it with all it holds in one
        transaction; returns the finished trial, numbered as in the study."""
        frozen = self.study.tell(trial, value, state=state)
        stored = self._mine[trial._trial_id]
        with self._engine.begin() as conn:
            self._write_changes(conn, trial)
            ended = conn.execute(
                _TRIALS.update()
                .where(_TRIALS.c.trial_id == stored.trial_id, _TRIALS.c.state == TrialState.RUNNING)
                .values(state=state, datetime_complete=_to_utc(frozen.datetime_complete))
            )
            if ended.rowcount != 1:
                raise optuna.exceptions.UpdateFinishedTrialError(
                    f"trial {self.number(trial)} was already finished in the study by another process"
                )
            if frozen.values:
                rows = [dict(trial_id=stored.trial_id, objective=i, **_stored_value(v)) for i, v in enumerate(frozen.values)]
                conn.execute(_VALUES.insert(), rows)
        frozen = copy.copy(frozen)
        frozen.number = self.number(trial)
        return frozen

    def _write_changes(self, conn: sa.Connection, trial: optuna.Trial) -> None:
        stored = self._mine[trial._trial_id]
        now = self._replica.get_trial(trial._trial_id)
        params = [
            dict(
                trial_id=stored.trial_id,
                param_name=name,
                param_value=now.distributions[name].to_internal_repr(value),
                distribution_json=distribution_to_json(now.distributions[name]),
            )
            for name, value in now.params.items()
            if name not in stored.params
        ]
        if params:
            conn.execute(_PARAMS.insert(), params)
        steps = [
            dict(trial_id=stored.trial_id, step=step, **_stored_intermediate(value))
            for step, value in now.intermediate_values.items()
            if step not in stored.steps
        ]
        if steps:
            conn.execute(_INTERMEDIATE.insert(), steps)
        _write_attrs(conn, _USER_ATTRS, stored.trial_id, now.user_attrs, stored.user_attrs)
        _write_attrs(conn, _SYSTEM_ATTRS, stored.trial_id, now.system_attrs, stored.system_attrs)
        for key, value in self._replica.unsaved_study_attrs.items():
            _upsert_attr(conn, _STUDY_SYSTEM_ATTRS, _STUDY_SYSTEM_ATTRS.c.study_id, self._study_id, key, value)
        self._replica.unsaved_study_attrs.clear()
        stored.params.update(now.params)
        stored.steps.update(now.intermediate_values)
        stored.user_attrs.update(now.user_attrs)
        stored.system_attrs.update(now.system_attrs)


def _write_attrs(conn: sa.Connection, table: sa.Table, trial_id: int, attrs: Mapping[str, Any], stored: Mapping[str, Any]) -> None:
    """Insert the attributes the database lacks, update the ones that changed."""
    new = [dict(trial_id=trial_id, key=k, value_json=json.dumps(v)) for k, v in attrs.items() if k not in stored]
    if new:
        conn.execute(table.insert(), new)
    for key, value in attrs.items():
        if key in stored and stored[key] != value:
            conn.execute(
                table.update().where(table.c.trial_id == trial_id, table.c.key == key).values(value_json=json.dumps(value))
            )


def _upsert_attr(conn: sa.Connection, table: sa.Table, owner: sa.Column, owner_id: int, key: str, value: Any) -> None:
    """Set one attribute whether or not the database has it already."""
    value_json = json.dumps(value)
    if conn.execute(table.update().where(owner == owner_id, table.c.key == key).values(value_json=value_json)).rowcount == 0:
        conn.execute(table.insert().values({owner.name: owner_id, "key": key, "value_json": value_json}))


def _stored_value(value: float) -> dict[str, Any]:
    stored, kind = models.TrialValueModel.value_to_stored_repr(value)
    return {"value": stored, "value_type": kind}


def _stored_intermediate(value: float) -> dict[str, Any]:
    stored, kind = models.TrialIntermediateValueModel.intermediate_value_to_stored_repr(value)
    return {"intermediate_value": stored, "intermediate_value_type": kind}


def _utc_now() -> datetime:
    """Optuna keeps trial times in the database as naive UTC."""
    return datetime.now(timezone.utc).replace(tzinfo=None)


def _to_utc(local: datetime | None) -> datetime | None:
    return None if local is None else local.astimezone(timezone.utc).replace(tzinfo=None)

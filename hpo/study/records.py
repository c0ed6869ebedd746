"""What hpo keeps in an Optuna study beside Optuna's own records.

Study user attributes: the spec's text and search hash (so a study knows what it
searched, and a changed space is refused). Trial system attributes: which driver ran
the trial, so that a run knows which RUNNING trials were orphaned by a driver that died
and which belong to another driver still at work on the same study. Study system
attributes: each driver's heartbeat, for drivers on other machines.

Everything here is read and written through Optuna's public storage API, under the
names in :mod:`hpo.study.keys`; a trial's records are read through :func:`worker_of`,
:func:`error_of` and :func:`epochs_of`.
"""

from __future__ import annotations

import logging
import os
import socket
import time
import uuid
from collections.abc import Iterable, Mapping
from dataclasses import asdict, dataclass, fields
from pathlib import Path
from typing import Any

import optuna
from optuna.exceptions import UpdateFinishedTrialError
from optuna.trial import FrozenTrial, TrialState

from hpo.study.keys import (
    BASELINE_ATTR,
    CHECKPOINT_ATTR,
    DRIVER_ATTR,
    ENQUEUED_ATTR,
    EPOCHS_ATTR,
    ERROR_ATTR,
    ERROR_TYPE_ATTR,
    FIXED_PARAMS_ATTR,
    HEARTBEAT_PREFIX,
    PAUSED_AT_ATTR,
    RAY_TRIAL_ID,
    REQUEUED_FROM_ATTR,
    RESUMED_FROM_ATTR,
    WARM_START_ATTR,
    WORKER_ATTR,
    WORKER_KEYS,
)

FINISHED_STATES = (TrialState.COMPLETE, TrialState.PRUNED)
INTERRUPTED_TYPE, INTERRUPTED = "Interrupted", "interrupted"  # the error of a trial hpo itself ended

HEARTBEAT_STALE_S = 120.0  # a driver silent this long, where its process cannot be looked at, is dead

_log = logging.getLogger(__name__)


def _process_start(pid: int) -> str | None:
    """When process ``pid`` started, in the kernel's clock ticks since boot (field 22 of
    /proc/<pid>/stat), or None if there is no such process, it has exited and waits only
    to be reaped (a zombie), or there is no /proc."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    fields = stat.rpartition(")")[2].split()  # the fields after the command name, which may hold spaces
    return None if fields[0] in ("Z", "X") else fields[19]


def _pid_namespace() -> str | None:
    """Where a pid names this process: this boot of this kernel and this pid namespace.
    Two containers with the same hostname, or a container restarted with the driver as
    pid 1 again, differ here; None where /proc cannot tell."""
    try:
        boot = Path("/proc/sys/kernel/random/boot_id").read_text().strip()
        return f"{boot}/{os.readlink('/proc/self/ns/pid')}"
    except OSError:
        return None


@dataclass(frozen=True)
class Driver:
    """One `hpo run` process, as recorded on the trials it runs.

    ``token`` is unique to the run and keys its heartbeat. ``started`` (the process's
    start time) makes the identity survive pid reuse: a process with the recorded pid but
    another start time is another process.
    """

    host: str
    pid: int
    token: str
    namespace: str | None = None
    started: str | None = None

    @classmethod
    def this_process(cls) -> Driver:
        pid = os.getpid()
        return cls(socket.gethostname(), pid, uuid.uuid4().hex, _pid_namespace(), _process_start(pid))

    @classmethod
    def from_attr(cls, value: Any) -> Driver | None:
        """The driver a trial's attribute names (a dict, or the ``host:pid:token`` string
        some stored studies hold), or None if it names none."""
        if isinstance(value, Mapping):
            try:
                named: dict[str, Any] = {f.name: value.get(f.name) for f in fields(cls)}
                return cls(**named)
            except TypeError:
                return None
        if isinstance(value, str) and value.count(":") >= 2:
            host, pid, _ = value.split(":", 2)
            return cls(host, int(pid) if pid.isdigit() else -1, value)
        return None

    def as_attr(self) -> dict[str, Any]:
        return asdict(self)


THIS_DRIVER = Driver.this_process()


def driver_mark() -> dict[str, Any]:
    """The system attribute that says this driver runs a trial (written with the trial)."""
    return {DRIVER_ATTR: THIS_DRIVER.as_attr()}


def beat(storage: optuna.storages.BaseStorage, study_id: int) -> None:
    """Record that this driver is alive (read by other drivers' recovery)."""
    storage.set_study_system_attr(study_id, HEARTBEAT_PREFIX + THIS_DRIVER.token, time.time())


def driver_alive(driver: Driver | None, heartbeats: Mapping[str, Any]) -> bool:
    """Whether ``driver`` may still be running its trials.

    Where its pid means a process on this machine (same host, boot and pid namespace),
    the process decides: alive if a process with that pid and start time exists. A pid
    that exists but cannot be compared, or a driver elsewhere, is alive while its
    heartbeat is fresh.
    """
    if driver is None:
        return False
    if driver.token == THIS_DRIVER.token:
        return True
    if driver.host == THIS_DRIVER.host:
        if driver.namespace is None or THIS_DRIVER.namespace is None:
            if _pid_gone(driver.pid):
                return False
        elif driver.namespace == THIS_DRIVER.namespace:
            started = _process_start(driver.pid)
            if started is None:
                return False
            if driver.started is not None:
                return started == driver.started
    last = heartbeats.get(HEARTBEAT_PREFIX + driver.token)
    return isinstance(last, (int, float)) and time.time() - last < HEARTBEAT_STALE_S


def live_drivers(storage: optuna.storages.BaseStorage, study_id: int, trials: Iterable[FrozenTrial]) -> list[Driver]:
    """The drivers that may still be running the study: each one a trial names (any trial,
    finished or not) that :func:`driver_alive` finds alive, and each fresh heartbeat no
    trial names yet (a driver before its first trial), as a Driver of unknown host and
    pid (``host`` empty, ``pid`` -1)."""
    heartbeats = storage.get_study_system_attrs(study_id)
    named: dict[str, Driver] = {}
    for trial in trials:
        driver = Driver.from_attr(trial.system_attrs.get(DRIVER_ATTR))
        if driver is not None:
            named.setdefault(driver.token, driver)
    alive = [driver for driver in named.values() if driver_alive(driver, heartbeats)]
    for key, last in heartbeats.items():
        token = key.removeprefix(HEARTBEAT_PREFIX)
        if key.startswith(HEARTBEAT_PREFIX) and token not in named:
            unnamed = Driver("", -1, token)
            if driver_alive(unnamed, {key: last}):
                alive.append(unnamed)
    return alive


def _pid_gone(pid: int) -> bool:
    """True only when no process has ``pid`` here; a process of another user
    (PermissionError) or a pid that cannot be asked about is not proof of death."""
    if pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    except OSError:
        return False
    return False


def recover_orphans(study: optuna.Study, storage: optuna.storages.BaseStorage, candidates: Iterable[FrozenTrial]) -> list[int]:
    """Fail the RUNNING trials among ``candidates`` whose driver is gone, and enqueue
    their parameters again; returns the numbers of the trials recovered.

    Setting a trial's state to FAIL is the claim: Optuna refuses to finish a trial twice
    (a row lock on PostgreSQL, hpo's immediate transactions on SQLite, the order of the
    journal), so of two drivers recovering the same orphan at once exactly one enqueues
    it. A driver that dies between the claim and the enqueue leaves the place free: a new
    trial takes it.
    """
    study_id = storage.get_study_id_from_name(study.study_name)
    orphans = [t for t in candidates if t.state == TrialState.RUNNING]
    if not orphans:
        return []
    heartbeats = storage.get_study_system_attrs(study_id)
    recovered = []
    for trial in orphans:
        if driver_alive(Driver.from_attr(trial.system_attrs.get(DRIVER_ATTR)), heartbeats):
            continue
        trial_id = storage.get_trial_id_from_study_id_trial_number(study_id, trial.number)
        try:
            storage.set_trial_user_attr(trial_id, ERROR_TYPE_ATTR, INTERRUPTED_TYPE)
            storage.set_trial_user_attr(trial_id, ERROR_ATTR, INTERRUPTED)
            storage.set_trial_state_values(trial_id, TrialState.FAIL)
        except UpdateFinishedTrialError:
            continue  # its driver told it after all, or another driver claimed it first
        # a requeued trial killed before it was sampled holds its parameters only as the
        # ones it was enqueued with
        params = {**trial.system_attrs.get(FIXED_PARAMS_ATTR, {}), **trial.params}
        if params:
            study.enqueue_trial(params, user_attrs=requeued_attrs(trial.number, trial.user_attrs))
        _log.info("trial %d was orphaned by a driver that is gone; its parameters run again", trial.number)
        recovered.append(trial.number)
    return recovered


def requeued_attrs(number: int, user_attrs: Mapping[str, Any]) -> dict[str, Any]:
    """The user attributes of trial ``number`` queued again: where it came from, the marks
    a user's queue gave it (the baseline stays the baseline when it is interrupted), and
    the checkpoint it continues from, if it had one (hpo.engine.searcher resumes it), and the
    rung it was paused at, if promotion-type ASHA paused it (it waits there to be promoted)."""
    kept = {key: user_attrs[key] for key in (BASELINE_ATTR, ENQUEUED_ATTR) if key in user_attrs}
    if user_attrs.get(PAUSED_AT_ATTR) is not None:
        kept[PAUSED_AT_ATTR] = user_attrs[PAUSED_AT_ATTR]
    checkpoint = user_attrs.get(CHECKPOINT_ATTR)
    if isinstance(checkpoint, Mapping):
        kept[RESUMED_FROM_ATTR] = {"trial": number, **checkpoint}
    return {**kept, REQUEUED_FROM_ATTR: number}


def paused_line(trials: Iterable[FrozenTrial]) -> str | None:
    """``paused at a rung, waiting to be promoted: trial 1 (epoch 1), trial 4 (epoch 1, queued)``,
    as ``hpo status`` says it: the open trials promotion ASHA paused (RUNNING in a live run,
    queued for the next run after it stopped); None when there are none."""
    paused = [
        f"trial {trial.number} (epoch {trial.user_attrs[PAUSED_AT_ATTR]}{', queued' if trial.state == TrialState.WAITING else ''})"
        for trial in trials
        if trial.state in (TrialState.RUNNING, TrialState.WAITING) and trial.user_attrs.get(PAUSED_AT_ATTR) is not None
    ]
    return f"paused at a rung, waiting to be promoted: {', '.join(paused)}" if paused else None


def is_warm_start(trial: FrozenTrial) -> bool:
    """Whether ``trial`` was copied from an earlier version by a warm start (hpo.study.warmstart):
    it informs the sampler and the rungs, but is no trial of this study's runs, so it counts
    towards no ``study.trials`` target, no stop rule's patience and no cost."""
    return WARM_START_ATTR in trial.user_attrs


def worker_of(trial: FrozenTrial) -> dict[str, Any]:
    """Where ``trial`` ran: its Ray trial id, node, host, process and device (a study may
    also hold each as a user attribute of its own)."""
    worker = trial.user_attrs.get(WORKER_ATTR)
    if isinstance(worker, Mapping):
        return dict(worker)
    return {key: trial.user_attrs[key] for key in (RAY_TRIAL_ID, *WORKER_KEYS) if key in trial.user_attrs}


def error_of(trial: FrozenTrial) -> str | None:
    """``ErrorType: message`` of a trial that failed with a reason, else None."""
    if ERROR_TYPE_ATTR not in trial.user_attrs:
        return None
    return f"{trial.user_attrs[ERROR_TYPE_ATTR]}: {trial.user_attrs.get(ERROR_ATTR, '')}"


def epochs_of(trial: FrozenTrial) -> int:
    """The epochs ``trial`` reported: as recorded at its end, or while it runs, the
    epochs written so far."""
    recorded = trial.user_attrs.get(EPOCHS_ATTR)
    return len(trial.intermediate_values) if recorded is None else int(recorded)


def trained_epochs_of(trial: FrozenTrial) -> int:
    """The epochs ``trial`` trained itself: :func:`epochs_of` less those it took over from
    the interrupted trial it resumed (its curve starts with them)."""
    resumed = trial.user_attrs.get(RESUMED_FROM_ATTR)
    taken = int(resumed.get("epoch", 0)) if isinstance(resumed, Mapping) else 0
    return max(epochs_of(trial) - taken, 0)


def state_counts(trials: list[FrozenTrial]) -> dict[str, int]:
    counts = {state.name: 0 for state in TrialState}
    for trial in trials:
        counts[trial.state.name] += 1
    return counts

"""What hpo keeps in an Optuna study beside Optuna's own records.

Study user attributes: the spec's text and search hash (so a study knows what it
searched, and a changed space is refused). Trial system attributes: which driver ran
the trial (so a resumed run knows which RUNNING trials were orphaned by a crash and
which belong to another driver still at work on a shared database).
"""

from __future__ import annotations

import os
import socket
import time
import uuid

import optuna
from optuna.trial import FrozenTrial, TrialState

FINISHED_STATES = (TrialState.COMPLETE, TrialState.PRUNED)
INTERRUPTED = "interrupted"

_DRIVER_ATTR = "hpo:driver"
_HEARTBEAT_PREFIX = "hpo:heartbeat:"
HEARTBEAT_STALE_S = 120.0  # a driver silent this long on another host is taken as dead

DRIVER_ID = f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"
"""This process, as recorded on the trials it runs."""


def driver_mark() -> dict[str, str]:
    """The system attribute that says this driver runs a trial (written with the trial)."""
    return {_DRIVER_ATTR: DRIVER_ID}


def beat(study: optuna.Study) -> None:
    """Record that this driver is alive (read by other drivers' recovery)."""
    study._storage.set_study_system_attr(study._study_id, _HEARTBEAT_PREFIX + DRIVER_ID, time.time())


def _driver_alive(study: optuna.Study, driver: str | None) -> bool:
    if driver is None or driver == DRIVER_ID:
        return driver == DRIVER_ID
    host, pid, _ = (driver.split(":") + ["", ""])[:3]
    if host == socket.gethostname():
        try:
            os.kill(int(pid), 0)
        except (ProcessLookupError, ValueError):
            return False
        except PermissionError:
            return True
        # the pid exists; it may have been reused, so trust it only with a fresh heartbeat
    last = study._storage.get_study_system_attrs(study._study_id).get(_HEARTBEAT_PREFIX + driver)
    return last is not None and time.time() - float(last) < HEARTBEAT_STALE_S


def recover_interrupted(study: optuna.Study) -> list[int]:
    """Fail the RUNNING trials whose driver is gone, and enqueue their parameters again.

    Idempotent, so a crash in the middle of it is repaired by the next run: a
    parameter set is enqueued only if no waiting trial already carries it for the
    same orphan. Returns the numbers of the trials failed.
    """
    trials = study.get_trials(deepcopy=False)
    waiting_for = {t.user_attrs.get("requeued_from") for t in trials if t.state == TrialState.WAITING}
    failed = []
    for trial in trials:
        if trial.state != TrialState.RUNNING or _driver_alive(study, trial.system_attrs.get(_DRIVER_ATTR)):
            continue
        # a requeued trial killed before it was sampled holds its parameters only as the
        # ones it was enqueued with
        params = {**trial.system_attrs.get("fixed_params", {}), **trial.params}
        if trial.number not in waiting_for and params:
            study.enqueue_trial(params, user_attrs={"requeued_from": trial.number})
        storage = study._storage
        storage.set_trial_user_attr(trial._trial_id, "error_type", "Interrupted")
        storage.set_trial_user_attr(trial._trial_id, "error", INTERRUPTED)
        storage.set_trial_state_values(trial._trial_id, TrialState.FAIL)
        failed.append(trial.number)
    return failed


def state_counts(trials: list[FrozenTrial]) -> dict[str, int]:
    counts = {state.name: 0 for state in TrialState}
    for trial in trials:
        counts[trial.state.name] += 1
    return counts

"""Ray Tune callbacks that complete the searcher's records.

Ray tells a searcher only *that* a trial errored; the exception reaches callbacks,
right after. :class:`TrialErrorCallback` hands it over, so a trial whose worker died
is recorded as FAIL with the reason. :class:`TrialTimeoutWatchdog` enforces
``study.trial_timeout`` for a trial stuck inside an epoch, where the trainable's own
check (at each report) cannot see it.
"""

from __future__ import annotations

import time
from typing import Any, Protocol

import ray
from ray.tune import Callback

TIMEOUT_GRACE_S = 10.0  # the trainable's own check gets this long to end the trial first


class ErrorRecorder(Protocol):
    """What records a trial's error: the study's searcher, or ``hpo confirm``'s."""

    def record_error(self, trial_id: str, error_type: str, message: str) -> None: ...


class TrialErrorCallback(Callback):
    def __init__(self, searcher: ErrorRecorder) -> None:
        self._searcher = searcher
        self._timed_out: set[str] = set()

    def mark_timed_out(self, trial_id: str) -> None:
        self._timed_out.add(trial_id)

    def on_trial_error(self, iteration: int, trials: list, trial: Any, **info: Any) -> None:
        if trial.trial_id in self._timed_out:
            self._searcher.record_error(trial.trial_id, "TrialTimeoutError", "timeout: killed after study.trial_timeout")
            return
        error = trial.get_pickled_error() or trial.get_error()
        cause = getattr(error, "cause", None) or error
        if not isinstance(cause, BaseException):  # get_error() gives Ray's text, not an exception
            cause = None
        # No exception object yet: Ray copies its pickle to the run's storage a moment later.
        # What reaches Ray's error path is the worker failing (run_trial catches the trainer's
        # errors), and the text Ray has already written says how.
        name = type(cause).__name__ if cause is not None else "WorkerDied"
        message = str(cause).strip().splitlines()[-1] if cause is not None and str(cause).strip() else _written_error(trial)
        if isinstance(cause, ray.exceptions.RayActorError):
            name, message = "WorkerDied", f"the trial's worker process died: {message}"
        self._searcher.record_error(trial.trial_id, name, message)


def _written_error(trial: Any) -> str:
    """What Ray wrote about the error on this machine a moment ago. Its copy in the run's
    storage may not be there yet, nor a pickled exception for every kind of error (a trial
    whose node died ends with the actor unavailable, which Ray does not pickle)."""
    try:
        with open(trial.error_file) as f:
            lines = [line.strip() for line in f if line.strip() and not line.startswith("Failure #")]
    except (OSError, TypeError):
        lines = []
    return f"the trial's Ray worker failed: {lines[-1]}" if lines else "the trial's Ray worker failed"


class TrialTimeoutWatchdog(Callback):
    """Kill the worker of a trial running past its timeout (plus a grace period)."""

    def __init__(self, errors: TrialErrorCallback, timeout_s: float) -> None:
        self._errors = errors
        self._timeout_s = timeout_s
        self._started: dict[str, float] = {}

    def on_trial_start(self, iteration: int, trials: list, trial: Any, **info: Any) -> None:
        self._started[trial.trial_id] = time.monotonic()

    def on_step_begin(self, iteration: int, trials: list, **info: Any) -> None:
        now = time.monotonic()
        for trial in trials:
            started = self._started.get(trial.trial_id)
            if trial.status != "RUNNING" or started is None:
                continue
            if now - started > self._timeout_s + TIMEOUT_GRACE_S and trial.temporary_state.ray_actor is not None:
                self._errors.mark_timed_out(trial.trial_id)
                del self._started[trial.trial_id]
                trial.max_failures = 0  # a timeout is not a worker fault: Ray must not retry it
                ray.kill(trial.temporary_state.ray_actor)

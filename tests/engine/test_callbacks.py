"""The reason recorded for a trial that Ray ended with an error."""

from __future__ import annotations

from types import SimpleNamespace

import pytest
import ray.exceptions

from hpo.engine.callbacks import TrialErrorCallback

WRITTEN = "Failure # 1 (occurred at 2026-11-23_15-36-39)\nThe actor died unexpectedly before finishing this task.\n"


class Recorder:
    def __init__(self) -> None:
        self.errors: list[tuple[str, str, str]] = []

    def record_error(self, trial_id: str, error_type: str, message: str) -> None:
        self.errors.append((trial_id, error_type, message))


@pytest.mark.parametrize(
    ("pickled", "text", "error_type", "words"),
    [
        (ray.exceptions.ActorDiedError(), None, "WorkerDied", "worker process died"),
        (RuntimeError("report failed"), None, "RuntimeError", "report failed"),
        (None, None, "WorkerDied", "The actor died unexpectedly"),  # the pickle is not in storage yet
        (None, WRITTEN, "WorkerDied", "The actor died unexpectedly"),  # only Ray's text is: not a class named str
    ],
    ids=["actor-died", "other-exception", "nothing-yet", "text-only"],
)
def test_the_reason_names_the_error(tmp_path, pickled, text, error_type, words):
    error_file = tmp_path / "error.txt"
    error_file.write_text(WRITTEN)
    trial = SimpleNamespace(trial_id="t1", error_file=str(error_file), get_pickled_error=lambda: pickled, get_error=lambda: text)
    recorder = Recorder()
    TrialErrorCallback(recorder).on_trial_error(0, [], trial)
    [(_, recorded_type, message)] = recorder.errors
    assert recorded_type == error_type and words in message

"""The real trainer, with trials held before they train until the test lets them go.

A test that must act while a run is still running (interrupt a RUNNING trial, read a
study that is still being written) cannot count on the run being slow enough: on an idle
machine a trial takes a tenth of a second. With ``hpo run --trainer HELD_TRAINER`` and
``Hold.env()`` in the run's environment, the trials that start from the ``start_from``-th
on (0: every one) wait before training until the test calls ``Hold.release()``; each one
held says so with a file, so the test waits on that, not on the clock. Without
``Hold.env()`` (a resumed run, ``hpo train`` of an exported config) it is the real trainer.
``resumable`` is the same trainer taking ``resume`` (checkpointed, so a scheduler that
pauses trials accepts it); a trial it resumes counts as a start too. It declares the real trainer's contract, so it takes the same specs and retrains the same way. A trial held
longer than HOLD_LIMIT_S fails with an error saying so, rather than waiting for a test
that has itself failed.
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass
from pathlib import Path

from hpo.contract import contract_of, trainer
from trainers.config import METRICS, TrainConfig
from trainers.preview import preview

HELD_TRAINER = "tests.e2e.held_trainer:train"
HELD_RESUMABLE_TRAINER = "tests.e2e.held_trainer:resumable"  # the same, taking `resume`: checkpointed, and held alike
HOLD_LIMIT_S = 900.0


@dataclass
class Hold:
    """The test's side: a directory the run's trials count themselves in and wait on."""

    directory: Path
    start_from: int = 0

    def env(self) -> dict[str, str]:
        self.directory.mkdir(parents=True, exist_ok=True)
        return {"HPO_TEST_HOLD": str(self.directory), "HPO_TEST_HOLD_FROM": str(self.start_from)}

    def held(self) -> int:
        """How many trials are held (or were, before ``release()``)."""
        return len(list(self.directory.glob("held-*")))

    def release(self) -> None:
        (self.directory / "go").touch()


def _start_number(directory: Path) -> int:
    """This trial's place among the trials that started, 0 first (O_EXCL: one file each)."""
    number = 0
    while True:
        try:
            os.close(os.open(directory / f"started-{number}", os.O_CREAT | os.O_EXCL | os.O_WRONLY))
            return number
        except FileExistsError:
            number += 1


def _check(config):
    from trainers.loop import train as real_train

    check = contract_of(real_train).check
    if check is not None:
        check(config)


@trainer(schema=TrainConfig, metrics=METRICS, check=_check, preview=preview)
def train(config, report, *, final=False, output_dir=None):
    from trainers.loop import train as real_train

    _hold()
    return real_train(config, report, final=final, output_dir=output_dir)


@trainer(schema=TrainConfig, metrics=METRICS, check=_check, preview=preview)
def resumable(config, report, *, final=False, output_dir=None, resume=None):
    from trainers.loop import train as real_train

    _hold()
    return real_train(config, report, final=final, output_dir=output_dir, resume=resume)


def _hold() -> None:
    """Wait before training while the test holds this trial (module doc)."""
    if "HPO_TEST_HOLD" not in os.environ:
        return
    directory = Path(os.environ["HPO_TEST_HOLD"])
    number = _start_number(directory)
    if number >= int(os.environ["HPO_TEST_HOLD_FROM"]):
        (directory / f"held-{number}").touch()
        deadline = time.monotonic() + HOLD_LIMIT_S
        while not (directory / "go").exists():
            if time.monotonic() > deadline:
                raise TimeoutError(f"held {HOLD_LIMIT_S:g} s before training: the test never released the run")
            time.sleep(0.1)

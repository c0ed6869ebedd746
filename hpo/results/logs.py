"""``hpo logs``: what a trial printed, its warnings and the traceback that ended it.

Each trial's worker writes its stdout and stderr to ``studies/<study>/trials/<number>/log.txt``
under the directory ``hpo run`` ran in, on the node that runs it (hpo.engine.trial_log), and
the trial's record names that file (``log``, with the host in ``worker``). This module finds
the file from the record and prints it; ``--follow`` goes on printing what is appended until
the study says the trial has ended, or its driver is gone (then nothing more will come).
A log that is not on this machine is an error that says why: the trial has not started, it
ran before hpo kept logs, or it ran on another node, whose disk holds its log.
"""

from __future__ import annotations

import socket
import time
from pathlib import Path
from typing import BinaryIO

from optuna.trial import FrozenTrial, TrialState
from rich.console import Console

from hpo.errors import HpoError
from hpo.study.keys import DRIVER_ATTR, HOSTNAME, LOG_ATTR, NODE_IP
from hpo.study.locate import load_existing_study, resolve_study
from hpo.study.records import Driver, driver_alive, error_of, worker_of
from hpo.study.storage import open_storage, trial_log_path

FOLLOW_POLL_S = 0.5  # --follow looks for new output, and at the trial's state, this often
CHUNK = 1 << 16


class TrialLog:
    """One trial of a stored study and the file its output went to."""

    def __init__(self, target: str, number: int, storage: str | None = None) -> None:
        study = load_existing_study(target, storage)  # refuses an unknown study with its own message
        self.study_name = study.study_name
        self.number = number
        self._storage = open_storage(resolve_study(target, storage)[1], create=False)
        self._study_id = self._storage.get_study_id_from_name(self.study_name)
        try:
            self._trial_id = self._storage.get_trial_id_from_study_id_trial_number(self._study_id, number)
        except KeyError:
            count = self._storage.get_n_trials(self._study_id)
            known = f"its trials are numbered 0 to {count - 1}" if count else "it has no trials yet"
            raise HpoError(f"study {self.study_name} has no trial {number}: {known} (`hpo status {target}` lists them)") from None

    def trial(self) -> FrozenTrial:
        return self._storage.get_trial(self._trial_id)

    def path(self) -> Path:
        """The trial's log on this machine; one paragraph saying why when there is none."""
        trial = self.trial()
        default = trial_log_path(self.study_name, self.number)  # under the directory `hpo run` ran in, when that is here
        recorded = trial.user_attrs.get(LOG_ATTR)
        if not isinstance(recorded, str) or Path(recorded).parts[-len(default.parts) :] != default.parts:
            recorded = None  # a record naming any other file (a study is shared, or edited) is not followed
        for candidate in (Path(recorded) if recorded else None, default):
            if candidate is not None and candidate.is_file():
                return candidate
        raise HpoError(self._missing(trial, recorded, default))

    def _missing(self, trial: FrozenTrial, recorded: str | None, default: Path) -> str:
        which = f"trial {self.number} of study {self.study_name}"
        if trial.state == TrialState.WAITING:
            return f"{which} has not started: it is queued, and has a log once a driver runs it"
        if not recorded:
            return (
                f"{which} has no log: its record names no trial log, as for a trial that ran before hpo kept trial logs "
                f"or whose driver died before recording it, and there is none at {default}"
            )
        worker = worker_of(trial)
        host = worker.get(HOSTNAME)
        if host and host != socket.gethostname():
            where = f"{host} ({worker[NODE_IP]})" if worker.get(NODE_IP) else host
            return (
                f"{which} ran on {where}; its log is {recorded} on that machine, not on this one. A trial's log is "
                "written on the node that runs it: read it there, or run from a directory every node mounts"
            )
        if trial.state == TrialState.RUNNING:
            return (
                f"{which} is running, but its log {recorded} is not on this machine: its worker may still be "
                "starting (try again in a moment), or it runs on another node of the cluster, whose disk holds its log"
            )
        error = error_of(trial)
        ended = f" It ended {trial.state.name}" + (f" ({error})" if error else "") + "."
        return f"{which} has no log at {recorded}: the file was moved or deleted, or its worker never started.{ended}"

    def print(self, out: BinaryIO) -> None:
        """The whole log as it is now."""
        with self.path().open("rb") as log:
            _copy(log, out)

    def follow(self, out: BinaryIO, console: Console) -> None:
        """The log, then what is appended to it, until the trial ends (or its driver is
        gone, or Ctrl-C); says on ``console`` why it stopped."""
        with self.path().open("rb") as log:
            try:
                while True:
                    trial = self.trial()  # before the last read: what was written before the end is printed
                    _copy(log, out)
                    if trial.state != TrialState.RUNNING:
                        error = error_of(trial)
                        console.print(f"trial {self.number} ended: {trial.state.name}" + (f", {error}" if error else ""))
                        return
                    driver = Driver.from_attr(trial.system_attrs.get(DRIVER_ATTR))
                    if not driver_alive(driver, self._storage.get_study_system_attrs(self._study_id)):
                        console.print(
                            f"trial {self.number} is RUNNING, but its driver is gone: nothing more will be written; "
                            "the next `hpo run` of the study records it as interrupted and runs its parameters again"
                        )
                        return
                    time.sleep(FOLLOW_POLL_S)
            except KeyboardInterrupt:
                return


def _copy(log: BinaryIO, out: BinaryIO) -> None:
    """What ``log`` holds past where it was last read, to ``out``."""
    while chunk := log.read(CHUNK):
        out.write(chunk)
    out.flush()

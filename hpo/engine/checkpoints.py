"""Where trials' checkpoints are recorded, and when their files go.

A trial's checkpoints are Ray Tune checkpoints: the trainable reports each with its epoch
(hpo.engine.trainable), and Ray copies it into the run's storage, under
``studies/<name>/ray/<name>/trial_<number>/checkpoint_<index>`` (:func:`ray_trial_directory`,
by the study's trial number), before it tells its callbacks of it. The searcher records it in the study there (the trial's ``checkpoint``
attribute; written while the trial trains on, hpo.engine.background_writes) and only once
that is written deletes the trial's checkpoint before: the study always names a
checkpoint that is whole and on disk, whenever the run is killed.

The checkpoint of a trial's last report (``finished``; written only when the study keeps
its best trials' weights, ``checkpoint.keep``) is not recorded: a trial interrupted after it
resumes from the one before. The searcher takes the weights from it as it tells the trial
COMPLETE (hpo.study.weights): an Optuna artifact of their own, outside the checkpoints.

Files are deleted by :func:`discard_checkpoints` alone, which the searcher calls for a
checkpoint a newer one replaced, and for the directories of a curve that can no longer be
resumed: a trial that ended for good (COMPLETE, PRUNED, FAIL), once its weights are
taken, and the directory a resumed trial started from once it has a checkpoint of its own.
A run killed after Ray stored a checkpoint but before the searcher recorded it leaves a
directory no record names; its trial is known by number, so the trial that takes over its
parameters (``requeued_from``) takes over that directory too, and deletes it as it deletes
the one it resumed from.
So a study holds one checkpoint per running or interrupted trial (three for a moment: a
newer one being recorded, and the one Ray stored after it). The best trials' weights are kept apart, as artifacts; the
checkpoints themselves are never kept.
"""

from __future__ import annotations

import logging
import shutil
from collections.abc import Iterable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ray.tune import Callback

from hpo.contract import FINISHED
from hpo.engine.trainable import reported_epoch
from hpo.study.storage import study_dir

if TYPE_CHECKING:
    from hpo.engine.searcher import StudySearcher

_log = logging.getLogger(__name__)


class CheckpointRecorder(Callback):
    """Hands each checkpoint Ray has stored to the searcher, with the epoch it holds and
    whether it came with the trainer's last report (``finished``)."""

    def __init__(self, searcher: StudySearcher) -> None:
        self._searcher = searcher

    def on_checkpoint(self, iteration: int, trials: list, trial: Any, checkpoint: Any, **info: Any) -> None:
        # the trial waits at this report until Ray has processed the checkpoint: its last result is the one the checkpoint came with
        epoch = reported_epoch(trial.last_result)
        if epoch is not None:
            final = bool(trial.last_result.get(FINISHED))
            self._searcher.record_checkpoint(trial.trial_id, str(checkpoint.path), epoch, final=final)


def ray_storage_path(study_name: str) -> str:
    """Ray Tune's storage path of a run of the study: ``studies/<name>/ray``, absolute."""
    return str((study_dir(study_name) / "ray").resolve())


def ray_trial_directory(study_name: str, number: int) -> str:
    """Where Ray stores the checkpoints of the study's trial ``number``: named by the number
    the study gives it, so a later run finds the directory of a trial a kill interrupted."""
    return str(Path(ray_storage_path(study_name), study_name, f"trial_{number}"))


def trial_directory(checkpoint_path: str) -> str:
    """The Ray trial directory that holds a checkpoint (and any partial one a kill left)."""
    return str(Path(checkpoint_path).parent)


def discard_checkpoints(directories: Iterable[str]) -> None:
    """Delete checkpoints (a checkpoint's directory, or a trial directory of them) that no
    trial will resume from. The one place that deletes checkpoints (the best trials' weights
    are copied out of them first, as artifacts: hpo.study.weights)."""
    for directory in directories:
        try:
            shutil.rmtree(directory)
        except FileNotFoundError:
            continue
        except OSError as exc:  # a checkpoint left on disk costs space, never the study
            _log.warning("could not delete the checkpoints in %s: %s", directory, exc)


class SharedCheckpoints:
    """The checkpoints of a population (PBT), which trials copy from one another: each goes
    once no trial can start from it.

    A trial may start from a checkpoint it did not write: PBT copies the one a top trial
    wrote at its last comparison, at most ``window`` epochs before its latest, and the
    copying trial is paused and started again later from it. So a checkpoint stays while
    its writer runs and it is among the writer's last ``window``, or while a trial's start
    point (the checkpoint it resumes from, until it writes one) is it, or while an
    interrupted trial, queued to resume, names it. A writer's older ones go one by one;
    a trial directory goes whole once its writer has ended and none of these lies in it
    (leftovers of a killed run included). Trials are known by Ray's id."""

    def __init__(self, window: int) -> None:
        self._window = window
        self._recent: dict[str, list[tuple[int, str]]] = {}  # writer -> its (epoch, path) in the window
        self._start: dict[str, str] = {}  # running trial -> the checkpoint it resumes from
        self._kept: set[str] = set()  # start points of interrupted trials: the next run resumes them
        self._loose: set[str] = set()  # checkpoints out of their writer's window, to go once unused
        self._directories: set[str] = set()  # trial directories seen, to go once their writer ended and they are unused
        self._origin: dict[str, tuple[str, int]] = {}  # path -> (writer, epoch)
        self._own: dict[str, str] = {}  # running trial -> its trial directory, never deleted while it runs

    def written(self, owner: str, path: str, epoch: int) -> None:
        """``owner`` wrote ``path`` after ``epoch``: its new start point."""
        recent = [(e, p) for e, p in self._recent.get(owner, []) if p != path] + [(epoch, path)]
        self._loose.update(p for e, p in recent if e <= epoch - self._window)
        self._recent[owner] = [(e, p) for e, p in recent if e > epoch - self._window]
        self._origin[path] = (owner, epoch)
        self.holds(owner, trial_directory(path))
        self.start_from(owner, path)

    def holds(self, owner: str, directory: str) -> None:
        """``owner`` writes into ``directory`` (its trial directory, told also of a checkpoint
        that is no start point: the one of its last report)."""
        self._own[owner] = directory
        self._directories.add(directory)

    def leftover(self, directory: str) -> None:
        """A trial directory an earlier run left: it goes once no trial starts from it."""
        self._directories.add(directory)

    def start_from(self, owner: str, path: str) -> None:
        """``owner`` resumes from ``path`` (its own latest, a copied one, or an earlier run's)."""
        replaced = self._start.get(owner)
        if replaced is not None and replaced != path:
            self._loose.add(replaced)
        self._start[owner] = path
        self._directories.add(trial_directory(path))

    def copied(self, owner: str, path: str) -> None:
        """``owner`` was exploited: it starts from ``path``, another trial's, and its own
        checkpoints can no longer be copied (PBT copies only from a top trial)."""
        self._loose.update(p for _, p in self._recent.pop(owner, []))
        self.start_from(owner, path)

    def origin(self, path: str) -> tuple[str, int] | None:
        """The writer of ``path`` and the epoch it holds, while it may be copied."""
        return self._origin.get(path)

    def ended(self, owner: str, interrupted: bool) -> None:
        """``owner`` ended; an interrupted one keeps its start point for the next run."""
        start = self._start.pop(owner, None)
        self._recent.pop(owner, None)
        self._own.pop(owner, None)
        if interrupted and start is not None:
            self._kept.add(start)

    def sweep(self) -> None:
        """Delete every checkpoint and directory no trial can start from any more."""
        used = self._kept | set(self._start.values()) | {path for recent in self._recent.values() for _, path in recent}
        writing = set(self._own.values())
        gone = {path for path in self._loose if path not in used}
        gone_directories = {d for d in self._directories if d not in writing and not any(trial_directory(p) == d for p in used)}
        discard_checkpoints(sorted(gone | gone_directories))
        self._loose -= gone
        self._directories -= gone_directories
        for path in [p for p in self._origin if p in gone or trial_directory(p) in gone_directories]:
            del self._origin[path]

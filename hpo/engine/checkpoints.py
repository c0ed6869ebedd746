"""Where trials' checkpoints are recorded, and when their files go.

A trial's checkpoints are Ray Tune checkpoints: the trainable reports each with its epoch
(hpo.engine.trainable), and Ray copies it into the run's storage, under
``studies/<name>/ray/<name>/trial_<number>/checkpoint_<index>`` (:func:`ray_trial_directory`,
by the study's trial number), before it tells its callbacks of it. The searcher records it in the study there (the trial's ``checkpoint``
attribute) and only then deletes the trial's checkpoint before: the study always names a
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
So a study holds one checkpoint per running or interrupted trial (two for a moment, while
the newer is recorded). The best trials' weights are kept apart, as artifacts; the
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

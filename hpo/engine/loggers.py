"""Ray Tune's own logger callbacks, shown each trial as the study knows it.

Ray hands its logger callbacks its own trial: named by Ray's trial id, with the config hpo
passes the trainable (the trainer's name, the working directory, the trial's number and
its training config), and results that carry Ray's bookkeeping beside the trainer's
numbers. A tracker should show what the study shows. So each hook of these callbacks
gets a :class:`StudyTrial` instead: named ``trial <number>`` as in the study, with the
trial's training config as its config and its sampled parameters as the ones TensorBoard
compares (HParams); and each result holds only the numbers the trainer reported, at its
epoch. Where each tracker writes: hpo.engine.tracking.
"""

from __future__ import annotations

import logging
import numbers
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from ray.air.integrations.mlflow import MLflowLoggerCallback
from ray.air.integrations.wandb import WandbLoggerCallback
from ray.tune.logger import LoggerCallback, TBXLoggerCallback
from ray.tune.result import AUTO_RESULT_KEYS, DONE, TRAINING_ITERATION, TRIAL_ID

from hpo.contract import FINISHED
from hpo.engine.tracking import mlflow_tracking_uri, tensorboard_dir
from hpo.engine.trainable import ERROR_TYPE_KEY, reported_epoch
from hpo.spec.trackers import LogSection
from hpo.study.keys import WORKER_KEYS
from hpo.study.storage import STUDIES_DIR

# Ray's bookkeeping and what the trainable adds to each report: not the trainer's numbers
NOT_METRICS = frozenset((*AUTO_RESULT_KEYS, DONE, TRIAL_ID, FINISHED, *WORKER_KEYS))


class StudyTrial:
    """A Ray trial as a tracker sees it: exactly the attributes Ray's logger callbacks read.

    Args:
        trial: Ray's trial; its config is what the searcher proposed (hpo.engine.searcher).
        study_name: The study's name: wandb groups the runs by it.
        local_path: Where the tracker writes this trial's files.
    """

    def __init__(self, trial: Any, study_name: str, local_path: Path) -> None:
        self.trial_id = trial.trial_id  # wandb's run id: unique over every run of a study
        self.number = int(trial.config["trial_number"])
        self.config = trial.config["config"]
        self.evaluated_params = trial.config["params"]
        self.experiment_dir_name = study_name
        self.local_path = str(local_path)

    def init_local_path(self) -> None:
        Path(self.local_path).mkdir(parents=True, exist_ok=True)

    def __str__(self) -> str:
        return f"trial {self.number}"


def trainer_metrics(result: Mapping[str, Any]) -> dict[str, Any]:
    """The numbers the trainer reported in ``result``, and the epoch as the step the loggers
    read (Ray's ``training_iteration``); empty for a report with none (a trainer's error)."""
    metrics = {
        key: value
        for key, value in result.items()
        if key not in NOT_METRICS and isinstance(value, numbers.Real) and not isinstance(value, bool)
    }
    epoch = reported_epoch(result)
    return {**metrics, TRAINING_ITERATION: epoch} if metrics and epoch is not None else {}


class _AsStudyTrials(LoggerCallback):
    """Put before a Ray logger callback in the bases: its hooks get a :class:`StudyTrial`
    and the trainer's numbers. One StudyTrial per Ray trial, as the callbacks key their
    writers and runs by the trial they are given."""

    def __init__(self, study_name: str, trial_dir: Path, *args: Any, per_trial: bool, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._study_name = study_name
        self._trial_dir = trial_dir.resolve()  # the wandb logging actor runs in another directory
        self._per_trial = per_trial  # a folder of its own per trial, else one for all
        self._views: dict[str, StudyTrial] = {}
        self._failed: set[str] = set()  # the trainer raised: its last report says so

    def _view(self, trial: Any) -> Any:  # Any: it stands for the Ray trial in Ray's signatures
        view = self._views.get(trial.trial_id)
        if view is None:
            path = self._trial_dir / f"trial_{trial.config['trial_number']}" if self._per_trial else self._trial_dir
            view = self._views[trial.trial_id] = StudyTrial(trial, self._study_name, path)
        return view

    def log_trial_start(self, trial: Any) -> None:
        super().log_trial_start(self._view(trial))

    def log_trial_result(self, iteration: int, trial: Any, result: dict) -> None:
        if result.get(ERROR_TYPE_KEY):
            self._failed.add(trial.trial_id)
        metrics = trainer_metrics(result)
        if metrics:
            super().log_trial_result(iteration, self._view(trial), metrics)

    def log_trial_end(self, trial: Any, failed: bool = False) -> None:
        super().log_trial_end(self._view(trial), failed or trial.trial_id in self._failed)


class TensorBoardLogger(_AsStudyTrials, TBXLoggerCallback):
    """Ray's TensorBoard callback: one run (folder) per trial, ``trial_<number>``."""


class MLflowLogger(_AsStudyTrials, MLflowLoggerCallback):
    """Ray's MLflow callback: one run per trial, named ``trial <number>``."""


class WandbLogger(_AsStudyTrials, WandbLoggerCallback):
    """Ray's wandb callback: one run per trial, named ``trial <number>``."""


def loggers(log: LogSection, study_name: str) -> list[LoggerCallback]:
    """The callbacks of the trackers ``log`` turns on, for the study ``study_name``."""
    callbacks: list[LoggerCallback] = []
    if log.tensorboard is not None:
        callbacks.append(TensorBoardLogger(study_name, tensorboard_dir(study_name), per_trial=True))
    if log.mlflow is not None:
        # the run prints where its trials go; MLflow's notes as it creates its tables would break the progress lines
        logging.getLogger("mlflow").setLevel(logging.WARNING)
        callbacks.append(
            MLflowLogger(
                study_name,
                STUDIES_DIR / study_name,
                mlflow_tracking_uri(log.mlflow, study_name),
                per_trial=False,
                experiment_name=study_name,
                tags={"study": study_name},
            )
        )
    if log.wandb is not None:
        mode = os.environ.get("WANDB_MODE")  # given to wandb.init: the logging actor may not inherit it
        options = {"mode": mode} if mode else {}
        callbacks.append(WandbLogger(study_name, STUDIES_DIR / study_name, per_trial=False, project=study_name, **options))
    return callbacks

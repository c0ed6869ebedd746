"""Where a run's trackers send its trials, and the check that they can.

TensorBoard, MLflow and Weights & Biases are optional extras (``pip install 'hpo[mlflow]'``).
The package each tracker needs is imported in the driver before the study is opened, so a
run that asks for one that is missing ends at once, as one line naming the install
command, with nothing stored. This module imports no Ray: the check runs before Ray is
configured. Ray's own logger callbacks then send the trials from the driver
(hpo.engine.loggers), to:

- TensorBoard: event files under ``studies/<name>/tensorboard/trial_<number>``, written
  as the epochs come. Not Ray's trial directories: those are named by Ray's trial ids and
  copied into ``studies/<name>/ray`` only now and then.
- MLflow: the experiment named as the study, at the spec's ``log.mlflow.tracking_uri``, else
  ``MLFLOW_TRACKING_URI``, else a SQLite store beside the study (MLflow 3 refuses to open a
  new file store by default).
- Weights & Biases: the project named as the study; wandb's own settings apply
  (``WANDB_MODE=offline`` keeps the runs on this machine, ``WANDB_ENTITY``, ``wandb login``).
"""

from __future__ import annotations

import importlib
import os
from pathlib import Path

from hpo.errors import HpoError
from hpo.spec.trackers import LogSection, MLflowLog
from hpo.study.storage import STUDIES_DIR

PACKAGES = {"tensorboard": "tensorboardX", "mlflow": "mlflow", "wandb": "wandb"}  # what each tracker's Ray callback imports


def check_installed(log: LogSection) -> None:
    """Refuse a run whose trackers cannot be imported here, before anything is stored."""
    for tracker in log.trackers:
        require(tracker, PACKAGES[tracker])


def require(tracker: str, package: str) -> None:
    """Import ``package``; if it cannot be, one line naming the extra that installs it.

    Imported, not only looked up: a package that is there but broken would otherwise fail
    in Ray's callback, with a traceback, once the study is open.
    """
    try:
        importlib.import_module(package)
    except ImportError as exc:
        raise HpoError(
            f"log: {tracker} needs the {package} package, which cannot be imported here ({exc}); "
            f"install it with pip install 'hpo[{tracker}]' (in a checkout of hpo: pip install '.[{tracker}]')"
        ) from None


def tensorboard_dir(study_name: str) -> Path:
    return STUDIES_DIR / study_name / "tensorboard"


def mlflow_tracking_uri(options: MLflowLog, study_name: str) -> str:
    """The spec's URI, else MLflow's own variable, else a SQLite file beside the study."""
    return options.tracking_uri or os.environ.get("MLFLOW_TRACKING_URI") or f"sqlite:///{STUDIES_DIR / study_name / 'mlflow.db'}"


def destinations(log: LogSection, study_name: str) -> list[str]:
    """One line per tracker saying where the run's trials go, printed as the run starts."""
    lines = []
    if log.tensorboard is not None:
        where = tensorboard_dir(study_name)
        lines.append(f"tensorboard: one run per trial in {where}/ (view: tensorboard --logdir {where})")
    if log.mlflow is not None:
        lines.append(f"mlflow: experiment {study_name} in {mlflow_tracking_uri(log.mlflow, study_name)}, one run per trial")
    if log.wandb is not None:
        mode = os.environ.get("WANDB_MODE")
        lines.append(f"wandb: project {study_name}, one run per trial" + (f" (WANDB_MODE={mode})" if mode else ""))
    return lines

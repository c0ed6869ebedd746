"""The ``log:`` section: the trackers each trial's epochs and config are also sent to.

The study stays the record; a tracker is a second view of the trials for those who work
in TensorBoard, MLflow or Weights & Biases. A tracker named in the section is on, with
its options (none, or ``{}``, for its defaults); a list of names is the short form::

    log: [tensorboard, mlflow]
    log: {mlflow: {tracking_uri: "http://127.0.0.1:5000"}}

``hpo run --log NAME`` turns one on for a run, beside those the spec names. Which
trackers a run uses changes nothing of what a trial's value means: it is not part of the
search hash, so a study resumes whatever its runs logged to (hpo.engine.tracking sends).
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from hpo.contract import StrictModel, did_you_mean
from hpo.errors import HpoError

TRACKERS = ("tensorboard", "mlflow", "wandb")


class TensorBoardLog(StrictModel):
    """Event files under ``studies/<name>/tensorboard/``, one run per trial: no options."""


class MLflowLog(StrictModel):
    # default: MLFLOW_TRACKING_URI if set, else a SQLite store beside the study (hpo.engine.tracking)
    tracking_uri: str | None = None


class WandbLog(StrictModel):
    """The project is the study's name; ``WANDB_MODE`` and ``WANDB_ENTITY`` are wandb's own: no options."""


class LogSection(StrictModel):
    tensorboard: TensorBoardLog | None = None
    mlflow: MLflowLog | None = None
    wandb: WandbLog | None = None

    @property
    def trackers(self) -> list[str]:
        """The names of the trackers that are on, in the order of :data:`TRACKERS`."""
        return [name for name in TRACKERS if getattr(self, name) is not None]

    def adding(self, names: Iterable[str]) -> LogSection:
        """This section with the trackers ``names`` (``hpo run --log``) on too, each with
        its options as the spec gives them, else its defaults."""
        update: dict[str, StrictModel] = {}
        for name in names:
            if name not in TRACKERS:
                raise HpoError(f"--log {name}: {did_you_mean(name, TRACKERS, 'tracker')}")
            update[name] = getattr(self, name) or _OPTIONS[name]()
        return self.model_copy(update=update)


_OPTIONS: dict[str, type[StrictModel]] = {"tensorboard": TensorBoardLog, "mlflow": MLflowLog, "wandb": WandbLog}


def named_trackers(value: Any) -> Any:
    """The short form and bare names as the mapping the section is: ``[tensorboard]`` and
    ``{tensorboard: }`` both mean ``{tensorboard: {}}`` (a tracker named is on); an empty
    ``log:`` names none."""
    if value is None:
        return {}
    if isinstance(value, LogSection):  # the default
        return value
    if isinstance(value, dict):
        return {name: {} if options is None else options for name, options in value.items()}
    if isinstance(value, list) and all(isinstance(name, str) for name in value):
        return {name: {} for name in value}
    raise ValueError(f"expected a list of tracker names ({', '.join(TRACKERS)}) or a mapping of tracker to options, got {value!r}")

"""A trainer whose every trial raises, and which offers no check: a study of it cannot
make progress, and hpo must end the run after study.max_failures trials."""

from __future__ import annotations

from hpo.contract import trainer
from trainers.config import METRICS, TrainConfig

MESSAGE = "every trial of this trainer fails"


@trainer(schema=TrainConfig, metrics=METRICS)  # a stand-in for the built-in trainer: its specs, no check
def train(config, report, **kwargs):
    raise RuntimeError(MESSAGE)

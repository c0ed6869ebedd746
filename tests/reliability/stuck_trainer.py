"""A trainer that hangs inside its first epoch, and notes each attempt in a file
(HPO_TEST_ATTEMPTS) so a test can count how often a trial was started."""

from __future__ import annotations

import os
import time

from hpo.contract import trainer
from trainers.config import METRICS, TrainConfig


@trainer(schema=TrainConfig, metrics=METRICS)  # a stand-in for the built-in trainer: its specs
def train(config, report):
    with open(os.environ["HPO_TEST_ATTEMPTS"], "a") as attempts:
        attempts.write(f"{os.getpid()}\n")
    time.sleep(3600)  # stuck in an epoch: only the driver's watchdog ends it

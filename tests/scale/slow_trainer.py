"""A trainer that takes its time: each epoch sleeps, so a trial is surely running when a
test kills its driver. Its value depends on the learning rate, as a real one would."""

from __future__ import annotations

import math
import time

from hpo.contract import trainer
from trainers.config import METRICS, TrainConfig

EPOCH_S = 0.5


@trainer(schema=TrainConfig, metrics=METRICS)  # a stand-in for the built-in trainer: its specs
def train(config, report):
    quality = 0.9 - 0.1 * abs(math.log10(config["optimizer"]["lr"]) + 3.0)
    for epoch in range(1, config["epochs"] + 1):
        time.sleep(EPOCH_S)
        report({"epoch": epoch, "val_acc": quality * (1 - 0.5**epoch), "finished": epoch == config["epochs"]})
    return {"finished": True}

"""The real trainer, resumable as it is, counting the epochs it trains and slowed on request.

A test that kills a run mid-trial and resumes it needs two things the real trainer does
not give: time to act between a trial's first checkpoint and its end (on an idle machine
a quickstart epoch takes a tenth of a second), and the number of epochs the study really
trained across the kill and the resume. With HPO_TEST_EPOCH_S in the run's environment,
each epoch waits that long before it is reported; with HPO_TEST_EPOCHS naming a file,
each epoch trained appends a line to it before it is reported. It declares the real
trainer's contract, so it takes the same specs.
"""

from __future__ import annotations

import os
import time

from hpo.contract import trainer
from trainers.config import METRICS, TrainConfig

from .held_trainer import _check

COUNTED_TRAINER = "tests.e2e.counted_trainer:train"


@trainer(schema=TrainConfig, metrics=METRICS, check=_check)
def train(config, report, resume=None):
    from trainers.loop import train as real_train

    delay = float(os.environ.get("HPO_TEST_EPOCH_S", "0"))
    counted = os.environ.get("HPO_TEST_EPOCHS")

    def counting_report(metrics, state=None):
        if counted:
            with open(counted, "a") as trained:
                trained.write(f"{metrics['epoch']}\n")
        time.sleep(delay)
        report(metrics, state=state)

    return real_train(config, counting_report, resume=resume)

"""A trainer that only sleeps and reports, and logs when it ran and on which GPU.

For the packing test: trials must overlap long enough to see how many Ray runs at
once. Each run appends {start, end, gpu_ids, resumed_from} to the file named by
HPO_TEST_TIMELINE: it hands hpo its epoch as its state, and a run resumed from a
checkpoint (the worker-death test's retry) names the epoch it started after, else 0.
"""

from __future__ import annotations

import json
import os
import time

import ray

from hpo.contract import trainer
from trainers.config import METRICS, TrainConfig


@trainer(schema=TrainConfig, metrics=METRICS)  # a stand-in for the built-in trainer: its specs
def train(config, report, resume=None, **kwargs):
    start = time.time()
    resumed_from = resume["epoch"] if resume is not None else 0
    for epoch in range(resumed_from + 1, config["epochs"] + 1):
        time.sleep(0.8)
        report({"epoch": epoch, "val_acc": 0.5, "val_loss": 1.0, "finished": epoch == config["epochs"]}, {"epoch": epoch})
    with open(os.environ["HPO_TEST_TIMELINE"], "a") as timeline:
        record = {"start": start, "end": time.time(), "gpu_ids": ray.get_gpu_ids(), "resumed_from": resumed_from}
        timeline.write(json.dumps(record) + "\n")
    return {"finished": True}

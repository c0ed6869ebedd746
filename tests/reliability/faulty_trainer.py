"""A trainer that fails on purpose for some configs, and trains for real otherwise.

The batch size picks the fault, so a grid over it gives every fault exactly once:
16 runs out of memory (the error torch raises on a GPU), 24 raises a plain error in the
middle of training, 40 trains with a learning rate that makes the loss NaN (a real
NonFiniteLossError from the trainer), 48 reports its first epoch after the trial timeout
(the trial's own check ends it, unless the driver's watchdog, whose clock also counts the
worker's start-up, comes first), 56 sleeps past the timeout inside an epoch (the
watchdog kills its worker).
"""

from __future__ import annotations

import time

import torch

from hpo.contract import contract_of, trainer
from trainers.loop import train as real_train

TRIAL_TIMEOUT_S = 30  # the spec's study.trial_timeout: above a real trial's worker start-up on a busy machine
FAULTS = {  # batch size -> (error type, words of its message)
    16: ("OutOfMemoryError", "out of memory"),
    24: ("RuntimeError", "simulated failure in epoch 2"),
    40: ("NonFiniteLossError", "nan"),
    48: ("TrialTimeoutError", "timeout"),
    56: ("TrialTimeoutError", "timeout"),
}


@trainer(schema=contract_of(real_train).schema, metrics=contract_of(real_train).metrics)  # the built-in's, but no check
def train(config, report, **kwargs):
    batch = config["batch_size"]
    if batch == 16:
        raise torch.OutOfMemoryError("CUDA out of memory. Tried to allocate 2.00 GiB")
    if batch == 24:
        report({"epoch": 1, "val_acc": 0.1, "val_loss": 2.0, "finished": False})
        raise RuntimeError("simulated failure in epoch 2")
    if batch == 40:
        config = {**config, "optimizer": {**config["optimizer"], "name": "sgd", "lr": 1.0e6}}
    if batch == 48:
        time.sleep(TRIAL_TIMEOUT_S + 1)
        report({"epoch": 1, "val_acc": 0.1, "val_loss": 2.0, "finished": False})
    if batch == 56:
        time.sleep(600)
    return real_train(config, report, **kwargs)

"""A small deterministic trainer that hands hpo its state and resumes from it.

It fits one weight vector to a fixed target by noisy gradient steps: epoch ``e``'s noise
comes from a generator seeded with (seed, e), so a run resumed from epoch ``e``'s state
takes exactly the steps an uninterrupted run takes. Each epoch sleeps ``epoch_s`` (time
for a test to act mid-trial) and, when HPO_TEST_EPOCHS names a file, appends a line to it
once trained: the epochs a study really trained, counted across kills and resumes.
"""

from __future__ import annotations

import os
import time

import torch

TARGET = torch.linspace(-1.0, 1.0, 16)


def train(config, report, resume=None):
    seed, lr = int(config.get("seed", 0)), float(config["lr"])
    w = resume["w"] if resume is not None else torch.zeros_like(TARGET)
    first = resume["epoch"] + 1 if resume is not None else 1
    for epoch in range(first, config["epochs"] + 1):
        time.sleep(float(config.get("epoch_s", 0.0)))
        noise = torch.randn(TARGET.shape, generator=torch.Generator().manual_seed(seed * 1000 + epoch))
        w = w - lr * (2 * (w - TARGET) + 0.1 * noise)
        score = float(1.0 / (1.0 + torch.sum((w - TARGET) ** 2)))
        if os.environ.get("HPO_TEST_EPOCHS"):
            with open(os.environ["HPO_TEST_EPOCHS"], "a") as trained:
                trained.write(f"{epoch}\n")
        report({"epoch": epoch, "score": score, "finished": epoch == config["epochs"]}, {"epoch": epoch, "w": w.clone()})
    return {"score": score}

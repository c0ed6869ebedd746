"""What a model costs to run: parameters, multiply-adds and latency per image.

    cost = model_cost(model, images)   # {"params": 23466, "macs": 101632, "latency_ms": 0.021}

Measured once per trial, before the first epoch: none of the three changes as the weights
train, so measuring once and reporting the same numbers with every epoch costs a few
forward passes, and a trial stopped early carries them too. Nothing here draws random
numbers, so a trial trains exactly as it would without it.
"""

from __future__ import annotations

import statistics
import time

import torch
from torch.utils.flop_counter import FlopCounterMode

from hpo.contract import Mode

__all__ = ["COST_METRICS", "model_cost"]

COST_METRICS: dict[str, Mode] = {"params": "min", "macs": "min", "latency_ms": "min"}  # what model_cost returns; lower is better
LATENCY_BATCH = 32  # images per timed forward pass: the same for every trial, whatever its batch_size
WARMUP = 2  # untimed passes first: the first ones pay for allocation and kernel selection
TIMED = 5  # timed passes; their median is the latency, robust to one disturbed by another process
BUDGET_S = 2.0  # seconds of passes at most (about): a large model on a CPU is timed on fewer of them


@torch.no_grad()
def model_cost(model: torch.nn.Module, images: torch.Tensor, autocast=None) -> dict[str, float]:
    """Cost of ``model`` in eval mode on ``images`` (a batch as the model takes it, on its
    device; its first LATENCY_BATCH are timed).

    Returns:
        params: parameters, trainable and frozen.
        macs: multiply-adds of one image's forward pass (half the FLOPs torch's counter counts).
        latency_ms: milliseconds per image of a forward pass of LATENCY_BATCH images, median
            of TIMED passes after WARMUP, on the model's device. Once the passes have taken
            BUDGET_S, the ones timed so far decide (the last pass, if none was timed yet).
    """
    model.eval()
    autocast = autocast or torch.autocast(images.device.type, enabled=False)
    batch = images[:LATENCY_BATCH]
    with FlopCounterMode(display=False) as counter, autocast:
        model(batch[:1])
    seconds: list[float] = []
    spent = 0.0
    for i in range(WARMUP + TIMED):
        _synchronize(batch.device)
        start = time.perf_counter()
        with autocast:
            model(batch)
        _synchronize(batch.device)
        took = time.perf_counter() - start
        spent += took
        if i >= WARMUP or spent > BUDGET_S:
            seconds.append(took)
        if spent > BUDGET_S:
            break
    return {
        "params": sum(p.numel() for p in model.parameters()),
        "macs": counter.get_total_flops() // 2,
        "latency_ms": 1000 * statistics.median(seconds) / len(batch),
    }


def _synchronize(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)

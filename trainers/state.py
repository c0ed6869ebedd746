"""The training loop's state after an epoch, as the mapping it hands hpo with its report,
and back (hpo.contract: resumable trainers).

    state = capture(progress, model, optimizer, schedule, generator)   # after an epoch's evaluation
    progress = restore(state, model, optimizer, schedule, generator)   # instead of starting at epoch 1

Besides the model, the optimizer (its moments) and the schedule (reduce-on-plateau's
counters), a state holds every random generator a run draws from after its set-up:

- ``pipeline``: the loop's torch.Generator, which orders each epoch's batches
  (``torch.randperm``) and draws every augmentation's parameters (trainers/augment.py);
- ``torch`` and ``cuda``: torch's global generators, which dropout draws from;
- ``python`` and ``numpy``: seeded by the loop for code of one's own that draws from them.

The set-up itself draws nothing that outlives it: the validation split comes from a
generator seeded there (trainers/data.py) and the model's initial weights are replaced by
the state's. So on the CPU a resumed run repeats the uninterrupted one to the last digit.
On a GPU it goes on from the same point, but the kernels cudnn picks need not add up in
the same order, as in two uninterrupted runs.

Everything is in forms ``torch.load(weights_only=True)`` reads: tensors, numbers, strings
and containers (numpy's generator key as a tensor, not an array). The tensors are the live
ones, not copies: hpo writes a state before ``report`` returns. What torch.save pickles
object by object (the history, Python's generator) goes as one string or one tensor: a
state is written every epoch, and its cost should not grow with the epochs.
"""

from __future__ import annotations

import json
import random
from collections.abc import Mapping
from typing import Any, NamedTuple

import numpy as np
import torch
from torch import nn
from torch.optim import Optimizer

from trainers.optim import Schedule

__all__ = ["Progress", "capture", "random_state", "restore", "set_random_state"]


class Progress(NamedTuple):
    """What the loop carries from one epoch to the next besides the model, the optimizer, the
    schedule and the generators."""

    epoch: int  # the last epoch finished
    best_acc: float  # the best val_acc so far (the reports' best_val_acc)
    stopping_best: float  # early stopping: the val_acc to beat
    bad_epochs: int  # early stopping: epochs since it was last beaten
    history: list[dict[str, Any]]  # every report so far (in a state: as JSON text)


def capture(progress: Progress, model: nn.Module, optimizer: Optimizer, schedule: Schedule, generator: torch.Generator) -> dict:
    """The state to resume from after ``progress.epoch``; its ``model`` entry is the weights.

    The history goes as JSON text (floats as their shortest exact repr): torch.save pickles
    a list of dicts object by object, a cost that would grow with every epoch."""
    return {
        **progress._asdict(),
        "history": json.dumps(progress.history),
        "model": model.state_dict(),
        "optimizer": optimizer.state_dict(),
        "schedule": schedule.state_dict(),
        "random": random_state(generator),
    }


def restore(state: Mapping[str, Any], model: nn.Module, optimizer: Optimizer, schedule: Schedule, generator: torch.Generator) -> Progress:
    """Put the run back where ``state`` was captured; returns the loop's progress then."""
    model.load_state_dict(state["model"])
    # the config's rates, momentum and decay, not the state's: they are the same on a plain resume, and
    # Population Based Training resumes a copied state with perturbed ones (the moments are kept)
    settings = [{key: value for key, value in group.items() if key != "params"} for group in optimizer.param_groups]
    optimizer.load_state_dict(state["optimizer"])
    for group, setting in zip(optimizer.param_groups, settings):
        group.update(setting)
    schedule.load_state_dict(state["schedule"])
    set_random_state(state["random"], generator)
    return Progress(state["epoch"], state["best_acc"], state["stopping_best"], state["bad_epochs"], json.loads(state["history"]))


def random_state(generator: torch.Generator) -> dict:
    """The state of every generator the loop draws from (see the module doc)."""
    version, internal, gauss_next = random.getstate()
    numpy_state = np.random.get_state(legacy=False)  # {bit_generator, state: {key: a uint32 array, pos}, has_gauss, gauss}
    key = torch.from_numpy(numpy_state["state"]["key"].astype(np.int64))
    return {
        "pipeline": generator.get_state(),
        "torch": torch.get_rng_state(),
        # a run on the CPU never started CUDA; asking for its generators would (and take GPU memory)
        "cuda": torch.cuda.get_rng_state_all() if torch.cuda.is_initialized() else [],
        "python": (version, torch.tensor(internal), gauss_next),  # 625 numbers as one tensor, not 625 objects to pickle
        "numpy": {**numpy_state, "state": {**numpy_state["state"], "key": key}},
    }


def set_random_state(state: dict, generator: torch.Generator) -> None:
    """Set every generator to what :func:`random_state` captured."""
    generator.set_state(state["pipeline"])
    torch.set_rng_state(state["torch"])
    for device, cuda_state in zip(range(torch.cuda.device_count()), state["cuda"]):
        torch.cuda.set_rng_state(cuda_state, device)
    version, internal, gauss_next = state["python"]
    random.setstate((version, tuple(internal.tolist()), gauss_next))
    numpy_state = state["numpy"]
    key = numpy_state["state"]["key"].numpy().astype(np.uint32)
    np.random.set_state({**numpy_state, "state": {**numpy_state["state"], "key": key}})

"""ASHA's rungs, and what each epoch of a trial trains on before the last one: a share of
the training data, or images of a lower resolution.

``scheduler: {type: asha, grace_period: g, reduction_factor: η}`` compares trials at the
epochs ``g, g·η, g·η², ...`` below ``train.epochs`` (:func:`rung_epochs`). With the default
fidelity (``epochs``) every epoch trains on the whole training split, so a trial stopped at
the first rung has cost ``g`` whole epochs: on a data set whose epoch takes minutes, a time
budget sees a handful of trials.

``fidelity: data_fraction`` makes the early rungs cheaper, as BOHB and Hyperband allow
budgets other than epochs: a trial trains on ``1/η`` of the data per rung still ahead of it
(:func:`data_fractions`). With ``g = 1, η = 3`` and 9 epochs (rungs at epochs 1 and 3), epoch 1
trains on 1/9 of the training split, epochs 2-3 on 1/3, epochs 4-9 on all of it: a trial stopped
at the first rung costs 1/9 of an epoch, one stopped at the second 7/9, and a trial that runs to
the end 6 7/9 epochs instead of 9. Every trial follows the same schedule, so trials compared at
a rung have trained on the same data; a trial that continues (or, with ``promotion: true``, is
resumed from its checkpoint) goes on onto more of it. Each share holds the one before it
(the trainer draws one fixed order of the split and takes its first part), so a promoted trial
sees more examples, not other ones.

``fidelity: resolution`` makes them cheaper the other way: every epoch sees all the data,
but before the last rung it trains and validates on images whose sides are scaled by
``sqrt(share)`` (:func:`resolution_scales`), so that their pixel count, which a conv net's
cost follows, is the share the epoch would get under ``data_fraction``: with ``η = 3`` the
shares 1/9, 1/3, 1 become side scales 1/3, 1/√3, 1. Validation is at the epoch's training
resolution, so trials compared at a rung are compared at the same resolution, and the last
epochs and the final value are at full resolution. The trainer resizes each batch after
its augmentations; the built-in one floors a scaled side at 8 pixels (or the image's own
side if smaller), so that a small image (digits' 8x8, MNIST's 28 at 1/3) still goes
through three 2x2 poolings to a 1x1 feature map instead of vanishing: such an epoch costs
more than its nominal share. Only a model that takes any input size can train so (global
pooling before its head); one sized for the full image is refused before the first trial
(the built-in trainer's check and probe), or fails before its first epoch. A value scored on
smaller images is not the config's at full resolution (it may be higher: downscaling
averages pixel noise away), so a complete trial's value is its last epoch's whatever
``study.objective`` says (``Spec.trial_objective``).

The records stay what they are: an intermediate value's step is the epoch it was reported
at, and the study stores the schedule with its search definition (``data_fraction``: the
share per epoch, or ``resolution``: the side scale per epoch), so a step says what it cost:
:func:`cost_in_epochs`, in epochs of the whole split at full resolution
(:func:`epoch_costs`), which the report plots the curves against.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

__all__ = ["FIDELITIES", "Fidelity", "cost_in_epochs", "data_fractions", "epoch_costs", "fidelity_of", "resolution_scales", "rung_epochs"]


def rung_epochs(grace_period: int, reduction_factor: int, max_t: int) -> list[int]:
    """The epochs at which ASHA compares trials: ``grace_period · η^k`` below ``max_t``."""
    rungs, epoch = [], grace_period
    while epoch < max_t:
        rungs.append(epoch)
        epoch *= reduction_factor
    return rungs


def data_fractions(grace_period: int, reduction_factor: int, epochs: int) -> tuple[float, ...]:
    """The share of the training split each epoch trains on, one per epoch from epoch 1:
    ``1/η^k`` where ``k`` rungs lie at or after the epoch (see module doc)."""
    rungs = rung_epochs(grace_period, reduction_factor, epochs)
    return tuple(1 / reduction_factor ** sum(rung >= epoch for rung in rungs) for epoch in range(1, epochs + 1))


def resolution_scales(grace_period: int, reduction_factor: int, epochs: int) -> tuple[float, ...]:
    """The scale of an image's side each epoch trains and validates at, one per epoch from
    epoch 1: the square root of :func:`data_fractions`, so that the pixels an epoch sees
    are the share of the data it would train on under ``data_fraction`` (see module doc)."""
    return tuple(math.sqrt(share) for share in data_fractions(grace_period, reduction_factor, epochs))


@dataclass(frozen=True)
class Fidelity:
    """A cheaper fidelity: what it makes of ASHA's rungs, what one epoch of it costs, and
    how hpo speaks of it. Its name in :data:`FIDELITIES` is also the trainer's keyword
    (hpo.contract) and the search definition's key the schedule is stored under."""

    schedule: Callable[[int, int, int], tuple[float, ...]]  # (grace_period, η, epochs) -> its value for each epoch
    cost: Callable[[float], float]  # an epoch's value -> what the epoch costs in full epochs (the whole split at full resolution)
    does: str  # what it does to the epochs before the last rung, for a refusal
    given: str  # what a trainer is given per epoch, for a refusal
    axis: str  # what the report's learning curves are plotted against


FIDELITIES: dict[str, Fidelity] = {
    "data_fraction": Fidelity(
        data_fractions,
        lambda share: share,
        does="trains the epochs before the last rung on a share of the data",
        given="one",
        axis="data seen (epochs of the whole training split: fidelity data_fraction)",
    ),
    "resolution": Fidelity(
        resolution_scales,
        lambda scale: scale * scale,
        does="trains and validates the epochs before the last rung on images of a lower resolution",
        given="a resolution",
        axis="cost (epochs at full resolution, an epoch costing its side scale squared: fidelity resolution)",
    ),
}


def fidelity_of(definition: Mapping[str, Any]) -> str | None:
    """The cheaper fidelity whose schedule a study's search definition stores; None: epochs."""
    return next((name for name in FIDELITIES if definition.get(name) is not None), None)


def epoch_costs(definition: Mapping[str, Any]) -> list[float] | None:
    """The cost of each epoch, in full epochs, of a study whose search definition is
    ``definition``; None when every epoch costs one (``fidelity: epochs``)."""
    name = fidelity_of(definition)
    if name is None:
        return None
    return [FIDELITIES[name].cost(value) for value in definition[name]]


def cost_in_epochs(costs: Sequence[float], epoch: int) -> float:
    """Full epochs (the whole training split at full resolution) a trial has cost by the end
    of ``epoch``, each epoch costing ``costs[epoch - 1]`` (:func:`epoch_costs`)."""
    return sum(costs[:epoch])

"""ASHA's rungs, and the share of the training data each epoch of a trial trains on.

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

The records stay what they are: an intermediate value's step is the epoch it was reported
at, and the study stores the schedule with its search definition (``data_fraction``: the
share per epoch), so a step says what it cost: :func:`data_seen`, in epochs of the whole
split, which the report plots the curves against.
"""

from __future__ import annotations

from collections.abc import Sequence

__all__ = ["data_fractions", "data_seen", "rung_epochs"]


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


def data_seen(fractions: Sequence[float], epoch: int) -> float:
    """Epochs' worth of the whole training split a trial has trained on by the end of ``epoch``."""
    return sum(fractions[:epoch])

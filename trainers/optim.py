"""Optimizers and learning-rate schedules, each from a registry.

    @register_optimizer("sgd")
    def sgd(config, groups) -> torch.optim.Optimizer

    @register_schedule("cosine")
    class Cosine(Schedule):
        def factor(self, epoch: float) -> float  # multiplier of the base rate, epoch in [0, epochs]

The loop sets each parameter group's rate by hand every step: base rate x warmup x schedule
factor. No torch scheduler objects, so any schedule composes with warmup and head_lr.
"""

from __future__ import annotations

import math

import torch
from torch import nn

from trainers.registry import Registry

__all__ = [
    "Schedule",
    "create_optimizer",
    "create_schedule",
    "list_optimizers",
    "list_schedules",
    "param_groups",
    "register_optimizer",
    "register_schedule",
]

# ----------------------------------------------------------------------------------------------
# Optimizers

_OPTIMIZERS = Registry("optimizer")
register_optimizer, list_optimizers = _OPTIMIZERS.register, _OPTIMIZERS.names


@register_optimizer("sgd")
def _sgd(c, groups):
    return torch.optim.SGD(groups, lr=c.lr, momentum=c.momentum, nesterov=c.nesterov, weight_decay=c.weight_decay)


@register_optimizer("adam")
def _adam(c, groups):
    return torch.optim.Adam(groups, lr=c.lr, betas=c.betas, weight_decay=c.weight_decay)


@register_optimizer("adamw")
def _adamw(c, groups):
    return torch.optim.AdamW(groups, lr=c.lr, betas=c.betas, weight_decay=c.weight_decay)


@register_optimizer("rmsprop")
def _rmsprop(c, groups):
    return torch.optim.RMSprop(groups, lr=c.lr, alpha=c.alpha, momentum=c.momentum, weight_decay=c.weight_decay)


@register_optimizer("adagrad")
def _adagrad(c, groups):
    return torch.optim.Adagrad(groups, lr=c.lr, weight_decay=c.weight_decay)


def param_groups(model: nn.Module, config) -> list[dict]:
    """The trainable parameters: one group, or body and head when `head_lr` is set.

    Each group keeps its base rate in `base_lr`; the loop multiplies it by the schedule.
    """
    trainable = [p for p in model.parameters() if p.requires_grad]
    if config.head_lr is None:
        return [{"params": trainable, "lr": config.lr, "base_lr": config.lr}]
    head_ids = {id(p) for p in model.get_submodule(model.head_name).parameters()}
    body = [p for p in trainable if id(p) not in head_ids]
    head = [p for p in trainable if id(p) in head_ids]
    groups = [{"params": head, "lr": config.head_lr, "base_lr": config.head_lr}]
    if body:  # everything but the head may be frozen
        groups.insert(0, {"params": body, "lr": config.lr, "base_lr": config.lr})
    return groups


def create_optimizer(model: nn.Module, config) -> torch.optim.Optimizer:
    """The optimizer of an optimizer config over the model's trainable parameters."""
    return _OPTIMIZERS.get(config.name)(config, param_groups(model, config))


# ----------------------------------------------------------------------------------------------
# Schedules


class Schedule:
    """Learning-rate multiplier as a function of (fractional) epoch, with linear warmup."""

    def __init__(self, config, epochs: int):
        self.c, self.epochs = config, epochs

    def factor(self, epoch: float) -> float:
        return 1.0

    def __call__(self, epoch: float) -> float:
        warmup = self.c.warmup_epochs
        ramp = min(1.0, epoch / warmup) if warmup else 1.0
        return ramp * self.factor(epoch)

    def end_of_epoch(self, val_acc: float) -> None:
        """Called after each epoch's evaluation (reduce-on-plateau listens here)."""


_SCHEDULES = Registry("schedule")
register_schedule, list_schedules = _SCHEDULES.register, _SCHEDULES.names


register_schedule("none")(Schedule)


def _cosine_between(start: float, end: float, t: float) -> float:
    """Half a cosine from start (t=0) to end (t=1)."""
    return end + (start - end) * 0.5 * (1 + math.cos(math.pi * t))


@register_schedule("cosine")
class Cosine(Schedule):
    def factor(self, epoch):
        return _cosine_between(1.0, self.c.min_lr_ratio, min(epoch / self.epochs, 1.0))


@register_schedule("onecycle")
class OneCycle(Schedule):
    """PyTorch's OneCycleLR (cosine annealing both ways) as a multiplier of the base rate."""

    def factor(self, epoch):
        c, t = self.c, min(epoch / self.epochs, 1.0)
        start, end = 1 / c.div_factor, 1 / (c.div_factor * c.final_div_factor)
        if t < c.pct_start:
            return _cosine_between(start, 1.0, t / c.pct_start)
        return _cosine_between(1.0, end, (t - c.pct_start) / (1 - c.pct_start))


@register_schedule("multistep")
class MultiStep(Schedule):
    """Multiply by gamma after each milestone epoch."""

    def factor(self, epoch):
        return self.c.gamma ** sum(epoch >= m for m in self.c.milestones)


@register_schedule("step")
class Step(Schedule):
    """Multiply by gamma every step_size epochs."""

    def factor(self, epoch):
        return self.c.gamma ** int(epoch // self.c.step_size)


@register_schedule("plateau")
class Plateau(Schedule):
    """Reduce on plateau (as PyTorch's ReduceLROnPlateau in max mode): multiply by `factor`
    when val_acc has not improved for more than `patience` epochs, down to min_lr_ratio."""

    def __init__(self, config, epochs):
        super().__init__(config, epochs)
        self.scale, self.best, self.bad = 1.0, -math.inf, 0

    def factor(self, epoch):
        return self.scale

    def end_of_epoch(self, val_acc):
        if val_acc > self.best:
            self.best, self.bad = val_acc, 0
            return
        self.bad += 1
        if self.bad > self.c.patience:
            self.scale, self.bad = max(self.scale * self.c.factor, self.c.min_lr_ratio), 0


def create_schedule(config, epochs: int) -> Schedule:
    return _SCHEDULES.get(config.name)(config, epochs)

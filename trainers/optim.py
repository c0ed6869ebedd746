"""Optimizers and learning-rate schedules, each from a registry with its config model.

    @register_optimizer("sgd", config=SgdOptimizer)
    def sgd(config, groups) -> torch.optim.Optimizer

    @register_schedule("cosine", config=CosineSchedule)
    class Cosine(Schedule):
        def factor(self, epoch: float) -> float  # multiplier of the base rate, epoch in [0, epochs]

The parameters train in groups, each with its own base rate: `lr` for all of them, or per
module with `group_lr` ({layer2: 1.0e-4, fc: 1.0e-2}) or `head_lr` (the head's). The loop sets
every group's rate by hand every step (`scale_lr`): base rate x warmup x schedule factor. No
torch scheduler objects, so any schedule composes with warmup and the groups.
"""

from __future__ import annotations

import math
from typing import Annotated, Any, Literal

import torch
from pydantic import BeforeValidator, Field, field_validator, model_validator
from torch import nn

from hpo.contract import StrictModel
from trainers.registry import Registry
from trainers.weights import ModuleNameError, find_module, head_name

__all__ = [
    "OPTIMIZERS",
    "SCHEDULES",
    "OptimizerBase",
    "Schedule",
    "ScheduleBase",
    "create_optimizer",
    "create_schedule",
    "list_optimizers",
    "list_schedules",
    "param_groups",
    "register_optimizer",
    "register_schedule",
    "scale_lr",
]

# ----------------------------------------------------------------------------------------------
# Optimizers

OPTIMIZERS = Registry("optimizer", default="adam")
register_optimizer, list_optimizers = OPTIMIZERS.register, OPTIMIZERS.names


def _dotted_keys(value: Any, prefix: str = "") -> Any:
    """{classifier: {head: 0.01}} -> {classifier.head: 0.01}: a nested mapping spells out a
    dotted module name, which is what a search space's path `optimizer.group_lr.classifier.head`
    writes."""
    if not isinstance(value, dict):
        return value
    flat: dict[Any, Any] = {}
    for key, item in value.items():
        nested = _dotted_keys(item, f"{prefix}{key}.") if isinstance(item, dict) else {f"{prefix}{key}": item}
        for name, rate in nested.items():
            if name in flat:
                raise ValueError(f"module '{name}' is given twice, as a dotted name and as nested keys")
            flat[name] = rate
    return flat


LearningRate = Annotated[float, Field(gt=0)]


class OptimizerBase(StrictModel):
    lr: float = Field(1e-3, gt=0)  # Adam's usual step size; for SGD try 0.01-0.1
    weight_decay: float = Field(0.0, ge=0)  # off, as in PyTorch's SGD and Adam
    head_lr: float | None = Field(None, gt=0)  # a separate rate for the model's head (fine-tuning)
    # rates of named modules (and their children), e.g. {layer2: 1.0e-4, fc: 1.0e-2}; the rest train at lr
    group_lr: Annotated[dict[str, LearningRate], BeforeValidator(_dotted_keys)] = {}

    @model_validator(mode="after")
    def _head_rate_once(self):
        if self.head_lr is not None and self.group_lr:
            raise ValueError(
                "head_lr and group_lr both set rates per module: give the head's rate in group_lr under "
                "its module name (fc for resnets, classifier.head for our models) instead of head_lr"
            )
        return self


class SgdOptimizer(OptimizerBase):
    name: Literal["sgd"] = "sgd"
    momentum: float = Field(0.9, ge=0, lt=1)  # the usual choice; 0 is plain SGD
    nesterov: bool = False

    @model_validator(mode="after")
    def _nesterov_needs_momentum(self):
        if self.nesterov and self.momentum == 0:
            raise ValueError("nesterov needs momentum > 0")
        return self


@register_optimizer("sgd", config=SgdOptimizer)
def _sgd(c, groups):
    return torch.optim.SGD(groups, lr=c.lr, momentum=c.momentum, nesterov=c.nesterov, weight_decay=c.weight_decay)


class AdamOptimizer(OptimizerBase):
    name: Literal["adam"] = "adam"
    betas: tuple[float, float] = (0.9, 0.999)  # PyTorch's defaults


@register_optimizer("adam", config=AdamOptimizer)
def _adam(c, groups):
    return torch.optim.Adam(groups, lr=c.lr, betas=c.betas, weight_decay=c.weight_decay)


class AdamwOptimizer(OptimizerBase):
    name: Literal["adamw"] = "adamw"
    betas: tuple[float, float] = (0.9, 0.999)
    weight_decay: float = Field(0.01, ge=0)  # decoupled decay; PyTorch's AdamW default


@register_optimizer("adamw", config=AdamwOptimizer)
def _adamw(c, groups):
    return torch.optim.AdamW(groups, lr=c.lr, betas=c.betas, weight_decay=c.weight_decay)


class RmspropOptimizer(OptimizerBase):
    name: Literal["rmsprop"] = "rmsprop"
    alpha: float = Field(0.99, gt=0, lt=1)  # smoothing of the squared-gradient average
    momentum: float = Field(0.0, ge=0, lt=1)


@register_optimizer("rmsprop", config=RmspropOptimizer)
def _rmsprop(c, groups):
    return torch.optim.RMSprop(groups, lr=c.lr, alpha=c.alpha, momentum=c.momentum, weight_decay=c.weight_decay)


class AdagradOptimizer(OptimizerBase):
    name: Literal["adagrad"] = "adagrad"
    lr: float = Field(1e-2, gt=0)  # PyTorch's default; Adagrad's steps shrink over time


@register_optimizer("adagrad", config=AdagradOptimizer)
def _adagrad(c, groups):
    return torch.optim.Adagrad(groups, lr=c.lr, weight_decay=c.weight_decay)


def param_groups(model: nn.Module, config) -> list[dict]:
    """The trainable parameters in groups: those outside every named module at `lr` (left
    out when there are none), then one group per module of `group_lr`, or the head's for
    `head_lr`. Frozen parameters are in no group.

    Each group keeps its base rate in `base_lr` (the loop multiplies it by the schedule) and
    its module in `name`. Weight decay is the optimizer's `weight_decay` in every group.
    A named module must exist, hold trainable parameters, and share none with another.
    """
    named = [("optimizer.group_lr", name, rate) for name, rate in config.group_lr.items()]
    if config.head_lr is not None:
        named.append(("optimizer.head_lr", head_name(model), config.head_lr))
    taken: dict[int, str] = {}
    groups = []
    for key, name, rate in named:
        params = [p for p in find_module(model, name, key).parameters() if p.requires_grad]
        if not params:
            raise ModuleNameError(key, f"module '{name}' has no trainable parameters (model.trainable or freeze_until freezes it)")
        shared = next((taken[id(p)] for p in params if id(p) in taken), None)
        if shared is not None:
            overlap = f"modules '{shared}' and '{name}' overlap (one holds the other)"
            raise ModuleNameError(key, f"{overlap}: name modules that give each parameter one rate")
        taken.update((id(p), name) for p in params)
        groups.append({"name": name, "params": params, "lr": rate, "base_lr": rate})
    rest = [p for p in model.parameters() if p.requires_grad and id(p) not in taken]
    if rest:
        groups.insert(0, {"name": "rest", "params": rest, "lr": config.lr, "base_lr": config.lr})
    return groups


def scale_lr(optimizer: torch.optim.Optimizer, factor: float) -> None:
    """Set every group's rate to its base rate times `factor` (warmup x schedule)."""
    for group in optimizer.param_groups:
        group["lr"] = group["base_lr"] * factor


def create_optimizer(model: nn.Module, config) -> torch.optim.Optimizer:
    """The optimizer of an optimizer config over the model's trainable parameters."""
    return OPTIMIZERS.get(config.name)(config, param_groups(model, config))


# ----------------------------------------------------------------------------------------------
# Schedules


class ScheduleBase(StrictModel):
    warmup_epochs: float = Field(0.0, ge=0)  # linear ramp from 0 to the full rate, in epochs


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

    def state_dict(self) -> dict:
        """What the schedule learnt from the epochs so far, for a resumed run: nothing for
        a function of the epoch alone."""
        return {}

    def load_state_dict(self, state: dict) -> None:
        """Go on from a :meth:`state_dict`."""


SCHEDULES = Registry("schedule", default="cosine")  # cosine anneals to 0 by the last epoch; rarely hurts
register_schedule, list_schedules = SCHEDULES.register, SCHEDULES.names


class NoSchedule(ScheduleBase):
    name: Literal["none"] = "none"


register_schedule("none", config=NoSchedule)(Schedule)


def _cosine_between(start: float, end: float, t: float) -> float:
    """Half a cosine from start (t=0) to end (t=1)."""
    return end + (start - end) * 0.5 * (1 + math.cos(math.pi * t))


class CosineSchedule(ScheduleBase):
    name: Literal["cosine"] = "cosine"
    min_lr_ratio: float = Field(0.0, ge=0, le=1)  # final rate as a share of the initial one


@register_schedule("cosine", config=CosineSchedule)
class Cosine(Schedule):
    def factor(self, epoch):
        return _cosine_between(1.0, self.c.min_lr_ratio, min(epoch / self.epochs, 1.0))


class OnecycleSchedule(ScheduleBase):
    """PyTorch's OneCycleLR: from lr/div_factor up to lr, then down to lr/div/final_div."""

    name: Literal["onecycle"] = "onecycle"
    pct_start: float = Field(0.3, gt=0, lt=1)  # share of training spent rising
    div_factor: float = Field(25.0, ge=1)
    final_div_factor: float = Field(1e4, ge=1)


@register_schedule("onecycle", config=OnecycleSchedule)
class OneCycle(Schedule):
    """PyTorch's OneCycleLR (cosine annealing both ways) as a multiplier of the base rate."""

    def factor(self, epoch):
        c, t = self.c, min(epoch / self.epochs, 1.0)
        start, end = 1 / c.div_factor, 1 / (c.div_factor * c.final_div_factor)
        if t < c.pct_start:
            return _cosine_between(start, 1.0, t / c.pct_start)
        return _cosine_between(1.0, end, (t - c.pct_start) / (1 - c.pct_start))


Decay = Annotated[float, Field(gt=0, le=1)]


class MultistepSchedule(ScheduleBase):
    name: Literal["multistep"] = "multistep"
    milestones: list[Annotated[int, Field(ge=1)]] = [30, 60, 90]  # epochs after which lr *= gamma
    gamma: Decay = 0.1

    @field_validator("milestones")
    @classmethod
    def _increasing(cls, milestones: list[int]) -> list[int]:
        if milestones != sorted(set(milestones)):
            raise ValueError(f"milestones {milestones} must be strictly increasing")
        return milestones


@register_schedule("multistep", config=MultistepSchedule)
class MultiStep(Schedule):
    """Multiply by gamma after each milestone epoch."""

    def factor(self, epoch):
        return self.c.gamma ** sum(epoch >= m for m in self.c.milestones)


class StepSchedule(ScheduleBase):
    name: Literal["step"] = "step"
    step_size: int = Field(10, ge=1)  # epochs between decays
    gamma: Decay = 0.1


@register_schedule("step", config=StepSchedule)
class Step(Schedule):
    """Multiply by gamma every step_size epochs."""

    def factor(self, epoch):
        return self.c.gamma ** int(epoch // self.c.step_size)


class PlateauSchedule(ScheduleBase):
    name: Literal["plateau"] = "plateau"
    factor: float = Field(0.1, gt=0, lt=1)
    patience: int = Field(3, ge=0)
    min_lr_ratio: float = Field(0.0, ge=0, le=1)  # never below this share of the initial rate


@register_schedule("plateau", config=PlateauSchedule)
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

    def state_dict(self):
        return {"scale": self.scale, "best": self.best, "bad": self.bad}

    def load_state_dict(self, state):
        self.scale, self.best, self.bad = state["scale"], state["best"], state["bad"]


def create_schedule(config, epochs: int) -> Schedule:
    return SCHEDULES.get(config.name)(config, epochs)

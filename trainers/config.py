"""The training config: one pydantic model, validated before anything runs.

A config is a plain nested dict, usually read from YAML::

    seed: 0
    data:      {name: cifar10, root: data, val_fraction: 0.1}
    model:     {name: cnn, channels: [32, 64, 128], kernel_sizes: [3, 3, 3]}
    optimizer: {name: adam, lr: 1.0e-3}
    schedule:  {name: cosine}
    augment:   [{random_crop: {padding: 4}}, hflip]
    batch_size: 64
    epochs: 30

Each section's fields are those of the config model registered with the builder it names,
beside that builder: data sets in trainers/data.py, models in trainers/models.py,
optimizers and schedules in trainers/optim.py, augmentations in trainers/augment.py. The
sections are made from those registries, and remade when an entry is registered later.

`validate_train_config(config)` returns a `TrainConfig` or raises `pydantic.ValidationError`
whose error locations are key paths into the input (`model.channels`, `augment.0.rotate`).
"""

from __future__ import annotations

import re
from typing import Annotated, Any, Union, cast

import pydantic
from pydantic import Discriminator, Field, Tag, field_validator

from hpo.contract import Mode, StrictModel, did_you_mean, validate_strict
from trainers.augment import AUGMENTS, AugmentParams
from trainers.cost import COST_METRICS
from trainers.data import DATASETS, DataBase
from trainers.models import MODELS, ModelBase
from trainers.optim import OPTIMIZERS, SCHEDULES, OptimizerBase, ScheduleBase
from trainers.registry import Registered, Registry

__all__ = [
    "AUGMENT_POLICIES",
    "AugmentOp",
    "METRICS",
    "DataConfig",
    "EarlyStopping",
    "ModelConfig",
    "OptimizerConfig",
    "ScheduleConfig",
    "TrainConfig",
    "augment_ops",
    "validate_train_config",
]

DataConfig = Annotated[DataBase, Registered(DATASETS.union)]
ModelConfig = Annotated[ModelBase, Registered(MODELS.union)]
OptimizerConfig = Annotated[OptimizerBase, Registered(OPTIMIZERS.union)]
ScheduleConfig = Annotated[ScheduleBase, Registered(SCHEDULES.union)]


# ----------------------------------------------------------------------------------------------
# Augmentations. In a config: a list of op names or {op: params}, {op: scalar} for the op's
# main parameter, or the name of a policy.

AUGMENT_POLICIES: dict[str, list] = {
    "none": [],
    "flip": ["hflip"],
    "basic": [{"random_crop": {"padding": 4}}, "hflip"],
    "jitter": ["hflip", {"color_jitter": {"brightness": 0.2, "contrast": 0.2}}, {"rotate": 10}],
    "strong": [
        {"random_crop": {"padding": 4}},
        "hflip",
        {"color_jitter": {"brightness": 0.3, "contrast": 0.3, "saturation": 0.3, "hue": 0.05}},
        {"rotate": 10},
        {"random_erasing": {"p": 0.5}},
    ],
}


def _augment_tag(value: Any) -> str | None:
    if isinstance(value, dict) and len(value) == 1:
        return next(iter(value))
    if isinstance(value, pydantic.BaseModel):
        return next(iter(type(value).model_fields))
    return None


def _augment_shorthand(value: Any) -> Any:
    """`hflip` -> {hflip: {}}; {rotate: 10} -> {rotate: {degrees: 10}}; {hflip: null} -> {hflip: {}}."""
    if isinstance(value, str):
        value = {value: {}}
    if not isinstance(value, dict) or len(value) != 1:
        raise ValueError(f"an augmentation is an op name or a one-key mapping {{op: params}}, got {value!r}")
    ((name, params),) = value.items()
    configs = AUGMENTS.configs()
    if name not in configs:
        raise ValueError(did_you_mean(str(name), list(configs), "augmentation"))
    if params is None:
        params = {}
    elif not isinstance(params, dict):
        field = getattr(configs[name], "shorthand", None)
        if field is None:
            raise ValueError(f"{name} takes a mapping of parameters, not {params!r}")
        params = {field: params}
    return {name: params}


def _augment_union() -> Any:
    """One op of the augmentation list: a one-key model {op name: the op's parameters}."""
    items = {
        # the field's name is the op's, known only at run time: the stubs cannot match it
        name: pydantic.create_model(f"{name}_item", __base__=StrictModel, **{name: (params, ...)})  # type: ignore[call-overload]
        for name, params in AUGMENTS.configs().items()
    }
    return Annotated[
        Union[tuple(Annotated[item, Tag(name)] for name, item in items.items())],  # noqa: UP007  (built at run time)
        Discriminator(_augment_tag),
        pydantic.BeforeValidator(_augment_shorthand),
    ]


AugmentOp = Annotated[StrictModel, Registered(_augment_union)]


def augment_ops(config: TrainConfig) -> list[tuple[str, AugmentParams]]:
    """The augmentation list as (op name, params) pairs."""
    return [(name, getattr(item, name)) for item in config.augment for name in type(item).model_fields]


# ----------------------------------------------------------------------------------------------
# The training config


def _default(registry: Registry) -> Any:
    """The config of a registry's default entry, with every field at its default."""
    return registry.config(cast(str, registry.default))()  # every registry passed here has one


class EarlyStopping(StrictModel):
    patience: int = Field(5, ge=1)  # epochs without a better val_acc before stopping
    min_delta: float = Field(0.0, ge=0)  # an improvement smaller than this does not count
    min_epochs: int = Field(0, ge=0)  # never stop before this epoch


class TrainConfig(StrictModel):
    seed: int = 0  # seeds weights, the validation split, shuffling and augmentation
    data: DataConfig = _default(DATASETS)
    model: ModelConfig = _default(MODELS)
    optimizer: OptimizerConfig = _default(OPTIMIZERS)
    schedule: ScheduleConfig = _default(SCHEDULES)
    augment: list[AugmentOp] = []  # none by default: what helps depends on the data
    batch_size: int = Field(64, ge=1)  # 64-128 train well on CIFAR-sized images
    epochs: int = Field(30, ge=1)  # an upper bound; early stopping or the scheduler may end sooner
    early_stopping: EarlyStopping | None = None  # None: always run every epoch
    label_smoothing: float = Field(0.0, ge=0, lt=1)  # share of the target spread over all classes
    grad_clip: float = Field(0.0, ge=0)  # max gradient norm, or 0 to disable
    device: str = "auto"  # auto (cuda if available, else cpu) | cpu | cuda | cuda:N

    @field_validator("augment", mode="before")
    @classmethod
    def _policy(cls, value: Any) -> Any:
        if value is None:
            return []
        if isinstance(value, str):
            if value not in AUGMENT_POLICIES:
                raise ValueError(did_you_mean(value, list(AUGMENT_POLICIES), "augment policy"))
            return AUGMENT_POLICIES[value]
        return value

    @field_validator("device")
    @classmethod
    def _device(cls, value: str) -> str:
        if not re.fullmatch(r"auto|cpu|cuda(:\d+)?", value):
            raise ValueError(f"device '{value}' must be auto, cpu, cuda or cuda:N")
        return value


def _rebuild() -> None:
    TrainConfig.model_rebuild(force=True)


for registry in (DATASETS, MODELS, OPTIMIZERS, SCHEDULES, AUGMENTS):
    registry.watch(_rebuild)  # an entry registered after this module still validates


METRICS: dict[str, Mode] = {"val_acc": "max", "val_loss": "min", "train_acc": "max", "train_loss": "min", **COST_METRICS}
"""What `trainers.loop.train` reports each epoch, with the direction that is better; the first
is a spec's default `study.metric`. The model's cost (trainers.cost) is measured once and
reported with every epoch: a second objective (`metric: [val_acc, params]`) or a constraint."""


def validate_train_config(config: dict) -> TrainConfig:
    """Validate a training config dict; raises pydantic.ValidationError with input key paths."""
    return validate_strict(TrainConfig, config)

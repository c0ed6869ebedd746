"""The training config: one pydantic model, validated before anything runs.

Pure pydantic (no torch import): the command line imports this module at start-up.

A config is a plain nested dict, usually read from YAML::

    seed: 0
    data:      {name: cifar10, root: data, val_fraction: 0.1}
    model:     {name: cnn, channels: [32, 64, 128], kernel_sizes: [3, 3, 3]}
    optimizer: {name: adam, lr: 1.0e-3}
    schedule:  {name: cosine}
    augment:   [{random_crop: {padding: 4}}, hflip]
    batch_size: 64
    epochs: 30

`validate_train_config(config)` returns a `TrainConfig` or raises `pydantic.ValidationError`
whose error locations are key paths into the input (`model.channels`, `augment.0.rotate`).
"""

from __future__ import annotations

import re
from typing import Annotated, Any, ClassVar, Literal, Union

import pydantic
from pydantic import Discriminator, Field, Tag, field_validator, model_validator

from hpo.contract import StrictModel, did_you_mean, validate_strict

__all__ = [
    "AUGMENT_PARAMS",
    "AUGMENT_POLICIES",
    "DATASET_SHAPES",
    "METRICS",
    "DataConfig",
    "ModelConfig",
    "OptimizerConfig",
    "ScheduleConfig",
    "TrainConfig",
    "dataset_shape",
    "validate_train_config",
]


def _named_union(kind: str, classes: list[type[StrictModel]], default: str):
    """A union of config models told apart by their `name` field, with a clear unknown-name error.

    A mapping without `name` gets `default`; an unknown name lists the valid ones.
    """
    names = [c.model_fields["name"].default for c in classes]

    def tag(value: Any) -> str | None:
        name = value.get("name", default) if isinstance(value, dict) else getattr(value, "name", None)
        return name

    def check(value: Any) -> Any:
        if isinstance(value, str):  # `model: cnn` is short for `model: {name: cnn}`
            value = {"name": value}
        if isinstance(value, dict) and value.get("name", default) not in names:
            raise ValueError(did_you_mean(str(value.get("name")), names, f"{kind} name"))
        return value

    union = Annotated[
        Union[tuple(Annotated[c, Tag(n)] for c, n in zip(classes, names))],  # noqa: UP007  (built at run time)
        Discriminator(tag),
    ]
    return Annotated[union, pydantic.BeforeValidator(check)]


# ----------------------------------------------------------------------------------------------
# Data sets

# (channels, height, width, classes) of each data set as its publisher distributes it.
DATASET_SHAPES: dict[str, tuple[int, int, int, int]] = {
    "digits": (1, 8, 8, 10),
    "mnist": (1, 28, 28, 10),
    "fashion_mnist": (1, 28, 28, 10),
    "cifar10": (3, 32, 32, 10),
    "cifar100": (3, 32, 32, 100),
    "stl10": (3, 96, 96, 10),
}

STL10_CLASSES = ("airplane", "bird", "car", "cat", "deer", "dog", "horse", "monkey", "ship", "truck")


class _DataBase(StrictModel):
    root: str = "data"  # folder holding the publishers' files (see trainers/data.py)
    val_fraction: float | None = Field(0.1, gt=0, lt=1)  # share of train held out for validation
    val_size: int | None = Field(None, ge=1)  # or an exact count (e.g. 5000); not both

    @model_validator(mode="after")
    def _one_val_split(self):
        if self.val_size is not None:
            if "val_fraction" in self.model_fields_set and self.val_fraction is not None:
                raise ValueError("give val_fraction or val_size, not both")
            self.val_fraction = None
        elif self.val_fraction is None:
            raise ValueError("give val_fraction or val_size")
        return self


def _variant(base: type[StrictModel], name: str, doc: str = "") -> type[StrictModel]:
    """A config model that is `base` with `name: Literal[name]`, for kinds without own fields."""
    cls = pydantic.create_model(
        "".join(part.title() for part in name.split("_")) + base.__name__.lstrip("_").replace("Base", ""),
        __base__=base,
        __doc__=doc or None,
        name=(Literal[name], name),
    )
    cls.__module__ = __name__
    return cls


DigitsData = _variant(_DataBase, "digits", "scikit-learn's 1797 8x8 digits: the data set that needs no files.")
MnistData, FashionMnistData, Cifar10Data, Cifar100Data = (
    _variant(_DataBase, name) for name in ("mnist", "fashion_mnist", "cifar10", "cifar100")
)


class Stl10Data(_DataBase):
    name: Literal["stl10"] = "stl10"
    classes: list[str] | None = None  # a subset by name, e.g. [car, deer, horse, monkey, truck]

    @field_validator("classes")
    @classmethod
    def _known_classes(cls, classes: list[str] | None) -> list[str] | None:
        if classes is not None:
            if len(classes) < 2:
                raise ValueError("a class subset needs at least 2 classes")
            for c in classes:
                if c not in STL10_CLASSES:
                    raise ValueError(did_you_mean(c, STL10_CLASSES, "stl10 class"))
            if len(set(classes)) != len(classes):
                raise ValueError("classes has duplicates")
        return classes


class SyntheticData(_DataBase):
    name: Literal["synthetic"] = "synthetic"
    shape: tuple[int, int, int] = (3, 32, 32)  # channels, height, width
    num_classes: int = Field(10, ge=2)
    size: int = Field(1000, ge=2)  # training images (validation is carved from these)
    test_size: int = Field(200, ge=1)  # held-out test images
    noise: float = Field(0.5, ge=0)  # pixel noise relative to the class patterns; higher is harder
    seed: int = 0  # the data are a function of this seed alone

    @field_validator("shape")
    @classmethod
    def _positive_shape(cls, shape: tuple[int, int, int]) -> tuple[int, int, int]:
        if min(shape) < 1:
            raise ValueError(f"shape {list(shape)} must be positive [channels, height, width]")
        return shape


DataConfig = _named_union(
    "data set",
    [DigitsData, MnistData, FashionMnistData, Cifar10Data, Cifar100Data, Stl10Data, SyntheticData],
    default="digits",
)


def dataset_shape(data: Any) -> tuple[int, int, int, int]:
    """(channels, height, width, num_classes) of a data config (dict or model), without disk."""
    if isinstance(data, dict):
        data = pydantic.TypeAdapter(DataConfig).validate_python(data)
    if isinstance(data, SyntheticData):
        return (*data.shape, data.num_classes)
    c, h, w, k = DATASET_SHAPES[data.name]
    if isinstance(data, Stl10Data) and data.classes:
        k = len(data.classes)
    return c, h, w, k


# ----------------------------------------------------------------------------------------------
# Models. Each has its own fields; `pretrained`/`freeze_until` work for all of them.


class _ModelBase(StrictModel):
    pretrained: str | None = None  # local state_dict file (torch.save); None: random init
    freeze_until: str | None = None  # freeze parameters up to and including this module (layer3)


def _same_length(values: list | None, channels: list[int], what: str) -> None:
    if values is not None and len(values) != len(channels):
        raise ValueError(f"{what} has {len(values)} entries but channels has {len(channels)}: give one per layer")


class MlpModel(_ModelBase):
    name: Literal["mlp"] = "mlp"
    hidden: list[Annotated[int, Field(ge=1)]] = [512, 256]  # hidden layer widths, input first
    batch_norm: bool = False  # BatchNorm1d after each hidden layer (report 001: +1-2% on MNIST)
    dropout: float = Field(0.0, ge=0, lt=1)  # before each hidden and output layer


class Lenet5Model(_ModelBase):
    name: Literal["lenet5"] = "lenet5"
    activation: Literal["relu", "tanh"] = "relu"  # the paper used tanh; relu trains faster
    pool: Literal["max", "avg"] = "max"  # the paper subsampled by averaging
    batch_norm: bool = False  # plain LeNet-5 has none


class CnnModel(_ModelBase):
    """conv(k, stride, dilation) -> [batch norm] -> relu -> [pool 2x2] per entry of `channels`,
    then flatten (or global average pool) and fully connected `hidden` layers."""

    name: Literal["cnn"] = "cnn"
    channels: list[Annotated[int, Field(ge=1)]] = [32, 64, 128]  # report 003's 3-layer CNN
    kernel_sizes: list[Annotated[int, Field(ge=1)]] | None = None  # default 3 for every layer
    strides: list[Annotated[int, Field(ge=1)]] | None = None  # default 1 for every layer
    dilations: list[Annotated[int, Field(ge=1)]] | None = None  # default 1 for every layer
    pool: Literal["max", "avg", "none"] = "max"  # 2x2 pooling after every conv layer
    batch_norm: bool = True  # report 003: faster, more accurate training
    conv_dropout: float = Field(0.0, ge=0, lt=1)  # Dropout2d after each conv block
    dropout: float = Field(0.0, ge=0, lt=1)  # before each fully connected layer
    hidden: list[Annotated[int, Field(ge=1)]] = [512, 128]  # fully connected widths before the head
    global_pool: bool = False  # average each feature map to 1x1 instead of flattening

    @model_validator(mode="after")
    def _one_per_layer(self):
        _same_length(self.kernel_sizes, self.channels, "kernel_sizes")
        _same_length(self.strides, self.channels, "strides")
        _same_length(self.dilations, self.channels, "dilations")
        return self


class Convnet5Model(_ModelBase):
    """Report 000's CIFAR-100 network: a stride-3 stem, four conv blocks doubling the width
    (max pool after blocks 2-4, global average pool after 5), then 3 linear layers."""

    name: Literal["convnet5"] = "convnet5"
    width: int = Field(64, ge=1)  # stem channels; each later block doubles them (64 -> 1024)
    stem_stride: int = Field(3, ge=1)  # 3 turns a 96x96 input back into 32x32 after the stem
    hidden: int = Field(512, ge=1)  # the two hidden linear layers
    dropout: float = Field(0.5, ge=0, lt=1)  # before the last linear layer only (report 000)


class VggModel(_ModelBase):
    """VGG-style stages of `convs_per_stage` 3x3 conv-bn-relu (report 004: 4 stages, 2 convs,
    max pool after the first 3, global average pool, one hidden linear layer)."""

    name: Literal["vgg"] = "vgg"
    stages: list[Annotated[int, Field(ge=1)]] = [64, 128, 256, 512]  # channels of each stage
    convs_per_stage: int = Field(2, ge=1)
    pool_after: list[bool] | None = None  # max pool after stage i; default all but the last
    batch_norm: bool = True
    hidden: list[Annotated[int, Field(ge=1)]] = [4096]  # report 004 dropped VGG's middle FC
    dropout: float = Field(0.2, ge=0, lt=1)  # before each linear layer

    @model_validator(mode="after")
    def _one_per_stage(self):
        if self.pool_after is not None and len(self.pool_after) != len(self.stages):
            raise ValueError(f"pool_after has {len(self.pool_after)} entries but stages has {len(self.stages)}")
        return self


class VitModel(_ModelBase):
    """A small vision transformer (report 002: 6 layers, 4x4 patches)."""

    name: Literal["vit"] = "vit"
    patch_size: int = Field(4, ge=1)  # 32x32 images -> 64 tokens
    dim: int = Field(64, ge=1)  # token width
    depth: int = Field(6, ge=1)  # encoder layers
    heads: int = Field(4, ge=1)  # must divide dim
    mlp_ratio: float = Field(2.0, gt=0)  # feed-forward width = mlp_ratio * dim
    dropout: float = Field(0.0, ge=0, lt=1)

    @model_validator(mode="after")
    def _heads_divide_dim(self):
        if self.dim % self.heads:
            raise ValueError(f"heads ({self.heads}) must divide dim ({self.dim})")
        return self


class _TorchvisionModel(_ModelBase):
    """A torchvision architecture (weights=None) with a new head for the data set's classes."""

    head_hidden: list[Annotated[int, Field(ge=1)]] = []  # hidden layers of the new head (report 001)
    head_dropout: float = Field(0.0, ge=0, lt=1)  # before each layer of the new head


TORCHVISION_MODELS = ("resnet18", "resnet50", "vgg16", "alexnet", "mobilenet_v3_small", "efficientnet_v2_s")
_TORCHVISION_CONFIGS = [_variant(_TorchvisionModel, name) for name in TORCHVISION_MODELS]

MODEL_CONFIGS: list[type[_ModelBase]] = [
    MlpModel,
    Lenet5Model,
    CnnModel,
    Convnet5Model,
    VggModel,
    VitModel,
    *_TORCHVISION_CONFIGS,
]
ModelConfig = _named_union("model", MODEL_CONFIGS, default="cnn")


# ----------------------------------------------------------------------------------------------
# Optimizers


class _OptimizerBase(StrictModel):
    lr: float = Field(1e-3, gt=0)  # Adam's usual step size; for SGD try 0.01-0.1
    weight_decay: float = Field(0.0, ge=0)  # report 002: any L2 hurt that CNN, so off by default
    head_lr: float | None = Field(None, gt=0)  # a separate rate for the model's head (fine-tuning)


class SgdOptimizer(_OptimizerBase):
    name: Literal["sgd"] = "sgd"
    momentum: float = Field(0.9, ge=0, lt=1)  # the usual choice; 0 is plain SGD
    nesterov: bool = False

    @model_validator(mode="after")
    def _nesterov_needs_momentum(self):
        if self.nesterov and self.momentum == 0:
            raise ValueError("nesterov needs momentum > 0")
        return self


class AdamOptimizer(_OptimizerBase):
    name: Literal["adam"] = "adam"
    betas: tuple[float, float] = (0.9, 0.999)  # PyTorch's defaults


class AdamwOptimizer(_OptimizerBase):
    name: Literal["adamw"] = "adamw"
    betas: tuple[float, float] = (0.9, 0.999)
    weight_decay: float = Field(0.01, ge=0)  # decoupled decay; PyTorch's AdamW default


class RmspropOptimizer(_OptimizerBase):
    name: Literal["rmsprop"] = "rmsprop"
    alpha: float = Field(0.99, gt=0, lt=1)  # smoothing of the squared-gradient average
    momentum: float = Field(0.0, ge=0, lt=1)


class AdagradOptimizer(_OptimizerBase):
    name: Literal["adagrad"] = "adagrad"
    lr: float = Field(1e-2, gt=0)  # PyTorch's default; Adagrad's steps shrink over time


OptimizerConfig = _named_union(
    "optimizer",
    [SgdOptimizer, AdamOptimizer, AdamwOptimizer, RmspropOptimizer, AdagradOptimizer],
    default="adam",
)


# ----------------------------------------------------------------------------------------------
# Learning-rate schedules (all may start with a linear warmup)


class _ScheduleBase(StrictModel):
    warmup_epochs: float = Field(0.0, ge=0)  # linear ramp from 0 to the full rate, in epochs


class NoSchedule(_ScheduleBase):
    name: Literal["none"] = "none"


class CosineSchedule(_ScheduleBase):
    name: Literal["cosine"] = "cosine"
    min_lr_ratio: float = Field(0.0, ge=0, le=1)  # final rate as a share of the initial one


class OnecycleSchedule(_ScheduleBase):
    """PyTorch's OneCycleLR: from lr/div_factor up to lr, then down to lr/div/final_div."""

    name: Literal["onecycle"] = "onecycle"
    pct_start: float = Field(0.3, gt=0, lt=1)  # share of training spent rising
    div_factor: float = Field(25.0, ge=1)
    final_div_factor: float = Field(1e4, ge=1)


class MultistepSchedule(_ScheduleBase):
    name: Literal["multistep"] = "multistep"
    milestones: list[Annotated[int, Field(ge=1)]] = [30, 60, 90]  # epochs after which lr *= gamma
    gamma: float = Field(0.1, gt=0, le=1)

    @field_validator("milestones")
    @classmethod
    def _increasing(cls, milestones: list[int]) -> list[int]:
        if milestones != sorted(set(milestones)):
            raise ValueError(f"milestones {milestones} must be strictly increasing")
        return milestones


class StepSchedule(_ScheduleBase):
    name: Literal["step"] = "step"
    step_size: int = Field(10, ge=1)  # epochs between decays
    gamma: float = Field(0.1, gt=0, le=1)


class PlateauSchedule(_ScheduleBase):
    """Multiply the rate by `factor` when val_acc has not improved for `patience` epochs."""

    name: Literal["plateau"] = "plateau"
    factor: float = Field(0.1, gt=0, lt=1)  # report 004
    patience: int = Field(3, ge=0)  # report 004
    min_lr_ratio: float = Field(0.0, ge=0, le=1)  # never below this share of the initial rate


ScheduleConfig = _named_union(
    "schedule",
    [NoSchedule, CosineSchedule, OnecycleSchedule, MultistepSchedule, StepSchedule, PlateauSchedule],
    default="cosine",
)


# ----------------------------------------------------------------------------------------------
# Augmentations: parameters of each op (the ops themselves live in trainers/augment.py).
# In a config: a list of op names or {op: params}, {op: scalar} for the op's main parameter,
# or the name of a policy below.

Range = tuple[float, float]


class _Augment(StrictModel):
    shorthand: ClassVar[str | None] = None  # the field a scalar sets: {rotate: 10}


def _ordered_range(value: Range) -> Range:
    if value[0] > value[1]:
        raise ValueError(f"range {list(value)} must be [low, high] with low <= high")
    return value


OrderedRange = Annotated[Range, pydantic.AfterValidator(_ordered_range)]
Probability = Annotated[float, Field(ge=0, le=1)]


class RandomCropAug(_Augment):
    shorthand = "padding"
    padding: int = Field(4, ge=0)  # pad each side with zeros, then crop back (report 003)
    size: int | None = Field(None, ge=1)  # output side; default the input side (center crop in eval)


class RandomResizedCropAug(_Augment):
    shorthand = "size"
    size: int | None = Field(None, ge=1)  # output side; default the input side
    scale: OrderedRange = (0.25, 1.0)  # area share; ImageNet's 0.08 loses small images' object
    ratio: OrderedRange = (3 / 4, 4 / 3)  # aspect ratio range


class FlipAug(_Augment):
    shorthand = "p"
    p: Probability = 0.5


class ColorJitterAug(_Augment):
    brightness: float = Field(0.2, ge=0)  # factor drawn from [1 - b, 1 + b]
    contrast: float = Field(0.2, ge=0)
    saturation: float = Field(0.2, ge=0)
    hue: float = Field(0.0, ge=0, le=0.5)  # shift drawn from [-hue, hue] of a full turn


class RotateAug(_Augment):
    shorthand = "degrees"
    degrees: float = Field(10.0, ge=0)  # angle drawn from [-degrees, degrees] (report 002)


class AffineAug(_Augment):
    degrees: float = Field(0.0, ge=0)
    translate: tuple[Probability, Probability] = (0.1, 0.1)  # max shift as a share of width/height
    scale: OrderedRange = (0.9, 1.1)
    shear: float = Field(0.0, ge=0)  # degrees


class PerspectiveAug(_Augment):
    shorthand = "distortion"
    distortion: Probability = 0.5  # torchvision's distortion_scale
    p: Probability = 0.5


class RandomErasingAug(_Augment):
    shorthand = "p"
    p: Probability = 0.5
    scale: OrderedRange = (0.02, 0.33)  # erased area share (torchvision's defaults)
    ratio: OrderedRange = (0.3, 3.3)
    value: Probability = 0.5  # fill, as a share of full intensity: mid-gray is near the mean


class CutoutAug(_Augment):
    shorthand = "size"
    size: int = Field(8, ge=1)  # side of the square, centered anywhere, clipped at the borders
    p: Probability = 1.0
    value: Probability = 0.5


class GrayscaleAug(_Augment):
    shorthand = "p"
    p: Probability = 0.1  # torchvision's RandomGrayscale default


class ResizeAug(_Augment):
    shorthand = "size"
    size: int = Field(..., ge=1)  # output side (e.g. 96, 128, 224); in training and evaluation


AUGMENT_PARAMS: dict[str, type[_Augment]] = {
    "random_crop": RandomCropAug,
    "random_resized_crop": RandomResizedCropAug,
    "hflip": FlipAug,
    "vflip": FlipAug,
    "color_jitter": ColorJitterAug,
    "rotate": RotateAug,
    "affine": AffineAug,
    "perspective": PerspectiveAug,
    "random_erasing": RandomErasingAug,
    "cutout": CutoutAug,
    "grayscale": GrayscaleAug,
    "resize": ResizeAug,
}

AUGMENT_POLICIES: dict[str, list] = {
    "none": [],
    "flip": ["hflip"],
    "basic": [{"random_crop": {"padding": 4}}, "hflip"],  # report 003
    "jitter": ["hflip", {"color_jitter": {"brightness": 0.2, "contrast": 0.2}}, {"rotate": 10}],
    "strong": [
        {"random_crop": {"padding": 4}},
        "hflip",
        {"color_jitter": {"brightness": 0.3, "contrast": 0.3, "saturation": 0.3, "hue": 0.05}},
        {"rotate": 10},
        {"random_erasing": {"p": 0.5}},
    ],
}


def _augment_item(name: str, params: type[_Augment]):
    return pydantic.create_model(f"{name}_item", __base__=StrictModel, **{name: (params, ...)})


_AUGMENT_ITEMS = {name: _augment_item(name, p) for name, p in AUGMENT_PARAMS.items()}


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
    if name not in AUGMENT_PARAMS:
        raise ValueError(did_you_mean(str(name), list(AUGMENT_PARAMS), "augmentation"))
    if params is None:
        params = {}
    elif not isinstance(params, dict):
        field = AUGMENT_PARAMS[name].shorthand
        if field is None:
            raise ValueError(f"{name} takes a mapping of parameters, not {params!r}")
        params = {field: params}
    return {name: params}


AugmentOp = Annotated[
    Union[tuple(Annotated[item, Tag(name)] for name, item in _AUGMENT_ITEMS.items())],  # noqa: UP007  (built at run time)
    Discriminator(_augment_tag),
    pydantic.BeforeValidator(_augment_shorthand),
]


def augment_ops(config: TrainConfig) -> list[tuple[str, _Augment]]:
    """The augmentation list as (op name, params) pairs."""
    return [(name, getattr(item, name)) for item in config.augment for name in type(item).model_fields]


# ----------------------------------------------------------------------------------------------
# The training config


class EarlyStopping(StrictModel):
    patience: int = Field(5, ge=1)  # epochs without a better val_acc before stopping (report 003)
    min_delta: float = Field(0.0, ge=0)  # an improvement smaller than this does not count
    min_epochs: int = Field(0, ge=0)  # never stop before this epoch (report 002: 30)


class TrainConfig(StrictModel):
    seed: int = 0  # seeds weights, the validation split, shuffling and augmentation
    data: DataConfig = DigitsData()  # digits ship with scikit-learn: runs with no files
    model: ModelConfig = CnnModel()
    optimizer: OptimizerConfig = AdamOptimizer()
    schedule: ScheduleConfig = CosineSchedule()  # anneals to 0 by the last epoch; rarely hurts
    augment: list[AugmentOp] = []  # none by default: what helps depends on the data
    batch_size: int = Field(64, ge=1)  # reports 002/003: 64-128 train well on CIFAR-sized images
    epochs: int = Field(30, ge=1)  # an upper bound; early stopping or the scheduler may end sooner
    early_stopping: EarlyStopping | None = None  # None: always run every epoch
    label_smoothing: float = Field(0.0, ge=0, lt=1)  # report 004 used 0.1
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


METRICS = {"val_acc": "max", "val_loss": "min", "train_acc": "max", "train_loss": "min"}
"""What `trainers.loop.train` reports each epoch, with the direction that is better; the first
is a spec's default `study.metric`."""


def validate_train_config(config: dict) -> TrainConfig:
    """Validate a training config dict; raises pydantic.ValidationError with input key paths."""
    return validate_strict(TrainConfig, config)

"""Models: one registry of builders, each registered with its config model.

    class CnnModel(ModelBase):
        name: Literal["cnn"] = "cnn"
        ...

    @register_model("cnn", config=CnnModel)
    def cnn(config, in_shape, num_classes) -> nn.Module

Every model's last module is its classification head, registered as `model.head_name`
(a dotted module path: "head" for ours, "fc" for resnets...). That gives, for any model,
the head's parameters (for `optimizer.head_lr`) and its penultimate features (`features`).
`create_model` also loads `pretrained` weights and freezes what `freeze_until` or `trainable`
say (trainers/weights.py).
"""

from __future__ import annotations

from collections import OrderedDict
from typing import Annotated, Literal

import torch
from pydantic import Field, model_validator
from torch import nn

from hpo.contract import StrictModel
from trainers.registry import Registry, variant
from trainers.weights import (
    ModuleNameError,
    PretrainedWeightsError,
    check_pretrained,
    freeze_all_but,
    freeze_until,
    head_name,
    load_pretrained,
)

__all__ = [
    "MODELS",
    "ModelBase",
    "ModuleNameError",
    "PretrainedWeightsError",
    "check_pretrained",
    "create_model",
    "features",
    "head",
    "head_name",
    "list_models",
    "register_model",
]

MODELS = Registry("model", default="cnn")  # name -> build(config, in_shape, num_classes) -> nn.Module
register_model, list_models = MODELS.register, MODELS.names

Width = Annotated[int, Field(ge=1)]
Rate = Annotated[float, Field(ge=0, lt=1)]
# what a model sized for the full image can be replaced with to train on smaller images
_POOLING_MODELS = "use a model with global pooling (cnn with global_pool: true, convnet5, vgg, resnet18...)"


class ModelBase(StrictModel):
    """What every model's config has: weights to start from and a part to keep fixed.

    `freeze_until` freezes a prefix of the model; `trainable` names the modules that train
    (with their children) and freezes the rest, wherever it lies. They say the same thing two
    ways, so a config gives at most one. Frozen batch norm layers keep their running
    statistics (trainers/weights.py, `train_mode`).
    """

    pretrained: str | None = None  # local state_dict file (torch.save); None: random init
    freeze_until: str | None = None  # freeze parameters up to and including this module (layer3)
    trainable: list[Annotated[str, Field(min_length=1)]] | None = Field(None, min_length=1)  # only these train: [layer2, fc]

    @model_validator(mode="after")
    def _one_way_to_freeze(self):
        if self.freeze_until is not None and self.trainable is not None:
            raise ValueError(
                f"freeze_until ({self.freeze_until}) and trainable ({', '.join(self.trainable)}) both say what trains: "
                "give freeze_until to freeze a prefix of the model, or trainable to name the modules that train, not both"
            )
        if self.trainable is not None and len(set(self.trainable)) < len(self.trainable):
            raise ValueError(f"trainable names a module twice: {self.trainable}")
        return self

    def fixed_input_size(self) -> str | None:
        """Why the model can only take the image size it was built for, and what to change;
        None when it takes any size (global pooling before its head), as training on smaller
        images (hpo's ``fidelity: resolution``) needs. The torchvision models all pool."""
        return None


def head(model: nn.Module) -> nn.Module:
    """The classification head (last module) of a model built here."""
    return model.get_submodule(head_name(model))


def features(model: nn.Module, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """(penultimate features, logits) of a batch: the head's input, caught by a forward hook."""
    caught = []
    hook = head(model).register_forward_pre_hook(lambda module, args: caught.append(args[0]))
    try:
        logits = model(x)
    finally:
        hook.remove()
    return caught[0].flatten(1), logits


def _mlp_layers(sizes: list[int], num_classes: int, dropout: float, batch_norm: bool = False) -> nn.Sequential:
    """Linear -> [BatchNorm1d] -> ReLU for each pair of sizes; the last Linear is named 'head'."""
    layers: list[tuple[str, nn.Module]] = []
    for i, (a, b) in enumerate(zip(sizes, sizes[1:])):
        if dropout:
            layers.append((f"drop{i}", nn.Dropout(dropout)))
        layers.append((f"fc{i}", nn.Linear(a, b)))
        if batch_norm:
            layers.append((f"bn{i}", nn.BatchNorm1d(b)))
        layers.append((f"relu{i}", nn.ReLU(inplace=True)))
    if dropout:
        layers.append(("drop", nn.Dropout(dropout)))
    layers.append(("head", nn.Linear(sizes[-1], num_classes)))
    return nn.Sequential(OrderedDict(layers))


class Net(nn.Module):
    """A feature extractor `body` (conv layers, or Identity) then an MLP `classifier` whose last
    Linear is the head. The body's output is flattened."""

    head_name = "classifier.head"

    def __init__(
        self,
        body: nn.Module,
        in_shape: tuple[int, int, int],
        hidden: list[int],
        num_classes: int,
        dropout: float = 0.0,
        batch_norm: bool = False,
    ):
        super().__init__()
        self.body = body
        with torch.no_grad():  # the flattened width, from a dummy forward pass
            width = body.eval()(torch.zeros(1, *in_shape)).flatten(1).shape[1]
        body.train()
        self.classifier = _mlp_layers([width, *hidden], num_classes, dropout, batch_norm)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.classifier(self.body(x).flatten(1))


# ----------------------------------------------------------------------------------------------
# Our models


class MlpModel(ModelBase):
    name: Literal["mlp"] = "mlp"
    hidden: list[Width] = [512, 256]  # hidden layer widths, input first
    batch_norm: bool = False  # BatchNorm1d after each hidden layer
    dropout: Rate = 0.0  # before each hidden and output layer

    def fixed_input_size(self) -> str | None:
        return f"mlp flattens the image into a first Linear layer sized for the full one, so it cannot take smaller ones: {_POOLING_MODELS}"


@register_model("mlp", config=MlpModel)
def mlp(config, in_shape, num_classes) -> nn.Module:
    return Net(nn.Identity(), in_shape, config.hidden, num_classes, config.dropout, config.batch_norm)


def _pool(kind: str) -> nn.Module:
    return {"max": nn.MaxPool2d(2), "avg": nn.AvgPool2d(2), "none": nn.Identity()}[kind]


def conv_block(
    c_in: int,
    c_out: int,
    k: int,
    stride: int = 1,
    dilation: int = 1,
    batch_norm: bool = True,
    pool: str = "none",
    padding: int | None = None,
    dropout: float = 0.0,
) -> nn.Sequential:
    """conv -> [batch norm] -> relu -> [pool] -> [Dropout2d]; 'same' padding by default."""
    if padding is None:
        padding = dilation * (k - 1) // 2
    layers: list[nn.Module] = [nn.Conv2d(c_in, c_out, k, stride, padding, dilation, bias=not batch_norm)]
    if batch_norm:
        layers.append(nn.BatchNorm2d(c_out))
    layers += [nn.ReLU(inplace=True), _pool(pool)]
    if dropout:
        layers.append(nn.Dropout2d(dropout))
    return nn.Sequential(*layers)


def _same_length(values: list | None, channels: list[int], what: str) -> None:
    if values is not None and len(values) != len(channels):
        raise ValueError(f"{what} has {len(values)} entries but channels has {len(channels)}: give one per layer")


class CnnModel(ModelBase):
    """conv(k, stride, dilation) -> [batch norm] -> relu -> [pool 2x2] per entry of `channels`,
    then flatten (or global average pool) and fully connected `hidden` layers."""

    name: Literal["cnn"] = "cnn"
    channels: list[Width] = [32, 64, 128]  # three 2x2 pools take 32x32 images down to 4x4
    kernel_sizes: list[Width] | None = None  # default 3 for every layer
    strides: list[Width] | None = None  # default 1 for every layer
    dilations: list[Width] | None = None  # default 1 for every layer
    pool: Literal["max", "avg", "none"] = "max"  # 2x2 pooling after every conv layer
    batch_norm: bool = True  # trains faster and to a higher accuracy
    conv_dropout: Rate = 0.0  # Dropout2d after each conv block
    dropout: Rate = 0.0  # before each fully connected layer
    hidden: list[Width] = [512, 128]  # fully connected widths before the head
    global_pool: bool = False  # average each feature map to 1x1 instead of flattening

    @model_validator(mode="after")
    def _one_per_layer(self):
        for what in ("kernel_sizes", "strides", "dilations"):
            _same_length(getattr(self, what), self.channels, what)
        return self

    def fixed_input_size(self) -> str | None:
        if self.global_pool:
            return None
        return (
            "cnn flattens its last feature maps into a Linear layer sized for the full image, so it cannot take smaller ones: "
            "set model.global_pool: true"
        )


@register_model("cnn", config=CnnModel)
def cnn(config, in_shape, num_classes) -> nn.Module:
    n = len(config.channels)
    kernels = config.kernel_sizes or [3] * n
    strides = config.strides or [1] * n
    dilations = config.dilations or [1] * n
    blocks: list[nn.Module] = []
    c_in = in_shape[0]
    for c, k, s, d in zip(config.channels, kernels, strides, dilations):
        blocks.append(conv_block(c_in, c, k, s, d, config.batch_norm, config.pool, dropout=config.conv_dropout))
        c_in = c
    if config.global_pool:
        blocks.append(nn.AdaptiveAvgPool2d(1))
    return Net(nn.Sequential(*blocks), in_shape, config.hidden, num_classes, config.dropout, config.batch_norm)


class Lenet5Model(ModelBase):
    name: Literal["lenet5"] = "lenet5"
    activation: Literal["relu", "tanh"] = "relu"  # the paper used tanh; relu trains faster
    pool: Literal["max", "avg"] = "max"  # the paper subsampled by averaging
    batch_norm: bool = False  # plain LeNet-5 has none

    def fixed_input_size(self) -> str | None:
        return (
            "lenet5 flattens its last feature maps into a Linear layer sized for the full image, so it cannot take smaller ones: "
            + _POOLING_MODELS
        )


@register_model("lenet5", config=Lenet5Model)
def lenet5(config, in_shape, num_classes) -> nn.Module:
    """LeCun et al. 1998: conv 6@5x5, pool, conv 16@5x5, pool, 120, 84. Inputs smaller than
    32x32 (MNIST's 28) are padded in the first conv, as the paper's 32x32 framing did."""
    act = {"relu": nn.ReLU, "tanh": nn.Tanh}[config.activation]
    pool = {"max": nn.MaxPool2d, "avg": nn.AvgPool2d}[config.pool]
    pad = max(0, (32 - min(in_shape[1:])) // 2)
    layers: list[nn.Module] = []
    for c_in, c_out, p in ((in_shape[0], 6, pad), (6, 16, 0)):
        layers.append(nn.Conv2d(c_in, c_out, 5, padding=p))
        if config.batch_norm:
            layers.append(nn.BatchNorm2d(c_out))
        layers += [act(), pool(2)]
    net = Net(nn.Sequential(*layers), in_shape, [120, 84], num_classes, batch_norm=config.batch_norm)
    if config.activation == "tanh":
        for i, module in enumerate(net.classifier):
            if isinstance(module, nn.ReLU):
                net.classifier[i] = nn.Tanh()
    return net


class Convnet5Model(ModelBase):
    """A CIFAR-100 network: a stride-3 stem, four conv blocks doubling the width (max pool
    after blocks 2-4, global average pool after 5), then 3 linear layers."""

    name: Literal["convnet5"] = "convnet5"
    width: int = Field(64, ge=1)  # stem channels; each later block doubles them (64 -> 1024)
    stem_stride: int = Field(3, ge=1)  # 3 turns a 96x96 input back into 32x32 after the stem
    hidden: int = Field(512, ge=1)  # the two hidden linear layers
    dropout: Rate = 0.5  # before the last linear layer only


@register_model("convnet5", config=Convnet5Model)
def convnet5(config, in_shape, num_classes) -> nn.Module:
    """Stem conv 3x3 stride 3 (no padding, no pool); conv 5x5 + max pool; two conv 3x3 + max
    pool; conv 3x3 + global average pool; each block doubles the width."""
    w = config.width
    body = nn.Sequential(
        conv_block(in_shape[0], w, 3, stride=config.stem_stride, padding=0),
        conv_block(w, 2 * w, 5, pool="max"),
        conv_block(2 * w, 4 * w, 3, pool="max"),
        conv_block(4 * w, 8 * w, 3, pool="max"),
        conv_block(8 * w, 16 * w, 3),
        nn.AdaptiveAvgPool2d(1),
    )
    net = Net(body, in_shape, [config.hidden, config.hidden], num_classes)
    if config.dropout:  # dropout only between the second and third linear layer
        *hidden, head_item = net.classifier.named_children()
        net.classifier = nn.Sequential(OrderedDict([*hidden, ("drop", nn.Dropout(config.dropout)), head_item]))
    return net


class VggModel(ModelBase):
    """VGG-style stages of `convs_per_stage` 3x3 conv-bn-relu; by default 4 stages of 2 convs,
    max pool after the first 3, global average pool, one hidden linear layer."""

    name: Literal["vgg"] = "vgg"
    stages: list[Width] = [64, 128, 256, 512]  # channels of each stage
    convs_per_stage: int = Field(2, ge=1)
    pool_after: list[bool] | None = None  # max pool after stage i; default all but the last
    batch_norm: bool = True
    hidden: list[Width] = [4096]  # one hidden layer where VGG has two
    dropout: Rate = 0.2  # before each linear layer

    @model_validator(mode="after")
    def _one_per_stage(self):
        if self.pool_after is not None and len(self.pool_after) != len(self.stages):
            raise ValueError(f"pool_after has {len(self.pool_after)} entries but stages has {len(self.stages)}")
        return self


@register_model("vgg", config=VggModel)
def vgg(config, in_shape, num_classes) -> nn.Module:
    pool_after = config.pool_after or [True] * (len(config.stages) - 1) + [False]
    blocks: list[nn.Module] = []
    c_in = in_shape[0]
    for c, pool in zip(config.stages, pool_after):
        for i in range(config.convs_per_stage):
            last = i == config.convs_per_stage - 1
            blocks.append(conv_block(c_in, c, 3, batch_norm=config.batch_norm, pool="max" if pool and last else "none"))
            c_in = c
    blocks.append(nn.AdaptiveAvgPool2d(1))
    return Net(nn.Sequential(*blocks), in_shape, config.hidden, num_classes, config.dropout)


class VitModel(ModelBase):
    """A small vision transformer for 32x32 images."""

    name: Literal["vit"] = "vit"
    patch_size: int = Field(4, ge=1)  # 32x32 images -> 64 tokens
    dim: int = Field(64, ge=1)  # token width
    depth: int = Field(6, ge=1)  # encoder layers
    heads: int = Field(4, ge=1)  # must divide dim
    mlp_ratio: float = Field(2.0, gt=0)  # feed-forward width = mlp_ratio * dim
    dropout: Rate = 0.0

    @model_validator(mode="after")
    def _heads_divide_dim(self):
        if self.dim % self.heads:
            raise ValueError(f"heads ({self.heads}) must divide dim ({self.dim})")
        return self

    def fixed_input_size(self) -> str | None:
        return f"vit learns one position embedding per patch of the full image, so it cannot take smaller ones: {_POOLING_MODELS}"


@register_model("vit", config=VitModel)
class ViT(nn.Module):
    """Patch embedding (a strided conv), a class token, learned position embeddings, pre-norm
    transformer encoder layers, and a linear head on the class token."""

    head_name = "head"

    def __init__(self, config, in_shape, num_classes):
        super().__init__()
        c, h, w = in_shape
        p = config.patch_size
        if h % p or w % p:
            raise ValueError(f"vit: patch_size {p} must divide the image size {h}x{w}")
        self.patches = nn.Conv2d(c, config.dim, p, stride=p)
        self.cls = nn.Parameter(torch.zeros(1, 1, config.dim))
        self.pos = nn.Parameter(torch.randn(1, 1 + (h // p) * (w // p), config.dim) * 0.02)
        feed_forward = round(config.mlp_ratio * config.dim)
        layer = nn.TransformerEncoderLayer(
            config.dim, config.heads, feed_forward, config.dropout, activation="gelu", batch_first=True, norm_first=True
        )
        self.encoder = nn.TransformerEncoder(layer, config.depth, enable_nested_tensor=False)
        self.norm = nn.LayerNorm(config.dim)
        self.head = nn.Linear(config.dim, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        tokens = self.patches(x).flatten(2).transpose(1, 2)
        tokens = torch.cat([self.cls.expand(len(x), -1, -1), tokens], 1) + self.pos
        return self.head(self.norm(self.encoder(tokens))[:, 0])


# ----------------------------------------------------------------------------------------------
# torchvision architectures


class TorchvisionModel(ModelBase):
    """A torchvision architecture (weights=None) with a new head for the data set's classes."""

    head_hidden: list[Width] = []  # hidden layers of the new head
    head_dropout: Rate = 0.0  # before each layer of the new head


class _GrayToRgb(nn.Module):
    """Repeats a gray image to RGB so that an RGB network (and its pretrained stem) applies."""

    inner_prefix = "net."  # its state_dict keys and module names are the wrapped network's, under `net.`

    def __init__(self, net: nn.Module):
        super().__init__()
        self.net = net

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x.expand(-1, 3, -1, -1))


def _torchvision(name: str, head_path: str) -> None:
    """Register torchvision's `name`, whose classifier's last layer sits at `head_path`."""

    @register_model(name, config=variant(TorchvisionModel, name))
    def build(config, in_shape, num_classes) -> nn.Module:
        import torchvision

        net = torchvision.models.get_model(name, weights=None)
        parent_name, _, leaf = head_path.rpartition(".")
        parent = net.get_submodule(parent_name) if parent_name else net
        new_head = _mlp_layers([getattr(parent, leaf).in_features, *config.head_hidden], num_classes, config.head_dropout)
        setattr(parent, leaf, new_head.head if len(new_head) == 1 else new_head)
        model = net if in_shape[0] == 3 else _GrayToRgb(net)
        model.head_name = getattr(model, "inner_prefix", "") + head_path
        return model


for _name, _head in (
    ("resnet18", "fc"),
    ("resnet50", "fc"),
    ("vgg16", "classifier.6"),
    ("alexnet", "classifier.6"),
    ("mobilenet_v3_small", "classifier.3"),
    ("efficientnet_v2_s", "classifier.1"),
):
    _torchvision(_name, _head)


def create_model(config, in_shape: tuple[int, int, int], num_classes: int) -> nn.Module:
    """Build the model of a model config for images of `in_shape` (C, H, W), with its
    `pretrained` weights loaded and its layers up to `freeze_until`, or all but the
    `trainable` ones, frozen."""
    model = MODELS.get(config.name)(config, tuple(in_shape), num_classes)
    if config.pretrained:
        load_pretrained(model, config.pretrained)
    if config.freeze_until:
        freeze_until(model, config.freeze_until)
    if config.trainable:
        freeze_all_but(model, config.trainable)
    return model

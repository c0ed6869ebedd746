"""Batched augmentation on the training device: every op draws per-sample randomness from a
torch.Generator, so a seed repeats exactly and the whole batch is transformed at once.

Each op is registered with the config model of its parameters::

    class FlipAug(AugmentParams):
        shorthand = "p"  # {hflip: 0.3} means {hflip: {p: 0.3}}
        p: Probability = 0.5

    @register_augment("hflip", config=FlipAug)
    class HFlip(Op):
        def __call__(self, x, g): ...

Images arrive as uint8 [B, C, H, W]. Geometric ops that only move pixels (crop, flips,
erasing) work on uint8; the first op that computes new values (jitter, rotate, resize...)
turns the batch into float on the 0..255 scale. `Pipeline` finally normalises to
(x / 255 - mean) / std in one fused multiply-add.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Annotated, ClassVar

import pydantic
import torch
from pydantic import Field

from hpo.contract import StrictModel
from trainers import imageops
from trainers.registry import Registry

__all__ = ["AUGMENTS", "AugmentParams", "Op", "Pipeline", "get_augment", "list_augments", "register_augment"]

AUGMENTS = Registry("augmentation")  # name -> Op subclass, with the config model of its parameters
register_augment, list_augments = AUGMENTS.register, AUGMENTS.names


def get_augment(name: str, params=None) -> Op:
    """An op by name; params a config model, a dict, or None for the defaults."""
    op = AUGMENTS.get(name)
    if params is None or isinstance(params, dict):
        params = AUGMENTS.config(name).model_validate(params or {})
    return op(params)


class AugmentParams(StrictModel):
    """The parameters of an op. In a config an op is a name, {op: params}, or {op: scalar}
    where the scalar sets the field named by `shorthand` ({rotate: 10})."""

    shorthand: ClassVar[str | None] = None


def _ordered_range(value: tuple[float, float]) -> tuple[float, float]:
    if value[0] > value[1]:
        raise ValueError(f"range {list(value)} must be [low, high] with low <= high")
    return value


OrderedRange = Annotated[tuple[float, float], pydantic.AfterValidator(_ordered_range)]
Probability = Annotated[float, Field(ge=0, le=1)]


class Op:
    """One augmentation. `__call__` is the random training transform; `eval` the deterministic
    one applied to evaluation images (identity unless the op changes the image size)."""

    floats = False  # True: needs float input (computes new pixel values)

    def __init__(self, params):
        self.p = params

    def __call__(self, x: torch.Tensor, g: torch.Generator) -> torch.Tensor:
        raise NotImplementedError

    def eval(self, x: torch.Tensor) -> torch.Tensor:
        return x

    def output_size(self, h: int, w: int) -> tuple[int, int]:
        return h, w


def _uniform(b: int, low: float, high: float, g: torch.Generator, device) -> torch.Tensor:
    return torch.rand(b, generator=g, device=device) * (high - low) + low


def _coin(b: int, p: float, g: torch.Generator, device) -> torch.Tensor:
    """[B] bools, each True with probability p."""
    return torch.rand(b, generator=g, device=device) < p


# ----------------------------------------------------------------------------------------------
# Flips, crops and erasing (uint8)


class FlipAug(AugmentParams):
    shorthand = "p"
    p: Probability = 0.5


@register_augment("hflip", config=FlipAug)
class HFlip(Op):
    def __call__(self, x, g):
        return imageops.flip_some(x, _coin(len(x), self.p.p, g, x.device), 3)


@register_augment("vflip", config=FlipAug)
class VFlip(Op):
    def __call__(self, x, g):
        return imageops.flip_some(x, _coin(len(x), self.p.p, g, x.device), 2)


class RandomCropAug(AugmentParams):
    shorthand = "padding"
    padding: int = Field(4, ge=0)  # pad each side with zeros, then crop back
    size: int | None = Field(None, ge=1)  # output side; default the input side (center crop in eval)


@register_augment("random_crop", config=RandomCropAug)
class RandomCrop(Op):
    """Zero-pad every side by `padding`, then crop `size` (default the input size) at a random
    offset per sample."""

    def __call__(self, x, g):
        h, w = self.output_size(*x.shape[2:])
        pad = self.p.padding
        if pad:
            x = torch.nn.functional.pad(x, (pad, pad, pad, pad))
        top = torch.randint(0, x.shape[2] - h + 1, (len(x),), generator=g, device=x.device)
        left = torch.randint(0, x.shape[3] - w + 1, (len(x),), generator=g, device=x.device)
        return imageops.crop(x, top, left, h, w)

    def eval(self, x):
        h, w = self.output_size(*x.shape[2:])
        top, left = (x.shape[2] - h) // 2, (x.shape[3] - w) // 2
        return x[:, :, top : top + h, left : left + w]

    def output_size(self, h, w):
        return (self.p.size, self.p.size) if self.p.size else (h, w)


def _box(b: int, h: int, w: int, scale, ratio, g, device) -> tuple[torch.Tensor, ...]:
    """Per-sample boxes (top, left, height, width) of area share in `scale` and aspect ratio
    (width / height) in `ratio`, log-uniform, clipped to the image, placed uniformly."""
    area = _uniform(b, scale[0], scale[1], g, device) * (h * w)
    aspect = torch.exp(_uniform(b, math.log(ratio[0]), math.log(ratio[1]), g, device))
    bh = torch.sqrt(area / aspect).round().clamp(1, h)
    bw = torch.sqrt(area * aspect).round().clamp(1, w)
    top = (torch.rand(b, generator=g, device=device) * (h - bh + 1)).floor()
    left = (torch.rand(b, generator=g, device=device) * (w - bw + 1)).floor()
    return top, left, bh, bw


class RandomErasingAug(AugmentParams):
    shorthand = "p"
    p: Probability = 0.5
    scale: OrderedRange = (0.02, 0.33)  # erased area share (torchvision's defaults)
    ratio: OrderedRange = (0.3, 3.3)
    value: Probability = 0.5  # fill, as a share of full intensity: mid-gray is near the mean


@register_augment("random_erasing", config=RandomErasingAug)
class RandomErasing(Op):
    """With probability p, erase a random box (area share in `scale`, aspect in `ratio`)."""

    def __call__(self, x, g):
        b, _, h, w = x.shape
        top, left, bh, bw = _box(b, h, w, self.p.scale, self.p.ratio, g, x.device)
        return imageops.fill_boxes(x, top, left, bh, bw, _coin(b, self.p.p, g, x.device), self.p.value)


class CutoutAug(AugmentParams):
    shorthand = "size"
    size: int = Field(8, ge=1)  # side of the square, centered anywhere, clipped at the borders
    p: Probability = 1.0
    value: Probability = 0.5


@register_augment("cutout", config=CutoutAug)
class Cutout(Op):
    """With probability p, erase a size x size square centred anywhere (clipped at the borders)."""

    def __call__(self, x, g):
        b, _, h, w = x.shape
        cy = torch.randint(0, h, (b,), generator=g, device=x.device)
        cx = torch.randint(0, w, (b,), generator=g, device=x.device)
        top, left = (cy - self.p.size // 2).clamp(min=0), (cx - self.p.size // 2).clamp(min=0)
        bottom, right = (cy - self.p.size // 2 + self.p.size).clamp(max=h), (cx - self.p.size // 2 + self.p.size).clamp(max=w)
        return imageops.fill_boxes(x, top, left, bottom - top, right - left, _coin(b, self.p.p, g, x.device), self.p.value)


# ----------------------------------------------------------------------------------------------
# Colour (float)


class ColorJitterAug(AugmentParams):
    brightness: float = Field(0.2, ge=0)  # factor drawn from [1 - b, 1 + b]
    contrast: float = Field(0.2, ge=0)
    saturation: float = Field(0.2, ge=0)
    hue: float = Field(0.0, ge=0, le=0.5)  # shift drawn from [-hue, hue] of a full turn


@register_augment("color_jitter", config=ColorJitterAug)
class ColorJitter(Op):
    """Brightness, contrast, saturation and hue factors drawn per sample (see
    imageops.adjust_colour); gray images take brightness and contrast only."""

    floats = True

    def __call__(self, x, g):
        b, c = x.shape[:2]
        p, dev = self.p, x.device
        bright = _uniform(b, max(0.0, 1 - p.brightness), 1 + p.brightness, g, dev)
        contrast = _uniform(b, max(0.0, 1 - p.contrast), 1 + p.contrast, g, dev)
        if c != 3:
            return imageops.adjust_colour(x, bright, contrast)
        sat = _uniform(b, max(0.0, 1 - p.saturation), 1 + p.saturation, g, dev)
        hue = _uniform(b, -p.hue, p.hue, g, dev) if p.hue else None
        return imageops.adjust_colour(x, bright, contrast, sat, hue)


class GrayscaleAug(AugmentParams):
    shorthand = "p"
    p: Probability = 0.1  # torchvision's RandomGrayscale default


@register_augment("grayscale", config=GrayscaleAug)
class Grayscale(Op):
    """With probability p, replace the image by its gray (channel count kept)."""

    floats = True

    def __call__(self, x, g):
        return imageops.where(_coin(len(x), self.p.p, g, x.device), imageops.gray(x).expand_as(x), x)


# ----------------------------------------------------------------------------------------------
# Geometry by resampling (float): rotate, affine, perspective, resized crops, resize


class RotateAug(AugmentParams):
    shorthand = "degrees"
    degrees: float = Field(10.0, ge=0)  # angle drawn from [-degrees, degrees]


@register_augment("rotate", config=RotateAug)
class Rotate(Op):
    """Rotate by an angle drawn from [-degrees, degrees]; corners fill with black."""

    floats = True

    def __call__(self, x, g):
        angle = _uniform(len(x), -self.p.degrees, self.p.degrees, g, x.device)
        return imageops.warp(x, imageops.rotation(angle), torch.zeros(len(x), 2, device=x.device))


class AffineAug(AugmentParams):
    degrees: float = Field(0.0, ge=0)
    translate: tuple[Probability, Probability] = (0.1, 0.1)  # max shift as a share of width/height
    scale: OrderedRange = (0.9, 1.1)
    shear: float = Field(0.0, ge=0)  # degrees


@register_augment("affine", config=AffineAug)
class Affine(Op):
    """Rotation, shear (x axis), scale and translation drawn per sample, as torchvision's
    RandomAffine."""

    floats = True

    def __call__(self, x, g):
        b, _, h, w = x.shape
        p, dev = self.p, x.device
        angle = _uniform(b, -p.degrees, p.degrees, g, dev)
        shear = torch.tan(_uniform(b, -p.shear, p.shear, g, dev) * (math.pi / 180))
        scale = _uniform(b, p.scale[0], p.scale[1], g, dev)
        shear_m = torch.eye(2, device=dev).repeat(b, 1, 1)
        shear_m[:, 0, 1] = shear
        linear = scale.view(b, 1, 1) * imageops.rotation(angle) @ shear_m
        shift = torch.stack(
            [_uniform(b, -p.translate[0], p.translate[0], g, dev) * w, _uniform(b, -p.translate[1], p.translate[1], g, dev) * h], 1
        )
        return imageops.warp(x, linear, shift.round())


class PerspectiveAug(AugmentParams):
    shorthand = "distortion"
    distortion: Probability = 0.5  # torchvision's distortion_scale
    p: Probability = 0.5


@register_augment("perspective", config=PerspectiveAug)
class Perspective(Op):
    """With probability p, move each corner inwards by up to `distortion` x half the side (as
    torchvision's RandomPerspective) and warp the image accordingly."""

    floats = True

    def __call__(self, x, g):
        b, dev = len(x), x.device
        corners = torch.tensor(imageops.CORNERS, device=dev).expand(b, 4, 2)
        inward = -corners.sign() * torch.rand(b, 4, 2, generator=g, device=dev) * self.p.distortion
        apply = _coin(b, self.p.p, g, dev).view(b, 1, 1)
        return imageops.perspective(x, corners + inward * apply)


class RandomResizedCropAug(AugmentParams):
    shorthand = "size"
    size: int | None = Field(None, ge=1)  # output side; default the input side
    scale: OrderedRange = (0.25, 1.0)  # area share; ImageNet's 0.08 loses small images' object
    ratio: OrderedRange = (3 / 4, 4 / 3)  # aspect ratio range


@register_augment("random_resized_crop", config=RandomResizedCropAug)
class RandomResizedCrop(Op):
    """Crop a random box (area share in `scale`, aspect in `ratio`) and resize it to `size`;
    evaluation images are resized to `size`."""

    floats = True

    def __call__(self, x, g):
        b, _, h, w = x.shape
        top, left, bh, bw = _box(b, h, w, self.p.scale, self.p.ratio, g, x.device)
        return imageops.resized_crop(x, top, left, bh, bw, self.output_size(h, w))

    def eval(self, x):
        return imageops.resize(x, *self.output_size(*x.shape[2:]))

    def output_size(self, h, w):
        return (self.p.size, self.p.size) if self.p.size else (h, w)


class ResizeAug(AugmentParams):
    shorthand = "size"
    size: int = Field(..., ge=1)  # output side (e.g. 96, 128, 224); in training and evaluation


@register_augment("resize", config=ResizeAug)
class Resize(Op):
    """Resize so the shorter side is `size` (as torchvision's Resize(int)), in training and
    evaluation alike: e.g. 32x32 CIFAR to the 96 or 224 a pretrained network expects."""

    floats = True

    def __call__(self, x, g):
        return self.eval(x)

    def eval(self, x):
        return imageops.resize(x, *self.output_size(*x.shape[2:]))

    def output_size(self, h, w):
        short = min(h, w)
        return round(h * self.p.size / short), round(w * self.p.size / short)


# ----------------------------------------------------------------------------------------------
# The pipeline


class Pipeline:
    """The config's augmentation list plus normalisation: uint8 in, normalised float out."""

    def __init__(self, ops: Sequence[tuple[str, object]], mean, std, device):
        self.ops = [get_augment(name, params) for name, params in ops]
        std_t = torch.tensor(std, device=device).view(1, -1, 1, 1)
        self.scale = 1 / (255 * std_t)
        self.shift = -torch.tensor(mean, device=device).view(1, -1, 1, 1) / std_t

    def train(self, x: torch.Tensor, g: torch.Generator) -> torch.Tensor:
        return self._normalise(self.augment(x, g))

    def eval(self, x: torch.Tensor) -> torch.Tensor:
        return self._normalise(self._run(x, lambda op, x: op.eval(x)))

    def augment(self, x: torch.Tensor, g: torch.Generator) -> torch.Tensor:
        """The training transform before normalising: uint8, or float on the 0..255 scale.
        What a model is shown, as an image (hpo's report draws it)."""
        return self._run(x, lambda op, x: op(x, g))

    def _run(self, x: torch.Tensor, apply) -> torch.Tensor:
        """Each op in turn (floats from the first op that computes new values)."""
        for op in self.ops:
            if op.floats and x.dtype == torch.uint8:
                x = x.float()
            x = apply(op, x)
        return x

    def _normalise(self, x: torch.Tensor) -> torch.Tensor:
        return torch.addcmul(self.shift, x.float(), self.scale)

    def output_shape(self, c: int, h: int, w: int) -> tuple[int, int, int]:
        for op in self.ops:
            h, w = op.output_size(h, w)
        return c, h, w

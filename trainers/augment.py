"""Batched augmentation on the training device: every op draws per-sample randomness from a
torch.Generator, so a seed repeats exactly and the whole batch is transformed at once.

    @register_augment("hflip")
    class HFlip(Op):
        def __call__(self, x, g): ...

Images arrive as uint8 [B, C, H, W]. Geometric ops that only move pixels (crop, flips,
erasing) work on uint8; the first op that computes new values (jitter, rotate, resize...)
turns the batch into float on the 0..255 scale. `Pipeline` finally normalises to
(x / 255 - mean) / std in one fused multiply-add.
"""

from __future__ import annotations

import math

import torch

from trainers.config import AUGMENT_PARAMS, did_you_mean

__all__ = ["Op", "Pipeline", "get_augment", "list_augments", "register_augment"]

_AUGMENTS: dict[str, type["Op"]] = {}


def register_augment(name: str):
    """Register an `Op` subclass under `name` (its parameters: trainers.config.AUGMENT_PARAMS)."""

    def wrap(cls: type[Op]) -> type[Op]:
        _AUGMENTS[name] = cls
        return cls

    return wrap


def list_augments() -> list[str]:
    return sorted(_AUGMENTS)


def get_augment(name: str, params=None) -> "Op":
    """An op by name; params a config model, a dict, or None for the defaults."""
    if name not in _AUGMENTS:
        raise KeyError(did_you_mean(name, list_augments(), "augmentation"))
    if params is None or isinstance(params, dict):
        params = AUGMENT_PARAMS[name].model_validate(params or {})
    return _AUGMENTS[name](params)


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


def _where(mask: torch.Tensor, a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    return torch.where(mask.view(-1, 1, 1, 1), a, b)


# ----------------------------------------------------------------------------------------------
# Flips and crops (uint8)


@register_augment("hflip")
class HFlip(Op):
    def __call__(self, x, g):
        return _where(_coin(len(x), self.p.p, g, x.device), x.flip(3), x)


@register_augment("vflip")
class VFlip(Op):
    def __call__(self, x, g):
        return _where(_coin(len(x), self.p.p, g, x.device), x.flip(2), x)


def _crop(x: torch.Tensor, top: torch.Tensor, left: torch.Tensor, h: int, w: int) -> torch.Tensor:
    """Per-sample crops x[b, :, top[b]:top[b]+h, left[b]:left[b]+w] as one gather."""
    b = len(x)
    rows = (top.view(b, 1) + torch.arange(h, device=x.device)).view(b, 1, h, 1)
    cols = (left.view(b, 1) + torch.arange(w, device=x.device)).view(b, 1, 1, w)
    flat = rows * x.shape[3] + cols  # [B, 1, h, w] indices into the H*W plane
    return x.flatten(2).gather(2, flat.expand(b, x.shape[1], h, w).flatten(2)).view(b, x.shape[1], h, w)


@register_augment("random_crop")
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
        return _crop(x, top, left, h, w)

    def eval(self, x):
        h, w = self.output_size(*x.shape[2:])
        top, left = (x.shape[2] - h) // 2, (x.shape[3] - w) // 2
        return x[:, :, top : top + h, left : left + w]

    def output_size(self, h, w):
        return (self.p.size, self.p.size) if self.p.size else (h, w)


# ----------------------------------------------------------------------------------------------
# The pipeline


class Pipeline:
    """The config's augmentation list plus normalisation: uint8 in, normalised float out."""

    def __init__(self, ops: list[tuple[str, object]], mean, std, device):
        self.ops = [get_augment(name, params) for name, params in ops]
        std_t = torch.tensor(std, device=device).view(1, -1, 1, 1)
        self.scale = 1 / (255 * std_t)
        self.shift = -torch.tensor(mean, device=device).view(1, -1, 1, 1) / std_t

    def _normalize(self, x: torch.Tensor) -> torch.Tensor:
        return torch.addcmul(self.shift, x.float(), self.scale)

    def train(self, x: torch.Tensor, g: torch.Generator) -> torch.Tensor:
        for op in self.ops:
            if op.floats and x.dtype == torch.uint8:
                x = x.float()
            x = op(x, g)
        return self._normalize(x)

    def eval(self, x: torch.Tensor) -> torch.Tensor:
        for op in self.ops:
            if op.floats and x.dtype == torch.uint8:
                x = x.float()
            x = op.eval(x)
        return self._normalize(x)

    def output_shape(self, c: int, h: int, w: int) -> tuple[int, int, int]:
        for op in self.ops:
            h, w = op.output_size(h, w)
        return c, h, w

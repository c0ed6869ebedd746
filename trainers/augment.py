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

from trainers.config import AUGMENT_PARAMS
from trainers.registry import Registry

__all__ = ["Op", "Pipeline", "get_augment", "list_augments", "register_augment"]

_AUGMENTS = Registry("augmentation")  # name -> Op subclass; parameters: config.AUGMENT_PARAMS
register_augment, list_augments = _AUGMENTS.register, _AUGMENTS.names


def get_augment(name: str, params=None) -> Op:
    """An op by name; params a config model, a dict, or None for the defaults."""
    op = _AUGMENTS.get(name)
    if params is None or isinstance(params, dict):
        params = AUGMENT_PARAMS[name].model_validate(params or {})
    return op(params)


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


def _flip_some(x: torch.Tensor, flip: torch.Tensor, dim: int) -> torch.Tensor:
    """Flip the selected samples. On CPU only those (half the work of flipping all and
    choosing); on a GPU flip all and choose, as selecting would wait for the device."""
    if x.device.type != "cpu":
        return _where(flip, x.flip(dim), x)
    out = x.clone()
    chosen = flip.nonzero().squeeze(1)
    out[chosen] = x[chosen].flip(dim)
    return out


@register_augment("hflip")
class HFlip(Op):
    def __call__(self, x, g):
        return _flip_some(x, _coin(len(x), self.p.p, g, x.device), 3)


@register_augment("vflip")
class VFlip(Op):
    def __call__(self, x, g):
        return _flip_some(x, _coin(len(x), self.p.p, g, x.device), 2)


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


def _fill_boxes(x, top, left, bh, bw, apply, value: float) -> torch.Tensor:
    """Set each selected sample's box to `value` (a share of full intensity)."""
    rows = torch.arange(x.shape[2], device=x.device).view(1, -1, 1)
    cols = torch.arange(x.shape[3], device=x.device).view(1, 1, -1)
    v = lambda t: t.view(-1, 1, 1)  # noqa: E731
    inside = (rows >= v(top)) & (rows < v(top + bh)) & (cols >= v(left)) & (cols < v(left + bw))
    mask = (inside & v(apply)).unsqueeze(1)
    fill = torch.tensor(round(value * 255) if x.dtype == torch.uint8 else value * 255, dtype=x.dtype, device=x.device)
    return torch.where(mask, fill, x)


@register_augment("random_erasing")
class RandomErasing(Op):
    """With probability p, erase a random box (area share in `scale`, aspect in `ratio`)."""

    def __call__(self, x, g):
        b, _, h, w = x.shape
        top, left, bh, bw = _box(b, h, w, self.p.scale, self.p.ratio, g, x.device)
        return _fill_boxes(x, top, left, bh, bw, _coin(b, self.p.p, g, x.device), self.p.value)


@register_augment("cutout")
class Cutout(Op):
    """With probability p, erase a size x size square centred anywhere (clipped at the borders)."""

    def __call__(self, x, g):
        b, _, h, w = x.shape
        cy = torch.randint(0, h, (b,), generator=g, device=x.device)
        cx = torch.randint(0, w, (b,), generator=g, device=x.device)
        top, left = (cy - self.p.size // 2).clamp(min=0), (cx - self.p.size // 2).clamp(min=0)
        bottom, right = (cy - self.p.size // 2 + self.p.size).clamp(max=h), (cx - self.p.size // 2 + self.p.size).clamp(max=w)
        return _fill_boxes(x, top, left, bottom - top, right - left, _coin(b, self.p.p, g, x.device), self.p.value)


# ----------------------------------------------------------------------------------------------
# Colour (float)

_LUMA = (0.299, 0.587, 0.114)  # ITU-R 601, as torchvision's rgb_to_grayscale


def _gray(x: torch.Tensor) -> torch.Tensor:
    """[B, 1, H, W] luma of RGB (other channel counts: the channels' mean)."""
    if x.shape[1] != 3:
        return x.mean(1, keepdim=True)
    r, g, b = x.unbind(1)
    return (_LUMA[0] * r + _LUMA[1] * g + _LUMA[2] * b).unsqueeze(1)


@register_augment("color_jitter")
class ColorJitter(Op):
    """Brightness, contrast, saturation and hue factors drawn per sample, applied as one 3x3
    colour matrix plus offset per image: brightness scales, contrast blends with the image's
    mean gray, saturation blends with each pixel's gray, hue rotates around the gray axis."""

    floats = True

    def __call__(self, x, g):
        b, c = x.shape[:2]
        p, dev = self.p, x.device
        bright = _uniform(b, max(0.0, 1 - p.brightness), 1 + p.brightness, g, dev)
        contrast = _uniform(b, max(0.0, 1 - p.contrast), 1 + p.contrast, g, dev)
        luma = torch.tensor(_LUMA, device=dev)
        channel_means = x.mean((2, 3))  # the image's mean gray, without making a gray image
        mean_gray = channel_means @ luma if c == 3 else channel_means.mean(1)
        offset = ((1 - contrast) * bright * mean_gray).view(b, 1, 1)
        gain = (bright * contrast).view(b, 1, 1)
        if c != 3:  # gray images: brightness and contrast only
            return torch.addcmul(offset.unsqueeze(1), x, gain.unsqueeze(1)).clamp_(0, 255)
        eye = torch.eye(3, device=dev).expand(b, 3, 3)
        sat = _uniform(b, max(0.0, 1 - p.saturation), 1 + p.saturation, g, dev).view(b, 1, 1)
        matrix = sat * eye + (1 - sat) * luma.expand(3, 3)  # each output channel sees the gray
        if p.hue:
            angle = _uniform(b, -p.hue, p.hue, g, dev) * 2 * math.pi
            cos, sin = torch.cos(angle).view(b, 1, 1), torch.sin(angle).view(b, 1, 1)
            cross = torch.tensor([[0.0, -1, 1], [1, 0, -1], [-1, 1, 0]], device=dev) / math.sqrt(3)
            rotation = cos * eye + (1 - cos) / 3 * torch.ones(3, 3, device=dev) + sin * cross
            matrix = rotation @ matrix
        out = torch.baddbmm(offset, gain * matrix, x.reshape(b, 3, -1))
        return out.clamp_(0, 255).view_as(x)


@register_augment("grayscale")
class Grayscale(Op):
    """With probability p, replace the image by its gray (channel count kept)."""

    floats = True

    def __call__(self, x, g):
        return _where(_coin(len(x), self.p.p, g, x.device), _gray(x).expand_as(x), x)


# ----------------------------------------------------------------------------------------------
# Geometry by resampling (float): rotate, affine, perspective, resized crops, resize


def _resample(x: torch.Tensor, grid: torch.Tensor) -> torch.Tensor:
    """Bilinear sampling at grid [B, H', W', 2] of normalised (x, y) coordinates; zeros outside."""
    return torch.nn.functional.grid_sample(x, grid, mode="bilinear", padding_mode="zeros", align_corners=False)


def _warp(x: torch.Tensor, linear: torch.Tensor, shift: torch.Tensor) -> torch.Tensor:
    """Apply per-sample forward maps p -> linear @ p + shift (pixels, about the image centre)."""
    b, _, h, w = x.shape
    inverse = torch.linalg.inv(linear)
    to_norm = torch.tensor([2 / w, 2 / h], device=x.device)
    theta = torch.empty(b, 2, 3, device=x.device)
    theta[:, :, :2] = to_norm.view(1, 2, 1) * inverse / to_norm.view(1, 1, 2)
    theta[:, :, 2] = -to_norm * (inverse @ shift.unsqueeze(2)).squeeze(2)
    return _resample(x, torch.nn.functional.affine_grid(theta, list(x.shape), align_corners=False))


def _rotation(angle: torch.Tensor) -> torch.Tensor:
    """[B, 2, 2] rotation matrices for angles in degrees (x right, y down)."""
    a = angle * (math.pi / 180)
    cos, sin = torch.cos(a), torch.sin(a)
    return torch.stack([torch.stack([cos, -sin], 1), torch.stack([sin, cos], 1)], 1)


@register_augment("rotate")
class Rotate(Op):
    """Rotate by an angle drawn from [-degrees, degrees]; corners fill with black."""

    floats = True

    def __call__(self, x, g):
        angle = _uniform(len(x), -self.p.degrees, self.p.degrees, g, x.device)
        return _warp(x, _rotation(angle), torch.zeros(len(x), 2, device=x.device))


@register_augment("affine")
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
        linear = scale.view(b, 1, 1) * _rotation(angle) @ shear_m
        shift = torch.stack(
            [_uniform(b, -p.translate[0], p.translate[0], g, dev) * w, _uniform(b, -p.translate[1], p.translate[1], g, dev) * h], 1
        )
        return _warp(x, linear, shift.round())


@register_augment("perspective")
class Perspective(Op):
    """With probability p, move each corner inwards by up to `distortion` x half the side (as
    torchvision's RandomPerspective) and warp the image accordingly."""

    floats = True

    def __call__(self, x, g):
        b, _, h, w = x.shape
        dev = x.device
        # corners in normalised coordinates, clockwise from top-left
        corners = torch.tensor([[-1.0, -1], [1, -1], [1, 1], [-1, 1]], device=dev).expand(b, 4, 2)
        inward = -corners.sign() * torch.rand(b, 4, 2, generator=g, device=dev) * self.p.distortion
        apply = _coin(b, self.p.p, g, dev).view(b, 1, 1)
        moved = corners + inward * apply
        # homography mapping output (the moved corners) to input (the original corners)
        hom = _homography(moved, corners)
        ys, xs = torch.meshgrid(
            (torch.arange(h, device=dev) + 0.5) * (2 / h) - 1, (torch.arange(w, device=dev) + 0.5) * (2 / w) - 1, indexing="ij"
        )
        points = torch.stack([xs, ys, torch.ones_like(xs)], -1).view(1, -1, 3)
        mapped = points @ hom.transpose(1, 2)
        grid = (mapped[..., :2] / mapped[..., 2:]).view(b, h, w, 2)
        return _resample(x, grid)


def _homography(src: torch.Tensor, dst: torch.Tensor) -> torch.Tensor:
    """[B, 3, 3] homographies taking 4 points src [B, 4, 2] onto dst (direct linear transform)."""
    b = len(src)
    x, y = src[..., 0], src[..., 1]
    u, v = dst[..., 0], dst[..., 1]
    zeros, ones = torch.zeros_like(x), torch.ones_like(x)
    rows_u = torch.stack([x, y, ones, zeros, zeros, zeros, -u * x, -u * y], -1)
    rows_v = torch.stack([zeros, zeros, zeros, x, y, ones, -v * x, -v * y], -1)
    a = torch.cat([rows_u, rows_v], 1)
    h8 = torch.linalg.solve(a, torch.cat([u, v], 1))
    return torch.cat([h8, torch.ones(b, 1, device=src.device)], 1).view(b, 3, 3)


def _resize(x: torch.Tensor, h: int, w: int) -> torch.Tensor:
    if x.shape[2:] == (h, w):
        return x
    return torch.nn.functional.interpolate(x, size=(h, w), mode="bilinear", align_corners=False, antialias=True)


@register_augment("random_resized_crop")
class RandomResizedCrop(Op):
    """Crop a random box (area share in `scale`, aspect in `ratio`) and resize it to `size`;
    evaluation images are resized to `size`."""

    floats = True

    def __call__(self, x, g):
        b, _, h, w = x.shape
        top, left, bh, bw = _box(b, h, w, self.p.scale, self.p.ratio, g, x.device)
        theta = torch.zeros(b, 2, 3, device=x.device)
        theta[:, 0, 0], theta[:, 1, 1] = bw / w, bh / h
        theta[:, 0, 2] = (2 * left + bw) / w - 1  # box centre, normalised
        theta[:, 1, 2] = (2 * top + bh) / h - 1
        size = [b, x.shape[1], *self.output_size(h, w)]
        return _resample(x, torch.nn.functional.affine_grid(theta, size, align_corners=False))

    def eval(self, x):
        return _resize(x, *self.output_size(*x.shape[2:]))

    def output_size(self, h, w):
        return (self.p.size, self.p.size) if self.p.size else (h, w)


@register_augment("resize")
class Resize(Op):
    """Resize so the shorter side is `size` (as torchvision's Resize(int)), in training and
    evaluation alike: e.g. 32x32 CIFAR to the 96 or 224 a pretrained network expects."""

    floats = True

    def __call__(self, x, g):
        return self.eval(x)

    def eval(self, x):
        return _resize(x, *self.output_size(*x.shape[2:]))

    def output_size(self, h, w):
        short = min(h, w)
        return round(h * self.p.size / short), round(w * self.p.size / short)


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

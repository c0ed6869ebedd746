"""Deterministic image operations on a batch [B, C, H, W], with parameters per sample.

The augmentations in trainers/augment.py draw the random parameters and call these. Ops
that only move pixels (flips, crops, box fills) keep the dtype, uint8 included; the others
compute new values and take float images on the 0..255 scale.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F

__all__ = [
    "CORNERS",
    "LUMA",
    "adjust_colour",
    "crop",
    "fill_boxes",
    "flip_some",
    "gray",
    "perspective",
    "resized_crop",
    "resize",
    "rotation",
    "warp",
    "where",
]

LUMA = (0.299, 0.587, 0.114)  # ITU-R 601, as torchvision's rgb_to_grayscale


def where(mask: torch.Tensor, a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """a for the samples selected by mask [B], b for the others."""
    return torch.where(mask.view(-1, 1, 1, 1), a, b)


def flip_some(x: torch.Tensor, flip: torch.Tensor, dim: int) -> torch.Tensor:
    """Flip the selected samples. On CPU only those (half the work of flipping all and
    choosing); on a GPU flip all and choose, as selecting would wait for the device."""
    if x.device.type != "cpu":
        return where(flip, x.flip(dim), x)
    out = x.clone()
    chosen = flip.nonzero().squeeze(1)
    out[chosen] = x[chosen].flip(dim)
    return out


def crop(x: torch.Tensor, top: torch.Tensor, left: torch.Tensor, h: int, w: int) -> torch.Tensor:
    """Per-sample crops x[b, :, top[b]:top[b]+h, left[b]:left[b]+w] as one gather."""
    b = len(x)
    rows = (top.view(b, 1) + torch.arange(h, device=x.device)).view(b, 1, h, 1)
    cols = (left.view(b, 1) + torch.arange(w, device=x.device)).view(b, 1, 1, w)
    flat = rows * x.shape[3] + cols  # [B, 1, h, w] indices into the H*W plane
    return x.flatten(2).gather(2, flat.expand(b, x.shape[1], h, w).flatten(2)).view(b, x.shape[1], h, w)


def fill_boxes(x, top, left, bh, bw, apply, value: float) -> torch.Tensor:
    """Set each selected sample's box to `value` (a share of full intensity)."""
    rows = torch.arange(x.shape[2], device=x.device).view(1, -1, 1)
    cols = torch.arange(x.shape[3], device=x.device).view(1, 1, -1)
    v = lambda t: t.view(-1, 1, 1)  # noqa: E731
    inside = (rows >= v(top)) & (rows < v(top + bh)) & (cols >= v(left)) & (cols < v(left + bw))
    mask = (inside & v(apply)).unsqueeze(1)
    fill = torch.tensor(round(value * 255) if x.dtype == torch.uint8 else value * 255, dtype=x.dtype, device=x.device)
    return torch.where(mask, fill, x)


def gray(x: torch.Tensor) -> torch.Tensor:
    """[B, 1, H, W] luma of RGB (other channel counts: the channels' mean)."""
    if x.shape[1] != 3:
        return x.mean(1, keepdim=True)
    r, g, b = x.unbind(1)
    return (LUMA[0] * r + LUMA[1] * g + LUMA[2] * b).unsqueeze(1)


def adjust_colour(x: torch.Tensor, brightness, contrast, saturation=None, hue=None) -> torch.Tensor:
    """Per-sample factors [B] applied as one 3x3 colour matrix plus offset per image:
    brightness scales, contrast blends with the image's mean gray, saturation blends with
    each pixel's gray, hue (a share of a full turn) rotates around the gray axis. Gray
    images take brightness and contrast only."""
    b, c = x.shape[:2]
    luma = torch.tensor(LUMA, device=x.device)
    channel_means = x.mean((2, 3))  # the image's mean gray, without making a gray image
    mean_gray = channel_means @ luma if c == 3 else channel_means.mean(1)
    offset = ((1 - contrast) * brightness * mean_gray).view(b, 1, 1)
    gain = (brightness * contrast).view(b, 1, 1)
    if saturation is None:
        return torch.addcmul(offset.unsqueeze(1), x, gain.unsqueeze(1)).clamp_(0, 255)
    eye = torch.eye(3, device=x.device).expand(b, 3, 3)
    sat = saturation.view(b, 1, 1)
    matrix = sat * eye + (1 - sat) * luma.expand(3, 3)  # each output channel sees the gray
    if hue is not None:
        angle = hue * 2 * math.pi
        cos, sin = torch.cos(angle).view(b, 1, 1), torch.sin(angle).view(b, 1, 1)
        cross = torch.tensor([[0.0, -1, 1], [1, 0, -1], [-1, 1, 0]], device=x.device) / math.sqrt(3)
        turn = cos * eye + (1 - cos) / 3 * torch.ones(3, 3, device=x.device) + sin * cross
        matrix = turn @ matrix
    out = torch.baddbmm(offset, gain * matrix, x.reshape(b, 3, -1))
    return out.clamp_(0, 255).view_as(x)


def _resample(x: torch.Tensor, grid: torch.Tensor) -> torch.Tensor:
    """Bilinear sampling at grid [B, H', W', 2] of normalised (x, y) coordinates; zeros outside."""
    return F.grid_sample(x, grid, mode="bilinear", padding_mode="zeros", align_corners=False)


def warp(x: torch.Tensor, linear: torch.Tensor, shift: torch.Tensor) -> torch.Tensor:
    """Apply per-sample forward maps p -> linear @ p + shift (pixels, about the image centre)."""
    b, _, h, w = x.shape
    inverse = torch.linalg.inv(linear)
    to_norm = torch.tensor([2 / w, 2 / h], device=x.device)
    theta = torch.empty(b, 2, 3, device=x.device)
    theta[:, :, :2] = to_norm.view(1, 2, 1) * inverse / to_norm.view(1, 1, 2)
    theta[:, :, 2] = -to_norm * (inverse @ shift.unsqueeze(2)).squeeze(2)
    return _resample(x, F.affine_grid(theta, list(x.shape), align_corners=False))


def rotation(angle: torch.Tensor) -> torch.Tensor:
    """[B, 2, 2] rotation matrices for angles in degrees (x right, y down)."""
    a = angle * (math.pi / 180)
    cos, sin = torch.cos(a), torch.sin(a)
    return torch.stack([torch.stack([cos, -sin], 1), torch.stack([sin, cos], 1)], 1)


CORNERS = ((-1.0, -1.0), (1.0, -1.0), (1.0, 1.0), (-1.0, 1.0))  # normalised, clockwise from top-left


def perspective(x: torch.Tensor, moved: torch.Tensor) -> torch.Tensor:
    """Warp each image so that its corners (`CORNERS`) land on `moved` [B, 4, 2]."""
    b, _, h, w = x.shape
    corners = torch.tensor(CORNERS, device=x.device).expand(b, 4, 2)
    hom = _homography(moved, corners)  # output (the moved corners) -> input (the original ones)
    ys, xs = torch.meshgrid(
        (torch.arange(h, device=x.device) + 0.5) * (2 / h) - 1, (torch.arange(w, device=x.device) + 0.5) * (2 / w) - 1, indexing="ij"
    )
    points = torch.stack([xs, ys, torch.ones_like(xs)], -1).view(1, -1, 3)
    mapped = points @ hom.transpose(1, 2)
    return _resample(x, (mapped[..., :2] / mapped[..., 2:]).view(b, h, w, 2))


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


def resized_crop(x: torch.Tensor, top, left, bh, bw, size: tuple[int, int]) -> torch.Tensor:
    """Each sample's box (top, left, height, width [B]) resampled to `size` (h, w)."""
    b, _, h, w = x.shape
    theta = torch.zeros(b, 2, 3, device=x.device)
    theta[:, 0, 0], theta[:, 1, 1] = bw / w, bh / h
    theta[:, 0, 2] = (2 * left + bw) / w - 1  # box centre, normalised
    theta[:, 1, 2] = (2 * top + bh) / h - 1
    return _resample(x, F.affine_grid(theta, [b, x.shape[1], *size], align_corners=False))


def resize(x: torch.Tensor, h: int, w: int) -> torch.Tensor:
    if x.shape[2:] == (h, w):
        return x
    return F.interpolate(x, size=(h, w), mode="bilinear", align_corners=False, antialias=True)

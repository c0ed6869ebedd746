"""Training at a lower resolution (hpo's ``scheduler.fidelity: resolution``): the size an
image's side scale gives, the resize of a batch, and the refusals of a model that cannot
take smaller images, shared by the training loop and the dry run's probe.

    size = scaled_size(32, 32, 1 / 3)   # (11, 11)
    x = resized(pipeline.train(batch, generator), size)
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from trainers.config import TrainConfig

__all__ = ["MIN_SIDE", "check_any_size", "check_smallest_size", "resized", "scaled_size"]

MIN_SIDE = 8  # pixels: the smallest side a lower resolution scales an image to (hpo.spec.fidelity)


def scaled_size(height: int, width: int, scale: float) -> tuple[int, int]:
    """An image's size at ``scale`` of its side: each side rounded, but not below MIN_SIDE
    (nor above the side itself), so that three 2x2 poolings still leave a 1x1 feature map."""
    return (min(height, max(MIN_SIDE, round(scale * height))), min(width, max(MIN_SIDE, round(scale * width))))


def resized(x: torch.Tensor, size: tuple[int, int] | None) -> torch.Tensor:
    """A batch of images [B, C, H, W] at ``size`` (None, or its own size: untouched, so that
    a full resolution trains exactly as without one); antialiased, as a smaller photo would be."""
    if size is None or tuple(x.shape[-2:]) == size:
        return x
    return F.interpolate(x, size=size, mode="bilinear", antialias=True, align_corners=False)


def check_any_size(cfg: TrainConfig) -> None:
    """Raise ValueError, saying what to change, if the config's model is sized for the full image."""
    reason = cfg.model.fixed_input_size()
    if reason is not None:
        raise ValueError(reason)


@torch.no_grad()
def check_smallest_size(model: torch.nn.Module, x: torch.Tensor, size: tuple[int, int], autocast) -> None:
    """Raise ValueError if the model, which takes any size, still cannot take images at
    ``size``, the schedule's smallest (strides and poolings leave no feature map): the trial
    then fails before its first epoch, saying so, rather than inside it with torch's words.
    An eval-mode forward pass: no weight, statistic or random draw changes."""
    model.eval()
    try:
        with autocast:
            model(resized(x, size))
    except RuntimeError as exc:
        raise ValueError(
            f"the model cannot take images of {size[0]}x{size[1]} pixels, the smallest size of the resolution schedule "
            f"(its strides and poolings leave no feature map: {str(exc).strip()}); use larger images, fewer poolings, "
            "or fidelity: epochs or data_fraction"
        ) from exc

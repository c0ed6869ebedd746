"""Trainers of one's own that hand hpo images (hpo.contract): a ``preview`` for the report's
augmentation gallery, ``misclassified`` records for ``hpo train``. They train nothing."""

from __future__ import annotations

import numpy as np
from pydantic import Field

from hpo.contract import StrictModel, trainer


class ShiftConfig(StrictModel):
    epochs: int = Field(ge=1)
    lr: float = 0.1
    mode: str = "plain"
    shift: int = Field(0, ge=0, le=7)  # the column the preview's images light up


def shift_preview(config: dict, count: int) -> dict:
    """Gray [count, 8, 8] images lit in column ``shift``: only ``shift`` changes them."""
    cfg = ShiftConfig.model_validate(config)
    images = np.zeros((count, 8, 8), np.uint8)
    images[:, :, cfg.shift] = 255
    return {"images": images, "labels": [f"img{i}" for i in range(count)]}


@trainer(schema=ShiftConfig, metrics={"score": "max"}, preview=shift_preview)
def shifted(config, report):
    report({"epoch": 1, "score": 0.5, "finished": True})


def float_preview(config: dict, count: int) -> dict:
    return {"images": np.zeros((count, 8, 8, 3))}


@trainer(metrics={"score": "max"}, preview=float_preview)
def float_images(config, report):
    report({"epoch": 1, "score": 0.5, "finished": True})


@trainer(metrics={"score": "max"}, preview=lambda config, count: np.zeros((count, 8, 8), np.uint8))
def bare_array(config, report):
    report({"epoch": 1, "score": 0.5, "finished": True})


CLASSES = ["cat", "dog", "frog"]


def mistaken(config, report, *, final=False, output_dir=None):
    """A trainer with run options whose result holds a misclassified record: two RGB images
    of seed + 1 and 2 (per seed, so a test sees whose were kept), or a malformed record
    (``broken: true``)."""
    report({"epoch": 1, "val_acc": 0.5, "finished": True})
    seed = config.get("seed", 0)
    images = np.stack([np.full((4, 4, 3), seed + 1), np.full((4, 4, 3), 2)]).astype(np.float32 if config.get("broken") else np.uint8)
    return {
        "epoch": 1,
        "val_acc": 0.5,
        "per_class_acc": [1.0, 0.0, 0.5],
        "confusion": [[1, 0, 0], [1, 0, 0], [0, 1, 1]],
        "classes": CLASSES,
        "misclassified": {"images": images, "predicted": [0, 1], "true": [1, 2], "index": [3, 7]},
    }

"""What a config's augmentations make of a few training images, for the gallery of hpo's report.

    preview(config, 8)
    -> {"images": uint8 array [8, H, W, C], "labels": ["3", "7", ...]}

The images go through the config's own `Pipeline.augment`, the transform every training
batch goes through, stopped before normalising. The same images and the same random draws
serve every config (a fixed seed, not the config's), so two configs' previews differ only
where their augmentations do. The run is on the CPU: the ops are the same code on every
device.
"""

from __future__ import annotations

import functools
import json

import torch

from trainers.augment import Pipeline
from trainers.config import augment_ops, validate_train_config
from trainers.data import load_data

__all__ = ["preview"]

PREVIEW_SEED = 0  # picks the images and draws the augmentations, the same for every config


def preview(config: dict, count: int) -> dict:
    """The first `count` training images (of the split carved with PREVIEW_SEED) as the
    config's augmentations make them.

    Returns:
        images: uint8 array [count, H, W, C], the transformed images on the 0..255 scale
            (H, W as the augmentations make them: `resize` and crops change them).
        labels: each image's class name.

    Raises:
        DatasetNotFoundError: the data set's files are not under `data.root`.
    """
    cfg = validate_train_config(config)
    images, labels, classes, mean, std = _training_images(cfg.data.model_dump_json(), count)
    pipeline = Pipeline(augment_ops(cfg), mean, std, "cpu")
    made = pipeline.augment(images, torch.Generator().manual_seed(PREVIEW_SEED))
    return {
        "images": made.float().round().clamp(0, 255).to(torch.uint8).permute(0, 2, 3, 1).numpy(),
        "labels": [classes[int(label)] for label in labels],
    }


@functools.lru_cache(maxsize=4)
def _training_images(data: str, count: int):
    """(images, labels, class names, mean, std) of the first `count` training images of the
    data config given as JSON: the report previews several configs of one data set, which is
    read once."""
    splits = load_data(validate_train_config({"data": json.loads(data)}).data, PREVIEW_SEED)
    # clones: a slice would keep the whole data set alive in the cache
    return splits.train_x[:count].clone(), splits.train_y[:count].clone(), splits.classes, splits.mean, splits.std

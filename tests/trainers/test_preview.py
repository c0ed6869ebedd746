"""trainers/preview.py: the images of hpo's augmentation gallery, as training makes them."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from conftest import tiny_config

from hpo.contract import contract_of
from trainers.augment import Pipeline
from trainers.config import AUGMENT_POLICIES, augment_ops, validate_train_config
from trainers.data import DatasetNotFoundError, load_data
from trainers.loop import train
from trainers.preview import PREVIEW_SEED, preview


def test_the_built_in_trainer_declares_it():
    assert contract_of(train).preview is preview


def test_without_augmentation_the_preview_is_the_first_training_images():
    config = tiny_config(data={"name": "digits", "val_fraction": 0.2})
    shown = preview(config, 5)
    data = load_data(validate_train_config(config).data, PREVIEW_SEED)
    assert shown["images"].dtype == np.uint8 and shown["images"].shape == (5, 8, 8, 1)
    assert np.array_equal(shown["images"], data.train_x[:5].permute(0, 2, 3, 1).numpy())
    assert shown["labels"] == [data.classes[int(y)] for y in data.train_y[:5]]


def test_the_preview_is_the_training_transform_before_normalising():
    """What a batch of training is, with the same images and random draws: normalising the
    preview gives the pipeline's training output, to the uint8 rounding."""
    config = tiny_config(augment="strong", data={"name": "synthetic", "shape": [3, 16, 16]})
    shown = torch.from_numpy(preview(config, 6)["images"]).permute(0, 3, 1, 2)
    data = load_data(validate_train_config(config).data, PREVIEW_SEED)
    pipeline = Pipeline(augment_ops(validate_train_config(config)), data.mean, data.std, "cpu")
    trained = pipeline.train(data.train_x[:6], torch.Generator().manual_seed(PREVIEW_SEED))
    half_a_level = 0.5 / (255 * min(data.std))
    normalised = (shown.float() / 255 - torch.tensor(data.mean).view(1, -1, 1, 1)) / torch.tensor(data.std).view(1, -1, 1, 1)
    assert (normalised - trained).abs().max() <= half_a_level + 1e-5


def test_policies_differ_and_the_config_seed_does_not_change_the_images():
    shown = {name: preview(tiny_config(augment=name), 8)["images"] for name in AUGMENT_POLICIES}
    assert all(not np.array_equal(shown["none"], shown[name]) for name in ("basic", "jitter", "strong"))
    assert np.array_equal(preview(tiny_config(augment="strong", seed=7), 8)["images"], shown["strong"])
    resized = preview(tiny_config(augment=[{"resize": 16}]), 2)["images"]
    assert resized.shape == (2, 16, 16, 1)


def test_missing_data_raises_what_train_would():
    with pytest.raises(DatasetNotFoundError, match="cifar10"):
        preview(tiny_config(data={"name": "cifar10", "root": "/nonexistent"}), 4)

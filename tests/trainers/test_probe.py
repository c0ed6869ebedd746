"""trainers/probe.py: the dry run of `hpo validate`."""

from __future__ import annotations

import pytest
from conftest import tiny_config

from trainers.probe import probe
from trainers.weights import ModuleNameError


def test_probe_reports_sizes_without_data_on_disk():
    found = probe(tiny_config(data={"name": "cifar10", "root": "/nonexistent"}))
    assert found["input_shape"] == (2, 3, 32, 32) and found["output_shape"] == (2, 10)
    assert found["parameters"] > 0
    assert found["activation_bytes"] == 2 * found["activation_bytes_per_sample"] > 0


def test_probe_batch_and_shape_changing_augmentations():
    config = tiny_config(data={"name": "stl10", "classes": ["car", "truck"]}, augment=[{"random_resized_crop": {"size": 48}}, "hflip"])
    found = probe(config, batch_size=3)
    assert found["input_shape"] == (3, 3, 48, 48) and found["output_shape"] == (3, 2)


def test_activation_bytes_grow_with_the_image():
    small = probe(tiny_config(data={"name": "cifar10"}))
    large = probe(tiny_config(data={"name": "cifar10"}, augment=[{"resize": 64}]))
    assert large["activation_bytes"] > 3 * small["activation_bytes"]


def test_impossible_shapes_raise_the_torch_error():
    config = tiny_config(model={"name": "cnn", "channels": [8, 8, 8, 8], "kernel_sizes": [7, 7, 7, 7]})
    with pytest.raises(RuntimeError, match="Output size is too small"):
        probe(config)


def test_probe_counts_the_trainable_parameters():
    whole = probe(tiny_config())
    assert whole["trainable_parameters"] == whole["parameters"]
    head_only = probe(tiny_config(model={"name": "cnn", "channels": [16, 32], "hidden": [64], "trainable": ["classifier.head"]}))
    assert head_only["parameters"] == whole["parameters"]
    assert head_only["trainable_parameters"] == 64 * 10 + 10


def test_probe_checks_the_group_lr_module_names():
    with pytest.raises(ModuleNameError, match=r"optimizer.group_lr: unknown module 'clasifier' \(did you mean 'classifier'\?\)"):
        probe(tiny_config(optimizer={"name": "adam", "group_lr": {"clasifier": 1e-2}}))

"""trainers/config.py: validation, error locations and messages, defaults, round trips."""

from __future__ import annotations

import pydantic
import pytest

from hpo.contract import StrictModel
from trainers.config import AUGMENT_POLICIES, augment_ops, validate_train_config
from trainers.data import dataset_shape

# (config, dotted error location, part of the message)
INVALID = [
    ({"bacth_size": 3}, "bacth_size", "did you mean 'batch_size'"),
    ({"model": {"name": "cnn", "chanels": [8]}}, "model.chanels", "did you mean 'channels'"),
    ({"model": {"name": "mlp", "channels": [8]}}, "model.channels", "unknown key 'channels'"),
    ({"model": {"name": "cnn", "channels": [8, 16], "kernel_sizes": [3]}}, "model", "kernel_sizes has 1 entries"),
    ({"model": {"name": "cnn", "channels": [8], "strides": [1, 2]}}, "model", "strides has 2 entries"),
    ({"model": {"name": "cnn", "dropout": 1.5}}, "model.dropout", "less than 1"),
    ({"model": {"name": "resnet19"}}, "model", "did you mean 'resnet18'"),
    ({"model": {"name": "vit", "dim": 30, "heads": 4}}, "model", "heads (4) must divide dim (30)"),
    ({"model": {"name": "vgg", "stages": [8, 16], "pool_after": [True]}}, "model", "pool_after has 1 entries"),
    ({"model": {"name": "mlp", "hidden": [0]}}, "model.hidden.0", "greater than or equal to 1"),
    ({"model": {"name": "resnet18", "freeze_until": "layer1", "trainable": ["layer2"]}}, "model", "not both"),
    ({"model": {"name": "resnet18", "trainable": []}}, "model.trainable", "at least 1 item"),
    ({"model": {"name": "resnet18", "trainable": ["fc", "fc"]}}, "model", "names a module twice"),
    ({"optimizer": {"name": "adam", "momentum": 0.9}}, "optimizer.momentum", "unknown key 'momentum'"),
    ({"optimizer": {"group_lr": {"fc": 0}}}, "optimizer.group_lr.fc", "greater than 0"),
    ({"optimizer": {"group_lr": {"fc": "fast"}}}, "optimizer.group_lr.fc", "valid number"),
    ({"optimizer": {"group_lr": {"fc": 0.1}, "head_lr": 0.1}}, "optimizer", "head_lr and group_lr"),
    ({"optimizer": {"group_lr": {"a.b": 0.1, "a": {"b": 0.2}}}}, "optimizer.group_lr", "given twice"),
    ({"optimizer": {"name": "sgd", "lr": -1}}, "optimizer.lr", "greater than 0"),
    ({"optimizer": {"name": "sgd", "momentum": 0.0, "nesterov": True}}, "optimizer", "nesterov needs momentum"),
    ({"optimizer": {"name": "lion"}}, "optimizer", "unknown optimizer name 'lion'"),
    ({"schedule": {"name": "cosin"}}, "schedule", "did you mean 'cosine'"),
    ({"schedule": {"name": "multistep", "milestones": [5, 2]}}, "schedule.milestones", "strictly increasing"),
    ({"data": {"name": "cifar10", "val_fraction": 0.1, "val_size": 10}}, "data", "not both"),
    ({"data": {"name": "cifar10", "val_fraction": 1.5}}, "data.val_fraction", "less than 1"),
    ({"data": {"name": "stl10", "classes": ["car", "dear"]}}, "data.classes", "did you mean 'deer'"),
    ({"data": {"name": "synthetic", "shape": [3, 0, 8]}}, "data.shape", "must be positive"),
    ({"data": {"name": "imagenet"}}, "data", "unknown data set name 'imagenet'"),
    ({"augment": ["hflp"]}, "augment.0", "did you mean 'hflip'"),
    ({"augment": "bsic"}, "augment", "did you mean 'basic'"),
    ({"augment": [{"rotate": -5}]}, "augment.0.rotate.degrees", "greater than or equal to 0"),
    ({"augment": [{"rotate": {"degree": 5}}]}, "augment.0.rotate.degree", "did you mean 'degrees'"),
    ({"augment": [{"resize": {}}]}, "augment.0.resize.size", "Field required"),
    ({"augment": [{"hflip": {"p": 2}}]}, "augment.0.hflip.p", "less than or equal to 1"),
    ({"augment": [{"color_jitter": 0.2}]}, "augment.0", "takes a mapping of parameters"),
    ({"augment": [{"hflip": {}, "vflip": {}}]}, "augment.0", "one-key mapping"),
    ({"augment": [{"random_erasing": {"scale": [0.5, 0.1]}}]}, "augment.0.random_erasing.scale", "low <= high"),
    ({"device": "gpu"}, "device", "auto, cpu, cuda or cuda:N"),
    ({"early_stopping": {"patience": 0}}, "early_stopping.patience", "greater than or equal to 1"),
    ({"epochs": 0}, "epochs", "greater than or equal to 1"),
]


@pytest.mark.parametrize("config, loc, message", INVALID, ids=[i[1] + ":" + i[2][:20] for i in INVALID])
def test_invalid_configs_name_the_key_and_the_rule(config, loc, message):
    with pytest.raises(pydantic.ValidationError) as info:
        validate_train_config(config)
    errors = info.value.errors()
    assert len(errors) == 1, errors
    assert ".".join(map(str, errors[0]["loc"])) == loc
    assert message in errors[0]["msg"]


def test_defaults_form_a_runnable_config():
    config = validate_train_config({})
    assert (config.data.name, config.model.name, config.optimizer.name) == ("digits", "cnn", "adam")
    assert config.data.val_fraction == 0.1 and config.data.val_size is None


@pytest.mark.parametrize(
    "config",
    [
        {},
        {"augment": "strong", "model": "vit", "schedule": "onecycle"},
        {"augment": ["hflip", {"rotate": 10}, {"resize": 96}, {"random_crop": {"padding": 2}}]},
        {"data": {"name": "stl10", "classes": ["car", "deer"], "val_size": 500}, "model": {"name": "resnet18", "head_hidden": [64]}},
        {"optimizer": {"name": "sgd", "lr": 0.1, "nesterov": True, "head_lr": 0.01}, "early_stopping": {"patience": 3}},
        {"model": {"name": "resnet18", "trainable": ["layer2", "fc"]}, "optimizer": {"group_lr": {"layer2": 1e-4, "fc": 1e-2}}},
    ],
)
def test_dump_validates_back_to_the_same_config(config):
    validated = validate_train_config(config)
    assert validate_train_config(validated.model_dump(mode="json")) == validated


def test_shorthands_expand():
    config = validate_train_config(
        {"model": "mlp", "schedule": "none", "augment": ["hflip", {"rotate": 15}, {"vflip": None}, {"resize": 64}]}
    )
    assert config.model.name == "mlp" and config.schedule.name == "none"
    ops = augment_ops(config)
    assert [name for name, _ in ops] == ["hflip", "rotate", "vflip", "resize"]
    assert ops[1][1].degrees == 15 and ops[2][1].p == 0.5 and ops[3][1].size == 64


@pytest.mark.parametrize("policy", sorted(AUGMENT_POLICIES))
def test_policies_expand_to_their_ops(policy):
    config = validate_train_config({"augment": policy})
    assert len(config.augment) == len(AUGMENT_POLICIES[policy])


def test_group_lr_nested_keys_spell_a_dotted_module_name():
    # what a space path optimizer.group_lr.classifier.head writes into the config
    optimizer = validate_train_config({"optimizer": {"group_lr": {"classifier": {"head": 0.1}, "body.0": 0.01}}}).optimizer
    assert optimizer.group_lr == {"classifier.head": 0.1, "body.0": 0.01}


def test_mapping_without_name_takes_the_default():
    config = validate_train_config({"model": {"channels": [8]}, "optimizer": {"lr": 0.1}})
    assert config.model.name == "cnn" and config.optimizer.name == "adam"


def test_val_size_replaces_val_fraction():
    data = validate_train_config({"data": {"name": "cifar10", "val_size": 5000}}).data
    assert data.val_size == 5000 and data.val_fraction is None


@pytest.mark.parametrize(
    "data, shape",
    [
        ({"name": "digits"}, (1, 8, 8, 10)),
        ({"name": "mnist"}, (1, 28, 28, 10)),
        ({"name": "fashion_mnist"}, (1, 28, 28, 10)),
        ({"name": "cifar10"}, (3, 32, 32, 10)),
        ({"name": "cifar100"}, (3, 32, 32, 100)),
        ({"name": "stl10"}, (3, 96, 96, 10)),
        ({"name": "stl10", "classes": ["car", "deer", "horse", "monkey", "truck"]}, (3, 96, 96, 5)),
        ({"name": "synthetic", "shape": [1, 12, 20], "num_classes": 3}, (1, 12, 20, 3)),
    ],
)
def test_dataset_shape_without_disk(data, shape):
    assert dataset_shape(data) == shape
    assert dataset_shape(validate_train_config({"data": data}).data) == shape


def test_strict_model_is_generic():
    class Sampler(StrictModel):
        type: str = "tpe"
        n_startup_trials: int = 10

    with pytest.raises(pydantic.ValidationError, match=r"unknown key 'n_startup' \(did you mean 'n_startup_trials'\?\)"):
        Sampler.model_validate({"n_startup": 3})
    with pytest.raises(pydantic.ValidationError, match=r"unknown key 'zzz' \(valid: n_startup_trials, type\)"):
        Sampler.model_validate({"zzz": 3})

"""trainers/registry.py, every registry's unknown-name message, and a model added from
outside trainers/: its builder and config, registered once, are all a config needs."""

from __future__ import annotations

from typing import Literal

import pydantic
import pytest
import torch
from conftest import synthetic_data
from pydantic import Field

from trainers.augment import get_augment
from trainers.config import TrainConfig, validate_train_config
from trainers.data import DATASETS
from trainers.loop import train
from trainers.models import MODELS, ModelBase, Net, create_model, features, list_models, register_model
from trainers.optim import OPTIMIZERS, SCHEDULES
from trainers.registry import Registry


def test_register_returns_the_item_and_lists_names_sorted():
    registry = Registry("widget")

    @registry.register("b")
    def b():
        return 2

    registry.register("a")(int)
    assert b() == 2 and registry.names() == ["a", "b"] and registry.get("b") is b


@pytest.mark.parametrize(
    "lookup, wrong, suggestion",
    [
        (MODELS.get, "resnet_18", "resnet18"),
        (OPTIMIZERS.get, "adamw2", "adamw"),
        (SCHEDULES.get, "cosin", "cosine"),
        (DATASETS.get, "cifar", "cifar10"),
        (get_augment, "erasing", "random_erasing"),
    ],
)
def test_unknown_names_suggest_the_closest(lookup, wrong, suggestion):
    with pytest.raises(KeyError, match=f"did you mean '{suggestion}'"):
        lookup(wrong)


def test_unknown_name_without_a_close_one_lists_all():
    with pytest.raises(KeyError, match=r"valid: adagrad, adam, adamw, rmsprop, sgd"):
        OPTIMIZERS.get("zzzzzz")


def test_a_config_must_carry_the_name_it_is_registered_under():
    with pytest.raises(ValueError, match="names itself 'tiny'"):
        MODELS.register("small", config=TinyModel)


# ----------------------------------------------------------------------------------------------
# A new model, written in this file only


class TinyModel(ModelBase):
    name: Literal["tiny"] = "tiny"
    width: int = Field(16, ge=1)  # the one hidden layer


def tiny(config, in_shape, num_classes) -> torch.nn.Module:
    return Net(torch.nn.Identity(), in_shape, [config.width], num_classes)


@pytest.fixture
def tiny_model():
    """Registers `tiny` for one test; the other tests see the registries as trainers/ makes them."""
    register_model("tiny", config=TinyModel)(tiny)
    yield
    MODELS.unregister("tiny")


def test_a_registered_model_validates_builds_and_trains(tiny_model, recorder):
    config = {"model": {"name": "tiny", "width": 8}, "data": synthetic_data(shape=(1, 8, 8)), "epochs": 1, "device": "cpu"}
    model_config = validate_train_config(config).model
    assert isinstance(model_config, TinyModel) and model_config.width == 8
    model = create_model(model_config, (1, 8, 8), 4)
    assert features(model, torch.zeros(2, 1, 8, 8))[0].shape == (2, 8)
    train(config, recorder)
    assert recorder.finished == [True]


def test_a_registered_model_has_its_own_error_locations(tiny_model):
    with pytest.raises(pydantic.ValidationError) as info:
        validate_train_config({"model": {"name": "tiny", "widht": 8}})
    (error,) = info.value.errors()
    assert error["loc"] == ("model", "widht") and "did you mean 'width'" in error["msg"]
    assert validate_train_config({"model": "tiny"}).model_dump()["model"] == TinyModel().model_dump()


def test_a_removed_model_is_unknown_again():
    register_model("tiny", config=TinyModel)(tiny)
    try:
        assert "TinyModel" in TrainConfig.model_json_schema()["$defs"]
    finally:
        MODELS.unregister("tiny")
    assert "tiny" not in list_models() and "TinyModel" not in TrainConfig.model_json_schema()["$defs"]
    with pytest.raises(pydantic.ValidationError, match="unknown model name 'tiny'"):
        validate_train_config({"model": "tiny"})

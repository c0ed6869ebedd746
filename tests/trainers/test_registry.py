"""trainers/registry.py, and every registry's unknown-name message."""

from __future__ import annotations

import pytest

from trainers.augment import get_augment
from trainers.data import _DATASETS
from trainers.models import _MODELS
from trainers.optim import _OPTIMIZERS, _SCHEDULES
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
        (_MODELS.get, "resnet_18", "resnet18"),
        (_OPTIMIZERS.get, "adamw2", "adamw"),
        (_SCHEDULES.get, "cosin", "cosine"),
        (_DATASETS.get, "cifar", "cifar10"),
        (get_augment, "erasing", "random_erasing"),
    ],
)
def test_unknown_names_suggest_the_closest(lookup, wrong, suggestion):
    with pytest.raises(KeyError, match=f"did you mean '{suggestion}'"):
        lookup(wrong)


def test_unknown_name_without_a_close_one_lists_all():
    with pytest.raises(KeyError, match=r"valid: adagrad, adam, adamw, rmsprop, sgd"):
        _OPTIMIZERS.get("zzzzzz")

"""The baseline and enqueued configs as labels of the space: pure functions on a parsed space."""

from __future__ import annotations

import pytest

from hpo.errors import SpecError
from hpo.spec.queue import NotInSpace, baseline_params, check_assignment
from hpo.spec.space import fill, parse_space

SPACE = parse_space(
    {
        "optimizer.lr": {"float": [1e-3, 3e-2], "log": True},
        "batch_size": {"choice": [32, 64]},
        "model.kernel_sizes": {"choice": {"k33": [3, 3], "k53": [5, 3]}},
        "epochs": {"int": [2, 10], "step": 2},
        "optimizer.name": {
            "choice": ["sgd", "adam"],
            "when": {"sgd": {"optimizer.momentum": {"float": [0.5, 0.95]}}, "adam": {"optimizer.beta1": {"float": [0.8, 0.99]}}},
        },
    },
    "s.yaml",
)
TRAIN = {
    "optimizer": {"name": "sgd", "lr": 3e-3, "momentum": 0.9, "beta1": 0.9},
    "batch_size": 64,
    "model": {"kernel_sizes": [5, 3]},
    "epochs": 4,
}


def test_the_baseline_is_train_in_labels_with_only_its_active_branch():
    params = baseline_params(SPACE, TRAIN)
    assert params == {
        "optimizer.lr": 3e-3,
        "batch_size": 64,
        "model.kernel_sizes": "k53",
        "epochs": 4,
        "optimizer.name": "sgd",
        "optimizer.momentum": 0.9,
    }
    assert fill(SPACE, TRAIN, lambda param: params[param.path]) == TRAIN  # the space gives back train itself


@pytest.mark.parametrize(
    ("change", "says"),
    [
        ({"optimizer": {**TRAIN["optimizer"], "lr": 0.1}}, "train.optimizer.lr is 0.1, outside space.optimizer.lr"),
        ({"epochs": 5}, "on the grid of step 2"),
        ({"batch_size": 48}, "none of the options of space.batch_size"),
        ({"model": {"kernel_sizes": [3, 5]}}, "none of the options of space.model.kernel_sizes"),
        ({"optimizer": {"name": "sgd", "lr": 3e-3}}, "train has no value at optimizer.momentum"),
    ],
)
def test_a_train_value_outside_the_space_has_no_baseline(change, says):
    with pytest.raises(NotInSpace, match=says):
        baseline_params(SPACE, {**TRAIN, **change})


def test_an_unused_branch_needs_no_train_value():
    train = {**TRAIN, "optimizer": {"name": "adam", "lr": 3e-3, "beta1": 0.9}}
    assert baseline_params(SPACE, train)["optimizer.beta1"] == 0.9


def test_a_partial_config_is_checked_and_choices_become_their_labels():
    checked = check_assignment(SPACE, {"model.kernel_sizes": "k33", "batch_size": 32, "optimizer.lr": 0.01, "epochs": 6.0}, "c.yaml")
    assert checked == {"model.kernel_sizes": "k33", "batch_size": 32, "optimizer.lr": 0.01, "epochs": 6}
    assert isinstance(checked["epochs"], int)
    assert check_assignment(SPACE, {"optimizer.momentum": 0.6}, "c.yaml") == {"optimizer.momentum": 0.6}  # applies if sgd is drawn


@pytest.mark.parametrize(
    ("raw", "where", "says"),
    [
        ({"optimizer.learning_rate": 0.01}, "c.yaml: optimizer.learning_rate:", "not a key of the space"),
        ({"optimizer.lr": 0.5}, "c.yaml: optimizer.lr:", r"a number \(0.5\) is outside the space; expected a number in \[0.001, 0.03\]"),
        ({"batch_size": "64"}, "c.yaml: batch_size:", "expected one of 32, 64"),
        ({"batch_size": True}, "c.yaml: batch_size:", "not an option"),
        ({"model.kernel_sizes": [3, 3]}, "c.yaml: model.kernel_sizes:", "expected one of 'k33', 'k53'"),
        ({"epochs": 3}, "c.yaml: epochs:", "step 2"),
        ({"optimizer.name": "adam", "optimizer.momentum": 0.6}, "c.yaml: optimizer.momentum:", "only under optimizer.name: 'sgd'"),
        ([0.01], "c.yaml:", "expected a mapping"),
        ({}, "c.yaml:", "is empty"),
    ],
)
def test_a_config_outside_the_space_is_refused_naming_the_key(raw, where, says):
    with pytest.raises(SpecError, match=says) as refused:
        check_assignment(SPACE, raw, "c.yaml")
    assert str(refused.value).startswith(where)


def test_a_whole_sub_config_option_matches_train_with_the_values_searched_under_it():
    space = parse_space(
        {
            "optimizer": {
                "choice": {"adam": {"name": "adam", "lr": 1e-3}, "sgd": {"name": "sgd", "lr": 1e-3, "momentum": 0.9}},
                "when": {"adam": {"optimizer.lr": {"float": [1e-4, 1e-2], "log": True}}},
            }
        },
        "s.yaml",
    )
    train = {"optimizer": {"name": "adam", "lr": 3e-3}}
    params = baseline_params(space, train)
    assert params == {"optimizer": "adam", "optimizer.lr": 3e-3}
    assert fill(space, train, lambda param: params[param.path]) == train
    with pytest.raises(NotInSpace, match="none of the options of space.optimizer"):
        baseline_params(space, {"optimizer": {"name": "sgd", "lr": 3e-3, "momentum": 0.9}})  # sgd searches no lr

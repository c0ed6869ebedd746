"""The space: parsing into parameters, filling a config, grids and corners."""

from __future__ import annotations

import optuna
import pytest

from hpo.spec.space import (
    ChoiceParam,
    FloatParam,
    IntParam,
    assignments,
    parse_space,
    replay,
    sample,
    set_path,
    variants,
)

# (YAML-shaped space entry, the parameter it must become): table-driven, as hydra's sweeper tests
PARSE_TABLE = [
    ({"lr": {"float": [1e-4, 1e-1], "log": True}}, FloatParam("lr", 1e-4, 1e-1, log=True)),
    ({"p": {"float": [0.0, 0.5], "step": 0.1}}, FloatParam("p", 0.0, 0.5, step=0.1)),
    ({"n": {"int": [1, 9]}}, IntParam("n", 1, 9)),
    ({"n": {"int": [2, 64], "log": True}}, IntParam("n", 2, 64, log=True)),
    ({"n": {"int": [16, 128], "step": 16}}, IntParam("n", 16, 128, step=16)),
    ({"b": {"choice": [16, 32]}}, ChoiceParam("b", ((16, 16), (32, 32)))),
    ({"k": {"choice": {"k3": [3, 3], "k5": [5, 5]}}}, ChoiceParam("k", (("k3", [3, 3]), ("k5", [5, 5])))),
]


@pytest.mark.parametrize(("raw", "expected"), PARSE_TABLE)
def test_parse_table(raw, expected):
    assert parse_space(raw, "s.yaml") == (expected,)


def test_choice_stores_label_and_substitutes_value():
    space = parse_space({"model.kernel_sizes": {"choice": {"k553": [5, 5, 3]}}}, "s.yaml")
    study = optuna.create_study()
    trial = study.ask()
    config = sample(trial, space, {"model": {"kernel_sizes": [3, 3, 3]}})
    assert trial.params == {"model.kernel_sizes": "k553"}
    assert config["model"]["kernel_sizes"] == [5, 5, 3]


def test_choice_value_is_a_copy():
    space = parse_space({"augment": {"choice": {"basic": ["hflip"]}}}, "s.yaml")
    first = replay(space, {}, {"augment": "basic"})
    first["augment"].append("vflip")
    assert replay(space, {}, {"augment": "basic"})["augment"] == ["hflip"]


def test_conditional_parameter_only_under_its_option():
    space = parse_space(
        {
            "optimizer.name": {
                "choice": ["sgd", "adam"],
                "when": {"sgd": {"optimizer.momentum": {"float": [0.5, 0.9]}}},
            }
        },
        "s.yaml",
    )
    study = optuna.create_study(sampler=optuna.samplers.RandomSampler(seed=1))
    seen = set()
    for _ in range(20):
        trial = study.ask()
        config = sample(trial, space, {"optimizer": {"name": "adam", "lr": 0.1}})
        name = trial.params["optimizer.name"]
        seen.add(name)
        assert ("optimizer.momentum" in trial.params) == (name == "sgd")
        assert ("momentum" in config["optimizer"]) == (name == "sgd")
        study.tell(trial, 0.0)
    assert seen == {"sgd", "adam"}


def test_branch_may_set_a_key_inside_its_parents_value():
    space = parse_space(
        {"model": {"choice": {"small": {"name": "cnn", "channels": [8]}}, "when": {"small": {"model.dropout": {"float": [0.0, 0.5]}}}}},
        "s.yaml",
    )
    config = replay(space, {"model": {"name": "mlp"}}, {"model": "small", "model.dropout": 0.25})
    assert config["model"] == {"name": "cnn", "channels": [8], "dropout": 0.25}


def test_grid_crosses_conditional_parameters_only_with_their_option():
    space = parse_space(
        {
            "batch_size": {"choice": [32, 64]},
            "optimizer.name": {
                "choice": ["sgd", "adam"],
                "when": {"sgd": {"optimizer.momentum": {"float": [0.0, 0.9], "step": 0.45}}},
            },
        },
        "s.yaml",
    )
    grid = assignments(space, "s.yaml")
    # batch 2 x (sgd x 3 momenta + adam) = 8, not 2 x 2 x 3 = 12
    assert len(grid) == 8
    assert {"batch_size": 32, "optimizer.name": "adam"} in grid
    assert all(("optimizer.momentum" in g) == (g["optimizer.name"] == "sgd") for g in grid)


def test_grid_refuses_a_continuous_float():
    space = parse_space({"optimizer.lr": {"float": [0.1, 0.2]}}, "s.yaml")
    with pytest.raises(Exception, match="space.optimizer.lr: the grid sampler needs a finite set"):
        assignments(space, "s.yaml")


def test_variants_visit_every_extreme_and_both_corners():
    space = parse_space(
        {"lr": {"float": [0.1, 0.2]}, "k": {"choice": {"a": 1, "b": 2, "c": 3}}},
        "s.yaml",
    )
    found = variants(space)
    assert {"lr": 0.1} in found and {"lr": 0.2} in found
    assert all({"k": label} in found for label in "abc")
    assert {"lr": 0.1, "k": "a"} in found and {"lr": 0.2, "k": "c"} in found


def test_set_path_into_lists_and_missing_mappings():
    config = {"model": {"channels": [8, 16]}}
    set_path(config, "model.channels.1", 32)
    set_path(config, "schedule.name", "cosine")
    assert config == {"model": {"channels": [8, 32]}, "schedule": {"name": "cosine"}}
    with pytest.raises(KeyError, match="no index 5"):
        set_path(config, "model.channels.5", 1)
    with pytest.raises(KeyError, match="has no key"):
        set_path(config, "model.channels.0.x", 1)


def test_same_seed_same_configs():
    space = parse_space({"lr": {"float": [1e-4, 1e-1], "log": True}, "b": {"choice": [16, 32, 64]}}, "s.yaml")

    def run(seed):
        study = optuna.create_study(sampler=optuna.samplers.TPESampler(seed=seed, n_startup_trials=3))
        configs = []
        for i in range(6):
            trial = study.ask()
            configs.append(sample(trial, space, {}))
            study.tell(trial, float(i))
        return configs

    assert run(3) == run(3)
    assert run(3) != run(4)

"""trainers/optim.py: every optimizer and schedule, warmup, head_lr; each one trains."""

from __future__ import annotations

import math

import pytest
import torch
from conftest import tiny_config

from trainers.config import validate_train_config
from trainers.loop import train
from trainers.models import create_model
from trainers.optim import create_optimizer, create_schedule, list_optimizers, list_schedules


def schedule(config: dict, epochs: int = 10):
    return create_schedule(validate_train_config({"schedule": config}).schedule, epochs)


def test_registries_list_every_name():
    assert list_optimizers() == ["adagrad", "adam", "adamw", "rmsprop", "sgd"]
    assert list_schedules() == ["cosine", "multistep", "none", "onecycle", "plateau", "step"]


@pytest.mark.parametrize("name", list_optimizers())
def test_every_optimizer_trains(name, recorder):
    result = train(tiny_config(optimizer={"name": name, "lr": 1e-2, "weight_decay": 1e-4}, epochs=2), recorder)
    assert result["val_acc"] > 0.5 and math.isfinite(result["train_loss"])


@pytest.mark.parametrize("name", list_schedules())
def test_every_schedule_trains(name, recorder):
    train(tiny_config(schedule={"name": name, "warmup_epochs": 0.5}, epochs=3), recorder)
    lrs = [r["lr"] for r in recorder.reports]
    assert all(0 < lr <= 3e-3 * (1 + 1e-9) for lr in lrs)
    assert recorder.reports[-1]["val_acc"] > 0.5


# (schedule config, epochs, {epoch: expected multiplier})
FACTORS = [
    ({"name": "none"}, 10, {0: 1.0, 9.9: 1.0}),
    ({"name": "cosine"}, 10, {0: 1.0, 5: 0.5, 10: 0.0}),
    ({"name": "cosine", "min_lr_ratio": 0.1}, 10, {10: 0.1, 5: 0.55}),
    ({"name": "multistep", "milestones": [2, 5], "gamma": 0.5}, 10, {1.9: 1.0, 2: 0.5, 4.9: 0.5, 5: 0.25}),
    ({"name": "step", "step_size": 3, "gamma": 0.1}, 10, {2.9: 1.0, 3: 0.1, 6.5: 0.01}),
    ({"name": "onecycle", "pct_start": 0.3, "div_factor": 25, "final_div_factor": 1e4}, 10, {0: 1 / 25, 3: 1.0, 10: 1 / 25e4}),
    ({"name": "cosine", "warmup_epochs": 2}, 10, {0: 0.0, 1: 0.5 * (0.5 + 0.5 * math.cos(math.pi / 10))}),
]


@pytest.mark.parametrize("config, epochs, expected", FACTORS)
def test_schedule_factors(config, epochs, expected):
    s = schedule(config, epochs)
    for epoch, factor in expected.items():
        assert s(epoch) == pytest.approx(factor, abs=1e-9), epoch


def test_plateau_reduces_after_patience_and_stops_at_the_floor():
    s = schedule({"name": "plateau", "factor": 0.5, "patience": 1, "min_lr_ratio": 0.2})
    factors = []
    for acc in [0.5, 0.6, 0.6, 0.6, 0.7, 0.7, 0.7, 0.7, 0.7, 0.7]:
        s.end_of_epoch(acc)
        factors.append(s(5))
    assert factors == [1, 1, 1, 0.5, 0.5, 0.5, 0.25, 0.25, 0.2, 0.2]


def test_head_lr_gives_the_head_its_own_group():
    model = create_model(validate_train_config({"model": {"name": "resnet18", "freeze_until": "layer3"}}).model, (3, 32, 32), 10)
    config = validate_train_config({"optimizer": {"name": "sgd", "lr": 1e-3, "head_lr": 1e-1}}).optimizer
    opt = create_optimizer(model, config)
    body, head = opt.param_groups
    assert (body["lr"], head["lr"]) == (1e-3, 1e-1)
    assert {id(p) for p in head["params"]} == {id(model.fc.weight), id(model.fc.bias)}
    assert len(body["params"]) == len(list(model.layer4.parameters()))  # frozen layers left out


def test_grad_clip_and_label_smoothing_run(recorder):
    result = train(tiny_config(grad_clip=0.5, label_smoothing=0.1, epochs=2), recorder)
    assert result["val_acc"] > 0.5


def test_sgd_momentum_and_nesterov_reach_torch():
    model = torch.nn.Linear(2, 2)
    model.head_name = ""
    config = validate_train_config({"optimizer": {"name": "sgd", "lr": 0.1, "momentum": 0.8, "nesterov": True}}).optimizer
    group = create_optimizer(model, config).param_groups[0]
    assert (group["momentum"], group["nesterov"]) == (0.8, True)

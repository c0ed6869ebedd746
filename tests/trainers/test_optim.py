"""trainers/optim.py: every optimizer and schedule, warmup, head_lr and group_lr; each one trains."""

from __future__ import annotations

import math

import pytest
import torch
from conftest import tiny_config

from trainers.config import validate_train_config
from trainers.loop import train
from trainers.models import create_model
from trainers.optim import create_optimizer, create_schedule, list_optimizers, list_schedules, scale_lr
from trainers.weights import ModuleNameError


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


def finetuned_resnet(trainable=("layer2", "fc")):
    return create_model(validate_train_config({"model": {"name": "resnet18", "trainable": list(trainable)}}).model, (3, 32, 32), 10)


def optimizer_config(**optimizer):
    return validate_train_config({"optimizer": optimizer}).optimizer


def test_group_lr_gives_each_named_module_its_rate():
    model = finetuned_resnet()
    opt = create_optimizer(model, optimizer_config(name="adamw", weight_decay=0.05, group_lr={"layer2": 1e-4, "fc": 1e-2}))
    assert [(g["name"], g["lr"], g["base_lr"]) for g in opt.param_groups] == [("layer2", 1e-4, 1e-4), ("fc", 1e-2, 1e-2)]
    assert [len(g["params"]) for g in opt.param_groups] == [len(list(model.layer2.parameters())), 2]  # nothing frozen
    assert all(g["weight_decay"] == 0.05 for g in opt.param_groups)


def test_group_lr_leaves_the_other_trainable_parameters_at_lr():
    model = finetuned_resnet(["layer3", "layer4", "fc"])
    opt = create_optimizer(model, optimizer_config(name="sgd", lr=1e-3, group_lr={"fc": 1e-1}))
    rest, fc = opt.param_groups
    assert (rest["name"], rest["lr"], fc["name"], fc["lr"]) == ("rest", 1e-3, "fc", 1e-1)
    assert {id(p) for p in rest["params"]} == {id(p) for p in [*model.layer3.parameters(), *model.layer4.parameters()]}


def test_the_schedule_scales_every_group_alike():
    model = finetuned_resnet()
    opt = create_optimizer(model, optimizer_config(group_lr={"layer2": 1e-4, "fc": 1e-2}))
    cosine = schedule({"name": "cosine", "warmup_epochs": 1}, epochs=10)
    for epoch, factor in [(0.5, 0.5 * cosine.factor(0.5)), (5.5, cosine.factor(5.5)), (10, 0.0)]:  # warmup, cosine, end
        scale_lr(opt, cosine(epoch))
        assert [g["lr"] for g in opt.param_groups] == pytest.approx([1e-4 * factor, 1e-2 * factor], abs=1e-15)


def test_group_lr_reaches_a_dotted_module_given_as_nested_keys():
    model = create_model(validate_train_config({}).model, (1, 8, 8), 10)  # the cnn's head is classifier.head
    opt = create_optimizer(model, optimizer_config(lr=1e-3, group_lr={"classifier": {"head": 1e-2}}))
    assert [g["name"] for g in opt.param_groups] == ["rest", "classifier.head"]
    assert opt.param_groups[1]["params"] == list(model.classifier.head.parameters())


@pytest.mark.parametrize(
    "optimizer, message",
    [
        ({"group_lr": {"layr2": 1e-4}}, "optimizer.group_lr: unknown module 'layr2' (did you mean 'layer2'?)"),
        ({"group_lr": {"layer3": 1e-4}}, "optimizer.group_lr: module 'layer3' has no trainable parameters"),
        ({"group_lr": {"layer2": 1e-4, "layer2.0": 1e-3}}, "optimizer.group_lr: modules 'layer2' and 'layer2.0' overlap"),
        ({"head_lr": 1e-2}, "optimizer.head_lr: module 'fc' has no trainable parameters"),
    ],
)
def test_group_lr_refuses_modules_it_cannot_use(optimizer, message):
    with pytest.raises(ModuleNameError) as info:
        create_optimizer(finetuned_resnet(["layer2"]), optimizer_config(**optimizer))
    assert str(info.value).startswith(message)
    assert info.value.key == message.split(":")[0]


def test_grad_clip_and_label_smoothing_run(recorder):
    result = train(tiny_config(grad_clip=0.5, label_smoothing=0.1, epochs=2), recorder)
    assert result["val_acc"] > 0.5


def test_sgd_momentum_and_nesterov_reach_torch():
    model = torch.nn.Linear(2, 2)
    model.head_name = ""
    config = validate_train_config({"optimizer": {"name": "sgd", "lr": 0.1, "momentum": 0.8, "nesterov": True}}).optimizer
    group = create_optimizer(model, config).param_groups[0]
    assert (group["momentum"], group["nesterov"]) == (0.8, True)

"""search_spaces/*.yaml: every train block validates, every searched value gives a valid
config, and each train block trains one short epoch on synthetic data of its data set's shape."""

from __future__ import annotations

import copy
import pathlib

import pytest
import torch
import yaml
from conftest import Recorder

from trainers.config import validate_train_config
from trainers.data import dataset_shape
from trainers.loop import train

ROOT = pathlib.Path(__file__).resolve().parents[2] / "search_spaces"
FILES = [
    "cifar10_cnn.yaml",
    "cifar10_grid.yaml",
    "cifar100_convnet.yaml",
    "stl10_finetune.yaml",
    "mnist_cnn.yaml",
    "cifar10_finetune.yaml",
    "cifar100_vgg.yaml",
]
SLOW = {"cifar10_finetune.yaml", "cifar100_vgg.yaml", "cifar100_convnet.yaml", "stl10_finetune.yaml"}  # 96-224 px


def load(name: str) -> dict:
    return yaml.safe_load((ROOT / name).read_text())


def set_path(config: dict, path: str, value) -> dict:
    config = copy.deepcopy(config)
    *parents, leaf = path.split(".")
    node = config
    for key in parents:
        node = node.setdefault(key, {})
    node[leaf] = value
    return config


def searched_values(dist: dict) -> list:
    """The values a distribution can give: every choice, or the bounds of a range."""
    if "choice" in dist:
        choice = dist["choice"]
        return list(choice.values()) if isinstance(choice, dict) else list(choice)
    return list(dist.get("float") or dist.get("int"))


def assignments(space: dict):
    """(path, value) pairs, each with the conditional values that come with it."""
    for path, dist in space.items():
        for value in searched_values(dist):
            yield [(path, value)]
            branches = dist.get("when") or {}
            branch = branches.get(value, {}) if isinstance(value, (str, int, float, bool)) else {}
            for sub_path, sub_dist in branch.items():
                for sub_value in searched_values(sub_dist):
                    yield [(path, value), (sub_path, sub_value)]


@pytest.mark.parametrize("name", FILES)
def test_header_says_which_report(name):
    assert (ROOT / name).read_text().startswith("# Report 00")


@pytest.mark.parametrize("name", FILES)
def test_every_searched_value_gives_a_valid_config(name):
    spec = load(name)
    validate_train_config(spec["train"])
    for assignment in assignments(spec["space"]):
        config = spec["train"]
        for path, value in assignment:
            config = set_path(config, path, value)
        validate_train_config(config)


def _pretrained_file(model: dict, data: dict, directory: pathlib.Path) -> str:
    """Stand-in for the file a YAML names: fresh weights of the architecture it expects."""
    if model["name"] == "resnet18":  # torchvision's own key names
        import torchvision

        state = torchvision.models.resnet18(weights=None).state_dict()
    else:  # our saved model.pt, here with a 100-way head as after CIFAR-100
        from trainers.models import create_model

        source = validate_train_config({"model": {**model, "pretrained": None}}).model
        state = create_model(source, dataset_shape(data)[:3], 100).state_dict()
    path = directory / "pretrained.pt"
    torch.save(state, path)
    return str(path)


@pytest.mark.parametrize("name", [pytest.param(n, marks=pytest.mark.slow) if n in SLOW else n for n in FILES])
def test_train_block_trains_one_epoch_on_synthetic_data(name, tmp_path):
    config = load(name)["train"]
    c, h, w, k = dataset_shape(config["data"])
    if config["model"].get("pretrained"):
        config["model"]["pretrained"] = _pretrained_file(config["model"], config["data"], tmp_path)
    config["data"] = {"name": "synthetic", "shape": [c, h, w], "num_classes": k, "size": 12, "test_size": 4, "val_size": 4}
    config.update(epochs=1, batch_size=4, device="cpu")
    recorder = Recorder()
    result = train(config, recorder)
    assert recorder.finished == [True] and len(result["per_class_acc"]) == k


def test_cifar10_finetune_trains_the_middle_block_and_the_head_at_their_own_rates():
    """Report 001's layer2 runs: everything else frozen, each trained part at a searched rate."""
    from trainers.models import create_model
    from trainers.optim import create_optimizer

    spec = load("cifar10_finetune.yaml")
    assert {path for path in spec["space"] if path.startswith("optimizer.")} >= {"optimizer.group_lr.layer2", "optimizer.group_lr.fc"}
    cfg = validate_train_config(set_path(spec["train"], "model.pretrained", None))
    model = create_model(cfg.model, (3, 32, 32), 10)
    assert {name.split(".")[0] for name, p in model.named_parameters() if p.requires_grad} == {"layer2", "fc"}
    groups = create_optimizer(model, cfg.optimizer).param_groups
    assert [(g["name"], g["lr"]) for g in groups] == [("layer2", 1e-4), ("fc", 1e-2)]  # the report's rates

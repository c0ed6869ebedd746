"""trainers/models.py: every registered model builds, runs and exposes its head and features;
pretrained weights load only as tensors; freezing (freeze_until, trainable) and what a frozen
part does in training."""

from __future__ import annotations

import pathlib

import pytest
import torch

from trainers.config import validate_train_config
from trainers.models import MODELS, ModuleNameError, PretrainedWeightsError, create_model, features, head, list_models
from trainers.optim import create_optimizer
from trainers.weights import train_mode

SLOW = {"vgg16", "alexnet", "efficientnet_v2_s"}  # > 100M parameters or seconds to build
SHAPES = {"alexnet": (3, 64, 64), "lenet5": (1, 28, 28), "mlp": (1, 8, 8)}  # alexnet needs >= 63 px


def model_config(model: dict):
    return validate_train_config({"model": model}).model


def test_every_model_is_registered_with_its_config():
    assert sorted(MODELS.configs()) == list_models()
    assert all(config.model_fields["name"].default == name for name, config in MODELS.configs().items())


@pytest.mark.parametrize("name", [pytest.param(n, marks=pytest.mark.slow) if n in SLOW else n for n in list_models()])
def test_model_builds_runs_and_exposes_head_and_features(name):
    shape = SHAPES.get(name, (3, 32, 32))
    model = create_model(model_config({"name": name}), shape, 7)
    x = torch.randn(2, *shape)
    feats, logits = features(model, x)
    assert logits.shape == (2, 7)
    assert isinstance(head(model), torch.nn.Module) and feats.ndim == 2 and len(feats) == 2
    logits.sum().backward()
    assert all(p.grad is not None for p in head(model).parameters())


@pytest.mark.parametrize(
    "model, shape",
    [
        ({"name": "cnn", "channels": [8, 16], "kernel_sizes": [5, 3], "strides": [2, 1], "dilations": [1, 2], "pool": "avg"}, (1, 28, 28)),
        ({"name": "cnn", "channels": [8], "pool": "none", "global_pool": True, "batch_norm": False, "hidden": []}, (3, 9, 13)),
        ({"name": "cnn", "channels": [4, 4], "conv_dropout": 0.2, "dropout": 0.3}, (1, 8, 8)),
        ({"name": "mlp", "hidden": [32, 16], "batch_norm": True, "dropout": 0.1}, (3, 4, 4)),
        ({"name": "lenet5", "activation": "tanh", "pool": "avg", "batch_norm": True}, (3, 32, 32)),
        ({"name": "convnet5", "width": 8}, (3, 96, 96)),
        ({"name": "vgg", "stages": [8, 16], "convs_per_stage": 1, "pool_after": [True, True], "hidden": [32]}, (3, 16, 16)),
        ({"name": "vit", "patch_size": 2, "dim": 16, "depth": 2, "heads": 2}, (1, 8, 8)),
        ({"name": "resnet18", "head_hidden": [32], "head_dropout": 0.5}, (1, 32, 32)),
        ({"name": "mobilenet_v3_small", "head_dropout": 0.2}, (3, 32, 32)),
    ],
)
def test_model_options(model, shape):
    logits = create_model(model_config(model), shape, 3)(torch.randn(2, *shape))
    assert logits.shape == (2, 3)


def test_cnn_is_report_003s_network():
    model = create_model(model_config({"name": "cnn", "channels": [32, 64, 128], "pool": "avg", "hidden": [512, 128]}), (3, 32, 32), 10)
    assert model.classifier.fc0.in_features == 128 * 4 * 4
    assert (model.classifier.fc1.in_features, model.classifier.fc1.out_features) == (512, 128)
    assert isinstance(model.body[0][1], torch.nn.BatchNorm2d) and isinstance(model.body[0][3], torch.nn.AvgPool2d)


def test_impossible_shape_raises_the_torch_error():
    with pytest.raises(RuntimeError, match="too small"):
        create_model(model_config({"name": "cnn", "channels": [4, 4, 4, 4]}), (1, 8, 8), 10)


def test_vit_patch_must_divide_the_image():
    with pytest.raises(ValueError, match="patch_size 4 must divide"):
        create_model(model_config({"name": "vit", "patch_size": 4}), (1, 6, 6), 10)


# ----------------------------------------------------------------------------------------------
# Pretrained weights and freezing


def test_pretrained_state_dict_loads_with_a_new_head(tmp_path):
    source = create_model(model_config({"name": "cnn", "channels": [8, 16], "hidden": [32]}), (3, 16, 16), 100)
    torch.save(source.state_dict(), tmp_path / "model.pt")
    config = model_config({"name": "cnn", "channels": [8, 16], "hidden": [32], "pretrained": str(tmp_path / "model.pt")})
    model = create_model(config, (3, 16, 16), 5)
    assert torch.equal(model.body[0][0].weight, source.body[0][0].weight)
    assert torch.equal(model.classifier.fc0.weight, source.classifier.fc0.weight)
    assert head(model).out_features == 5


def test_torchvision_state_dict_loads_into_its_architecture(tmp_path):
    import torchvision

    source = torchvision.models.resnet18(weights=None)
    torch.save(source.state_dict(), tmp_path / "resnet18.pth")
    for channels in (3, 1):  # gray images use the same file
        config = model_config({"name": "resnet18", "pretrained": str(tmp_path / "resnet18.pth"), "freeze_until": "layer3"})
        model = create_model(config, (channels, 32, 32), 10)
        layer4 = model.get_submodule("layer4" if channels == 3 else "net.layer4")
        assert torch.equal(layer4[0].conv1.weight, source.layer4[0].conv1.weight)


def test_malicious_pickle_is_refused_without_running(tmp_path):
    marker = tmp_path / "code_ran"

    class Payload:
        def __reduce__(self):
            return (pathlib.Path.touch, (marker,))

    path = tmp_path / "evil.pt"
    torch.save({"weight": Payload()}, path)
    with pytest.raises(PretrainedWeightsError, match="refusing to load"):
        create_model(model_config({"name": "mlp", "pretrained": str(path)}), (1, 8, 8), 10)
    assert not marker.exists()


@pytest.mark.parametrize(
    "content, message",
    [
        (None, "not found"),
        ([1, 2, 3], "not a state_dict"),
        ({"foo.weight": torch.zeros(2)}, "does not fit this model"),
    ],
)
def test_bad_pretrained_files(tmp_path, content, message):
    path = tmp_path / "weights.pt"
    if content is not None:
        torch.save(content, path)
    with pytest.raises(PretrainedWeightsError, match=message):
        create_model(model_config({"name": "mlp", "pretrained": str(path)}), (1, 8, 8), 10)


def test_freeze_until_freezes_up_to_and_including_the_module():
    model = create_model(model_config({"name": "resnet18", "freeze_until": "layer3"}), (3, 32, 32), 10)
    trainable = {name.split(".")[0] for name, p in model.named_parameters() if p.requires_grad}
    assert trainable == {"layer4", "fc"}
    frozen_only_head = create_model(model_config({"name": "cnn", "freeze_until": "classifier.bn1"}), (1, 8, 8), 10)
    assert [n for n, p in frozen_only_head.named_parameters() if p.requires_grad] == ["classifier.head.weight", "classifier.head.bias"]


def test_freeze_until_unknown_module_suggests():
    with pytest.raises(ModuleNameError, match="model.freeze_until: unknown module 'layer33' .did you mean 'layer3'") as info:
        create_model(model_config({"name": "resnet18", "freeze_until": "layer33"}), (3, 32, 32), 10)
    assert info.value.key == "model.freeze_until"


def trainable_names(model) -> list[str]:
    return [name for name, p in model.named_parameters() if p.requires_grad]


def test_trainable_trains_the_named_modules_and_freezes_the_rest():
    model = create_model(model_config({"name": "resnet18", "trainable": ["layer2", "fc"]}), (3, 32, 32), 10)
    assert {name.split(".")[0] for name in trainable_names(model)} == {"layer2", "fc"}
    assert trainable_names(model) == [n for n, _ in model.named_parameters() if n.startswith(("layer2.", "fc."))]
    # any depth: one conv of a block and the head
    model = create_model(model_config({"name": "resnet18", "trainable": ["layer2.0.conv1", "fc"]}), (3, 32, 32), 10)
    assert trainable_names(model) == ["layer2.0.conv1.weight", "fc.weight", "fc.bias"]


def test_trainable_names_of_a_wrapped_network_leave_out_its_prefix():
    model = create_model(model_config({"name": "resnet18", "trainable": ["layer4", "fc"]}), (1, 32, 32), 10)
    assert {name.split(".")[1] for name in trainable_names(model)} == {"layer4", "fc"}


@pytest.mark.parametrize(
    "name, message",
    [
        ("layr2", "unknown module 'layr2' (did you mean 'layer2'?)"),
        ("layer2.0.con1", "unknown module 'layer2.0.con1' (did you mean 'layer2.0.conv1'?)"),
        ("zzz", "unknown module 'zzz' (valid: avgpool, bn1, conv1, fc, layer1, layer2, layer3, layer4, maxpool, relu)"),
        ("relu", "module 'relu' has no parameters"),
    ],
)
def test_trainable_unknown_module_names_the_key_and_suggests(name, message):
    with pytest.raises(ModuleNameError) as info:
        create_model(model_config({"name": "resnet18", "trainable": [name, "fc"]}), (3, 32, 32), 10)
    assert str(info.value) == f"model.trainable: {message}"
    assert info.value.key == "model.trainable"


@pytest.mark.parametrize("freeze", [{"trainable": ["body.1", "classifier"]}, {"freeze_until": "body.0"}])
def test_one_step_moves_only_what_trains_and_frozen_batch_norm_keeps_its_statistics(freeze):
    """body.0 (conv, batch norm) is frozen, body.1 and the classifier train."""
    torch.manual_seed(0)
    model = create_model(model_config({"name": "cnn", "channels": [4, 8], "hidden": [16], **freeze}), (1, 8, 8), 3)
    before = {k: v.clone() for k, v in model.state_dict().items()}
    optimizer = create_optimizer(model, validate_train_config({"optimizer": {"name": "sgd", "lr": 0.1}}).optimizer)
    train_mode(model)
    assert not model.body[0][1].training and model.body[1][1].training and model.training
    torch.nn.functional.cross_entropy(model(torch.randn(8, 1, 8, 8)), torch.randint(0, 3, (8,))).backward()
    optimizer.step()
    for name, p in model.named_parameters():
        frozen = name.startswith("body.0.")
        assert (p.grad is None) == frozen, name
        assert torch.equal(p, before[name]) == frozen, name
    after = model.state_dict()
    assert all(torch.equal(after[k], before[k]) for k in before if k.startswith("body.0."))  # running stats too
    assert not torch.equal(after["body.1.1.running_mean"], before["body.1.1.running_mean"])


def test_nothing_frozen_trains_every_batch_norm():
    model = train_mode(create_model(model_config({"name": "cnn"}), (1, 8, 8), 3))
    assert all(module.training for module in model.modules())

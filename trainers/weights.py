"""A model's weights and frozen layers: `model.pretrained`, `model.freeze_until` and
`model.trainable`, and the trained weights `hpo evaluate` scores (`load_weights`).

Weights are read only as tensors (torch.load with weights_only=True), never as code. A model
that wraps another (gray images fed to an RGB network) says so with `inner_prefix`, the
prefix of the wrapped network's keys and module names: pretrained files and names may leave
it out.
"""

from __future__ import annotations

import os
from typing import cast

import torch
from torch import nn

from hpo.contract import did_you_mean

__all__ = [
    "ModuleNameError",
    "PretrainedWeightsError",
    "check_pretrained",
    "find_module",
    "freeze_all_but",
    "freeze_until",
    "WeightsError",
    "head_name",
    "load_pretrained",
    "load_weights",
    "read_state_dict",
    "train_mode",
]

SHOWN_KEYS = 5  # keys named in an error about a file that does not fit; the count says how many more


def head_name(model: nn.Module) -> str:
    """The dotted module path of a model's classification head, from its `head_name` attribute
    ("classifier.head", "fc", "net.classifier.6"...), which every model of trainers/models.py
    sets. It lives here, below models.py, so that `load_pretrained` can skip the head."""
    return cast(str, model.head_name)


class WeightsError(ValueError):
    """A weights file that is missing, unsafe, not a state_dict, or does not fit the model."""


class PretrainedWeightsError(WeightsError):
    """A `pretrained` file that is unsafe, missing or does not fit the model."""

    key = "model.pretrained"  # the config key to change (hpo names it in its error)


def check_pretrained(config) -> None:
    """Raise PretrainedWeightsError if the model config names a weights file that is not on
    disk. Cheap (one stat call): hpo runs it before a study's first trial; whether the file
    is safe and fits the model is known only when a trial loads it."""
    if config.pretrained and not os.path.isfile(config.pretrained):
        raise PretrainedWeightsError(f"pretrained weights file not found: {config.pretrained}")


def read_state_dict(path: str) -> dict[str, torch.Tensor]:
    """A state_dict file read with torch.load(weights_only=True): tensors only, never code. A
    mapping that holds one under `state_dict` (a training checkpoint) gives that one.

    Raises WeightsError naming `path`: missing, refused by weights_only loading (code, or not
    a file torch.save wrote), or not a mapping of names to tensors.
    """
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except FileNotFoundError:
        raise WeightsError(f"weights file not found: {path}") from None
    except Exception as error:  # pickle.UnpicklingError (code in the file), a file that is no torch.save archive, and friends
        raise WeightsError(
            f"refusing to load {path}: it is not a plain state_dict of tensors written by torch.save "
            f"(torch.load with weights_only=True failed: {_load_failure(error)})"
        ) from None
    if isinstance(state, dict) and isinstance(state.get("state_dict"), dict):
        state = state["state_dict"]
    if not isinstance(state, dict):
        raise WeightsError(f"{path} holds a {type(state).__name__}, not a state_dict")
    if not all(isinstance(k, str) and isinstance(v, torch.Tensor) for k, v in state.items()):
        raise WeightsError(f"{path} holds a dict of other things than tensors ({_keys(list(state))}), not a state_dict")
    return state


def _load_failure(error: Exception) -> str:
    """Why torch.load refused a file, in one line: the exception's type and the unpickler's
    verdict (`Unsupported global: GLOBAL posix.system ...`), else its first line."""
    lines = [line.strip() for line in str(error).splitlines() if line.strip()]
    verdicts = [line.partition("WeightsUnpickler error:")[2].split(". ")[0].strip() for line in lines if "WeightsUnpickler error:" in line]
    detail = (verdicts or lines or [""])[0]
    return f"{type(error).__name__}: {detail}" if detail else type(error).__name__


def _keys(keys: list[str]) -> str:
    """The first SHOWN_KEYS of `keys`, and how many more."""
    more = f", and {len(keys) - SHOWN_KEYS} more" if len(keys) > SHOWN_KEYS else ""
    return ", ".join(map(str, keys[:SHOWN_KEYS])) + more


def load_pretrained(model: nn.Module, path: str) -> None:
    """Load a state_dict file (read_state_dict) to start training from.

    Weights whose shape does not fit (the old head) are skipped; the head may be missing from
    the file; anything else missing or extra is an error.
    """
    try:
        state = read_state_dict(path)
    except WeightsError as error:
        raise PretrainedWeightsError(str(error)) from None
    prefix = getattr(model, "inner_prefix", "")
    if prefix and not any(k.startswith(prefix) for k in state):
        state = {prefix + k: v for k, v in state.items()}  # the wrapped network's own key names
    own = model.state_dict()
    fitting = {k: v for k, v in state.items() if k in own and own[k].shape == v.shape}
    head_prefix = head_name(model) + "."
    missing = [k for k in own if k not in fitting and not k.startswith(head_prefix)]
    extra = [k for k in state if k not in own and not k.startswith(head_prefix)]
    if missing or extra:
        raise PretrainedWeightsError(
            f"{path} does not fit this model: missing {missing[:5]}{'...' if len(missing) > 5 else ''}, "
            f"unexpected {extra[:5]}{'...' if len(extra) > 5 else ''}"
        )
    model.load_state_dict(fitting, strict=False)


def _shape(tensor: torch.Tensor) -> str:
    return "x".join(map(str, tensor.shape)) or "scalar"


def load_weights(model: nn.Module, path: str) -> None:
    """Load a whole model's state_dict file (read_state_dict), as `train` saves it in model.pt:
    every key of the model, no other, each of the model's shape, or a WeightsError that names
    the first few keys of each kind that differ."""
    state = read_state_dict(path)
    own = model.state_dict()
    missing = [k for k in own if k not in state]
    extra = [k for k in state if k not in own]
    reshaped = [
        f"{k} ({_shape(state[k])} in the file, {_shape(own[k])} in the model)" for k in own if k in state and state[k].shape != own[k].shape
    ]
    if missing or extra or reshaped:
        differences = [
            f"{what}: {_keys(keys)}"
            for what, keys in (("missing from the file", missing), ("not in the model", extra), ("of another shape", reshaped))
            if keys
        ]
        raise WeightsError(
            f"{path} does not fit the model of this config ({len(own)} tensors): {'; '.join(differences)}. "
            "Were the weights saved by a model of this config (its model, data set and augmentations)?"
        )
    model.load_state_dict(state)


class ModuleNameError(ValueError):
    """A config key naming modules of the model (`model.trainable`, `optimizer.group_lr`...)
    names one the model does not have, or one that cannot be used so."""

    def __init__(self, key: str, problem: str):
        super().__init__(f"{key}: {problem}")
        self.key = key  # the config key to change (hpo names it in its error)


def find_module(model: nn.Module, name: str, key: str) -> nn.Module:
    """The module at dotted path `name` (`layer2`, `layer2.0.conv1`); `key` is the config key
    that named it. An unknown name is a ModuleNameError suggesting the closest name of the
    same depth. A wrapped network's modules may be named without its `inner_prefix`."""
    modules = dict(model.named_modules())
    prefix = getattr(model, "inner_prefix", "")
    if prefix and name not in modules:
        name = prefix + name
    if name in modules and name != "":
        return modules[name]
    own = [n.removeprefix(prefix) for n in modules if n.startswith(prefix) and n != prefix.rstrip(".")]
    depth = name.removeprefix(prefix).count(".")
    candidates = [n for n in own if n.count(".") == depth] or [n for n in own if "." not in n]
    raise ModuleNameError(key, did_you_mean(name.removeprefix(prefix), candidates, "module"))


def _parameters(model: nn.Module, name: str, key: str) -> list[nn.Parameter]:
    parameters = list(find_module(model, name, key).parameters())
    if not parameters:
        raise ModuleNameError(key, f"module '{name}' has no parameters")
    return parameters


def freeze_until(model: nn.Module, name: str) -> None:
    """Freeze every parameter registered before and inside the module `name` (e.g. layer3:
    then only layer4 and the head train)."""
    target = {id(p) for p in _parameters(model, name, "model.freeze_until")}
    for p in model.parameters():
        p.requires_grad_(False)
        target.discard(id(p))
        if not target:
            break


def freeze_all_but(model: nn.Module, names: list[str]) -> None:
    """Freeze every parameter outside the modules `names` (e.g. [layer2, fc]: the middle
    block and the head train, the stem and the other blocks keep their weights)."""
    keep = {id(p) for name in names for p in _parameters(model, name, "model.trainable")}
    for p in model.parameters():
        p.requires_grad_(id(p) in keep)


_NORMS_WITH_RUNNING_STATS = (nn.BatchNorm1d, nn.BatchNorm2d, nn.BatchNorm3d, nn.SyncBatchNorm)


def train_mode(model: nn.Module) -> nn.Module:
    """`model.train()`, except for batch norm layers whose parameters are all frozen: they stay
    in eval mode, normalising with the running statistics they came with and never updating them.

    A frozen part is then the fixed function of the pretrained weights, in training as at test
    time, which is what fine-tuning a frozen backbone means: its batch norm runs in inference
    mode. Updating the statistics from the new data instead would change what the frozen layers
    give the trainable ones, from the noisy statistics of small fine-tuning batches.
    """
    model.train()
    for module in model.modules():
        parameters = list(module.parameters(recurse=False))
        if isinstance(module, _NORMS_WITH_RUNNING_STATS) and parameters and not any(p.requires_grad for p in parameters):
            module.eval()
    return model

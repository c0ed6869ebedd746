"""A model's starting weights and frozen layers: `model.pretrained` and `model.freeze_until`.

Weights are read only as tensors (torch.load with weights_only=True), never as code. A model
that wraps another (gray images fed to an RGB network) says so with `inner_prefix`, the
prefix of the wrapped network's keys and module names: files and names may leave it out.
"""

from __future__ import annotations

import os
from typing import cast

import torch
from torch import nn

from hpo.contract import did_you_mean

__all__ = ["PretrainedWeightsError", "check_pretrained", "freeze_until", "head_name", "load_pretrained"]


def head_name(model: nn.Module) -> str:
    """The dotted module path of a model's classification head, from its `head_name` attribute
    ("classifier.head", "fc", "net.classifier.6"...), which every model of trainers/models.py
    sets. It lives here, below models.py, so that `load_pretrained` can skip the head."""
    return cast(str, model.head_name)


class PretrainedWeightsError(ValueError):
    """A `pretrained` file that is unsafe, missing or does not fit the model."""

    key = "model.pretrained"  # the config key to change (hpo names it in its error)


def check_pretrained(config) -> None:
    """Raise PretrainedWeightsError if the model config names a weights file that is not on
    disk. Cheap (one stat call): hpo runs it before a study's first trial; whether the file
    is safe and fits the model is known only when a trial loads it."""
    if config.pretrained and not os.path.isfile(config.pretrained):
        raise _weights_not_found(config.pretrained)


def _weights_not_found(path: str) -> PretrainedWeightsError:
    return PretrainedWeightsError(f"pretrained weights file not found: {path}")


def load_pretrained(model: nn.Module, path: str) -> None:
    """Load a state_dict file with torch.load(weights_only=True): tensors only, never code.

    Weights whose shape does not fit (the old head) are skipped; the head may be missing from
    the file; anything else missing or extra is an error.
    """
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except FileNotFoundError:
        raise _weights_not_found(path) from None
    except Exception as error:  # pickle.UnpicklingError and friends
        raise PretrainedWeightsError(
            f"refusing to load {path}: it is not a plain state_dict of tensors "
            f"(torch.load with weights_only=True failed: {str(error).splitlines()[0]})"
        ) from None
    if isinstance(state, dict) and isinstance(state.get("state_dict"), dict):
        state = state["state_dict"]
    if not isinstance(state, dict):
        raise PretrainedWeightsError(f"{path} holds a {type(state).__name__}, not a state_dict")
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


def freeze_until(model: nn.Module, name: str) -> None:
    """Freeze every parameter registered before and inside the module `name` (e.g. layer3:
    then only layer4 and the head train)."""
    modules = dict(model.named_modules())
    prefix = getattr(model, "inner_prefix", "")
    if prefix and name not in modules:
        name = prefix + name  # the wrapped network's own module names
    if name not in modules or name == "":
        top = [n for n, _ in model.named_children()]
        raise KeyError(did_you_mean(name, top, "module for freeze_until"))
    target = {id(p) for p in modules[name].parameters()}
    if not target:
        raise ValueError(f"freeze_until: module '{name}' has no parameters")
    for p in model.parameters():
        p.requires_grad_(False)
        target.discard(id(p))
        if not target:
            break

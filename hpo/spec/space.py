"""The search space: which dotted paths of the training config are holes, and how to fill them.

A space is parsed once from the ``space:`` section of a spec into a tuple of parameters
(:mod:`hpo.spec.params`). A trial fills it define-by-run: each parameter asks the Optuna
trial for a value and writes it into a copy of the ``train:`` config; a choice whose
chosen option has a ``when:`` sub-space then fills that sub-space too. Optuna stores the
*label* of a choice (``k553``), the config receives its *value* (``[5, 5, 3]``).
"""

from __future__ import annotations

import copy
from collections.abc import Callable, Mapping
from typing import Any

from hpo.contract import did_you_mean
from hpo.spec.params import ChoiceParam, FloatParam, IntParam, Param, Scalar, Space, Trial, kind_of, parse_space, same, walk

__all__ = [
    "KEEP",
    "ChoiceParam",
    "FloatParam",
    "IntParam",
    "Param",
    "Scalar",
    "Space",
    "Trial",
    "assignments",
    "branch_of",
    "fill",
    "fill_partial",
    "param_paths",
    "parse_space",
    "replay",
    "sample",
    "set_path",
    "variants",
]


# ----------------------------------------------------------------------------- filling


Picker = Callable[[Param], Any]
KEEP = object()
"""Returned by a picker to leave a parameter at its ``train:`` value (and skip its branch)."""


def fill(space: Space, base: Mapping[str, Any], pick: Picker, *, create: bool = True) -> dict[str, Any]:
    """Return a copy of ``base`` with the picked parameters written in.

    ``pick`` returns the label for a parameter: ``lambda p: p.suggest(trial)`` samples
    define-by-run, ``lambda p: params[p.path]`` replays stored parameters, and
    :data:`KEEP` leaves the ``train:`` value in place. ``create`` as in :func:`set_path`.
    """
    config = copy.deepcopy(dict(base))
    _fill_level(space, config, pick, create)
    return config


def _fill_level(space: Space, config: dict[str, Any], pick: Picker, create: bool) -> None:
    for param in space:
        label = pick(param)
        if label is KEEP:
            continue
        set_path(config, param.path, param.value_of(label), create=create)
        _fill_level(branch_of(param, label), config, pick, create)


def sample(trial: Trial, space: Space, base: Mapping[str, Any]) -> dict[str, Any]:
    """Sample ``space`` define-by-run from ``trial`` into a copy of ``base``."""
    return fill(space, base, lambda param: param.suggest(trial))


def replay(space: Space, base: Mapping[str, Any], params: Mapping[str, Any]) -> dict[str, Any]:
    """Rebuild the config of a trial from its stored parameters (labels)."""
    return fill(space, base, lambda param: params[param.path])


def set_path(config: dict[str, Any], path: str, value: Any, *, create: bool = True) -> None:
    """Write ``value`` at dotted ``path``, creating missing mappings on the way.

    With ``create=False`` every key of the path must already be there: a config whose keys
    no schema lists can only be judged by the keys it has (KeyError with a did-you-mean).
    """
    keys = path.split(".")
    node: Any = config
    for depth, key in enumerate(keys):
        last = depth == len(keys) - 1
        if not create and isinstance(node, dict) and key not in node:
            where = ".".join(keys[:depth])
            raise KeyError(f"{did_you_mean(key, [str(k) for k in node])}{f' in {where}' if where else ''}")
        if isinstance(node, list):
            if not key.isdigit() or int(key) >= len(node):
                raise KeyError(f"{'.'.join(keys[:depth])} has {len(node)} items, no index {key}")
            index = int(key)
            if last:
                node[index] = value
            else:
                node = node[index]
        elif isinstance(node, dict):
            if last:
                node[key] = value
            else:
                node = node.setdefault(key, {})
        else:
            raise KeyError(f"{'.'.join(keys[:depth])} is {kind_of(node)}, it has no key {key!r}")


# ----------------------------------------------------------------------------- enumeration


def assignments(space: Space, source: str) -> list[dict[str, Any]]:
    """Every full assignment of labels the space allows, honouring ``when:`` branches.

    This is the grid of the grid sampler: a parameter under ``sgd`` is crossed only with
    the trials that choose ``sgd``, so no grid point differs only in unused values.
    """
    result: list[dict[str, Any]] = [{}]
    for param in space:
        options: list[dict[str, Any]] = []
        for label in param.grid(source):
            branch = branch_of(param, label)
            for sub in assignments(branch, source) if branch else [{}]:
                options.append({param.path: label, **sub})
        result = [{**done, **option} for done in result for option in options]
    return result


def variants(space: Space) -> list[dict[str, Any]]:
    """Assignments that put every parameter at each of its extremes at least once.

    Returns partial assignments (only the parameters set; the rest keep the ``train:``
    value) for the dry run: one per extreme of each parameter, with the choices above
    it set to the option it lives under, plus the all-lowest and all-highest corners.
    """
    found: list[dict[str, Any]] = []
    for param, chain in walk(space, ()):
        context = {p.path: label for p, label in chain}
        for extreme in param.extremes():
            found.append({**context, param.path: extreme})
    for pick_last in (False, True):
        found.append(_corner(space, pick_last))
    unique: list[dict[str, Any]] = []
    for item in found:
        if item not in unique:
            unique.append(item)
    return unique


def _corner(space: Space, pick_last: bool) -> dict[str, Any]:
    corner: dict[str, Any] = {}
    for param in space:
        label = param.extremes()[-1 if pick_last else 0]
        corner[param.path] = label
        branch = branch_of(param, label)
        if branch:
            corner.update(_corner(branch, pick_last))
    return corner


def fill_partial(space: Space, base: Mapping[str, Any], params: Mapping[str, Any], *, create: bool = True) -> dict[str, Any]:
    """Like :func:`replay`, but parameters missing from ``params`` keep their ``train:`` value."""
    return fill(space, base, lambda param: params.get(param.path, KEEP), create=create)


def branch_of(param: Param, label: Any) -> Space:
    """The ``when:`` sub-space sampled under option ``label`` of a choice (none for a number)."""
    if isinstance(param, ChoiceParam):
        return next((sub for key, sub in param.branches.items() if same(key, label)), ())
    return ()


def param_paths(space: Space) -> list[str]:
    """All parameter paths, conditional ones included, in definition order."""
    return list(dict.fromkeys(param.path for param, _ in walk(space, ())))

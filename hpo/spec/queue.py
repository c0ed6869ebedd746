"""Configs the user puts at the head of a study's queue: the baseline and enqueued ones.

Both are assignments of labels to the space's parameters, the form Optuna stores and
``enqueue_trial`` takes. The baseline is the ``train:`` config itself, expressed in the
space (:func:`baseline_params`); an enqueued config is a mapping a user wrote, checked
against the space like the spec is (:func:`check_assignment`). Both are pure: the study
side (:mod:`hpo.study.queue`) enqueues what these return.
"""

from __future__ import annotations

import copy
from collections.abc import Mapping
from typing import Any

from hpo.contract import did_you_mean
from hpo.errors import SpecError
from hpo.spec.params import ChoiceParam, FloatParam, IntParam, Param, Scalar, Space, kind_of, same, walk
from hpo.spec.space import branch_of, param_paths, set_path

_MISSING = object()


class NotInSpace(Exception):
    """The ``train:`` config is not a point of the space; the message says which value and why.

    ``reason`` says it without the value (``optimizer.lr not a number in [0.0001, 0.01]``), so that
    configs left out for one reason group under it (hpo.study.warmstart).
    """

    def __init__(self, message: str, reason: str) -> None:
        super().__init__(message)
        self.reason = reason


def baseline_params(space: Space, train: Mapping[str, Any]) -> dict[str, Scalar]:
    """The labels that make the space give back ``train`` itself: its baseline.

    A choice takes the option whose value equals train's value (its label, for a labelled
    choice); a float or int takes train's value when the range (and its step grid) holds
    it. Only the parameters active under the chosen options are included. Raises
    :class:`NotInSpace` when one of train's values is no point of the space.
    """
    params: dict[str, Scalar] = {}
    for param in space:
        value = _get_path(train, param.path)
        if value is _MISSING:
            raise NotInSpace(f"train has no value at {param.path}, which the space searches", f"no {param.path}")
        label = _label_of_value(param, value, train)
        params[param.path] = label
        if isinstance(param, ChoiceParam):
            params.update(baseline_params(branch_of(param, label), train))
    return params


def _label_of_value(param: Param, value: Any, train: Mapping[str, Any]) -> Scalar:
    if isinstance(param, ChoiceParam):
        for label, option in param.options:
            if _equal(_with_branch_values(param, label, option, train), value):
                return label
        raise NotInSpace(
            f"train.{param.path} is {value!r}, which is none of the options of space.{param.path}",
            f"{param.path} not among {', '.join(str(label) for label in param.labels)}",
        )
    if not _in_range(param, value):
        expected = _expected(param)
        raise NotInSpace(f"train.{param.path} is {value!r}, outside space.{param.path} ({expected})", f"{param.path} not {expected}")
    return value


def _with_branch_values(param: ChoiceParam, label: Scalar, option: Any, train: Mapping[str, Any]) -> Any:
    """A mapping option with the keys its ``when:`` searches inside it taken from train: an
    option ``{name: adam, lr: 1.0e-3}`` whose branch searches ``optimizer.lr`` is train's
    ``{name: adam, lr: 3.0e-3}`` too."""
    if not isinstance(option, dict):
        return option
    filled = copy.deepcopy(option)
    prefix = f"{param.path}."
    for sub, _ in walk(branch_of(param, label), ()):
        value = _get_path(train, sub.path)
        if sub.path.startswith(prefix) and value is not _MISSING:
            try:
                set_path(filled, sub.path.removeprefix(prefix), value, create=False)
            except KeyError:
                pass  # a key the option lacks: train's value cannot be this option's
    return filled


def check_assignment(space: Space, raw: Any, source: str, where: str = "") -> dict[str, Scalar]:
    """Check a user's config for the queue: a mapping of the space's keys to values (labels
    for labelled choices); keys left out are sampled. Returns it with each choice's value
    as the option's own label. A key not in the space, a value outside it, or a key under a
    ``when:`` of an option the config does not choose raises :class:`SpecError` naming
    ``source`` and the key."""
    at = f"{where}." if where else ""
    if not isinstance(raw, Mapping):
        raise SpecError(source, where, f"expected a mapping of the space's keys to values, like {{optimizer.lr: 0.01}}, got {kind_of(raw)}")
    if not raw:
        raise SpecError(source, where, "is empty: give at least one of the space's keys a value")
    occurrences: dict[str, list[tuple[Param, tuple]]] = {}
    for param, chain in walk(space, ()):
        occurrences.setdefault(param.path, []).append((param, chain))
    checked: dict[str, Scalar] = {}
    for key, value in raw.items():
        if key not in occurrences:
            raise SpecError(source, f"{at}{key}", f"not a key of the space: {did_you_mean(str(key), param_paths(space))}")
        param = occurrences[key][0][0]  # a path under several options is defined alike in each (hpo.spec.params)
        checked[key] = _check_value(param, value, source, f"{at}{key}")
    for key in checked:
        if not any(_active(chain, checked) for _, chain in occurrences[key]):
            needed = " or ".join(", ".join(f"{choice.path}: {label!r}" for choice, label in chain) for _, chain in occurrences[key])
            raise SpecError(source, f"{at}{key}", f"is searched only under {needed}, which this config does not choose")
    return checked


def _active(chain: tuple, assigned: Mapping[str, Scalar]) -> bool:
    """Whether the options above a parameter are those the config chose (or leaves to the sampler)."""
    return all(choice.path not in assigned or same(assigned[choice.path], label) for choice, label in chain)


def _check_value(param: Param, value: Any, source: str, where: str) -> Scalar:
    if isinstance(param, ChoiceParam):
        for label in param.labels:
            if _equal(label, value):
                return label
        raise SpecError(source, where, f"{kind_of(value)} is not an option; expected one of {', '.join(repr(x) for x in param.labels)}")
    if not _in_range(param, value):
        raise SpecError(source, where, f"{kind_of(value)} is outside the space; expected {_expected(param)}")
    return float(value) if isinstance(param, FloatParam) else int(value)


def _in_range(param: FloatParam | IntParam, value: Any) -> bool:
    if not isinstance(value, (int, float)) or isinstance(value, bool):
        return False
    if isinstance(param, IntParam) and value != int(value):
        return False
    if not param.low <= value <= param.high:
        return False
    if param.step is None:
        return True
    steps = (value - param.low) / param.step
    return abs(steps - round(steps)) < 1e-9


def _expected(param: FloatParam | IntParam) -> str:
    kind = "a number" if isinstance(param, FloatParam) else "an integer"
    grid = f" on the grid of step {param.step}" if param.step not in (None, 1) else ""
    return f"{kind} in [{param.low}, {param.high}]{grid}"


def _equal(a: Any, b: Any) -> bool:
    """Equal as YAML values: 1 and 1.0 are one number, but True is not 1 and "1" is not 1."""
    if isinstance(a, bool) or isinstance(b, bool):
        return same(a, b)
    if isinstance(a, (int, float)) and isinstance(b, (int, float)):
        return a == b
    return same(a, b)


def _get_path(config: Mapping[str, Any], path: str) -> Any:
    node: Any = config
    for key in path.split("."):
        if isinstance(node, Mapping) and key in node:
            node = node[key]
        elif isinstance(node, list) and key.isdigit() and int(key) < len(node):
            node = node[int(key)]
        else:
            return _MISSING
    return node

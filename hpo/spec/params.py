"""The parameters of a search space and how the ``space:`` section is parsed into them.

A space is a tuple of parameters, each a dotted path into the training config with a
distribution: a float, an int or a choice (whose options may carry a ``when:`` sub-space).
Parsing checks every distribution and names the key path of any error; filling a config
from a space is :mod:`hpo.spec.space`.
"""

from __future__ import annotations

import copy
import math
import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol

from hpo.contract import did_you_mean
from hpo.errors import SpecError

Scalar = str | int | float | bool | None


class Trial(Protocol):
    """What filling a space asks of a trial: the three ``suggest_*`` calls of
    :class:`optuna.Trial`, which the engine passes. Named here so that the language
    depends on no sampler library."""

    def suggest_float(self, name: str, low: float, high: float, *, log: bool = False, step: float | None = None) -> float: ...

    def suggest_int(self, name: str, low: int, high: int, *, log: bool = False, step: int = 1) -> int: ...

    def suggest_categorical(self, name: str, choices: Any) -> Any: ...


_SEGMENT = re.compile(r"^(?:[A-Za-z_][A-Za-z0-9_]*|\d+)$")
_KINDS = ("float", "int", "choice")
_OPTIONS = ("log", "step", "when")


@dataclass(frozen=True)
class FloatParam:
    """A real number in ``[low, high]``, optionally on a log scale or a ``step`` grid."""

    path: str
    low: float
    high: float
    log: bool = False
    step: float | None = None

    def suggest(self, trial: Trial) -> float:
        return trial.suggest_float(self.path, self.low, self.high, log=self.log, step=self.step)

    def value_of(self, label: Any) -> Any:
        return label

    def extremes(self) -> list[float]:
        return [self.low, self.high]

    def grid(self, source: str) -> list[float]:
        if self.step is None:
            raise SpecError(
                source,
                f"space.{self.path}",
                "the grid sampler needs a finite set of values: give this float a `step`, or make it a `choice`",
            )
        count = round((self.high - self.low) / self.step)
        return [round(self.low + i * self.step, 12) for i in range(count + 1)]


@dataclass(frozen=True)
class IntParam:
    """An integer in ``[low, high]``, optionally on a log scale or a ``step`` grid."""

    path: str
    low: int
    high: int
    log: bool = False
    step: int = 1

    def suggest(self, trial: Trial) -> int:
        return trial.suggest_int(self.path, self.low, self.high, log=self.log, step=self.step)

    def value_of(self, label: Any) -> Any:
        return label

    def extremes(self) -> list[int]:
        return [self.low, self.high]

    def grid(self, source: str) -> list[int]:
        return list(range(self.low, self.high + 1, self.step))


@dataclass(frozen=True)
class ChoiceParam:
    """One of several options; each option has a label (stored) and a value (substituted).

    ``branches`` maps a label to the conditional sub-space sampled only under it.
    """

    path: str
    options: tuple[tuple[Scalar, Any], ...]
    branches: Mapping[Scalar, tuple[Param, ...]] = field(default_factory=dict)

    @property
    def labels(self) -> list[Scalar]:
        return [label for label, _ in self.options]

    def suggest(self, trial: Trial) -> Scalar:
        return trial.suggest_categorical(self.path, self.labels)

    def value_of(self, label: Any) -> Any:
        for option, value in self.options:
            if option == label and type(option) is type(label):
                return copy.deepcopy(value)
        raise KeyError(label)

    def extremes(self) -> list[Scalar]:
        return self.labels

    def grid(self, source: str) -> list[Scalar]:
        return self.labels


Param = FloatParam | IntParam | ChoiceParam
Space = tuple[Param, ...]


# ----------------------------------------------------------------------------- parsing


def parse_space(raw: Any, source: str) -> Space:
    """Parse the ``space:`` section; every error names ``source`` and the key path."""
    if raw is None:
        return ()
    space = _parse_level(raw, source, "space")
    _check_overlaps(space, source)
    return space


def _parse_level(raw: Any, source: str, where: str) -> Space:
    if not isinstance(raw, Mapping):
        raise SpecError(source, where, f"expected a mapping of dotted paths to distributions, got {kind_of(raw)}")
    params = []
    for path, spec in raw.items():
        if not isinstance(path, str) or not all(_SEGMENT.match(s) for s in path.split(".")):
            raise SpecError(
                source,
                f"{where}.{path}",
                "a space key must be a dotted path into `train`, like `optimizer.lr` (names, or list indexes such as `model.channels.0`)",
            )
        params.append(_parse_param(path, spec, source, f"{where}.{path}"))
    return tuple(params)


def _parse_param(path: str, spec: Any, source: str, where: str) -> Param:
    if not isinstance(spec, Mapping):
        raise SpecError(
            source,
            where,
            f"expected a distribution such as {{float: [low, high]}}, {{int: [low, high]}} or {{choice: [...]}}, got {kind_of(spec)}",
        )
    for key in spec:
        if key not in _KINDS + _OPTIONS:
            raise SpecError(source, f"{where}.{key}", did_you_mean(str(key), _KINDS + _OPTIONS))
    kinds = [k for k in _KINDS if k in spec]
    if len(kinds) != 1:
        found = " and ".join(kinds) if kinds else "none"
        raise SpecError(source, where, f"expected exactly one of float, int, choice (found {found})")
    kind = kinds[0]
    if kind == "choice":
        for key in ("log", "step"):
            if key in spec:
                raise SpecError(source, f"{where}.{key}", "only float and int distributions take this key")
        return _parse_choice(path, spec["choice"], spec.get("when"), source, where)
    if "when" in spec:
        raise SpecError(source, f"{where}.when", "conditional sub-spaces belong under a `choice`")
    return _parse_number(kind, path, spec, source, where)


def _parse_number(kind: str, path: str, spec: Mapping, source: str, where: str) -> Param:
    bounds = spec[kind]
    at = f"{where}.{kind}"
    if not isinstance(bounds, list) or len(bounds) != 2:
        raise SpecError(source, at, f"expected [low, high], got {kind_of(bounds)}")
    low, high = bounds
    for name, value in (("low", low), ("high", high)):
        if kind == "int" and not _is_int(value):
            raise SpecError(source, at, f"{name} ({value!r}) must be an integer for an int distribution")
        if kind == "float" and not _is_number(value):
            raise SpecError(source, at, f"{name} ({value!r}) must be a number")
    if not low < high:
        raise SpecError(source, at, f"low ({low}) must be below high ({high})")
    log = spec.get("log", False)
    if not isinstance(log, bool):
        raise SpecError(source, f"{where}.log", f"expected true or false, got {log!r}")
    step = spec.get("step")
    if log and step is not None:
        raise SpecError(source, where, "`log` and `step` cannot be combined (Optuna samples one or the other)")
    if log and low <= 0:
        raise SpecError(source, at, f"low ({low}) must be above 0 when log: true")
    if step is not None:
        valid = _is_int(step) if kind == "int" else _is_number(step)
        if not valid or step <= 0:
            raise SpecError(source, f"{where}.step", f"expected a positive {'integer' if kind == 'int' else 'number'}, got {step!r}")
        span = (high - low) / step
        if not math.isclose(span, round(span), rel_tol=0, abs_tol=1e-9):
            raise SpecError(source, f"{where}.step", f"step ({step}) does not divide the range [{low}, {high}]")
    if kind == "int":
        return IntParam(path, int(low), int(high), log, int(step) if step is not None else 1)
    return FloatParam(path, float(low), float(high), log, float(step) if step is not None else None)


def _parse_choice(path: str, raw: Any, when: Any, source: str, where: str) -> ChoiceParam:
    at = f"{where}.choice"
    if isinstance(raw, list):
        for item in raw:
            if not _is_scalar(item):
                raise SpecError(
                    source,
                    at,
                    f"list options must be plain values, got {kind_of(item)}; "
                    "to choose lists or mappings, name them: {choice: {label: value, ...}}",
                )
        options = tuple((item, item) for item in raw)
    elif isinstance(raw, Mapping):
        for label in raw:
            if not _is_scalar(label) or label is None:
                raise SpecError(source, at, f"option labels must be plain names, got {kind_of(label)}")
        options = tuple(raw.items())
    else:
        raise SpecError(source, at, f"expected a list of options or a mapping label -> value, got {kind_of(raw)}")
    if not options:
        raise SpecError(source, at, "needs at least one option")
    labels = [label for label, _ in options]
    repeated = {repr(x) for x in labels if sum(same(x, y) for y in labels) > 1}
    if repeated:
        raise SpecError(source, at, f"options repeat: {', '.join(sorted(repeated))}")
    branches: dict[Scalar, Space] = {}
    if when is not None:
        if not isinstance(when, Mapping):
            raise SpecError(source, f"{where}.when", f"expected a mapping option -> sub-space, got {kind_of(when)}")
        for key, sub in when.items():
            matching = [x for x in labels if same(x, key) or str(x) == str(key)]
            if not matching:
                names = ", ".join(str(x) for x in labels)
                raise SpecError(
                    source,
                    f"{where}.when.{key}",
                    f"no option {key!r} in this choice (options: {names})",
                )
            branches[matching[0]] = _parse_level(sub, source, f"{where}.when.{key}")
    return ChoiceParam(path, options, branches)


def _check_overlaps(space: Space, source: str) -> None:
    """Refuse two parameters writing the same place, unless one lives inside the other's
    chosen value (a ``when:`` under ``model`` may set ``model.dropout``), or both sit in
    different options of one choice, defined alike (only one is ever sampled)."""
    entries = list(walk(space, ()))
    for i, (p, chain_p) in enumerate(entries):
        for q, chain_q in entries[i + 1 :]:
            a, b = (p, q) if len(p.path) <= len(q.path) else (q, p)
            chain_a, chain_b = (chain_p, chain_q) if a is p else (chain_q, chain_p)
            if not (b.path == a.path or b.path.startswith(a.path + ".")):
                continue
            if any(param is a for param, _ in chain_b):
                continue  # b is sampled inside a's chosen option
            if b.path == a.path and _exclusive(chain_a, chain_b) and _same_definition(a, b):
                continue
            raise SpecError(
                source,
                f"space.{b.path}",
                f"overlaps `{a.path}`, which is also searched: each place in `train` can be "
                "searched once (a sub-key may be searched under a `when:` of its parent)",
            )


def walk(space: Space, chain: tuple) -> Iterator[tuple[Param, tuple]]:
    for param in space:
        yield param, chain
        if isinstance(param, ChoiceParam):
            for label, sub in param.branches.items():
                yield from walk(sub, (*chain, (param, label)))


def _exclusive(chain_a: tuple, chain_b: tuple) -> bool:
    return any(pa is pb and la != lb for pa, la in chain_a for pb, lb in chain_b)


def _same_definition(a: Param, b: Param) -> bool:
    if isinstance(a, ChoiceParam) and isinstance(b, ChoiceParam):
        return a.options == b.options and not a.branches and not b.branches
    return a == b


# ----------------------------------------------------------------------------- helpers


def same(a: Any, b: Any) -> bool:
    return a == b and type(a) is type(b)


def _is_scalar(value: Any) -> bool:
    return value is None or isinstance(value, (str, int, float, bool))


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def kind_of(value: Any) -> str:
    if value is None:
        return "nothing (null)"
    if isinstance(value, bool):
        return f"a boolean ({value})"
    if isinstance(value, (int, float)):
        return f"a number ({value})"
    if isinstance(value, str):
        return f"a string ({value!r})"
    if isinstance(value, list):
        return f"a list of {len(value)}"
    if isinstance(value, Mapping):
        return "a mapping"
    return type(value).__name__

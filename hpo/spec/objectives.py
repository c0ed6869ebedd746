"""What a study optimises: one metric or several (``study.metric``), and the ``constraints:``
a trial must meet to count.

A single metric keeps a study single-objective, exactly as before. A list of metrics
(``metric: [val_acc, params]``, ``mode: [max, min]``) makes it multi-objective: the study
has one Optuna direction per metric, its result is a Pareto front, and the first metric
is the one trials are pruned on, progress is shown by and stop rules judge.

A constraint is a line ``"<metric> <= <number>"`` (or ``>=``, ``<``, ``>``) naming a metric
the trainer reports. Its *violation* for a reported value is how far the value lies on the
wrong side of the bound: at most 0 is feasible, Optuna's convention for constraint values
(``optuna.trial.Trial.set_constraint``). A strict ``<`` or ``>`` refuses the bound itself.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from hpo.contract import Contract, Mode, did_you_mean
from hpo.errors import SpecError

OPERATORS = ("<=", ">=", "<", ">")
_CONSTRAINT = re.compile(r"^\s*([A-Za-z_][\w.]*)\s*(<=|>=|<|>)\s*(\S+)\s*$")
_FORM = '"<metric> <= <number>" (or >=, <, >), e.g. "params <= 2e6"'


@dataclass(frozen=True)
class Constraint:
    """``metric operator bound``; ``text`` is its canonical form, the name it is recorded under."""

    metric: str
    operator: str
    bound: float

    @property
    def text(self) -> str:
        return f"{self.metric} {self.operator} {self.bound:g}"

    def violation(self, value: float) -> float:
        """How far ``value`` breaks the constraint; at most 0 when it meets it."""
        excess = value - self.bound if self.operator in ("<=", "<") else self.bound - value
        if excess == 0 and self.operator in ("<", ">"):
            return math.ulp(0.0)  # the bound itself breaks a strict constraint, by the least amount there is
        return excess


def parse_constraint(text: Any, source: str, key: str) -> Constraint:
    """``"params <= 2e6"`` -> Constraint; a SpecError naming ``key`` for anything else."""
    match = _CONSTRAINT.match(text) if isinstance(text, str) else None
    if match is None:
        raise SpecError(source, key, f"expected a constraint {_FORM}, got {text!r}")
    metric, operator, number = match.groups()
    try:
        bound = float(number)
    except ValueError:
        bound = math.nan
    if not math.isfinite(bound):
        raise SpecError(source, key, f"the bound of {text!r} must be a finite number, got {number!r}; expected {_FORM}")
    return Constraint(metric, operator, bound)


def parse_constraints(texts: Sequence[Any], contract: Contract, reference: str, source: str) -> tuple[Constraint, ...]:
    """Parse the ``constraints:`` list; a metric the trainer does not declare (when it
    declares any) is refused, as an unknown ``study.metric`` is."""
    declared = list(contract.metrics)
    parsed = []
    for i, text in enumerate(texts):
        key = f"constraints.{i}"
        constraint = parse_constraint(text, source, key)
        if declared and constraint.metric not in declared:
            unknown = did_you_mean(constraint.metric, declared, "metric")
            raise SpecError(source, key, f"{unknown}: {reference} reports {', '.join(declared)}")
        parsed.append(constraint)
    texts_seen = [c.text for c in parsed]
    for i, text in enumerate(texts_seen):
        if text in texts_seen[:i]:
            raise SpecError(source, f"constraints.{i}", f"{text!r} is given twice")
    return tuple(parsed)


def resolve_objectives(study: Any, contract: Contract, reference: str, source: str) -> None:
    """Fill in ``study.metric`` and ``study.mode`` from what the trainer declares, or refuse
    a metric it does not report and a mode that contradicts its direction. A list of
    metrics is judged metric by metric, each error naming its place (``study.metric.1``)."""
    declared: Mapping[str, Mode] = dict(contract.metrics)
    if not isinstance(study.metric, list):
        study.metric, study.mode = _resolve(study.metric, study.mode, declared, reference, source, "")
        return
    modes = study.mode if isinstance(study.mode, list) else [None] * len(study.metric)
    resolved = [_resolve(m, mode, declared, reference, source, f".{i}") for i, (m, mode) in enumerate(zip(study.metric, modes))]
    study.mode = [mode for _, mode in resolved]


def _resolve(
    metric: str | None, mode: Mode | None, declared: Mapping[str, Mode], reference: str, source: str, index: str
) -> tuple[str, Mode]:
    if not declared:
        if metric is None:
            raise SpecError(source, "study.metric", f"missing required key: {reference} declares no metrics, so name the one to optimise")
        if mode is None:
            raise SpecError(
                source,
                f"study.mode{index}",
                f"missing required key: {reference} declares no metrics, so say whether a higher {metric} "
                "is better (mode: max) or a lower one (mode: min)",
            )
        return metric, mode
    if metric is None:
        metric = next(iter(declared))  # the first one a trainer declares is its headline
    if metric not in declared:
        unknown = did_you_mean(metric, list(declared), "metric")
        raise SpecError(source, f"study.metric{index}", f"{unknown}: {reference} reports {', '.join(declared)}")
    direction = declared[metric]
    if mode is None:
        return metric, direction
    if mode != direction:
        better = "higher" if direction == "max" else "lower"
        raise SpecError(
            source, f"study.mode{index}", f"{metric} is better when {better} ({reference} declares it so): use mode: {direction}"
        )
    return metric, mode

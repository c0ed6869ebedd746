"""Warm start: a new version of a study begins with the earlier version's trials that lie in its space.

A finished trial of the earlier version is a measurement: a training config and what it
scored, epoch by epoch. It says as much about the new space as about the old one when the
new spec would have built that very config: each of its values lies in the new space (in
its range, among its options, under the options its conditions select) and the new
``train:`` holds what the new space does not search. So a trial is taken when the new
space, filled with the labels that give back the trial's config (the logic that finds the
baseline in a space, hpo.spec.queue.baseline_params), gives back exactly that config; else
it is left out, under the first value that differs. Its metric, mode, objective and trainer
must be the new spec's, or no value would mean the same.

Taken trials are copied with Optuna's public ``create_trial`` and ``add_trials``: their
state, value and every epoch's intermediate value, the new space's distributions, what
they ran (config, history, seconds, worker) and WARM_START_ATTR, naming where each came
from. COMPLETE and PRUNED trials are both taken: TPE learns from pruned trials too (ranked
below complete ones, by how far they got), and ASHA's rungs start from the study's trials,
so the new version's rungs hold the earlier population as it was, not only its winners.
Failed and unfinished trials are left out: they measured nothing.

A copied trial informs the sampler and the rungs but is no trial of the new version's runs:
it counts towards no ``study.trials`` target, no patience and no cost (hpo.study.records.is_warm_start).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import optuna
from optuna.distributions import BaseDistribution, CategoricalDistribution, FloatDistribution, IntDistribution
from optuna.trial import FrozenTrial, TrialState

from hpo.errors import HpoError
from hpo.format import format_number, format_numbers
from hpo.spec.queue import NotInSpace, baseline_params
from hpo.spec.sections import Spec
from hpo.spec.space import Scalar, Space, parse_space, replay, sample
from hpo.study.keys import (
    BASELINE_ATTR,
    CONFIG_ATTR,
    EPOCHS_ATTR,
    HISTORY_ATTR,
    LOG_ATTR,
    SEARCH_ATTR,
    SECONDS_ATTR,
    WARM_START_ATTR,
    WORKER_ATTR,
)
from hpo.study.records import FINISHED_STATES, is_warm_start

# of the search definition: what a trial's values mean
MEANING = ("metric", "mode", "objective", "trainer", "constraints", "data_fraction", "resolution")
COPIED_ATTRS = (EPOCHS_ATTR, SECONDS_ATTR, HISTORY_ATTR, WORKER_ATTR, LOG_ATTR)  # what it ran and where; not the earlier queue's marks
UNFINISHED = {TrialState.FAIL: "failed", TrialState.RUNNING: "still running", TrialState.WAITING: "waiting in the queue"}
_ABSENT = object()


@dataclass(frozen=True)
class Taken:
    """A trial of the earlier version, as the new space holds it."""

    trial: FrozenTrial  # in the earlier version
    params: dict[str, Scalar]  # its labels in the new space
    distributions: dict[str, BaseDistribution]  # the new space's, for those labels
    config: dict[str, Any]  # the config it ran, which the new spec builds from ``params``


@dataclass(frozen=True)
class WarmStart:
    """Which trials of the earlier version ``source`` a new version begins with, and why the others not."""

    source: str
    taken: list[Taken]
    left_out: dict[str, list[int]]  # reason -> the numbers of the trials left out for it

    def summary(self) -> str:
        """``warm start from cifar: took 14 trials (0-5, 7, 9-15), left out 3: 2 with optimizer.lr ...``"""
        took = f"warm start from {self.source}: took {len(self.taken)} trials ({format_numbers(t.trial.number for t in self.taken)})"
        if not self.left_out:
            return f"{took}, left out none"
        return f"{took}, left out {sum(map(len, self.left_out.values()))}: {self.reasons()}"

    def reasons(self) -> str:
        """``2 with optimizer.lr not a number in [0.001, 0.1] (trials 6, 8); 1 failed (trial 16)``"""
        parts = []
        for reason, numbers in sorted(self.left_out.items(), key=lambda item: -len(item[1])):
            which = f"trial {numbers[0]}" if len(numbers) == 1 else f"trials {format_numbers(numbers)}"
            parts.append(f"{len(numbers)} {reason} ({which})")
        return "; ".join(parts)


def plan_warm_start(earlier: optuna.Study, spec: Spec, new_name: str) -> WarmStart:
    """The trials of ``earlier`` that the new version ``new_name`` of ``spec`` begins with.

    Nothing is written. Raises :class:`HpoError` when the new version cannot begin with
    any: the spec has several objectives, ``earlier`` records no search, its values mean
    something else (metric, mode, objective, trainer, constraints, data fraction), or none of
    its trials lies in the new space with the new ``train:``.
    """
    stored = earlier.user_attrs.get(SEARCH_ATTR)
    cold = f"Nothing was created: run without --warm-start (and without study.warm_start) to start {new_name} cold."
    if not isinstance(stored, Mapping) or not isinstance(stored.get("train"), Mapping):
        raise HpoError(
            f"{spec.source}: cannot warm-start {new_name} from study {earlier.study_name!r}: it records no search (train:, space:). {cold}"
        )
    if len(spec.metrics) > 1:  # a front's trials carry constraints and several values: not copied yet
        raise HpoError(
            f"{spec.source}: cannot warm-start {new_name}: study.metric names several objectives, and warm start takes "
            f"single-objective studies only. {cold}"
        )
    new = spec.search_definition()
    differ = [f"{key} {stored.get(key)!r} there, {new.get(key)!r} here" for key in MEANING if stored.get(key) != new.get(key)]
    if differ:
        raise HpoError(
            f"{spec.source}: cannot warm-start {new_name} from study {earlier.study_name!r}: its trials' values mean "
            f"something else in this spec ({'; '.join(differ)}). {cold}"
        )
    old_space = parse_space(stored.get("space"), f"study {earlier.study_name}")
    taken: list[Taken] = []
    left_out: dict[str, list[int]] = {}
    for trial in earlier.get_trials(deepcopy=False):
        found = _take(trial, old_space, stored["train"], spec) if trial.state in FINISHED_STATES else UNFINISHED[trial.state]
        if isinstance(found, Taken):
            taken.append(found)
        else:
            left_out.setdefault(found, []).append(trial.number)
    plan = WarmStart(earlier.study_name, taken, left_out)
    if not taken:
        count = sum(map(len, left_out.values()))
        why = f"none of its {count} trials lies in this spec's space with this spec's train: ({plan.reasons()})"
        if not count:
            why = "it has no trials"
        raise HpoError(f"{spec.source}: cannot warm-start {new_name} from study {earlier.study_name!r}: {why}. {cold}")
    return plan


def _take(trial: FrozenTrial, old_space: Space, old_train: Mapping[str, Any], spec: Spec) -> Taken | str:
    """The trial as the new space holds it, or why it does not lie in it."""
    try:
        config = replay(old_space, old_train, trial.params)
    except KeyError:
        return "whose parameters are not those of its space"
    try:
        params = baseline_params(spec.space, config)
    except NotInSpace as exc:
        return f"with {exc.reason}"
    recorder = _Recorder(params)
    rebuilt = sample(recorder, spec.space, spec.train)
    differs = _difference(config, rebuilt)
    if differs is not None:
        path, value = differs
        return f"with {path} unlike the new train: ({'none' if value is _ABSENT else format_number(value)})"
    return Taken(trial, recorder.params, recorder.distributions, rebuilt)


class _Recorder:
    """A trial (hpo.spec.params.Trial) that answers each ``suggest_*`` with the given label,
    and notes the distribution it was asked for: the new space's, as Optuna records it."""

    def __init__(self, labels: Mapping[str, Scalar]) -> None:
        self._labels = labels
        self.params: dict[str, Scalar] = {}
        self.distributions: dict[str, BaseDistribution] = {}

    def suggest_float(self, name: str, low: float, high: float, *, log: bool = False, step: float | None = None) -> float:
        return self._note(name, float(self._labels[name]), FloatDistribution(low, high, log=log, step=step))  # type: ignore[arg-type]

    def suggest_int(self, name: str, low: int, high: int, *, log: bool = False, step: int = 1) -> int:
        return self._note(name, int(self._labels[name]), IntDistribution(low, high, log=log, step=step))  # type: ignore[arg-type]

    def suggest_categorical(self, name: str, choices: Any) -> Any:
        return self._note(name, self._labels[name], CategoricalDistribution(choices))

    def _note(self, name: str, label: Any, distribution: BaseDistribution) -> Any:
        self.params[name], self.distributions[name] = label, distribution
        return label


def _difference(old: Any, new: Any, path: str = "") -> tuple[str, Any] | None:
    """The first dotted path where ``new`` differs from ``old``, with its value in ``new``."""
    if isinstance(old, Mapping) and isinstance(new, Mapping):
        for key in [*old, *(k for k in new if k not in old)]:
            found = _difference(old.get(key, _ABSENT), new.get(key, _ABSENT), f"{path}.{key}" if path else str(key))
            if found is not None:
                return found
        return None
    if isinstance(old, list) and isinstance(new, list) and len(old) == len(new):
        for index, (a, b) in enumerate(zip(old, new, strict=True)):
            found = _difference(a, b, f"{path}.{index}")
            if found is not None:
                return found
        return None
    if old is not _ABSENT and new is not _ABSENT and old == new and isinstance(old, bool) == isinstance(new, bool):
        return None
    return path, new


def add_warm_trials(study: optuna.Study, plan: WarmStart, spec: Spec) -> int:
    """Copy the trials ``plan`` takes into the new version ``study``; returns how many.

    One of them whose labels are the spec's baseline (``train:`` as it is) is marked as the
    baseline, and the baseline is not run again (hpo.study.queue). A trial the study holds
    already (copied by a driver that died before it recorded the search) is not copied
    again. Of two drivers opening the new version at the same moment, only the one that
    created it copies them (hpo.study.versions).
    """
    present = {(t.user_attrs[WARM_START_ATTR].get("study"), t.user_attrs[WARM_START_ATTR].get("number")) for t in _warm(study)}
    baseline = _baseline(spec)
    marked = any(BASELINE_ATTR in t.user_attrs for t in _warm(study))
    trials = []
    for taken in plan.taken:
        if (plan.source, taken.trial.number) in present:
            continue
        attrs = {key: taken.trial.user_attrs[key] for key in COPIED_ATTRS if key in taken.trial.user_attrs}
        attrs[CONFIG_ATTR] = taken.config
        attrs[WARM_START_ATTR] = {"study": plan.source, "number": taken.trial.number}
        if not marked and taken.params == baseline:
            attrs[BASELINE_ATTR] = marked = True
        trials.append(
            optuna.trial.create_trial(
                state=taken.trial.state,
                value=taken.trial.value,
                params=taken.params,
                distributions=taken.distributions,
                user_attrs=attrs,
                intermediate_values=dict(taken.trial.intermediate_values),
            )
        )
    study.add_trials(trials)
    return len(trials)


def _warm(study: optuna.Study) -> list[FrozenTrial]:
    return [t for t in study.get_trials(deepcopy=False) if is_warm_start(t)]


def _baseline(spec: Spec) -> dict[str, Scalar] | None:
    """The labels of the spec's baseline, or None when it runs none (hpo.study.queue says why)."""
    if not spec.study.baseline:
        return None
    try:
        return baseline_params(spec.space, spec.train)
    except NotInSpace:
        return None


def warm_start_line(trials: list[FrozenTrial]) -> str | None:
    """``trials 0-13 came from quickstart (its trials 0-5, 7, 9-16) by a warm start``, as
    ``hpo status`` and the report say it; None for a study that began cold."""
    sources: dict[str, tuple[list[int], list[int]]] = {}
    for trial in trials:
        if is_warm_start(trial):
            origin = trial.user_attrs[WARM_START_ATTR]
            here, there = sources.setdefault(str(origin.get("study")), ([], []))
            here.append(trial.number)
            there.append(int(origin.get("number", -1)))
    if not sources:
        return None
    parts = [
        f"trials {format_numbers(here)} came from {source} (its trials {format_numbers(there)})"
        for source, (here, there) in sources.items()
    ]
    return "; ".join(parts) + " by a warm start: they inform the search but count towards no study.trials"

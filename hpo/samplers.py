"""Optuna samplers built from the spec's ``sampler:`` section, one small builder each.

Every sampler gets the study seed, so the same spec proposes the same trials. The
grid sampler is hpo's own (:class:`ConditionalGridSampler`): Optuna's ``GridSampler``
crosses every parameter with every other, so a conditional parameter (momentum under
``sgd``) would multiply the trials that never read it into duplicates.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import optuna
from optuna.distributions import BaseDistribution
from optuna.trial import FrozenTrial, TrialState

from hpo.space import assignments

if TYPE_CHECKING:
    from hpo.spec import Spec

_GRID_ATTR = "hpo:grid_index"


class ConditionalGridSampler(optuna.samplers.BaseSampler):
    """Visit every assignment of a conditional space once, in a seeded order.

    Each trial claims the first grid point no other trial holds; the claim is stored in
    the trial's system attributes, so a resumed study continues the grid. A point that
    failed is not tried again (a deterministic failure would repeat forever), except
    that a trial interrupted by a crash is enqueued again by the runner with its
    parameters, and then reclaims its own point.
    """

    def __init__(self, grid: list[dict[str, Any]], seed: int = 0) -> None:
        self._grid = list(grid)
        random.Random(seed).shuffle(self._grid)
        self._fallback = optuna.samplers.RandomSampler(seed=seed)

    @property
    def size(self) -> int:
        return len(self._grid)

    def exhausted(self, study: optuna.Study) -> bool:
        """Every point is held by a trial, and no enqueued trial waits for its point."""
        trials = study.get_trials(deepcopy=False)
        waiting = any(t.state == TrialState.WAITING for t in trials)
        return not waiting and len(self._held(trials)) >= len(self._grid)

    def infer_relative_search_space(self, study: optuna.Study, trial: FrozenTrial) -> dict[str, BaseDistribution]:
        return {}

    def sample_relative(
        self, study: optuna.Study, trial: FrozenTrial, search_space: dict[str, BaseDistribution]
    ) -> dict[str, Any]:
        return {}

    def before_trial(self, study: optuna.Study, trial: FrozenTrial) -> None:
        if _GRID_ATTR in trial.system_attrs:
            return
        fixed = trial.system_attrs.get("fixed_params")
        if fixed is not None:
            index = next((i for i, point in enumerate(self._grid) if point == fixed), None)
        else:
            held = self._held(study.get_trials(deepcopy=False))
            index = next((i for i in range(len(self._grid)) if i not in held), None)
        if index is not None:
            study._storage.set_trial_system_attr(trial._trial_id, _GRID_ATTR, index)

    @staticmethod
    def _held(trials: list[FrozenTrial]) -> set[int]:
        return {t.system_attrs[_GRID_ATTR] for t in trials if _GRID_ATTR in t.system_attrs}

    def sample_independent(
        self,
        study: optuna.Study,
        trial: FrozenTrial,
        param_name: str,
        param_distribution: BaseDistribution,
    ) -> Any:
        index = study._storage.get_trial(trial._trial_id).system_attrs.get(_GRID_ATTR)
        if index is None or param_name not in self._grid[index]:
            return self._fallback.sample_independent(study, trial, param_name, param_distribution)
        return self._grid[index][param_name]


def _tpe(spec: Spec) -> optuna.samplers.BaseSampler:
    s = spec.sampler
    return optuna.samplers.TPESampler(
        seed=spec.study.seed,
        n_startup_trials=s.n_startup_trials,
        multivariate=s.multivariate,
        group=s.multivariate if s.group is None else s.group,
        constant_liar=s.constant_liar,
        n_ei_candidates=s.n_ei_candidates,
    )


def _random(spec: Spec) -> optuna.samplers.BaseSampler:
    return optuna.samplers.RandomSampler(seed=spec.study.seed)


def _grid(spec: Spec) -> optuna.samplers.BaseSampler:
    return ConditionalGridSampler(assignments(spec.space, spec.source), seed=spec.study.seed)


def _cmaes(spec: Spec) -> optuna.samplers.BaseSampler:
    s = spec.sampler
    return optuna.samplers.CmaEsSampler(
        seed=spec.study.seed,
        n_startup_trials=s.n_startup_trials,
        sigma0=s.sigma0,
        with_margin=s.with_margin,
        use_separable_cma=s.use_separable_cma,
        # choices and conditional parameters fall outside CMA-ES's joint space
        independent_sampler=optuna.samplers.TPESampler(seed=spec.study.seed),
        warn_independent_sampling=False,
    )


def _gp(spec: Spec) -> optuna.samplers.BaseSampler:
    s = spec.sampler
    return optuna.samplers.GPSampler(
        seed=spec.study.seed,
        n_startup_trials=s.n_startup_trials,
        deterministic_objective=s.deterministic_objective,
        independent_sampler=optuna.samplers.TPESampler(seed=spec.study.seed),
        warn_independent_sampling=False,
    )


def _qmc(spec: Spec) -> optuna.samplers.BaseSampler:
    s = spec.sampler
    return optuna.samplers.QMCSampler(
        seed=spec.study.seed,
        qmc_type=s.qmc_type,
        scramble=s.scramble,
        independent_sampler=optuna.samplers.RandomSampler(seed=spec.study.seed),
        warn_independent_sampling=False,
    )


SAMPLERS: dict[str, Callable[[Spec], optuna.samplers.BaseSampler]] = {
    "tpe": _tpe,
    "random": _random,
    "grid": _grid,
    "cmaes": _cmaes,
    "gp": _gp,
    "qmc": _qmc,
}


def build_sampler(spec: Spec) -> optuna.samplers.BaseSampler:
    """The sampler the spec asks for (its ``type`` was validated against ``SAMPLERS``)."""
    return SAMPLERS[spec.sampler.type](spec)

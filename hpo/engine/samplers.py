"""Optuna samplers built from the spec's ``sampler:`` section, one small builder each.

Every sampler gets the study seed, so the same spec proposes the same trials. A run that
resumes a study seeds its sampler from the study seed and the number of trials already
asked: a sampler's random stream restarts with the process, and seeded alone it would
propose again, after each restart, the parameters its first run proposed. The grid
sampler is hpo's own (:class:`ConditionalGridSampler`): Optuna's ``GridSampler``
crosses every parameter with every other, so a conditional parameter (momentum under
``sgd``) would multiply the trials that never read it into duplicates.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import optuna
from optuna.distributions import BaseDistribution
from optuna.trial import FrozenTrial

from hpo.spec.space import assignments
from hpo.study.keys import FIXED_PARAMS_ATTR, GRID_POINT_ATTR, OLD_GRID_POINT_ATTR

if TYPE_CHECKING:
    from hpo.spec.sections import Spec


class ConditionalGridSampler(optuna.samplers.BaseSampler):
    """Visit every assignment of a conditional space once, in a seeded order.

    Each trial claims the first grid point no other trial holds. The sampler remembers
    the claims of the trials it sampled; the searcher records each claim in the trial's
    user attributes (:meth:`point_of`), so other drivers and a resumed study see it. A
    point that failed is not tried again (a deterministic failure would repeat forever),
    except that an interrupted trial (Ctrl-C, a dead driver) is enqueued again with its parameters, and
    then reclaims its own point.
    """

    def __init__(self, grid: list[dict[str, Any]], seed: int = 0) -> None:
        self._grid = list(grid)
        random.Random(seed).shuffle(self._grid)
        self._fallback = optuna.samplers.RandomSampler(seed=seed)
        self._claims: dict[int, int] = {}  # trial number (in the study sampled) -> grid point

    @property
    def size(self) -> int:
        return len(self._grid)

    def point_of(self, number: int) -> int | None:
        """The grid point trial ``number`` claimed, None if it found none free."""
        return self._claims.get(number)

    def exhausted(self, trials: list[FrozenTrial], waiting: int) -> bool:
        """Every point is held by a trial, and no queued trial (``waiting``) waits for its point."""
        return not waiting and len(self._held(trials)) >= len(self._grid)

    def infer_relative_search_space(self, study: optuna.Study, trial: FrozenTrial) -> dict[str, BaseDistribution]:
        return {}

    def sample_relative(self, study: optuna.Study, trial: FrozenTrial, search_space: dict[str, BaseDistribution]) -> dict[str, Any]:
        return {}

    def before_trial(self, study: optuna.Study, trial: FrozenTrial) -> None:
        fixed = trial.system_attrs.get(FIXED_PARAMS_ATTR)
        if fixed is not None:
            index = next((i for i, point in enumerate(self._grid) if point == fixed), None)
        else:
            held = self._held(study.get_trials(deepcopy=False))
            index = next((i for i in range(len(self._grid)) if i not in held), None)
        if index is not None:
            self._claims[trial.number] = index

    def _held(self, trials: list[FrozenTrial]) -> set[int]:
        held = set(self._claims.values())
        for trial in trials:
            point = trial.user_attrs.get(GRID_POINT_ATTR, trial.system_attrs.get(OLD_GRID_POINT_ATTR))
            if point is not None:
                held.add(point)
        return held

    def sample_independent(
        self,
        study: optuna.Study,
        trial: FrozenTrial,
        param_name: str,
        param_distribution: BaseDistribution,
    ) -> Any:
        index = self._claims.get(trial.number)
        if index is None or param_name not in self._grid[index]:
            return self._fallback.sample_independent(study, trial, param_name, param_distribution)
        return self._grid[index][param_name]


def resume_seed(seed: int, asked: int) -> int:
    """The seed of a run whose study already holds ``asked`` trials (the study seed for a
    new study): reproducible, and a stream the earlier runs did not draw from."""
    return seed if asked == 0 else random.Random(f"{seed}/{asked}").randrange(2**32)


def _independent_fallback(kind: str, seed: int) -> dict[str, Any]:
    """CMA-ES, GP and QMC model a joint space of numbers; choices and conditional
    parameters fall outside it and go to this sampler (quietly: that is expected)."""
    if kind in ("tpe", "random", "nsga2"):
        return {}
    fallback = optuna.samplers.RandomSampler(seed=seed) if kind == "qmc" else optuna.samplers.TPESampler(seed=seed)
    return {"independent_sampler": fallback, "warn_independent_sampling": False}


SAMPLERS: dict[str, Callable[..., optuna.samplers.BaseSampler]] = {
    "tpe": optuna.samplers.TPESampler,
    "random": optuna.samplers.RandomSampler,
    "grid": ConditionalGridSampler,
    "cmaes": optuna.samplers.CmaEsSampler,
    "gp": optuna.samplers.GPSampler,
    "nsga2": optuna.samplers.NSGAIISampler,
    "qmc": optuna.samplers.QMCSampler,
}
"""The spec's ``sampler.type`` -> sampler class. Each section's fields (hpo.spec.sections) are
named as the class's keyword arguments, so the options pass through unchanged."""


def build_sampler(spec: Spec, asked: int = 0) -> optuna.samplers.BaseSampler:
    """The sampler the spec asks for, for a study that already holds ``asked`` trials.

    The grid keeps its seeded order (the study records which points are held), and QMC
    its seed (the study records how far along its sequence it is); every other random
    stream is seeded with :func:`resume_seed`.
    """
    kind = spec.sampler.type
    seed = resume_seed(spec.study.seed, asked)
    if kind == "grid":
        return ConditionalGridSampler(assignments(spec.space, spec.source), seed=spec.study.seed)
    options = spec.sampler.model_dump(exclude={"type"})
    own_seed = spec.study.seed if kind == "qmc" else seed
    return SAMPLERS[kind](seed=own_seed, **options, **_independent_fallback(kind, seed))

"""Every sampler the spec language names builds with its options and the study seed,
and proposes configs for a conditional space (one shared test over the registry)."""

from __future__ import annotations

import optuna
import pytest
import yaml

from hpo.samplers import SAMPLERS, ConditionalGridSampler, build_sampler
from hpo.space import sample
from hpo.spec import spec_from_text

from .conftest import VALID_SPEC

OPTIONS = {
    "tpe": {"n_startup_trials": 2, "multivariate": True, "constant_liar": True},
    "random": {},
    "grid": {},
    "cmaes": {"n_startup_trials": 1, "with_margin": True},
    "gp": {"n_startup_trials": 2},
    "qmc": {"qmc_type": "halton"},
}

GRID_SPACE = {
    "batch_size": {"choice": [32, 64]},
    "optimizer.name": {"choice": ["sgd", "adam"], "when": {"sgd": {"optimizer.momentum": {"float": [0.0, 0.9], "step": 0.45}}}},
}


def spec_with(sampler: str):
    raw = yaml.safe_load(VALID_SPEC)
    raw["sampler"] = {"type": sampler, **OPTIONS[sampler]}
    if sampler == "grid":
        raw["space"] = GRID_SPACE
    return spec_from_text(yaml.safe_dump(raw), "s.yaml")


def propose(spec, n=5):
    study = optuna.create_study(direction="maximize", sampler=build_sampler(spec))
    configs = []
    for i in range(n):
        trial = study.ask()
        configs.append(sample(trial, spec.space, spec.train))
        study.tell(trial, float(i % 3))
    return configs


def test_registry_matches_the_spec_language():
    assert set(SAMPLERS) == set(OPTIONS)


@pytest.mark.parametrize("name", sorted(OPTIONS))
def test_sampler_builds_seeded_and_samples_the_space(name):
    spec = spec_with(name)
    first, again = propose(spec), propose(spec)
    assert first == again  # the study seed fixes the proposals
    for config in first:
        assert config["batch_size"] in (32, 64)


def test_grid_visits_each_point_once_then_is_exhausted():
    spec = spec_with("grid")
    sampler = build_sampler(spec)
    assert isinstance(sampler, ConditionalGridSampler) and sampler.size == 8
    study = optuna.create_study(sampler=sampler)
    seen = []
    for _ in range(sampler.size):
        trial = study.ask()
        sample(trial, spec.space, spec.train)
        seen.append(tuple(sorted(trial.params.items())))
        study.tell(trial, 0.0)
    assert len(set(seen)) == 8
    assert sampler.exhausted(study)


def test_grid_does_not_retry_a_failed_point_but_an_enqueued_one_reclaims_its_own():
    spec = spec_with("grid")
    sampler = build_sampler(spec)
    study = optuna.create_study(sampler=sampler)
    failed = study.ask()
    sample(failed, spec.space, spec.train)
    study.tell(failed, state=optuna.trial.TrialState.FAIL)
    study.enqueue_trial(failed.params)
    again = study.ask()
    sample(again, spec.space, spec.train)
    assert again.params == failed.params
    others = []
    for _ in range(sampler.size - 1):
        trial = study.ask()
        sample(trial, spec.space, spec.train)
        others.append(trial.params)
        study.tell(trial, 0.0)
    assert failed.params not in others
    assert sampler.exhausted(study)


@pytest.mark.parametrize("name", sorted(set(OPTIONS) - {"grid"}))  # the grid records the points it holds
@pytest.mark.parametrize("resumed", [True, False], ids=["resume-seed", "study-seed-again"])
def test_a_resumed_run_does_not_propose_the_first_runs_parameters_again(name, resumed):
    """A restarted process restarts its sampler's random stream; seeded with the study seed
    alone, it proposes again what the crashed run proposed (and ran, or finished)."""
    spec = spec_with(name)
    study = optuna.create_study(direction="maximize", sampler=build_sampler(spec))

    def interrupted_run():
        configs = []
        for _ in range(2):
            trial = study.ask()
            configs.append(sample(trial, spec.space, spec.train))
            study.tell(trial, state=optuna.trial.TrialState.FAIL)  # as a crash leaves it, once recovered
        return configs

    first = interrupted_run()
    study.sampler = build_sampler(spec, len(study.trials) if resumed else 0)
    repeated = [config for config in interrupted_run() if config in first]
    if resumed:
        assert not repeated
    elif name in ("random", "tpe", "gp"):
        assert repeated  # what the resume seed is for

"""Every sampler the spec language names builds with its options and the study seed,
and proposes configs for a conditional space (one shared test over the registry)."""

from __future__ import annotations

import optuna
import pytest
import yaml
from optuna.trial import TrialState

from hpo.engine.samplers import SAMPLERS, ConditionalGridSampler, build_sampler
from hpo.spec.sections import MULTI_OBJECTIVE_SAMPLERS, spec_from_text
from hpo.spec.space import sample
from tests.conftest import VALID_SPEC

OPTIONS = {
    "tpe": {"n_startup_trials": 2, "multivariate": True, "constant_liar": True},
    "random": {},
    "grid": {},
    "cmaes": {"n_startup_trials": 1, "with_margin": True},
    "gp": {"n_startup_trials": 2},
    "qmc": {"qmc_type": "halton"},
    "nsga2": {"population_size": 4},
}

GRID_SPACE = {
    "batch_size": {"choice": [32, 64]},
    "optimizer.name": {"choice": ["sgd", "adam"], "when": {"sgd": {"optimizer.momentum": {"float": [0.0, 0.9], "step": 0.45}}}},
}


def spec_with(sampler: str, seed: int = 0):
    raw = yaml.safe_load(VALID_SPEC)
    raw["sampler"] = {"type": sampler, **OPTIONS[sampler]}
    raw["study"]["seed"] = seed
    if sampler == "grid":
        raw["space"] = GRID_SPACE
    return spec_from_text(yaml.safe_dump(raw), "s.yaml")


def assert_inside(config: dict, space: dict) -> None:
    """Each parameter of the raw ``space`` is in its range in ``config``, and a conditional
    one is there exactly when its parent holds the value that opens it."""

    def get(path: str):
        node = config
        for key in path.split("."):
            if not isinstance(node, dict) or key not in node:
                return None
            node = node[key]
        return node

    for path, rule in space.items():
        value = get(path)
        if "float" in rule:
            low, high = rule["float"]
            assert low <= value <= high, (path, value)
            if "step" in rule:
                assert abs((value - low) / rule["step"] - round((value - low) / rule["step"])) < 1e-9, (path, value)
        else:
            choices = rule["choice"]
            assert value in (list(choices.values()) if isinstance(choices, dict) else choices), (path, value)
        for opening, inner in rule.get("when", {}).items():
            if value == opening:
                assert_inside(config, inner)
            else:
                assert all(get(name) is None for name in inner), (path, value, inner)


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
    assert type(build_sampler(spec)) is SAMPLERS[name]
    first, again = propose(spec), propose(spec)
    assert first == again  # the study seed fixes the proposals
    assert propose(spec_with(name, seed=1)) != first  # and is what fixes them: another seed, other proposals
    space = GRID_SPACE if name == "grid" else yaml.safe_load(VALID_SPEC)["space"]
    for config in first:
        assert_inside(config, space)


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
    assert sampler.exhausted(study.trials, waiting=0)


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
    assert sampler.exhausted(study.trials, waiting=0)


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
    else:
        # what the resume seed is for: seeded alone, every sampler here proposes its first
        # run's parameters again (CMA-ES and QMC through their seeded fallback for choices)
        assert repeated


@pytest.mark.parametrize("name", sorted(set(OPTIONS) & set(MULTI_OBJECTIVE_SAMPLERS)))
def test_every_sampler_a_spec_of_several_objectives_may_name_proposes_for_one(name):
    """The samplers the spec language lets a study of several objectives use do propose
    for it, after complete, pruned and infeasible trials (cmaes is refused: test_objectives)."""
    spec = spec_with(name)
    study = optuna.create_study(directions=["maximize", "minimize"], sampler=build_sampler(spec))
    configs = []
    for i in range(6):
        trial = study.ask()
        configs.append(sample(trial, spec.space, spec.train))
        trial.set_constraint("params <= 100", float(i % 2))
        study.tell(trial, [i / 10, 100 - i] if i % 3 else None, state=TrialState.COMPLETE if i % 3 else TrialState.PRUNED)
    space = GRID_SPACE if name == "grid" else yaml.safe_load(VALID_SPEC)["space"]
    for config in configs:
        assert_inside(config, space)

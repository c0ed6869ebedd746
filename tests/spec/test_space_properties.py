"""Property tests: random valid spaces over the trainer's config.

For any space hypothesis draws, every sampled config validates against the trainer's
config model, a conditional parameter appears exactly when its parent option is
chosen, and the same seed gives the same sequence of configs.
"""

from __future__ import annotations

import optuna
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from hpo.spec.space import ChoiceParam, parse_space, sample
from trainers.config import validate_train_config

BASE = {
    "data": {"name": "digits"},
    "model": {"name": "cnn", "channels": [8, 16], "kernel_sizes": [3, 3], "hidden": [32]},
    "optimizer": {"name": "adam", "lr": 1e-3},
    "batch_size": 64,
    "epochs": 3,
}


@st.composite
def float_range(draw, low, high, log=False):
    gap = (high / low) ** 0.01 if log else (high - low) * 0.01  # a range, not a point
    lo = draw(st.floats(low, high / gap if log else high - gap))
    hi = draw(st.floats(lo * gap if log else lo + gap, high))
    return {"float": [lo, hi], "log": True} if log else {"float": [lo, hi]}


@st.composite
def int_range(draw, low, high):
    a = draw(st.integers(low, high - 1))
    b = draw(st.integers(a + 1, high))
    return {"int": [a, b]}


LEAVES = {
    "optimizer.lr": lambda: float_range(1e-5, 1.0, log=True),
    "optimizer.weight_decay": lambda: float_range(0.0, 0.1),
    "model.dropout": lambda: float_range(0.0, 0.9),
    "label_smoothing": lambda: float_range(0.0, 0.5),
    "batch_size": lambda: st.one_of(int_range(8, 256), st.just({"choice": [16, 32, 64]})),
    "epochs": lambda: int_range(1, 50),
    "model.kernel_sizes": lambda: st.just({"choice": {"k33": [3, 3], "k53": [5, 3], "k55": [5, 5]}}),
}

SGD_BRANCH = {
    "optimizer.momentum": lambda: float_range(0.0, 0.99),
    "optimizer.nesterov": lambda: st.just({"choice": [True, False]}),
}


@st.composite
def spaces(draw):
    space = {}
    for path in draw(st.lists(st.sampled_from(sorted(LEAVES)), unique=True, max_size=len(LEAVES))):
        space[path] = draw(LEAVES[path]())
    if draw(st.booleans()):
        names = draw(st.lists(st.sampled_from(["sgd", "adam", "adamw", "rmsprop"]), min_size=1, unique=True))
        entry = {"choice": names}
        if "sgd" in names:
            chosen = draw(st.lists(st.sampled_from(sorted(SGD_BRANCH)), unique=True))
            if chosen:
                entry["when"] = {"sgd": {p: draw(SGD_BRANCH[p]()) for p in chosen}}
        space["optimizer.name"] = entry
    return space


def _sample_configs(space, seed, n):
    study = optuna.create_study(sampler=optuna.samplers.RandomSampler(seed=seed))
    results = []
    for _ in range(n):
        trial = study.ask()
        config = sample(trial, space, BASE)
        results.append((dict(trial.params), config))
        study.tell(trial, 0.0)
    return results


_SETTINGS = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@_SETTINGS
@given(raw=spaces(), seed=st.integers(0, 1000))
def test_every_sampled_config_validates(raw, seed):
    space = parse_space(raw, "prop.yaml")
    for _, config in _sample_configs(space, seed, 5):
        validate_train_config(config)


@_SETTINGS
@given(raw=spaces(), seed=st.integers(0, 1000))
def test_conditional_params_appear_exactly_under_their_option(raw, seed):
    space = parse_space(raw, "prop.yaml")
    conditional = {
        sub.path: (param.path, label)
        for param in space
        if isinstance(param, ChoiceParam)
        for label, branch in param.branches.items()
        for sub in branch
    }
    for params, _ in _sample_configs(space, seed, 8):
        for path, (parent, label) in conditional.items():
            assert (path in params) == (params.get(parent) == label)


@_SETTINGS
@given(raw=spaces(), seed=st.integers(0, 1000))
def test_same_seed_same_sequence(raw, seed):
    space = parse_space(raw, "prop.yaml")
    assert _sample_configs(space, seed, 4) == _sample_configs(space, seed, 4)

"""Several objectives and constraints in a spec: what loads, what each mistake says, and
what the search hash holds (hpo.spec.objectives)."""

from __future__ import annotations

import pytest

from hpo.errors import SpecError
from hpo.spec.objectives import Constraint, parse_constraint
from hpo.spec.sections import spec_from_text
from tests.conftest import VALID_SPEC, spec_error

SINGLE = "study: {name: tiny, metric: val_acc, mode: max, trials: 4, seed: 0}"


def with_study(study: str, extra: str = "") -> str:
    return VALID_SPEC.replace(SINGLE, study) + extra


TWO = "study: {name: tiny, metric: [val_acc, params], mode: [max, min], trials: 4, seed: 0}"


@pytest.mark.parametrize(
    ("text", "constraint"),
    [
        ("params <= 2e6", Constraint("params", "<=", 2e6)),
        ("  latency_ms<5 ", Constraint("latency_ms", "<", 5.0)),
        ("val_acc >= 0.9", Constraint("val_acc", ">=", 0.9)),
        ("macs > -1", Constraint("macs", ">", -1.0)),
    ],
)
def test_constraints_parse(text, constraint):
    assert parse_constraint(text, "s.yaml", "constraints.0") == constraint


@pytest.mark.parametrize(
    ("constraint", "value", "violation"),
    [
        (Constraint("params", "<=", 100), 90, -10),
        (Constraint("params", "<=", 100), 100, 0),
        (Constraint("params", "<=", 100), 130, 30),
        (Constraint("val_acc", ">=", 0.5), 0.75, -0.25),
        (Constraint("val_acc", ">=", 0.5), 0.25, 0.25),
    ],
)
def test_violation_is_how_far_the_value_breaks_the_bound(constraint, value, violation):
    assert constraint.violation(value) == pytest.approx(violation)


@pytest.mark.parametrize("operator", ["<", ">"])
def test_a_strict_constraint_refuses_its_bound(operator):
    assert Constraint("params", operator, 100).violation(100) > 0
    assert Constraint("params", operator.replace("<", "<=").replace(">", ">="), 100).violation(100) == 0


@pytest.mark.parametrize(
    "text", ["params", "params = 3", "params <= ", "<= 3", "params <= many", "params <= inf", "params <= nan", 3, None]
)
def test_malformed_constraint_is_refused_naming_its_key(text):
    with pytest.raises(SpecError) as caught:
        parse_constraint(text, "s.yaml", "constraints.1")
    assert caught.value.path == "constraints.1"
    assert '"<metric> <= <number>"' in caught.value.message


def test_several_objectives_load_with_the_first_as_the_metric():
    spec = spec_from_text(with_study(TWO, 'constraints: ["params <= 2e6", "latency_ms < 5"]\n'), "s.yaml")
    assert spec.metrics == ("val_acc", "params") and spec.modes == ("max", "min")
    assert (spec.metric, spec.mode) == ("val_acc", "max")  # pruning, progress and stop rules
    assert [c.text for c in spec.constraints] == ["params <= 2e+06", "latency_ms < 5"]


def test_modes_of_several_objectives_follow_the_trainer():
    spec = spec_from_text(with_study("study: {name: tiny, metric: [val_acc, latency_ms], trials: 4}"), "s.yaml")
    assert spec.modes == ("max", "min")


def test_one_metric_keeps_the_single_objective_search_hash():
    spec = spec_from_text(VALID_SPEC, "s.yaml")
    assert spec.metrics == ("val_acc",) and spec.search_definition()["metric"] == "val_acc"
    assert "constraints" not in spec.search_definition()


def test_every_objective_and_constraint_is_part_of_the_search():
    single = spec_from_text(VALID_SPEC, "s.yaml").search_hash()
    two = spec_from_text(with_study(TWO), "s.yaml").search_hash()
    other = spec_from_text(with_study(TWO.replace("params", "macs")), "s.yaml").search_hash()
    constrained = spec_from_text(with_study(TWO, 'constraints: ["params <= 2e6"]\n'), "s.yaml").search_hash()
    assert len({single, two, other, constrained}) == 4


CASES = [
    (
        "constraint-unknown-metric",
        with_study(SINGLE, 'constraints: ["memory_mb <= 4000"]\n'),
        "constraints.0",
        "unknown metric 'memory_mb'",
    ),
    ("constraint-typo", with_study(SINGLE, 'constraints: ["parms <= 4000"]\n'), "constraints.0", "did you mean 'params'"),
    ("constraint-malformed", with_study(SINGLE, 'constraints: ["params == 4000"]\n'), "constraints.0", "<metric> <= <number>"),
    ("constraint-twice", with_study(SINGLE, 'constraints: ["params <= 4000", "params <= 4e3"]\n'), "constraints.1", "given twice"),
    ("constraints-not-list", with_study(SINGLE, "constraints: params <= 4000\n"), "constraints", "valid list"),
    ("metric-unknown-second", with_study(TWO.replace("params", "parameters")), "study.metric.1", "did you mean 'params'"),
    ("mode-against-trainer", with_study(TWO.replace("[max, min]", "[max, max]")), "study.mode.1", "use mode: min"),
    ("modes-too-few", with_study(TWO.replace("[max, min]", "[max]")), "study", "a list of 2 modes"),
    ("mode-list-single-metric", with_study(SINGLE.replace("mode: max", "mode: [max]")), "study", "needs a list of metrics"),
    ("metric-listed-twice", with_study(TWO.replace("params]", "val_acc]")), "study", "listed twice"),
    (
        "metric-list-of-one",
        with_study(TWO.replace("[val_acc, params]", "[val_acc]").replace("[max, min]", "[max]")),
        "study",
        "two or more",
    ),
    ("metric-not-a-name", with_study(SINGLE.replace("metric: val_acc", "metric: 3")), "study.metric", "a metric name"),
    ("cmaes-several", with_study(TWO).replace("type: tpe, n_startup_trials: 2", "type: cmaes"), "sampler.type", "optimises one objective"),
]


@pytest.mark.parametrize(("spec_text", "path", "words"), [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_bad_objectives_name_file_key_and_expectation(write_spec, spec_text, path, words):
    spec_error(write_spec(spec_text), path, words)


def test_nsga2_is_a_sampler_of_the_spec_language():
    spec = spec_from_text(with_study(TWO).replace("type: tpe, n_startup_trials: 2", "type: nsga2, population_size: 8"), "s.yaml")
    assert spec.sampler.model_dump() == {
        "type": "nsga2",
        "population_size": 8,
        "mutation_prob": None,
        "crossover_prob": 0.9,
        "swapping_prob": 0.5,
    }

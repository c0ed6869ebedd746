"""hpo.results.rungs: the deepest epoch enough finished trials share, and the trials ranked there."""

from __future__ import annotations

import math

import optuna
import pytest
from optuna.distributions import CategoricalDistribution, FloatDistribution
from optuna.trial import FrozenTrial, TrialState

from hpo.results.rungs import MIN_SHARED, rung_study, shared_rung

DISTRIBUTIONS = {"lr": FloatDistribution(1e-4, 1e-1, log=True), "opt": CategoricalDistribution(["sgd", "adam"])}


def trials(*specs: tuple[str, list[float]]) -> list[FrozenTrial]:
    """Trials numbered in order, each ``(state, its metric at epochs 1, 2, ...)``."""
    study = optuna.create_study(storage=optuna.storages.InMemoryStorage())
    for number, (state, values) in enumerate(specs):
        done = state == "COMPLETE"
        study.add_trial(
            optuna.trial.create_trial(
                state=TrialState[state],
                value=max(values) if done else None,
                params={"lr": 10 ** -(1 + number % 3), "opt": ("sgd", "adam")[number % 2]},
                distributions=DISTRIBUTIONS,
                intermediate_values=dict(enumerate(values, start=1)),
            )
        )
    return study.get_trials()


def ranking(rung) -> list[tuple[int, float]]:
    return [(t.trial.number, t.value) for t in rung.trials]


def test_the_deepest_epoch_enough_trials_reached_holds_every_trial_that_reached_it():
    study = trials(
        ("COMPLETE", [0.5, 0.6, 0.7, 0.8, 0.85, 0.9, 0.9, 0.95]),
        ("PRUNED", [0.4, 0.5, 0.6, 0.7]),
        ("PRUNED", [0.5, 0.6, 0.7, 0.9]),
        ("PRUNED", [0.3, 0.4, 0.5, 0.6]),
        ("PRUNED", [0.2, 0.3]),
        ("PRUNED", [0.1, 0.2]),
    )
    rung = shared_rung(study, "max")
    assert rung is not None and rung.step == 4  # epochs 5 to 8: only the complete trial
    assert ranking(rung) == [(2, 0.9), (0, 0.8), (1, 0.7), (3, 0.6)]
    assert rung.describe("val_acc") == "val_acc at epoch 4, 4 trials (1 complete, 3 pruned)"
    assert [t.final for t in rung.trials] == [None, 0.95, None, None]  # a complete trial's final value beside
    assert shared_rung(study, "max", min_shared=5).step == 2
    assert shared_rung(study, "max", min_shared=1).step == 4  # still a third of the six trials: two


def test_the_epoch_holds_a_third_of_the_finished_trials_not_only_the_survivors():
    """The quickstart's shape: 16 trials at epoch 2, 7 at epoch 4, 4 complete at epoch 8."""
    survivors = [("COMPLETE", [0.5] * 8)] * 4
    to_epoch_4 = [("PRUNED", [0.4] * 4)] * 3
    to_epoch_2 = [("PRUNED", [0.3] * 2)] * 9
    rung = shared_rung(trials(*survivors, *to_epoch_4, *to_epoch_2), "max")
    assert (rung.step, len(rung.trials), rung.needed) == (4, 7, 6)


def test_equal_values_rank_the_earlier_trial_first_and_equal_counts_take_the_deeper_epoch():
    study = trials(*[("PRUNED", [0.5, 0.7, 0.7]) for _ in range(MIN_SHARED)], ("PRUNED", [0.9]))
    rung = shared_rung(study, "max")
    assert rung.step == 3  # epochs 2 and 3 both reached by 4: the deeper
    assert [n for n, _ in ranking(rung)] == [0, 1, 2, 3]
    assert rung.describe("val_acc") == "val_acc at epoch 3, 4 trials (0 complete, 4 pruned)"


def test_a_minimised_metric_ranks_the_lowest_first():
    study = trials(("PRUNED", [2.0, 1.5]), ("COMPLETE", [2.0, 0.9, 0.8]), ("PRUNED", [1.0, 1.2]), ("PRUNED", [3.0, 0.7]))
    assert ranking(shared_rung(study, "min")) == [(3, 0.7), (1, 0.9), (2, 1.2), (0, 1.5)]
    assert ranking(shared_rung(study, "max")) == [(0, 1.5), (2, 1.2), (1, 0.9), (3, 0.7)]


def test_failed_and_running_trials_and_infinite_values_are_left_out():
    study = trials(
        ("PRUNED", [0.5, 0.6]),
        ("PRUNED", [0.4, 0.5]),
        ("PRUNED", [0.3, math.inf]),
        ("COMPLETE", [0.6, 0.7, 0.8]),
        ("FAIL", [0.9, 0.9, 0.9]),
        ("RUNNING", [0.9, 0.9, 0.9]),
    )
    rung = shared_rung(study, "max")
    assert rung.step == 1 and [n for n, _ in ranking(rung)] == [3, 0, 1, 2]
    assert rung.describe("val_acc") == "val_acc at epoch 1, 4 trials (1 complete, 3 pruned)"


def test_fewer_trials_than_a_rung_needs_share_the_epoch_most_reached():
    study = trials(("PRUNED", [0.5, 0.6]), ("PRUNED", [0.4, 0.5]), ("COMPLETE", [0.6, 0.7, 0.8]))
    rung = shared_rung(study, "max")
    assert rung.step == 2 and len(rung.trials) == 3
    only = shared_rung(trials(("COMPLETE", [0.6, 0.7, 0.8])), "max")
    assert only.step == 3 and only.describe("val_acc") == "val_acc at epoch 3, 1 trial (1 complete, 0 pruned)"


@pytest.mark.parametrize(
    "specs",
    [(), (("FAIL", [0.5, 0.6]), ("RUNNING", [0.5])), (("PRUNED", []), ("PRUNED", [math.nan]))],
    ids=["no trial", "none finished", "no finite epoch"],
)
def test_no_rung_without_a_finished_trial_that_reported_an_epoch(specs):
    assert shared_rung(trials(*specs), "max") is None


def test_the_rung_as_a_study_holds_its_trials_as_complete_valued_at_the_epoch():
    rung = shared_rung(trials(*[("PRUNED", [0.1 * n, 0.1 * n + 0.05]) for n in range(5)], ("COMPLETE", [0.9, 0.2, 0.3])), "min")
    study = rung_study(rung)
    assert study.direction == optuna.study.StudyDirection.MINIMIZE
    copies = study.get_trials(states=(TrialState.COMPLETE,))
    assert sorted(t.value for t in copies) == sorted(t.value for t in rung.trials) and len(copies) == 6
    assert all(t.distributions == DISTRIBUTIONS for t in copies)
    assert {(t.params["lr"], t.value) for t in copies} == {(t.trial.params["lr"], t.value) for t in rung.trials}

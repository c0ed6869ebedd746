"""Which value is better, said once for every part of hpo."""

from __future__ import annotations

import math

import optuna
import pytest
from optuna.trial import TrialState, create_trial

from hpo.study.summary import best_of, better, direction_of, ranked, score, study_mode


@pytest.mark.parametrize(("mode", "best"), [("max", 0.9), ("min", 0.1)])
def test_the_best_follows_the_mode(mode, best):
    assert best_of([0.5, 0.9, 0.1], mode) == best
    assert better(best, 0.5, mode) and not better(0.5, best, mode)


def test_a_tie_is_not_better_and_anything_beats_nothing():
    assert not better(0.5, 0.5, "max") and not better(0.5, 0.5, "min")
    assert better(0.5, None, "max") and better(0.5, None, "min")


@pytest.mark.parametrize("mode", ["max", "min"])
def test_nan_is_the_worst_in_either_direction(mode):
    assert score(math.nan, mode) == -math.inf
    assert not math.isnan(best_of([math.nan, 1.0], mode))


def test_ranked_puts_the_best_first_then_the_earlier_of_equals_and_leaves_out_trials_without_a_value():
    values = [0.5, 0.9, None, 0.9, 0.1]
    trials = [create_trial(state=TrialState.COMPLETE, value=v) if v is not None else create_trial(state=TrialState.FAIL) for v in values]
    for number, trial in enumerate(trials):
        trial.number = number
    assert [t.number for t in ranked(trials, "max")] == [1, 3, 0, 4]
    assert [t.number for t in ranked(trials, "min")] == [4, 0, 1, 3]


@pytest.mark.parametrize("mode", ["max", "min"])
def test_a_study_created_for_a_mode_reads_back_as_that_mode(mode):
    assert study_mode(optuna.create_study(direction=direction_of(mode))) == mode

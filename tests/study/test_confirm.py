"""Confirm records and the ranking over seeds: mean, confidence bound, what changed."""

from __future__ import annotations

import math

import optuna
import pytest
from optuna.trial import TrialState, create_trial

from hpo.study.confirm import ConfirmRun, confirm_records, rank_confirmed, record_run, spread_bound
from hpo.study.summary import direction_of

T_95_DF2 = 2.919986  # Student's t, one-sided 95%, 2 degrees of freedom (any statistics table)
T_95_DF1 = 6.313752


def _study(values: list[float], mode: str = "max") -> optuna.Study:
    study = optuna.create_study(direction=direction_of(mode))
    for value in values:
        study.add_trial(create_trial(state=TrialState.COMPLETE, value=value))
    return study


def _records(runs: dict[int, list[float | None]]) -> dict[int, dict[int, ConfirmRun]]:
    return {
        trial: {seed: ConfirmRun(seed, v, 2, 1.0, None if v is not None else "NonFiniteLossError", None if v is not None else "nan")
                for seed, v in enumerate(values, start=1)}
        for trial, values in runs.items()
    }  # fmt: skip


def test_the_bound_is_the_mean_less_t_standard_errors_and_above_it_for_min():
    values = [0.90, 0.92, 0.94]  # mean 0.92, std 0.02
    margin = T_95_DF2 * 0.02 / math.sqrt(3)
    assert spread_bound(values, "max") == pytest.approx(0.92 - margin, abs=1e-6)
    assert spread_bound([1.0, 1.2, 1.4], "min") == pytest.approx(1.2 + T_95_DF2 * 0.2 / math.sqrt(3), abs=1e-6)
    assert spread_bound([0.9], "max") is None  # one value has no spread


def test_a_noisy_search_winner_loses_to_a_steady_one_and_the_ranks_say_so():
    study = _study([0.95, 0.93, 0.80])  # trial 0 won the search
    records = _records({0: [0.90, 0.96], 1: [0.92, 0.925], 2: [0.80, 0.81]})
    rows = rank_confirmed(study.trials, records, "max")
    assert [row.trial.number for row in rows] == [1, 2, 0]  # by the bound: trial 0's seeds disagree
    first = next(row for row in rows if row.trial.number == 0)
    assert (first.search_rank, first.mean_rank, first.bound_rank) == (1, 1, 3)  # best mean, worst bound
    assert first.mean == pytest.approx(0.93) and first.std == pytest.approx(math.sqrt(2) * 0.03)
    assert first.bound == pytest.approx(0.93 - T_95_DF1 * first.std / math.sqrt(2), abs=1e-6)
    assert rows[0].search_rank == 2


def test_min_studies_rank_the_lowest_upper_bound_first():
    study = _study([0.10, 0.20], mode="min")
    rows = rank_confirmed(study.trials, _records({0: [0.05, 0.40], 1: [0.20, 0.21]}), "min")
    assert [row.trial.number for row in rows] == [1, 0]
    assert rows[0].bound is not None and rows[0].bound > rows[0].mean


def test_a_trial_with_a_failed_run_has_no_bound_and_ranks_after_those_with_one():
    study = _study([0.95, 0.90, 0.85])
    rows = rank_confirmed(study.trials, _records({0: [0.99, None, 0.99], 1: [0.80, 0.81, 0.80], 2: [0.70, 0.71, 0.70]}), "max")
    assert [row.trial.number for row in rows] == [1, 2, 0]
    failed = rows[-1]
    assert failed.bound is None and failed.mean == pytest.approx(0.99) and failed.mean_rank == 1
    assert [run.seed for run in failed.failures] == [2]


def test_only_trials_with_runs_are_ranked_among_themselves():
    study = _study([0.99, 0.95, 0.90])
    rows = rank_confirmed(study.trials, _records({1: [0.9, 0.91], 2: [0.92, 0.93]}), "max")
    assert {row.trial.number: row.search_rank for row in rows} == {1: 1, 2: 2}


def test_runs_read_back_as_stored_one_key_each_and_foreign_keys_are_ignored():
    study = _study([0.9])
    record_run(study, 0, ConfirmRun(2, 0.91, 3, 4.5))
    record_run(study, 0, ConfirmRun(1, None, 1, 0.5, "NonFiniteLossError", "x" * 3000))
    study.set_user_attr("confirm:notes", "someone else's")
    study.set_user_attr("stop_reason", "3/3 trials")
    records = confirm_records(study.user_attrs)
    assert list(records) == [0] and list(records[0]) == [1, 2]  # seeds in order
    assert records[0][2] == ConfirmRun(2, 0.91, 3, 4.5)
    failed = records[0][1]
    assert failed.failed and failed.error_type == "NonFiniteLossError" and len(failed.error or "") == 2000
    assert sorted(k for k in study.user_attrs if k.startswith("confirm:")) == ["confirm:0:1", "confirm:0:2", "confirm:notes"]

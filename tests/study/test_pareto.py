"""The Pareto front and constraints, as hpo.study.summary says them for every part of hpo:
the front is Optuna's, an infeasible trial is never the best, and the tally of a study of
several objectives counts its front."""

from __future__ import annotations

import random

import optuna
import pytest
from optuna.trial import TrialState

from hpo.study.keys import BASELINE_ATTR
from hpo.study.stoprules import StopRules
from hpo.study.summary import Tally, best_trials, feasible, pareto_front, ranked, study_modes, values_text, versus_baseline

optuna.logging.set_verbosity(optuna.logging.WARNING)


def study_of(rows, directions=("maximize",), constrained=True):
    """An in-memory study of ``rows``: (state, values, constraint value or None)."""
    study = optuna.create_study(directions=list(directions))
    for state, values, violation in rows:
        trial = study.ask()
        if constrained and violation is not None:
            trial.set_constraint("params <= 100", violation)
        if state == TrialState.PRUNED and len(directions) == 1:
            trial.report(values[0], step=1)  # a pruned trial's value: its last epoch
        study.tell(trial, values if state == TrialState.COMPLETE else None, state=state)
    return study


@pytest.mark.parametrize("seed", range(5))
def test_the_front_is_optunas_best_trials(seed):
    rng = random.Random(seed)
    rows = []
    for _ in range(40):
        state = rng.choice([TrialState.COMPLETE] * 4 + [TrialState.PRUNED, TrialState.FAIL])
        values = [round(rng.random(), 1), rng.choice([100, 200, 300, 400])]
        rows.append((state, values, rng.choice([-1.0, 0.0, 5.0])))
    study = study_of(rows, ("maximize", "minimize"))
    front = pareto_front(study.trials, study_modes(study))
    assert sorted(t.number for t in front) == sorted(t.number for t in study.best_trials)
    assert front and all(feasible(t) for t in front)
    firsts = [t.values[0] for t in front]
    assert firsts == sorted(firsts, reverse=True)  # ranked by the first objective


def test_an_infeasible_trial_is_ranked_after_feasible_ones_and_never_the_best():
    c = TrialState.COMPLETE
    study = study_of([(c, [0.9], 3.0), (c, [0.7], -1.0), (c, [0.8], None), (TrialState.PRUNED, [0.95], 2.0)])
    assert [t.number for t in ranked(study.trials, "max")] == [2, 1, 3, 0]
    assert [t.number for t in best_trials(study.trials, ("max",))] == [2, 1]
    tally = Tally.from_trials(study.trials, 4, "max")
    assert tally.best is not None and tally.best.number == 2


def test_the_tally_of_several_objectives_counts_its_front_and_names_no_best():
    c = TrialState.COMPLETE
    rows = [(c, [0.9, 300], -1.0), (c, [0.8, 100], -1.0), (c, [0.7, 200], -1.0), (c, [0.99, 50], 1.0)]
    study = study_of(rows, ("maximize", "minimize"))
    tally = Tally.from_trials(study.trials, 8, study_modes(study))
    assert tally.best is None
    assert [t.number for t in tally.front] == [0, 1]  # 2 is dominated by 1; 3 breaks its constraint
    assert tally.summary().endswith("; Pareto front: 2 trials")
    assert values_text(tally.front[1], ["val_acc", "params"]) == "val_acc 0.8000, params 100"


def test_a_target_reached_by_an_infeasible_trial_does_not_end_the_study():
    c = TrialState.COMPLETE
    study = study_of([(c, [0.99], 1.0), (c, [0.9], -1.0)])
    rules = StopRules("val_acc", "max", target=0.95)
    assert rules.verdict(study.trials) is None
    assert StopRules("val_acc", "max", target=0.85).verdict(study.trials) == "target val_acc >= 0.85 reached by trial 1"


def test_an_infeasible_baseline_is_said_so():
    c = TrialState.COMPLETE
    study = optuna.create_study(direction="maximize")
    for value, violation, baseline in ((0.9, 5.0, True), (0.8, -1.0, False)):
        trial = study.ask()
        trial.set_constraint("params <= 100", violation)
        if baseline:
            trial.set_user_attr(BASELINE_ATTR, True)
        study.tell(trial, value, state=c)
    tally = Tally.from_trials(study.trials, 2, "max")
    assert versus_baseline(tally.best, study.trials) == "best 0.8000 vs your baseline: it breaks params <= 100 (trial 0)"

"""Several objectives and constraints through the searcher, with a real study: a finished
trial is told one value per objective and its constraints, a pruned one keeps its epochs in
the study (but not in the sampler's view), a missing objective fails the trial, and TPE
keeps proposing after pruned trials of a study of several objectives."""

from __future__ import annotations

import optuna
import pytest
from optuna.trial import TrialState

from hpo.engine.searcher import StudySearcher
from hpo.spec.objectives import parse_constraint
from hpo.spec.space import parse_space
from hpo.study.storage import open_storage
from hpo.study.summary import Tally, broken_constraints, feasible

SPACE = parse_space({"optimizer.lr": {"float": [1e-4, 1e-1], "log": True}, "width": {"choice": [8, 16, 32]}}, "t.yaml")
BASE = {"optimizer": {"name": "adam", "lr": 1e-3}, "width": 8, "epochs": 4}
SMALL = parse_constraint("params <= 1000", "t.yaml", "constraints.0")


@pytest.fixture
def make(tmp_path):
    def build(sampler=None, constraints=(SMALL,), target=20, observer=None):
        storage = open_storage(f"sqlite:///{tmp_path}/objectives.db")
        study = optuna.create_study(storage=storage, directions=["maximize", "minimize"], sampler=sampler)
        searcher = StudySearcher(
            study, storage, SPACE, BASE, metric="val_acc", mode="max", objectives=("params",), constraints=constraints,
            objective="best", target=target, observer=observer,
        )  # fmt: skip
        return study, searcher

    return build


def epoch(n, acc, params=500, finished=False):
    return {"epoch": n, "training_iteration": n, "val_acc": acc, "params": params, "finished": finished}


def test_finished_trial_is_told_each_objective_and_its_constraints(make):
    study, searcher = make()
    searcher.suggest("t1")
    searcher.on_trial_result("t1", epoch(1, 0.9))
    searcher.on_trial_complete("t1", epoch(2, 0.8, finished=True))
    searcher.suggest("t2")
    searcher.on_trial_complete("t2", epoch(1, 0.95, params=4000, finished=True))
    first, second = study.trials
    assert first.state == second.state == TrialState.COMPLETE
    assert first.values == [0.9, 500]  # best epoch of the first objective, last report of the other
    assert first.constraints == {"params <= 1000": -500} and feasible(first)
    assert second.values == [0.95, 4000] and broken_constraints(second) == ["params <= 1000"]
    assert study.best_trials == [first]  # Optuna's front leaves the infeasible trial out


class Seen:
    def __init__(self):
        self.finished = []

    def trial_started(self, number):
        pass

    def trial_finished(self, trial):
        self.finished.append(trial)


def test_pruned_trial_keeps_its_epochs_in_the_study_and_its_constraint(make):
    seen = Seen()
    study, searcher = make(observer=seen)
    searcher.suggest("t1")
    searcher.on_trial_result("t1", epoch(1, 0.3, params=2000))
    searcher.on_trial_complete("t1", epoch(2, 0.35, params=2000))
    trial = study.trials[0]
    assert trial.state == TrialState.PRUNED
    assert trial.intermediate_values == {1: 0.3, 2: 0.35}
    assert trial.values == [0.35]  # as Optuna records a pruned trial: its last epoch of the first objective
    assert not feasible(trial)
    assert seen.finished[0].values == [0.35]  # the progress line says what the study holds


@pytest.mark.parametrize("missing", ["params", "constraint"])
def test_a_finished_trial_without_an_objective_or_a_constrained_metric_fails(make, missing):
    latency = parse_constraint("latency_ms < 5", "t.yaml", "constraints.1")
    study, searcher = make(constraints=(latency,))
    searcher.suggest("t1")
    result = epoch(1, 0.9, finished=True)
    if missing == "params":
        del result["params"]
    searcher.on_trial_complete("t1", result)
    trial = study.trials[0]
    assert trial.state == TrialState.FAIL
    assert trial.user_attrs["error_type"] == "NoFiniteValue"
    assert ("params" if missing == "params" else "latency_ms < 5") in trial.user_attrs["error"]


def test_tpe_proposes_after_pruned_trials_of_several_objectives(make):
    sampler = optuna.samplers.TPESampler(seed=0, n_startup_trials=2, multivariate=True, constant_liar=True)
    study, searcher = make(sampler=sampler)
    for i in range(6):
        trial_id = f"t{i}"
        assert isinstance(searcher.suggest(trial_id), dict)
        searcher.on_trial_result(trial_id, epoch(1, 0.1 * i))
        pruned = i % 2 == 0
        searcher.on_trial_complete(trial_id, epoch(2, 0.1 * i + 0.05, finished=not pruned))
    states = [t.state for t in study.trials]
    assert states.count(TrialState.PRUNED) == 3 and states.count(TrialState.COMPLETE) == 3


def test_an_objective_reported_once_is_taken_from_the_last_report_that_holds_it(make):
    study, searcher = make()
    searcher.suggest("t1")
    searcher.on_trial_result("t1", epoch(1, 0.5, params=700))
    last = epoch(2, 0.6, finished=True)
    del last["params"]
    searcher.on_trial_complete("t1", last)
    trial = study.trials[0]
    assert trial.values == [0.6, 700] and trial.constraints == {"params <= 1000": -300}


def test_constraints_of_a_single_objective_study_are_recorded_and_keep_a_trial_from_best(tmp_path):
    storage = open_storage(f"sqlite:///{tmp_path}/single.db")
    study = optuna.create_study(storage=storage, direction="maximize")
    searcher = StudySearcher(study, storage, SPACE, BASE, metric="val_acc", mode="max", constraints=(SMALL,), objective="best", target=5)
    for trial_id, acc, params in (("t1", 0.9, 5000), ("t2", 0.8, 800)):
        searcher.suggest(trial_id)
        searcher.on_trial_complete(trial_id, epoch(1, acc, params=params, finished=True))
    first, second = study.trials
    assert (first.value, second.value) == (0.9, 0.8)
    assert not feasible(first) and feasible(second)
    assert Tally.from_trials(study.trials, 5, "max").best.number == 1

"""hpo confirm's searcher, driven as Ray Tune drives it (no Ray started): it hands out the
planned runs, takes each value as the study takes a trial's, and records failures with
their reason while the other runs go on."""

from __future__ import annotations

import io

import optuna
import pytest
from optuna.trial import TrialState, create_trial
from ray.tune.search import Searcher
from rich.console import Console

from hpo.engine.confirm import ConfirmOutcome, ConfirmProgress
from hpo.engine.confirm_searcher import ConfirmSearcher
from hpo.engine.trainable import ERROR_KEY, ERROR_TYPE_KEY
from hpo.spec.sections import spec_from_text
from hpo.study.confirm import ConfirmRun, PlannedRun, confirm_records
from tests.results.conftest import SPEC


def _searcher(objective: str, runs: list[PlannedRun]) -> tuple[ConfirmSearcher, optuna.Study, io.StringIO, ConfirmOutcome]:
    spec = spec_from_text(SPEC.replace("seed: 0}", f"seed: 0, objective: {objective}}}", 1), "tiny.yaml")
    study = optuna.create_study(direction="maximize")
    study.add_trial(create_trial(state=TrialState.COMPLETE, value=0.9))
    shown = io.StringIO()
    outcome = ConfirmOutcome()
    progress = ConfirmProgress(len(runs), 2, Console(file=shown, width=200))
    return ConfirmSearcher(study, runs, spec, progress, outcome), study, shown, outcome


def _epochs(searcher: ConfirmSearcher, trial_id: str, values: list[float]) -> dict:
    result: dict = {}
    for epoch, value in enumerate(values, start=1):
        result = {"epoch": epoch, "val_acc": value}
        searcher.on_trial_result(trial_id, result)
    return result


@pytest.mark.parametrize(("objective", "value"), [("best", 0.8), ("last", 0.7)])
def test_each_run_is_recorded_with_the_value_the_study_would_give_it(objective, value):
    runs = [PlannedRun(0, seed, {"seed": seed}) for seed in (1, 2)]
    searcher, study, shown, outcome = _searcher(objective, runs)
    first = searcher.suggest("a")
    assert isinstance(first, dict) and first["config"] == {"seed": 1} and first["trial_number"] == 0
    assert first["log_file"].endswith(f"studies/{study.study_name}/trials/0/confirm-seed1.txt")
    assert isinstance(searcher.suggest("b"), dict)
    assert searcher.suggest("c") == Searcher.FINISHED  # every run handed out
    searcher.on_trial_complete("a", _epochs(searcher, "a", [0.5, 0.8, float("nan"), 0.7]))
    records = confirm_records(study.user_attrs)[0]
    assert records[1].value == value and records[1].epochs == 3  # the NaN epoch gives no value
    assert "trial 0 seed 1: val_acc" in shown.getvalue() and "1/2 runs done, 1 running, 0 failed" in shown.getvalue()
    assert (outcome.done, outcome.failed) == (1, 0)


def test_a_failed_run_is_recorded_with_its_reason_and_the_others_go_on():
    runs = [PlannedRun(0, seed, {"seed": seed}) for seed in (1, 2, 3, 4)]
    searcher, study, shown, outcome = _searcher("best", runs)
    for trial_id in "abcd":
        searcher.suggest(trial_id)
    _epochs(searcher, "a", [0.4])
    searcher.on_trial_complete("a", {ERROR_TYPE_KEY: "NonFiniteLossError", ERROR_KEY: "training loss is nan at epoch 2"})
    searcher.on_trial_complete("b", {"epoch": 1, "val_acc": float("nan")})
    searcher.on_trial_complete("c", None, error=True)  # Ray's error path: the reason comes from its callback
    searcher.record_error("c", "WorkerDied", "the trial's worker process died")
    searcher.on_trial_complete("d", _epochs(searcher, "d", [0.6, 0.9]))
    records = confirm_records(study.user_attrs)[0]
    assert records[1] == ConfirmRun(1, None, 1, records[1].seconds, "NonFiniteLossError", "training loss is nan at epoch 2")
    assert (records[2].error_type, records[2].error) == ("NoFiniteValue", "no finite val_acc was reported")
    assert records[3].error_type == "WorkerDied" and records[4].value == 0.9
    assert (outcome.done, outcome.failed) == (4, 3)
    assert "trial 0 seed 1: failed: NonFiniteLossError: training loss is nan at epoch 2" in shown.getvalue()

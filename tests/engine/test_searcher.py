"""The searcher's records, driven through Ray's Searcher interface with a real study.

Ray calls suggest / on_trial_result / on_trial_complete from its controller; here the
test plays the controller, so each rule of hpo.engine.searcher's module doc is checked
directly: epochs become intermediate values, the result passed only to
on_trial_complete is stored, finished -> COMPLETE, stopped -> PRUNED, raised -> FAIL.
"""

from __future__ import annotations

import time
from pathlib import Path

import optuna
import pytest
from optuna.trial import TrialState
from ray.tune.search import Searcher

import hpo.engine.replica
import hpo.engine.searcher
from hpo.engine.checkpoints import ray_trial_directory
from hpo.engine.failures import FailureStreak
from hpo.engine.searcher import StudySearcher
from hpo.engine.trainable import ERROR_KEY, ERROR_TYPE_KEY, PAUSED_KEY
from hpo.spec.space import parse_space
from hpo.study.records import trained_epochs_of
from hpo.study.stoprules import StopRules
from hpo.study.storage import open_storage
from tests.conftest import wait_for

SPACE = parse_space({"optimizer.lr": {"float": [1e-4, 1e-1], "log": True}}, "t.yaml")
BASE = {"optimizer": {"name": "adam", "lr": 1e-3}, "epochs": 4}


@pytest.fixture
def make(tmp_path):
    """A searcher on a fresh SQLite study, as ``hpo run`` keeps it: (study, searcher)."""

    def build(target=3, objective="best", mode="max", budget=None, rules=None):
        storage = open_storage(f"sqlite:///{tmp_path}/searcher.db")
        study = optuna.create_study(storage=storage, direction="maximize" if mode == "max" else "minimize")
        searcher = StudySearcher(
            study, storage, SPACE, BASE, metric="val_acc", mode=mode, objective=objective, target=target, time_budget_s=budget, rules=rules
        )
        return study, searcher

    return build


def epoch(n, acc, finished=False):
    return {"epoch": n, "training_iteration": n, "val_acc": acc, "val_loss": 1 - acc, "finished": finished}


def test_suggest_samples_the_space_into_the_config(make):
    study, searcher = make()
    suggested = searcher.suggest("t1")
    trial = study.trials[0]
    assert suggested["config"]["optimizer"]["lr"] == trial.params["optimizer.lr"]
    assert trial.user_attrs["config"] == suggested["config"]
    assert "worker" not in trial.user_attrs  # where it ran is recorded at its end
    searcher.on_trial_complete("t1", epoch(1, 0.5, finished=True))
    assert study.trials[0].user_attrs["worker"] == {"ray_trial_id": "t1"}


def test_finished_trial_is_complete_with_its_best_epoch(make):
    study, searcher = make()
    searcher.suggest("t1")
    for n, acc in enumerate([0.5, 0.9, 0.7], start=1):
        searcher.on_trial_result("t1", epoch(n, acc))
    searcher.on_trial_complete("t1", epoch(4, 0.8, finished=True))
    trial = study.trials[0]
    assert trial.state == TrialState.COMPLETE
    assert trial.value == 0.9
    assert trial.intermediate_values == {1: 0.5, 2: 0.9, 3: 0.7, 4: 0.8}
    assert trial.user_attrs["epochs"] == 4
    assert [h["epoch"] for h in trial.user_attrs["history"]] == [1, 2, 3, 4]


def test_objective_last_takes_the_last_epoch(make):
    study, searcher = make(objective="last")
    searcher.suggest("t1")
    searcher.on_trial_result("t1", epoch(1, 0.9))
    searcher.on_trial_complete("t1", epoch(2, 0.6, finished=True))
    assert study.trials[0].value == 0.6


def test_trial_stopped_by_the_scheduler_is_pruned_with_the_stopping_result(make):
    study, searcher = make()
    searcher.suggest("t1")
    searcher.on_trial_result("t1", epoch(1, 0.3))
    # Ray passes the result at which ASHA stops a trial only to on_trial_complete
    searcher.on_trial_complete("t1", epoch(2, 0.35))
    trial = study.trials[0]
    assert trial.state == TrialState.PRUNED
    assert trial.intermediate_values == {1: 0.3, 2: 0.35}
    assert trial.value == 0.35


def test_trainer_exception_is_fail_with_reason(make):
    study, searcher = make()
    searcher.suggest("t1")
    searcher.on_trial_result("t1", epoch(1, 0.3))
    searcher.on_trial_complete("t1", {ERROR_TYPE_KEY: "NonFiniteLossError", ERROR_KEY: "loss is nan at epoch 2"})
    trial = study.trials[0]
    assert trial.state == TrialState.FAIL
    assert trial.user_attrs["error_type"] == "NonFiniteLossError"
    assert "nan" in trial.user_attrs["error"]


def test_each_trial_is_given_a_log_of_its_number_and_its_record_names_it(make, monkeypatch):
    monkeypatch.setattr(hpo.engine.searcher, "WRITE_INTERVAL_S", 0.0)  # each epoch is written as it comes
    study, searcher = make()
    logs = []
    for trial_id, ending in (("t1", {ERROR_TYPE_KEY: "RuntimeError", ERROR_KEY: "boom"}), ("t2", epoch(2, 0.5, finished=True))):
        suggested = searcher.suggest(trial_id)
        logs.append(suggested["log_file"])
        searcher.on_trial_result(trial_id, epoch(1, 0.4))
        assert study.trials[-1].user_attrs["log"] == logs[-1]  # while it runs: `hpo logs` finds it from any directory
        searcher.on_trial_complete(trial_id, ending)
    expected = [str(Path.cwd() / "studies" / study.study_name / "trials" / str(n) / "log.txt") for n in (0, 1)]
    assert logs == expected
    assert [t.user_attrs["log"] for t in study.trials] == expected


def test_ray_error_waits_for_the_callback_reason(make):
    study, searcher = make()
    searcher.suggest("t1")
    searcher.on_trial_complete("t1", error=True)
    assert study.trials[0].state == TrialState.RUNNING
    searcher.record_error("t1", "WorkerDied", "the trial's worker process died")
    assert study.trials[0].state == TrialState.FAIL
    assert study.trials[0].user_attrs["error_type"] == "WorkerDied"


def test_stops_at_exactly_target_finished_and_replaces_failures(make):
    study, searcher = make(target=2)
    searcher.suggest("a")
    searcher.suggest("b")
    assert searcher.suggest("c") is None  # two running for a target of two: wait
    searcher.on_trial_complete("a", {ERROR_TYPE_KEY: "RuntimeError", ERROR_KEY: "boom"})
    assert isinstance(searcher.suggest("c"), dict)  # the failure does not count
    searcher.on_trial_complete("b", epoch(1, 0.5, finished=True))
    searcher.on_trial_complete("c", epoch(1, 0.6, finished=True))
    assert searcher.suggest("d") == Searcher.FINISHED
    states = [t.state for t in study.trials]
    assert states.count(TrialState.COMPLETE) == 2 and states.count(TrialState.FAIL) == 1


def test_counts_trials_of_other_drivers_on_the_same_study(make, monkeypatch):
    study, searcher = make(target=2)
    other = study.ask()  # another driver's running trial
    searcher.suggest("a")
    assert searcher.suggest("b") is None
    study.tell(other, 0.1)
    monkeypatch.setattr(hpo.engine.replica, "SYNC_INTERVAL_S", 0.0)  # the once-a-second throttle, skipped for the test
    searcher.on_trial_complete("a", epoch(1, 0.5, finished=True))
    assert searcher.suggest("b") == Searcher.FINISHED


def test_time_budget_stops_new_trials_but_not_running_ones(make):
    study, searcher = make(target=10, budget=1e-9)
    assert searcher.suggest("a") == Searcher.FINISHED
    assert searcher.budget_spent


def test_a_stop_rule_that_fires_stops_new_trials_and_lets_running_ones_end(make):
    study, searcher = make(target=10, rules=StopRules("val_acc", "max", target=0.9))
    searcher.suggest("a")
    searcher.suggest("b")
    searcher.on_trial_complete("a", epoch(1, 0.5, finished=True))
    assert searcher.suggest("c") is not None and searcher.stopped is None  # 0.5 is short of the target
    searcher.on_trial_complete("b", epoch(1, 0.95, finished=True))
    assert searcher.suggest("d") == Searcher.FINISHED
    assert searcher.stopped == "target val_acc >= 0.9 reached by trial 1"
    searcher.on_trial_complete("c", epoch(1, 0.7, finished=True))  # the running one is still recorded
    assert [t.state for t in study.trials] == [TrialState.COMPLETE] * 3


def test_interrupt_fails_every_open_trial_and_queues_its_parameters_again(make):
    study, searcher = make(target=3)
    searcher.suggest("a")
    searcher.suggest("b")
    searcher.on_trial_complete("b", error=True)
    assert searcher.fail_unfinished("Interrupted", "interrupted") == 2
    failed, queued = study.trials[:2], study.trials[2:]
    assert [t.user_attrs["error"] for t in failed] == ["interrupted", "interrupted"]
    assert [t.state for t in queued] == [TrialState.WAITING] * 2
    assert [t.system_attrs["fixed_params"] for t in queued] == [t.params for t in failed]
    assert [t.user_attrs["requeued_from"] for t in queued] == [0, 1]


def test_searcher_pickles_without_its_database_handle(make):
    import pickle

    _, searcher = make()
    searcher.suggest("a")
    copy = pickle.loads(pickle.dumps(searcher))
    assert copy._replica is None and copy._storage is None


@pytest.mark.parametrize("mode", ["max", "min"])
def test_best_follows_the_mode(make, mode):
    study, searcher = make(mode=mode)
    searcher.suggest("t1")
    searcher.on_trial_result("t1", epoch(1, 0.2))
    searcher.on_trial_complete("t1", epoch(2, 0.8, finished=True))
    assert study.trials[0].value == (0.8 if mode == "max" else 0.2)


@pytest.mark.parametrize("finished", [True, False])
def test_a_trial_with_no_finite_value_is_fail_with_the_reason(make, finished):
    """A metric that is NaN at every report (a diverged batch norm's val_loss) gives
    nothing to rank: the trial fails, with the reason, whether it ran out or was stopped."""
    study, searcher = make()
    searcher.suggest("t1")
    searcher.on_trial_result("t1", epoch(1, float("nan")))
    searcher.on_trial_complete("t1", epoch(2, float("nan"), finished=finished))
    trial = study.trials[0]
    assert trial.state == TrialState.FAIL
    assert trial.user_attrs["error"] == "no finite val_acc was reported"
    assert trial.user_attrs["epochs"] == 2


def test_a_retried_trials_epochs_replace_the_first_attempts(make):
    """Ray runs a trial again from its first epoch after its worker died."""
    study, searcher = make()
    searcher.suggest("t1")
    for n, acc in ((1, 0.1), (2, 0.2), (3, 0.3)):
        searcher.on_trial_result("t1", epoch(n, acc))
    for n, acc in ((1, 0.5), (2, 0.6)):  # the second attempt
        searcher.on_trial_result("t1", epoch(n, acc))
    searcher.on_trial_complete("t1", epoch(3, 0.7))
    trial = study.trials[0]
    assert trial.intermediate_values == {1: 0.5, 2: 0.6, 3: 0.7}
    assert [h["val_acc"] for h in trial.user_attrs["history"]] == [0.5, 0.6, 0.7]
    assert trial.state == TrialState.PRUNED and trial.value == 0.7


def test_a_paused_trial_is_one_record_whether_it_resumes_or_is_stopped_while_paused(make):
    """HyperBand pauses trials at a milestone: Ray then resumes one (its next epochs come
    under the same Ray trial), and stops another with no result (``stop_trial`` of a
    paused trial passes none to the searcher)."""
    study, searcher = make(target=2)
    searcher.suggest("t1")
    searcher.suggest("t2")
    for trial_id, acc in (("t1", 0.8), ("t2", 0.3)):
        searcher.on_trial_result(trial_id, epoch(1, acc))  # both paused at epoch 1
    searcher.on_trial_complete("t2")
    for n, acc in ((2, 0.85), (3, 0.9)):  # t1 resumed from its checkpoint of epoch 1
        searcher.on_trial_result("t1", epoch(n, acc))
    searcher.on_trial_complete("t1", epoch(4, 0.95, finished=True))
    resumed, stopped = study.trials
    assert (resumed.state, resumed.intermediate_values, resumed.value) == (TrialState.COMPLETE, {1: 0.8, 2: 0.85, 3: 0.9, 4: 0.95}, 0.95)
    assert (stopped.state, stopped.intermediate_values, stopped.value) == (TrialState.PRUNED, {1: 0.3}, 0.3)
    assert [h["epoch"] for h in stopped.user_attrs["history"]] == [1] and stopped.user_attrs["epochs"] == 1


@pytest.mark.parametrize("ending", ["complete", "error"])
def test_a_trial_finished_elsewhere_keeps_that_state_and_the_run_goes_on(make, ending):
    """Another driver's recovery or the dashboard's "mark as failed" finished it first."""
    study, searcher = make(target=2)
    searcher.suggest("t1")
    searcher.on_trial_result("t1", epoch(1, 0.4))
    elsewhere = optuna.load_study(study_name=study.study_name, storage=study._storage)
    elsewhere.tell(elsewhere.trials[0].number, state=TrialState.FAIL)
    if ending == "complete":
        searcher.on_trial_complete("t1", epoch(2, 0.5, finished=True))
    else:
        searcher.on_trial_complete("t1", {ERROR_TYPE_KEY: "RuntimeError", ERROR_KEY: "boom"})
    assert study.trials[0].state == TrialState.FAIL
    assert isinstance(searcher.suggest("t2"), dict)  # the FAIL does not count: a new trial


def test_a_dead_drivers_trial_is_recovered_while_the_searcher_waits(make, monkeypatch):
    """Another driver created trials before this one's and died with one RUNNING: once
    this searcher would wait for it, it fails it and runs its parameters itself."""
    import subprocess
    import sys
    from dataclasses import replace

    from hpo.study.keys import DRIVER_ATTR
    from hpo.study.records import THIS_DRIVER

    study, searcher = make(target=2)
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    other = optuna.load_study(study_name=study.study_name, storage=study._storage)
    done = other.ask({"optimizer.lr": optuna.distributions.FloatDistribution(1e-4, 1e-1, log=True)})
    other.tell(done, 0.5)
    orphan = other.ask({"optimizer.lr": optuna.distributions.FloatDistribution(1e-4, 1e-1, log=True)})
    storage = study._storage
    study_id = storage.get_study_id_from_name(study.study_name)
    trial_id = storage.get_trial_id_from_study_id_trial_number(study_id, orphan.number)
    storage.set_trial_system_attr(trial_id, DRIVER_ATTR, replace(THIS_DRIVER, pid=dead.pid, token="gone").as_attr())
    monkeypatch.setattr(hpo.engine.replica, "SYNC_INTERVAL_S", 0.0)
    monkeypatch.setattr(hpo.engine.searcher, "RECOVERY_INTERVAL_S", 0.0)
    assert searcher.suggest("t1") is None  # one finished, one running: wait, and recover it
    rerun = searcher.suggest("t1")
    assert rerun is not None and rerun["config"]["optimizer"]["lr"] == orphan.params["optimizer.lr"]
    assert study.trials[orphan.number].state == TrialState.FAIL
    assert study.trials[rerun["trial_number"]].user_attrs["requeued_from"] == orphan.number


# ---------------------------------------------------------------------------------- checkpoints


def ray_checkpoint(root: Path, trial_dir: str, index: int) -> str:
    """A checkpoint directory as Ray stores it: <storage>/<trial dir>/checkpoint_<index>."""
    path = root / "ray" / trial_dir / f"checkpoint_{index:06d}"
    path.mkdir(parents=True)
    (path / "state.pt").write_bytes(b"state")
    return str(path)


def next_run(study, **options):
    """The searcher of the next `hpo run` on the same study."""
    return StudySearcher(study, study._storage, SPACE, BASE, metric="val_acc", mode="max", objective="best", target=1, **options)


def gone_once_recorded(searcher: StudySearcher, path: Path) -> None:
    """Wait until ``path`` is deleted: the searcher deletes what a checkpoint replaces once
    its record is written, when it next handles a result (here one of no trial it runs)."""
    wait_for(lambda: searcher.on_trial_result("no such trial", {}) or not path.exists(), f"{path} deleted")


def recorded_checkpoint(study: optuna.Study) -> object:
    """Trial 0's checkpoint as the database holds it (read afresh)."""
    return study.trials[0].user_attrs.get("checkpoint")


def test_a_checkpoint_is_recorded_with_its_epochs_before_the_next_and_the_one_before_goes_after_it(make, tmp_path):
    study, searcher = make()
    searcher.suggest("t1")
    first = ray_checkpoint(tmp_path, "trial_a", 0)
    searcher.on_trial_result("t1", epoch(1, 0.3))
    searcher.record_checkpoint("t1", first, 1)  # written while the trial trains on
    wait_for(lambda: recorded_checkpoint(study) == {"path": first, "epoch": 1}, "the first checkpoint recorded")
    trial = study.trials[0]  # read from the database: a kill from here on resumes from it
    assert trial.intermediate_values == {1: 0.3}
    assert [h["epoch"] for h in trial.user_attrs["history"]] == [1]
    second = ray_checkpoint(tmp_path, "trial_a", 1)
    searcher.on_trial_result("t1", epoch(2, 0.4))
    searcher.record_checkpoint("t1", second, 2)
    assert Path(first).exists()  # the study names it until the second is written
    wait_for(lambda: recorded_checkpoint(study) == {"path": second, "epoch": 2}, "the second checkpoint recorded")
    third = ray_checkpoint(tmp_path, "trial_a", 2)
    searcher.record_checkpoint("t1", third, 3)  # waits for the second's record: the first goes then
    assert not Path(first).exists() and Path(second).exists()
    assert recorded_checkpoint(study) in ({"path": second, "epoch": 2}, {"path": third, "epoch": 3})
    searcher.on_trial_complete("t1", epoch(4, 0.5, finished=True))
    assert not (tmp_path / "ray" / "trial_a").exists()  # a finished trial keeps no checkpoint


def test_an_interrupted_trial_continues_from_its_checkpoint_as_one_curve_in_the_next_run(make, tmp_path):
    study, searcher = make(target=1)
    config = searcher.suggest("t1")["config"]
    for n in (1, 2, 3):
        searcher.on_trial_result("t1", epoch(n, n / 10))
    path = ray_checkpoint(tmp_path, "trial_a", 1)
    searcher.record_checkpoint("t1", path, 2)  # epoch 3 was reported, not checkpointed
    searcher.fail_unfinished("Interrupted", "interrupted")
    assert study.trials[1].user_attrs["resumed_from"] == {"trial": 0, "path": path, "epoch": 2}

    again = next_run(study)
    resumed = again.suggest("t2")
    assert resumed["resume_from"] == path and resumed["config"] == config
    trial = study.trials[1]
    assert trial.state == TrialState.RUNNING and trial.intermediate_values == {1: 0.1, 2: 0.2}  # its start, at once
    again.on_trial_result("t2", epoch(3, 0.35))
    own = ray_checkpoint(tmp_path, "trial_b", 0)
    again.record_checkpoint("t2", own, 3)
    # its own checkpoint, once recorded, replaces the one it started from
    gone_once_recorded(again, tmp_path / "ray" / "trial_a")
    assert study.trials[1].user_attrs["checkpoint"]["path"] == own
    again.on_trial_complete("t2", epoch(4, 0.5, finished=True))
    trial = study.trials[1]
    assert trial.state == TrialState.COMPLETE and trial.value == 0.5
    assert trial.intermediate_values == {1: 0.1, 2: 0.2, 3: 0.35, 4: 0.5}
    assert [h["epoch"] for h in trial.user_attrs["history"]] == [1, 2, 3, 4]
    assert (trial.user_attrs["epochs"], trained_epochs_of(trial)) == (4, 2)
    assert not list((tmp_path / "ray").rglob("checkpoint_*"))
    assert study.trials[0].state == TrialState.FAIL and study.trials[0].user_attrs["error"] == "interrupted"


def test_a_checkpoint_no_record_names_goes_with_the_trial_that_runs_its_parameters_again(make, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)  # Ray's storage is under studies/ where `hpo run` runs
    study, searcher = make(target=1)
    searcher.suggest("t1")
    searcher.on_trial_result("t1", epoch(1, 0.1))
    # killed after Ray stored the trial's first checkpoint, before the searcher recorded it
    unrecorded = Path(ray_trial_directory(study.study_name, 0)) / "checkpoint_000000"
    unrecorded.mkdir(parents=True)
    searcher.fail_unfinished("Interrupted", "interrupted")
    assert "resumed_from" not in study.trials[1].user_attrs  # nothing to resume from: it starts again

    again = next_run(study)
    assert "resume_from" not in again.suggest("t2")
    again.on_trial_result("t2", epoch(1, 0.2))
    own = Path(ray_trial_directory(study.study_name, 1)) / "checkpoint_000000"
    own.mkdir(parents=True)
    again.record_checkpoint("t2", str(own), 1)
    gone_once_recorded(again, unrecorded.parent)  # its own checkpoint replaces the interrupted trial's
    assert own.exists()
    again.on_trial_complete("t2", epoch(2, 0.3, finished=True))
    assert not list(tmp_path.rglob("checkpoint_*"))


def test_a_trial_paused_at_the_time_budget_is_queued_to_resume_and_is_no_failure(tmp_path, make):
    study, _ = make()
    searcher = next_run(study, time_budget_s=3600, pause_at_budget=True, failures=FailureStreak(1))
    suggested = searcher.suggest("t1")
    assert suggested["pause_at"] > time.time()
    searcher.on_trial_result("t1", epoch(1, 0.3))
    path = ray_checkpoint(tmp_path, "trial_a", 0)
    searcher.record_checkpoint("t1", path, 1)
    searcher.on_trial_complete("t1", {PAUSED_KEY: True})
    paused, queued = study.trials
    assert paused.state == TrialState.FAIL and paused.user_attrs["error"] == "paused at the time budget"
    assert queued.state == TrialState.WAITING and queued.user_attrs["resumed_from"] == {"trial": 0, "path": path, "epoch": 1}
    assert searcher.paused == 1 and not searcher._failures.stop  # hpo stopped it: no verdict on the trainer
    assert Path(path).exists()  # kept for the trial that resumes it

"""Recovery of trials a crashed driver left RUNNING."""

from __future__ import annotations

import subprocess
import sys

import optuna
from optuna.trial import TrialState

from hpo.records import DRIVER_ID, driver_mark, recover_interrupted


def dead_pid() -> int:
    process = subprocess.Popen([sys.executable, "-c", "pass"])
    process.wait()
    return process.pid


def orphan(study: optuna.Study, lr: float) -> optuna.Trial:
    trial = study.ask()
    trial.suggest_float("lr", lr, lr)
    host = DRIVER_ID.split(":")[0]
    study._storage.set_trial_system_attr(trial._trial_id, "hpo:driver", f"{host}:{dead_pid()}:x")
    return trial


def test_orphans_fail_as_interrupted_and_their_params_run_again():
    study = optuna.create_study()
    orphan(study, 0.01)
    done = study.ask()
    done.suggest_float("lr", 0.5, 0.5)  # the same distribution name must keep log=False
    study.tell(done, 1.0)
    assert recover_interrupted(study) == [0]
    first = study.trials[0]
    assert first.state == TrialState.FAIL and first.user_attrs["error"] == "interrupted"
    waiting = [t for t in study.trials if t.state == TrialState.WAITING]
    assert len(waiting) == 1 and waiting[0].user_attrs["requeued_from"] == 0
    again = study.ask()
    assert again.suggest_float("lr", 1e-4, 1.0) == 0.01


def test_recovery_is_idempotent():
    study = optuna.create_study()
    trial = orphan(study, 0.02)
    # a crash between the enqueue and the FAIL: the next run sees the orphan RUNNING again
    study.enqueue_trial(trial.params, user_attrs={"requeued_from": trial.number})
    recover_interrupted(study)
    recover_interrupted(study)
    assert sum(t.state == TrialState.WAITING for t in study.trials) == 1


def test_own_live_trials_are_left_alone():
    study = optuna.create_study()
    trial = study.ask()
    for key, value in driver_mark().items():
        study._storage.set_trial_system_attr(trial._trial_id, key, value)
    assert recover_interrupted(study) == []
    assert study.trials[0].state == TrialState.RUNNING


def test_a_requeued_trial_killed_before_its_parameters_were_sampled_is_requeued_again():
    """Its parameters are then only the ones it was enqueued with (system attr fixed_params)."""
    study = optuna.create_study()
    orphan(study, 0.03)
    recover_interrupted(study)
    popped = study.ask()  # the next run takes the requeued trial; the crash comes before sampling
    study._storage.set_trial_system_attr(popped._trial_id, "hpo:driver", f"{DRIVER_ID.split(':')[0]}:{dead_pid()}:x")
    assert popped.params == {}
    assert recover_interrupted(study) == [popped.number]
    again = study.ask()
    assert again.user_attrs["requeued_from"] == popped.number
    assert again.suggest_float("lr", 1e-4, 1.0) == 0.03


def test_a_trial_of_another_live_driver_on_this_host_is_left_alone():
    """Alive by its process and by its fresh heartbeat (a pid alone may have been reused)."""
    import os
    import time

    study = optuna.create_study()
    trial = study.ask()
    other = f"{DRIVER_ID.split(':')[0]}:{os.getppid()}:y"
    study._storage.set_trial_system_attr(trial._trial_id, "hpo:driver", other)
    study._storage.set_study_system_attr(study._study_id, f"hpo:heartbeat:{other}", time.time())
    assert recover_interrupted(study) == []
    assert study.trials[0].state == TrialState.RUNNING

"""Recovery of trials whose driver died, and how a driver is known to be alive."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from dataclasses import replace
from pathlib import Path

import optuna
import pytest
from optuna.trial import TrialState

from hpo.study.keys import DRIVER_ATTR, HEARTBEAT_PREFIX
from hpo.study.records import (
    THIS_DRIVER,
    Driver,
    _process_start,
    driver_alive,
    epochs_of,
    error_of,
    live_drivers,
    recover_orphans,
    worker_of,
)


@pytest.fixture
def study():
    return optuna.create_study(storage=optuna.storages.InMemoryStorage())


def storage_of(study: optuna.Study) -> optuna.storages.BaseStorage:
    return study._storage  # the test built it: InMemoryStorage


def dead_pid() -> int:
    process = subprocess.Popen([sys.executable, "-c", "pass"])
    process.wait()
    return process.pid


def mark(study: optuna.Study, number: int, driver: Driver | str) -> None:
    storage = storage_of(study)
    trial_id = storage.get_trial_id_from_study_id_trial_number(storage.get_study_id_from_name(study.study_name), number)
    storage.set_trial_system_attr(trial_id, DRIVER_ATTR, driver.as_attr() if isinstance(driver, Driver) else driver)


def running(study: optuna.Study, lr: float, driver: Driver | str) -> optuna.Trial:
    trial = study.ask()
    trial.suggest_float("lr", lr, lr)
    mark(study, trial.number, driver)
    return trial


def recover(study: optuna.Study) -> list[int]:
    return recover_orphans(study, storage_of(study), study.get_trials(states=(TrialState.RUNNING,)))


def beat_for(study: optuna.Study, driver: Driver, age_s: float = 0.0) -> None:
    storage = storage_of(study)
    storage.set_study_system_attr(storage.get_study_id_from_name(study.study_name), HEARTBEAT_PREFIX + driver.token, time.time() - age_s)


def test_orphans_fail_as_interrupted_and_their_params_run_again(study):
    running(study, 0.01, replace(THIS_DRIVER, pid=dead_pid(), token="dead"))
    done = study.ask()
    done.suggest_float("lr", 0.5, 0.5)
    study.tell(done, 1.0)
    assert recover(study) == [0]
    first = study.trials[0]
    assert first.state == TrialState.FAIL and first.user_attrs["error"] == "interrupted"
    waiting = [t for t in study.trials if t.state == TrialState.WAITING]
    assert len(waiting) == 1 and waiting[0].user_attrs["requeued_from"] == 0
    again = study.ask()
    assert again.suggest_float("lr", 1e-4, 1.0) == 0.01


def test_an_orphan_is_claimed_once_by_drivers_that_saw_it_at_the_same_time(study):
    """Two recoveries from the same (now stale) list of RUNNING trials: one enqueues."""
    running(study, 0.02, replace(THIS_DRIVER, pid=dead_pid(), token="dead"))
    seen = study.get_trials(states=(TrialState.RUNNING,))
    assert recover_orphans(study, storage_of(study), seen) == [0]
    assert recover_orphans(study, storage_of(study), seen) == []
    assert sum(t.state == TrialState.WAITING for t in study.trials) == 1


def test_own_live_trials_are_left_alone(study):
    running(study, 0.1, THIS_DRIVER)
    assert recover(study) == []
    assert study.trials[0].state == TrialState.RUNNING


def test_a_requeued_trial_killed_before_its_parameters_were_sampled_is_requeued_again(study):
    """Its parameters are then only the ones it was enqueued with (system attr fixed_params)."""
    running(study, 0.03, replace(THIS_DRIVER, pid=dead_pid(), token="dead"))
    recover(study)
    popped = study.ask()  # the next run takes the requeued trial; the crash comes before sampling
    mark(study, popped.number, replace(THIS_DRIVER, pid=dead_pid(), token="dead2"))
    assert popped.params == {}
    assert recover(study) == [popped.number]
    again = study.ask()
    assert again.user_attrs["requeued_from"] == popped.number
    assert again.suggest_float("lr", 1e-4, 1.0) == 0.03


def test_another_live_driver_on_this_machine_is_alive_by_its_process():
    parent = replace(THIS_DRIVER, pid=os.getppid(), token="p", started=_process_start(os.getppid()))
    assert parent.started is not None
    assert driver_alive(parent, heartbeats={})


def test_a_reused_pid_is_another_process():
    """Same host, same pid namespace, same pid (a container restarted with the driver as
    pid 1 again), but another start time: the recorded driver is dead."""
    reused = replace(THIS_DRIVER, token="old", started=str(int(THIS_DRIVER.started or "0") - 1))
    assert not driver_alive(reused, heartbeats={HEARTBEAT_PREFIX + "old": time.time()})


def test_a_driver_in_another_pid_namespace_is_judged_by_its_heartbeat():
    """Its pid means nothing here: a process with that number here proves nothing either way."""
    elsewhere = replace(THIS_DRIVER, pid=os.getpid(), token="ns", namespace="other-boot/pid:[1]")
    assert driver_alive(elsewhere, heartbeats={HEARTBEAT_PREFIX + "ns": time.time()})
    assert not driver_alive(elsewhere, heartbeats={HEARTBEAT_PREFIX + "ns": time.time() - 10_000})
    gone = replace(elsewhere, pid=dead_pid())
    assert driver_alive(gone, heartbeats={HEARTBEAT_PREFIX + "ns": time.time()})


def test_a_driver_on_another_host_is_alive_while_its_heartbeat_is_fresh(study):
    far = Driver("another-host", 1, "far", "boot/pid:[1]", "1")
    running(study, 0.04, far)
    beat_for(study, far)
    assert recover(study) == []
    beat_for(study, far, age_s=10_000)
    assert recover(study) == [0]


def test_marks_of_earlier_versions_are_read(study):
    """``host:pid:token``: a pid that exists here is trusted only with a fresh heartbeat."""
    old = f"{THIS_DRIVER.host}:{os.getppid()}:abc"
    driver = Driver.from_attr(old)
    assert driver is not None and driver.pid == os.getppid()
    assert driver_alive(driver, heartbeats={HEARTBEAT_PREFIX + old: time.time()})
    assert not driver_alive(driver, heartbeats={})
    assert not driver_alive(Driver.from_attr(f"{THIS_DRIVER.host}:{dead_pid()}:abc"), heartbeats={HEARTBEAT_PREFIX + old: time.time()})


def test_a_driver_that_exited_but_is_not_yet_reaped_is_dead():
    process = subprocess.Popen([sys.executable, "-c", "pass"])
    deadline = time.monotonic() + 60
    while _process_start(process.pid) is not None:  # a zombie until waited for
        assert time.monotonic() < deadline, "the child never exited"
        time.sleep(0.05)
    assert Path(f"/proc/{process.pid}").exists()
    process.wait()


def test_a_pid_of_another_user_is_judged_by_the_heartbeat(monkeypatch):
    """os.kill answers PermissionError for a live process of another user: that proves
    nothing about our driver (its pid may have been reused), so the heartbeat decides."""
    import hpo.study.records

    def refuse(pid, signal):
        raise PermissionError(1, "Operation not permitted")

    monkeypatch.setattr(hpo.study.records.os, "kill", refuse)
    old_format = Driver.from_attr(f"{THIS_DRIVER.host}:4242:tok")
    assert not driver_alive(old_format, heartbeats={})
    assert driver_alive(old_format, heartbeats={HEARTBEAT_PREFIX + old_format.token: time.time()})


def test_a_trial_is_read_through_one_helper_per_record(study):
    running_trial = study.ask()
    running_trial.report(0.5, step=1)
    running_trial.report(0.6, step=2)
    failed = study.ask()
    failed.set_user_attr("epochs", 1)
    failed.set_user_attr("error_type", "NonFiniteLossError")
    failed.set_user_attr("error", "loss is nan")
    failed.set_user_attr("worker", {"ray_trial_id": "t1", "hostname": "h", "pid": 7, "device": "gpu 0"})
    study.tell(failed, state=TrialState.FAIL)
    old = study.ask()
    old.set_user_attr("hostname", "h2")  # where it ran, one user attribute per key
    running_now, failed_now, old_now = study.get_trials()
    assert (epochs_of(running_now), epochs_of(failed_now)) == (2, 1)
    assert (error_of(running_now), error_of(failed_now)) == (None, "NonFiniteLossError: loss is nan")
    assert worker_of(failed_now)["device"] == "gpu 0" and worker_of(old_now) == {"hostname": "h2"}


def test_live_drivers_are_the_ones_alive_among_those_trials_and_heartbeats_name(study):
    """A driver is judged by its process wherever a trial names it (a finished run's fresh
    heartbeat does not keep it alive); a heartbeat no trial names yet, by its age."""
    parent = replace(THIS_DRIVER, pid=os.getppid(), token="p", started=_process_start(os.getppid()))
    dead = replace(THIS_DRIVER, pid=dead_pid(), token="dead")
    running(study, 0.1, parent)
    finished = running(study, 0.2, dead)
    study.tell(finished, 1.0)
    for driver, age in ((dead, 0.0), (Driver("", -1, "fresh"), 0.0), (Driver("", -1, "stale"), 10_000)):
        beat_for(study, driver, age)
    storage = storage_of(study)
    alive = live_drivers(storage, storage.get_study_id_from_name(study.study_name), study.get_trials())
    assert [d.token for d in alive] == ["p", "fresh"]
    assert alive[0].pid == os.getppid() and alive[1].pid == -1


def test_an_orphan_with_a_checkpoint_is_queued_to_resume_from_it(study):
    orphan = running(study, 0.01, replace(THIS_DRIVER, pid=dead_pid(), token="dead"))
    checkpoint = {"path": "/studies/s/ray/s/trial_a/checkpoint_000005", "epoch": 6}
    orphan.set_user_attr("checkpoint", checkpoint)
    assert recover(study) == [0]
    waiting = [t for t in study.trials if t.state == TrialState.WAITING]
    assert waiting[0].user_attrs["resumed_from"] == {"trial": 0, **checkpoint}

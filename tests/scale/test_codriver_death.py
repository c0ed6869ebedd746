"""Two `hpo run` drivers on one study; one is killed with SIGKILL while its trial runs.

The survivor counts the dead driver's trial as running until it recovers it: it finds the
driver gone (its pid and start time on this machine) while it waits for the last running
trials, fails the orphan as interrupted, runs its parameters again, and ends with exactly
``study.trials`` finished trials, none RUNNING, and exit code 0. On SQLite and PostgreSQL.
"""

from __future__ import annotations

import os
import signal
import subprocess
import time

import optuna
import pytest
from optuna.trial import TrialState

from hpo.study.keys import DRIVER_ATTR
from hpo.study.storage import open_storage
from tests.conftest import exited, wait_for
from tests.scale.conftest import communicate, hpo_command, hpo_env, small_spec, write_spec

pytestmark = pytest.mark.slow

TRIALS = 6
TRAINER = "tests.scale.slow_trainer:train"


def running_trials_of(url: str, name: str, pid: int) -> list[optuna.trial.FrozenTrial]:
    try:
        study = optuna.load_study(study_name=name, storage=open_storage(url, create=False))
    except Exception:
        return []
    return [t for t in study.get_trials(states=(TrialState.RUNNING,)) if (t.system_attrs.get(DRIVER_ATTR) or {}).get("pid") == pid]


def two_drivers_one_killed(tmp_path, url: str) -> None:
    spec = small_spec("shared", trials=TRIALS, epochs=3, storage=url)
    spec["resources"]["max_concurrent"] = 1
    path = write_spec(tmp_path, spec)
    command = hpo_command("run", str(path), "--trainer", TRAINER)
    options = dict(cwd=tmp_path, env=hpo_env(), stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, start_new_session=True)
    survivor = subprocess.Popen(command, **options)
    victim = subprocess.Popen(command, **options)
    try:
        wait_for(
            lambda: running_trials_of(url, "shared", victim.pid),
            "the second driver to run a trial",
            ended=exited(victim, "the second driver"),
        )
        os.kill(victim.pid, signal.SIGKILL)
        victim.wait()  # as its shell would: a process not yet reaped still holds its pid
        started = time.monotonic()
        output = communicate(survivor, timeout=600)
        took = time.monotonic() - started
    finally:
        for process in (survivor, victim):
            try:
                os.killpg(process.pid, signal.SIGKILL)  # what the killed driver's Ray left behind
            except ProcessLookupError:
                pass
            process.wait()
    assert survivor.returncode == 0, output
    trials = optuna.load_study(study_name="shared", storage=open_storage(url, create=False)).get_trials()
    states = [t.state for t in trials]
    finished = sum(state in (TrialState.COMPLETE, TrialState.PRUNED) for state in states)
    interrupted = [t for t in trials if t.user_attrs.get("error") == "interrupted"]
    print(
        f"\nsurvivor ended {took:.1f} s after the kill: {finished} finished, {len(interrupted)} interrupted, states {[s.name for s in states]}"
    )
    assert finished == TRIALS and TrialState.RUNNING not in states, [s.name for s in states]
    assert interrupted, "the killed driver's trial was recovered"
    requeued = {t.user_attrs.get("requeued_from") for t in trials}
    assert all(t.number in requeued for t in interrupted), "the orphan's parameters ran again"


def test_sqlite_survivor_recovers_the_killed_drivers_trial_and_finishes(tmp_path):
    two_drivers_one_killed(tmp_path, f"sqlite:///{tmp_path}/shared.db")


def test_postgres_survivor_recovers_the_killed_drivers_trial_and_finishes(tmp_path, postgres_url):
    two_drivers_one_killed(tmp_path, postgres_url)

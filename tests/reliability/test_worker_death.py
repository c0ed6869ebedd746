"""A trial whose Ray worker process dies is FAIL with reason WorkerDied, or run again
once when the spec says ``study.retries: 1``, from its last checkpoint, and the study
goes on to its count.

The worker is found as the ``ray::ImplicitFunc`` process under the driver (one trial at a
time, so one such process) and killed with SIGKILL once the trial has reported an epoch.
With ``retries: 1`` the first trial's worker is killed twice (its retry dies too: FAIL,
WorkerDied), the second trial's once (its retry completes, resumed from the checkpoint of an
epoch it had reported: the trainer hands hpo its state).
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest
from optuna.trial import TrialState

from tests.conftest import exited, wait_for
from tests.e2e.conftest import hpo_env, load_study, shortened_quickstart, write_spec
from tests.e2e.test_quickstart import descendants
from tests.reliability.conftest import figure, query

pytestmark = pytest.mark.slow

EPOCHS = 6  # of 0.8 s each (tests/e2e/sleepy_trainer.py): time to find the worker and kill it


def trial_workers(driver: int) -> set[int]:
    """The processes under ``driver`` that run a trial (Ray names them ray::ImplicitFunc)."""
    found = set()
    for pid in descendants(driver) - {driver}:
        try:
            if Path(f"/proc/{pid}/cmdline").read_bytes().startswith(b"ray::ImplicitFunc"):
                found.add(pid)
        except OSError:
            continue
    return found


def epochs_of(trial: int, workdir) -> int:
    """Epochs recorded for ``trial`` while it is RUNNING (a retry records only epochs beyond
    what its first attempt recorded)."""
    rows = query(
        workdir,
        "SELECT count(*) FROM trial_intermediate_values v JOIN trials t ON v.trial_id = t.trial_id "
        "WHERE t.number = ? AND t.state = 'RUNNING'",
        trial,
    )
    return rows[0][0] if rows else 0


def kill_worker_of(trial: int, process, workdir, spared: set[int]) -> int:
    """SIGKILL the worker running ``trial`` once it has recorded an epoch more than before
    (inside its training, not before or after it), and is not one already killed; returns its pid.
    Killed at once: the trial is then in the sleep of its next epoch, with EPOCHS - 1 to go."""
    before = epochs_of(trial, workdir)
    ended = exited(process, "hpo run")
    wait_for(
        lambda: epochs_of(trial, workdir) > before,
        f"trial {trial} to record epoch {before + 1} while RUNNING",
        ended=ended,
        seen=lambda: f"{epochs_of(trial, workdir)} epochs",
    )
    workers = wait_for(lambda: trial_workers(process.pid) - spared, f"a fresh worker for trial {trial}", ended=ended)
    assert len(workers) == 1, workers  # max_concurrent: 1
    pid = workers.pop()
    os.kill(pid, signal.SIGKILL)
    return pid


def test_a_killed_worker_fails_its_trial_or_is_retried_once_and_the_study_goes_on(workdir):
    spec = shortened_quickstart(trials=2, epochs=EPOCHS, retries=1)
    spec["scheduler"] = {"type": "none"}
    spec["resources"]["max_concurrent"] = 1
    spec_file = write_spec(workdir, spec)
    env = {**hpo_env(), "HPO_TEST_TIMELINE": str(workdir / "timeline.jsonl")}
    process = subprocess.Popen(
        [sys.executable, "-m", "hpo.cli", "run", str(spec_file), "--trainer", "tests.e2e.sleepy_trainer:train"],
        cwd=workdir, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
    )  # fmt: skip
    try:
        killed = {kill_worker_of(0, process, workdir, set())}
        killed.add(kill_worker_of(0, process, workdir, killed))  # the retry
        killed.add(kill_worker_of(1, process, workdir, killed))
        output, _ = process.communicate(timeout=600)
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
    assert process.returncode == 0, output

    trials = load_study(workdir, "quickstart").trials
    died, retried = trials[0], trials[1]
    # the runs that ended, one at a time: trial 1's retry, then trial 2, which took trial 0's place
    runs = [json.loads(line) for line in (workdir / "timeline.jsonl").read_text().splitlines()]
    cases = [
        died.state == TrialState.FAIL
        and died.user_attrs.get("error_type") == "WorkerDied"
        and "worker" in died.user_attrs.get("error", ""),
        retried.state == TrialState.COMPLETE
        and retried.user_attrs["epochs"] == EPOCHS
        and [run["resumed_from"] > 0 for run in runs] == [True, False],  # trial 1's retry, then trial 2 from its start
    ]
    finished = [t for t in trials if t.state in (TrialState.COMPLETE, TrialState.PRUNED)]
    figure(
        "worker death",
        sum(cases),
        len(cases),
        f"killed twice -> FAIL {died.user_attrs.get('error_type')}; killed once with retries: 1 -> "
        f"{retried.state.name} after a retry from epoch {[run['resumed_from'] for run in runs]}; study reached {len(finished)}/2 finished trials ({len(killed)} workers killed)",
    )
    assert all(cases), [
        (t.number, t.state.name, t.user_attrs.get("error_type"), t.user_attrs.get("error"), t.user_attrs.get("epochs")) for t in trials
    ]
    assert len(finished) == 2
    assert not [t for t in trials if t.state == TrialState.RUNNING]

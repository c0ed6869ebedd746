"""A shortened quickstart through the real CLI, Ray, Optuna and trainer."""

from __future__ import annotations

import re
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest
from optuna.trial import TrialState

from tests.conftest import exited, wait_for
from tests.e2e.conftest import hpo, hpo_env, load_study, shortened_quickstart, write_spec

pytestmark = pytest.mark.slow


def descendants(pid: int) -> set[int]:
    """pid and every process below it (Ray's gcs, raylet and workers)."""
    children: dict[int, list[int]] = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        children.setdefault(int(fields[1]), []).append(int(stat.parent.name))
    found, todo = set(), [pid]
    while todo:
        current = todo.pop()
        found.add(current)
        todo.extend(children.get(current, []))
    return found


def listening_addresses(pids: set[int]) -> set[str]:
    output = subprocess.run(["ss", "-Htlnp"], capture_output=True, text=True).stdout
    addresses = set()
    for line in output.splitlines():
        owners = {int(p) for p in re.findall(r"pid=(\d+)", line)}
        if owners & pids:
            addresses.add(line.split()[3].rsplit(":", 1)[0])
    return addresses


def test_quickstart_records_pruned_and_complete_trials_and_listens_on_loopback(workdir):
    spec_file = write_spec(workdir, shortened_quickstart(trials=8, epochs=4))
    driver = subprocess.Popen(
        [sys.executable, "-m", "hpo.cli", "run", str(spec_file)],
        cwd=workdir,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env=hpo_env(),
    )
    addresses: set[str] = set()

    def sockets() -> set[str]:
        addresses.update(listening_addresses(descendants(driver.pid)))
        return addresses

    # Ray listens from its start to the run's end: first wait for it, then watch to the end
    wait_for(sockets, "a listening socket of the run's Ray instance", ended=exited(driver, "hpo run"))
    while driver.poll() is None:
        sockets()
        time.sleep(0.5)  # a poll's pause, not a wait for an event
    output = driver.stdout.read()
    assert driver.returncode == 0, output
    assert addresses <= {"127.0.0.1", "[::1]", "[::ffff:127.0.0.1]"}, addresses

    study = load_study(workdir, "quickstart")
    trials = study.trials
    states = [t.state for t in trials]
    assert states.count(TrialState.COMPLETE) + states.count(TrialState.PRUNED) == 8
    assert set(states) <= {TrialState.COMPLETE, TrialState.PRUNED}
    assert TrialState.PRUNED in states
    for trial in trials:
        epochs = trial.user_attrs["epochs"]
        assert sorted(trial.intermediate_values) == list(range(1, epochs + 1))
        if trial.state == TrialState.PRUNED:
            assert epochs < 4
    assert study.best_value > 0.9
    assert "best val_acc" in output and "studies/quickstart.db" in output
    assert output.count("follow it: hpo dashboard quickstart\n") == 1
    assert re.search(r"8/8 finished", output)
    assert "Traceback" not in output and "WARNING" not in output  # Ray's logs go to the file
    assert (workdir / "studies" / "quickstart" / "ray.log").exists()
    with sqlite3.connect(workdir / "studies" / "quickstart.db") as conn:
        assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    for trial in trials:
        assert trial.user_attrs["config"]["data"]["name"] == "digits"
        assert {"seconds", "worker"} <= set(trial.user_attrs)
        assert {"node_id", "hostname", "pid", "ray_trial_id"} <= set(trial.user_attrs["worker"])
        assert trial.user_attrs["worker"]["device"] == "cpu"  # the quickstart asks for no GPU

    status = hpo("status", "quickstart", cwd=workdir)
    assert status.returncode == 0, status.stderr
    assert "8/8 finished" in status.stdout and "top 8 trials" in status.stdout


def test_a_met_target_ends_the_run_and_a_second_run_starts_nothing(workdir):
    spec = shortened_quickstart(trials=4, epochs=2, target=0.0)  # any complete trial meets it
    spec["scheduler"] = {"type": "none"}  # every trial completes: the first to end meets the target
    spec_file = write_spec(workdir, spec)
    result = hpo("run", str(spec_file), cwd=workdir)
    assert result.returncode == 0, result.stdout + result.stderr
    trials = load_study(workdir, "quickstart").trials
    first = min((t for t in trials if t.state == TrialState.COMPLETE), key=lambda t: t.datetime_complete)
    reason = f"target val_acc >= 0 reached by trial {first.number}"
    assert f"ended: {reason}" in result.stdout
    assert len(trials) <= 2  # the one running beside it (max_concurrent: 2) ends; no other starts
    again = hpo("run", str(spec_file), cwd=workdir)
    assert again.returncode == 0, again.stdout + again.stderr
    assert f"met its stop rule ({reason}): no trial started" in again.stdout
    assert len(load_study(workdir, "quickstart").trials) == len(trials)
    assert f"last run ended: {reason}" in hpo("status", "quickstart", cwd=workdir).stdout


def test_time_budget_with_finish_running_stops_launching_trials_and_lets_running_ones_end(workdir):
    # a warm worker runs such a trial in a tenth of a second (200 of them once fitted in 20 s):
    # 10,000 are never all run. The budget starts once Ray is up, as the searcher is built just
    # before it proposes the first trials, so a slow start-up of Ray does not spend it.
    # finish_running: the running trials end as they would (without it they pause, to resume:
    # tests/e2e/test_checkpoints.py)
    spec = shortened_quickstart(trials=10_000, epochs=2, time_budget="12s")
    spec["study"]["finish_running"] = True
    spec_file = write_spec(workdir, spec)
    result = hpo("run", str(spec_file), cwd=workdir)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "time budget was spent" in result.stdout
    trials = load_study(workdir, "quickstart").trials
    assert 0 < len(trials) < 10_000
    assert all(t.state in (TrialState.COMPLETE, TrialState.PRUNED) for t in trials)

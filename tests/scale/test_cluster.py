"""``hpo run --address`` on a real two-host Ray cluster (two network namespaces, see conftest)."""

from __future__ import annotations

import sys

import optuna
import pytest
from optuna.trial import TrialState

from hpo.study.records import worker_of
from tests.conftest import WAIT_TIMEOUT_S, exited, read_sqlite, wait_for
from tests.scale.conftest import HEAD_IP, WORKER_IP, TwoHosts, communicate, hpo_command, hpo_env, small_spec, write_spec

pytestmark = pytest.mark.slow


def _study(hosts: TwoHosts, name: str) -> optuna.Study:
    return optuna.load_study(study_name=name, storage=f"sqlite:///{hosts.tmp}/studies/{name}.db")


def test_trials_run_on_both_hosts(ray_cluster: TwoHosts):
    spec = write_spec(ray_cluster.tmp, small_spec("two_hosts", trials=6, epochs=2))
    nodes = ray_cluster.alive_nodes()
    assert sorted(nodes.values()) == [HEAD_IP, WORKER_IP]

    run = ray_cluster.run(ray_cluster.head, hpo_command("run", str(spec), "--address", "auto"), timeout=600, cwd=ray_cluster.tmp)

    assert run.returncode == 0, run.stdout + run.stderr
    trials = _study(ray_cluster, "two_hosts").get_trials()
    assert [t.state for t in trials] == [TrialState.COMPLETE] * 6
    ran_on = {worker_of(t)["node_id"] for t in trials}
    assert ran_on == set(nodes), f"trials ran on {ran_on}, the cluster's nodes are {nodes}"
    for trial in trials:  # each trial says where it ran, consistently
        assert worker_of(trial)["node_ip"] == nodes[worker_of(trial)["node_id"]]
    split = {nodes[n]: sum(worker_of(t)["node_id"] == n for t in trials) for n in nodes}
    print(f"trials per node: {split}")

    # Without --address, a run starts a Ray of its own, even beside a `ray start` cluster
    # whose address waits in RAY_TMPDIR for `auto` (plain ray.init() would join that one).
    local = write_spec(ray_cluster.tmp, small_spec("beside_the_cluster", trials=1, epochs=1), "local.yaml")
    run = ray_cluster.run(ray_cluster.head, hpo_command("run", str(local)), timeout=600, cwd=ray_cluster.tmp)
    assert run.returncode == 0, run.stdout + run.stderr
    (trial,) = _study(ray_cluster, "beside_the_cluster").get_trials()
    assert worker_of(trial)["node_id"] not in nodes and worker_of(trial)["node_ip"] == "127.0.0.1"


@pytest.mark.parametrize("retries", [0, 1])
def test_losing_a_host_fails_or_retries_its_trials_and_the_study_finishes_on_the_other(ray_cluster: TwoHosts, retries: int):
    spec = small_spec("lose_a_host", trials=4, epochs=8)
    spec["study"]["retries"] = retries
    spec = write_spec(ray_cluster.tmp, spec)
    # Epochs of half a second: a trial surely has one recorded while it runs (a real epoch of
    # the small MLP is over before the searcher's first write, a second after the trial's start).
    run = hpo_command("run", str(spec), "--address", ray_cluster.address, "--trainer", "tests.scale.slow_trainer:train")
    driver = ray_cluster.popen(ray_cluster.head, run, cwd=ray_cluster.tmp)
    try:
        # One CPU per host: two trials RUNNING at once are one on each host. Once both have
        # recorded an epoch and a trial process lives on the worker, its trial is in its epochs.
        wait_for(
            lambda: _trial_running_in(ray_cluster, ray_cluster.worker) and _running_with_an_epoch(ray_cluster, "lose_a_host") == 2,
            "a trial on each host, both with an epoch recorded",
            ended=exited(driver, "hpo run"),
            seen=lambda: (
                f"trial process on the worker host: {_trial_running_in(ray_cluster, ray_cluster.worker)}, "
                f"RUNNING trials with an epoch: {_running_with_an_epoch(ray_cluster, 'lose_a_host')}"
            ),
        )
    except BaseException:
        if driver.poll() is None:
            driver.kill()
            driver.wait()
        raise
    ray_cluster.crash(ray_cluster.worker)
    output = communicate(driver, timeout=600)

    assert driver.returncode == 0, output
    trials = _study(ray_cluster, "lose_a_host").get_trials()
    failed = [t for t in trials if t.state == TrialState.FAIL]
    complete = [t for t in trials if t.state == TrialState.COMPLETE]
    assert len(complete) == 4, output
    assert not [t for t in trials if t.state == TrialState.RUNNING]
    if retries:  # the trial that lost its host ran again on the head, from its first epoch
        assert not failed, [(t.number, t.user_attrs.get("error")) for t in failed]
        assert len(trials) == 4
        return
    assert failed, f"the trial on the killed host was not recorded as failed:\n{output}"
    for trial in failed:
        assert trial.user_attrs.get("error_type") and trial.user_attrs.get("error"), trial.user_attrs
        print(f"trial {trial.number} FAIL: {trial.user_attrs['error_type']}: {trial.user_attrs['error']}")
    assert {worker_of(t)["node_ip"] for t in complete if t.number > max(f.number for f in failed)} == {HEAD_IP}


def _running_with_an_epoch(hosts: TwoHosts, name: str) -> int:
    """How many of the study's trials are RUNNING with at least one epoch recorded; 0
    before the run has created the study."""
    rows = read_sqlite(
        hosts.tmp / "studies" / f"{name}.db",
        "SELECT count(DISTINCT t.trial_id) FROM trials t JOIN trial_intermediate_values v "
        "ON v.trial_id = t.trial_id WHERE t.state = 'RUNNING'",
    )
    return rows[0][0] if rows else 0


def _trial_running_in(hosts: TwoHosts, ns: str) -> bool:
    """A Ray Tune trial process (``ray::ImplicitFunc``) lives in namespace ``ns``."""
    from tests.scale.conftest import _ns_pids

    for pid in _ns_pids(ns):
        try:
            with open(f"/proc/{pid}/cmdline", "rb") as f:
                if b"ImplicitFunc" in f.read():
                    return True
        except OSError:
            continue
    return False


def test_unreachable_head_is_a_clear_error_within_seconds(tmp_path):
    """Ray itself retries an unreachable head without end; hpo says so at once. What is
    awaited is the exit with that error, not a wall time: the run's own start-up (Python,
    Ray's imports) takes what the machine's load makes it, and only an endless retry
    outlasts WAIT_TIMEOUT_S."""
    import socket
    import subprocess

    with socket.socket() as s:  # a loopback port nothing listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    spec = write_spec(tmp_path, small_spec("nowhere", trials=1, epochs=1))
    try:
        run = subprocess.run(
            hpo_command("run", str(spec), "--address", f"127.0.0.1:{port}"),
            cwd=tmp_path, env=hpo_env(), capture_output=True, text=True, timeout=WAIT_TIMEOUT_S,
        )  # fmt: skip
    except subprocess.TimeoutExpired as exc:
        pytest.fail(f"hpo run still tried to reach 127.0.0.1:{port} after {WAIT_TIMEOUT_S:g} s; its output:\n{exc.stdout}\n{exc.stderr}")
    assert run.returncode == 2, run.stdout + run.stderr
    assert f"cannot reach the Ray cluster at 127.0.0.1:{port}" in run.stderr
    assert "Traceback" not in run.stderr
    assert not (tmp_path / "studies" / "nowhere.db").exists(), "an unreachable cluster left a new, empty study"
    print(run.stderr, file=sys.stderr)

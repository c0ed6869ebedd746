"""An interrupted run resumes where it stopped.

Ctrl-C fails the running trials as "interrupted"; the next run resumes and the study has
exactly ``study.trials`` finished trials, no RUNNING trial, no finished parameter set run
twice, and a sound database. The ``kill -9`` test, which uses the helpers below, is in
tests/reliability/test_crash.py.
"""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
import sys

import pytest
from optuna.trial import TrialState

from tests.conftest import exited, wait_for
from tests.e2e.conftest import hpo, hpo_env, load_study, shortened_quickstart, write_spec

from .held_trainer import HELD_TRAINER, Hold
from .test_quickstart import descendants

pytestmark = pytest.mark.slow

TRIALS = 6


def start(spec_file, workdir, *args: str, env: dict[str, str] | None = None):
    return subprocess.Popen(
        [sys.executable, "-m", "hpo.cli", "run", str(spec_file), *args],
        cwd=workdir,
        env={**hpo_env(), **(env or {})},
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,
    )


def kill_tree(process, sig):
    """Signal the driver; after SIGKILL also end the Ray processes it started (and only those)."""
    tree = descendants(process.pid)
    os.kill(process.pid, sig)
    process.wait(timeout=120)
    if sig == signal.SIGKILL:
        for pid in tree - {process.pid}:
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
    return process.stdout.read()


def running_trials(workdir) -> bool:
    if not (workdir / "studies" / "quickstart.db").exists():
        return False
    try:
        return any(t.state == TrialState.RUNNING for t in load_study(workdir, "quickstart").trials)
    except KeyError:  # the database exists, the study not yet
        return False


def check_final_study(workdir, trials_wanted: int = TRIALS):
    study = load_study(workdir, "quickstart")
    trials = study.trials
    finished = [t for t in trials if t.state in (TrialState.COMPLETE, TrialState.PRUNED)]
    assert len(finished) == trials_wanted
    assert not [t for t in trials if t.state == TrialState.RUNNING]
    assert not [t for t in trials if t.state == TrialState.WAITING]
    param_sets = [json.dumps(t.params, sort_keys=True) for t in finished]
    assert len(set(param_sets)) == len(param_sets), "a finished parameter set ran twice"
    for t in trials:
        if t.state == TrialState.FAIL:
            assert t.user_attrs["error"] == "interrupted"
    with sqlite3.connect(workdir / "studies" / "quickstart.db") as conn:
        assert conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    return trials


def test_ctrl_c_fails_running_trials_and_the_next_run_resumes(workdir):
    """Ctrl-C comes while a trial is RUNNING: its trials are held before training (never
    released), so none can end between the moment it is seen running and the signal."""
    spec_file = write_spec(workdir, shortened_quickstart(trials=TRIALS, epochs=3))
    hold = Hold(workdir / "hold")
    process = start(spec_file, workdir, "--trainer", HELD_TRAINER, env=hold.env())
    try:
        wait_for(
            lambda: hold.held() and running_trials(workdir),
            "a trial held in its trainer and RUNNING in the study",
            ended=exited(process, "hpo run"),
            seen=lambda: f"{hold.held()} trials held, a RUNNING trial in the study: {running_trials(workdir)}",
        )
    except BaseException:
        if process.poll() is None:  # its trials would wait for a release that never comes
            kill_tree(process, signal.SIGKILL)
        raise
    output = kill_tree(process, signal.SIGINT)
    assert process.returncode == 130, output
    assert "interrupted" in output
    study = load_study(workdir, "quickstart")
    assert not [t for t in study.trials if t.state == TrialState.RUNNING]
    assert [t for t in study.trials if t.user_attrs.get("error") == "interrupted"]
    # the same trainer (part of the search), unheld: without Hold.env() it trains at once
    final = hpo("run", str(spec_file), "--trainer", HELD_TRAINER, cwd=workdir, timeout=600)
    assert final.returncode == 0, final.stdout + final.stderr
    check_final_study(workdir)

"""hpo status --watch: refreshes until the study ends, at once for one that has, and never
waits on a driver that is gone."""

from __future__ import annotations

import io
import signal
import subprocess
import sys
import threading
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import optuna
import pytest
from rich.console import Console

from hpo.results.watch import watch
from hpo.study.keys import DRIVER_ATTR
from hpo.study.locate import locate_study
from hpo.study.records import THIS_DRIVER, beat, driver_mark
from hpo.study.storage import open_storage
from tests.conftest import exited, wait_for
from tests.results.conftest import HPO, cli, hpo_env, make_study
from tests.study.test_records import dead_pid

pytestmark = pytest.mark.timeout(300)  # a watch that hangs fails instead of holding the suite

URL = "sqlite:///studies/watched.db"
TARGET = 5  # the trials of the spec make_study stores

# Starts a trial of the study as `hpo run` does (its driver's mark on it), says so, and holds it.
HOLDER = """
import sys, time, optuna
from hpo.study.records import driver_mark
from hpo.study.storage import open_storage
storage = open_storage(sys.argv[1])
study = optuna.load_study(study_name="watched", storage=storage)
trial = study.ask()
trial_id = storage.get_trial_id_from_study_id_trial_number(storage.get_study_id_from_name("watched"), trial.number)
for key, value in driver_mark().items():
    storage.set_trial_system_attr(trial_id, key, value)
print("holding", trial.number, flush=True)
time.sleep(600)
"""


@pytest.fixture
def watched(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> optuna.Study:
    """A study with one of its five trials finished, in studies/watched.db."""
    monkeypatch.chdir(tmp_path)
    (tmp_path / "studies").mkdir()
    return make_study(URL, "watched", complete=1, pruned=0, failed=0, running=0)


class Watch:
    """``watch`` of the study in a thread, printing to ``out``: as to a terminal (rich Live)
    or not (a line per change)."""

    def __init__(self, terminal: bool = False) -> None:
        self.out = io.StringIO()
        self.polls = 0
        self.thread = threading.Thread(
            target=watch,
            args=(locate_study("watched"), Console(file=self.out, width=300, force_terminal=terminal)),
            kwargs={"interval": 0.05, "sleep": self._sleep},
            daemon=True,
        )
        self.thread.start()

    def _sleep(self, seconds: float) -> None:
        self.polls += 1
        threading.Event().wait(seconds)

    def looked_again(self) -> None:
        """Wait until the watch has read the study since now; fail if it ended."""
        goal = self.polls + 2  # the poll under way may have read the study before now
        wait_for(lambda: self.polls >= goal, "the watch to read the study", ended=self._ended, seen=self.out.getvalue, interval=0.01)

    def _ended(self) -> str | None:
        return None if self.thread.is_alive() else "the watch ended"

    def ends(self) -> str:
        self.thread.join(timeout=120)
        assert not self.thread.is_alive(), self.out.getvalue()
        return self.out.getvalue()


def test_a_finished_study_returns_at_once(fake_study, capsys, monkeypatch):
    result = cli(capsys, monkeypatch, "status", "fake", "--watch")
    assert result.code == 0, result.err
    assert result.out.startswith("study fake: 12/5 finished") and "top 10 trials" in result.out


def test_a_dead_drivers_running_trial_ends_the_watch_at_once(watched, capsys, monkeypatch):
    trial = watched.ask()
    storage = open_storage(URL)
    trial_id = storage.get_trial_id_from_study_id_trial_number(storage.get_study_id_from_name("watched"), trial.number)
    storage.set_trial_system_attr(trial_id, DRIVER_ATTR, replace(THIS_DRIVER, pid=dead_pid(), token="dead").as_attr())
    result = cli(capsys, monkeypatch, "status", "watched", "--watch")
    assert result.code == 0, result.err
    assert "1/5 finished (1 complete, 0 pruned), 1 running" in result.out
    assert "no driver runs study watched: its 1 running trial(s) were left by a driver that is gone" in result.out


@pytest.mark.parametrize("terminal", [False, True], ids=["lines", "live"])
def test_the_watch_follows_a_writer_until_the_study_has_its_trials(watched, terminal):
    """A driver (in a thread here) finishes the four trials left; the watch prints each
    change and ends with the study."""
    storage = open_storage(URL)
    study_id = storage.get_study_id_from_name("watched")
    beat(storage, study_id)  # a driver says it is alive before its first trial
    shown = Watch(terminal)
    writer = optuna.load_study(study_name="watched", storage=URL)
    for value in (0.1, 0.2, 0.3, 0.4):
        shown.looked_again()
        trial = writer.ask()
        trial_id = storage.get_trial_id_from_study_id_trial_number(study_id, trial.number)
        for key, mark in driver_mark().items():
            storage.set_trial_system_attr(trial_id, key, mark)
        shown.looked_again()
        writer.tell(trial, value)
    out = shown.ends()
    if terminal:  # refreshed in place: the last refresh shows the finished study
        assert "5/5 finished (5 complete, 0 pruned), 0 running" in out.rpartition("1 running")[2]
        assert "top 5 trials" in out and "no driver" not in out
        return
    for finished in range(1, 5):
        assert f"study watched: {finished}/5 finished ({finished} complete, 0 pruned), 1 running, 0 failed" in out
    lines = out.splitlines()
    assert any(line.startswith("study watched: 5/5 finished (5 complete, 0 pruned), 0 running, 0 failed; best") for line in lines)
    assert "top 5 trials" in out and "no driver" not in out


@pytest.fixture
def holder(watched) -> Iterator[subprocess.Popen]:
    """Another process running a trial of the study, as a driver would, until killed."""
    process = subprocess.Popen([sys.executable, "-c", HOLDER, URL], env=hpo_env(), stdout=subprocess.PIPE, text=True)
    try:
        wait_for(lambda: process.stdout.readline().startswith("holding"), "the holder to start its trial", ended=exited(process, "holder"))
        yield process
    finally:
        process.kill()
        process.wait()


def test_a_driver_that_dies_ends_the_watch(holder):
    shown = Watch()
    shown.looked_again()
    assert "1/5 finished (1 complete, 0 pruned), 1 running" in shown.out.getvalue()  # the holder is alive: the watch goes on
    holder.kill()
    holder.wait()
    assert "no driver runs study watched: its 1 running trial(s) were left by a driver that is gone" in shown.ends()


def test_ctrl_c_leaves_the_watch_quietly_with_130(holder, tmp_path):
    watcher = subprocess.Popen(
        [*HPO, "status", "watched", "--watch"], cwd=tmp_path, env=hpo_env(), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    try:
        first = watcher.stdout.readline()  # the watch prints the study's line, then polls
        assert first.startswith("study watched: 1/5 finished"), first + watcher.stderr.read()
        watcher.send_signal(signal.SIGINT)
        assert watcher.wait(timeout=120) == 130
        assert watcher.stderr.read() == ""
    finally:
        watcher.kill()
        watcher.wait()

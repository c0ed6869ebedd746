"""``hpo logs``: a trial's log printed from its record, followed while the trial runs, and
one paragraph saying why when a trial has no log here."""

from __future__ import annotations

import io
import re
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import optuna
import pytest
from optuna.trial import TrialState
from rich.console import Console

from hpo.results.logs import TrialLog
from hpo.results.table import print_status
from hpo.study.keys import DRIVER_ATTR, ERROR_ATTR, ERROR_TYPE_ATTR, LOG_ATTR, WORKER_ATTR
from hpo.study.records import THIS_DRIVER, Driver
from hpo.study.storage import open_storage
from tests.results.conftest import HPO, cli, copied_study, hpo_env

STORAGE = "sqlite:///studies/logs.db"  # under the test's working directory, where `hpo logs logs N` finds it
FAILED = {ERROR_TYPE_ATTR: "RuntimeError", ERROR_ATTR: "boom"}


@pytest.fixture(scope="module")
def empty_study_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """An empty study ``logs``, created once (creating a database's tables is slow)."""
    path = tmp_path_factory.mktemp("logs") / "logs.db"
    optuna.create_study(study_name="logs", storage=f"sqlite:///{path}", direction="maximize")
    return path


@pytest.fixture
def study(empty_study_file: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> optuna.Study:
    """A fresh copy of the empty study in ``studies/logs.db``, with the working directory there."""
    return copied_study(empty_study_file, "logs", tmp_path, monkeypatch)


def log_path(number: int) -> Path:
    """Where a run in this directory writes trial ``number``'s log (and records it)."""
    return Path.cwd() / "studies" / "logs" / "trials" / str(number) / "log.txt"


def add(study: optuna.Study, state: TrialState, *, recorded: bool = True, driver: Driver | None = None, **attrs: object) -> int:
    """A trial in ``state`` recorded as the searcher records it (its log named when ``recorded``);
    a RUNNING one run by ``driver``. Returns its number."""
    trial = study.ask()
    for key, value in {**({LOG_ATTR: str(log_path(trial.number))} if recorded else {}), **attrs}.items():
        trial.set_user_attr(key, value)
    if driver is not None:
        storage = open_storage(STORAGE)
        trial_id = storage.get_trial_id_from_study_id_trial_number(storage.get_study_id_from_name("logs"), trial.number)
        storage.set_trial_system_attr(trial_id, DRIVER_ATTR, driver.as_attr())
    if state != TrialState.RUNNING:
        study.tell(trial, 0.5 if state == TrialState.COMPLETE else None, state=state)
    return trial.number


def write_log(number: int, text: bytes) -> Path:
    path = log_path(number)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(text)
    return path


def test_prints_the_log_its_record_names_as_written_from_any_directory(study, capsys, monkeypatch, tmp_path):
    failed = add(study, TrialState.FAIL, **FAILED)
    text = b"[bold]epoch 1[/bold] loss 0.3\nTraceback (most recent call last):\nRuntimeError: boom \xff\n"  # markup, not UTF-8
    write_log(failed, text)
    (tmp_path / "elsewhere").mkdir()
    monkeypatch.chdir(tmp_path / "elsewhere")
    out = io.BytesIO()
    TrialLog("logs", failed, f"sqlite:///{tmp_path}/studies/logs.db").print(out)
    assert out.getvalue() == text
    monkeypatch.chdir(tmp_path)
    write_log(failed, "[bold]époque 1[/bold]\n".encode())
    result = cli(capsys, monkeypatch, "logs", "logs", str(failed))
    assert (result.code, result.out, result.err) == (0, "[bold]époque 1[/bold]\n", "")


def test_a_running_trial_not_yet_recorded_is_found_where_its_run_writes(study, capsys, monkeypatch):
    running = add(study, TrialState.RUNNING, recorded=False)  # the searcher's record is written with its first epoch
    write_log(running, b"epoch 1\n")
    result = cli(capsys, monkeypatch, "logs", "logs", str(running))
    assert (result.code, result.out) == (0, "epoch 1\n")


def test_a_failed_trials_log_shows_in_hpo_status(study):
    add(study, TrialState.COMPLETE)
    failed = add(study, TrialState.FAIL, **FAILED)
    console = Console(record=True, width=400)
    print_status(study, console)
    assert f"trial {failed} FAIL: RuntimeError: boom (log: {log_path(failed)})" in console.export_text()


def no_log(study: optuna.Study, case: str) -> int:
    """A trial that has no log here, for ``case``; returns its number."""
    add(study, TrialState.COMPLETE)
    if case == "queued":
        study.enqueue_trial({})
        return 1
    if case == "never recorded":
        return add(study, TrialState.COMPLETE, recorded=False)
    if case == "another file recorded":
        secret = Path("secret.txt").absolute()
        secret.write_text("not a log")
        return add(study, TrialState.COMPLETE, recorded=False, **{LOG_ATTR: str(secret)})
    if case == "running":
        return add(study, TrialState.RUNNING, driver=THIS_DRIVER)  # where it runs is recorded at its end
    host = "node-7" if case == "other node" else THIS_DRIVER.host
    return add(study, TrialState.FAIL, **FAILED, **{WORKER_ATTR: {"hostname": host, "node_ip": "10.0.0.7"}})


NO_LOG = {
    "no such trial": r"study logs has no trial 99: its trials are numbered 0 to 0 \(`hpo status logs` lists them\)",
    "queued": r"trial 1 of study logs has not started: it is queued, and has a log once a driver runs it",
    "never recorded": r"trial 1 of study logs has no log: its record names no trial log, as for a trial that ran before hpo kept "
    r"trial logs or whose driver died before recording it, and there is none at studies/logs/trials/1/log.txt",
    "another file recorded": r"trial 1 of study logs has no log: its record names no trial log",
    "other node": r"trial 1 of study logs ran on node-7 \(10.0.0.7\); its log is /\S+/studies/logs/trials/1/log.txt on that "
    r"machine, not on this one. A trial's log is written on the node that runs it: read it there",
    "running": r"trial 1 of study logs is running, but its log /\S+ is not on this machine: its worker may still be starting",
    "gone": r"trial 1 of study logs has no log at /\S+/log.txt: the file was moved or deleted, or its worker never started. "
    r"It ended FAIL \(RuntimeError: boom\)\.",
}


@pytest.mark.parametrize("case", NO_LOG)
def test_a_trial_without_a_log_here_is_one_paragraph_saying_why(study, capsys, monkeypatch, case):
    number = 99 if case == "no such trial" else no_log(study, case)
    if case == "no such trial":
        add(study, TrialState.COMPLETE)
    for follow in ((), ("--follow",)) if case == "running" else ((),):  # --follow finds the log as printing does
        result = cli(capsys, monkeypatch, "logs", "logs", str(number), *follow)
        assert result.code == 2 and result.out == "", result
        message = " ".join(result.err.split())  # the console wraps the paragraph
        assert message.startswith("error: ") and "Traceback" not in message
        assert re.search(NO_LOG[case], message), message


# ----------------------------------------------------------------------------- --follow


def test_follow_prints_what_is_appended_until_the_trial_ends(study, capsys, monkeypatch):
    number = add(study, TrialState.RUNNING, driver=THIS_DRIVER)  # a live driver: this process
    path = write_log(number, b"epoch 1\n")
    lines = [f"epoch {n}\n".encode() for n in range(2, 6)]

    def worker() -> None:  # appends as a trial does, then its driver tells the study it ended
        for line in lines:
            time.sleep(0.3)
            with path.open("ab") as log:
                log.write(line)
        optuna.load_study(study_name="logs", storage=STORAGE).tell(number, 0.9)
        with path.open("ab") as log:
            log.write(b"after the end\n")  # the follower may have stopped before this

    writer = threading.Thread(target=worker)
    started = time.monotonic()
    writer.start()
    result = cli(capsys, monkeypatch, "logs", "logs", str(number), "--follow")
    writer.join()
    assert result.code == 0, result.err
    assert result.out.removesuffix("after the end\n") == "epoch 1\n" + b"".join(lines).decode()
    assert result.err == f"trial {number} ended: COMPLETE\n"
    assert time.monotonic() - started < 30


def test_follow_stops_at_once_when_the_trial_has_ended_or_its_driver_is_gone(study, capsys, monkeypatch):
    failed = add(study, TrialState.FAIL, **FAILED)
    write_log(failed, b"Traceback\n")
    result = cli(capsys, monkeypatch, "logs", "logs", str(failed), "--follow")
    assert (result.code, result.out, result.err) == (0, "Traceback\n", f"trial {failed} ended: FAIL, RuntimeError: boom\n")

    gone = subprocess.Popen([sys.executable, "-c", "pass"])
    gone.wait()  # a driver on this machine whose process has exited
    number = add(study, TrialState.RUNNING, driver=Driver(THIS_DRIVER.host, gone.pid, "dead", THIS_DRIVER.namespace, "1"))
    write_log(number, b"epoch 1\n")
    started = time.monotonic()
    result = cli(capsys, monkeypatch, "logs", "logs", str(number), "--follow")
    assert (result.code, result.out) == (0, "epoch 1\n")
    assert " ".join(result.err.split()).startswith(f"trial {number} is RUNNING, but its driver is gone: nothing more will be written")
    assert time.monotonic() - started < 10
    assert optuna.load_study(study_name="logs", storage=STORAGE).trials[number].state == TrialState.RUNNING  # a reader only


def test_ctrl_c_ends_follow_quietly(study, tmp_path):
    number = add(study, TrialState.RUNNING, driver=THIS_DRIVER)
    write_log(number, b"epoch 1\n")
    follower = subprocess.Popen(
        [*HPO, "logs", "logs", str(number), "--follow"], cwd=tmp_path, env=hpo_env(), stdout=subprocess.PIPE, stderr=subprocess.PIPE,
    )  # fmt: skip
    try:
        assert follower.stdout is not None and follower.stderr is not None
        assert follower.stdout.readline() == b"epoch 1\n"  # it has printed the log and is following it
        follower.send_signal(signal.SIGINT)
        assert follower.wait(timeout=30) == 0
        assert follower.stderr.read() == b""
    finally:
        follower.kill()

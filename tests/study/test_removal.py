"""hpo delete: a study goes from its storage only when no driver runs it; its folder is kept aside."""

from __future__ import annotations

import io
import os
import shutil
import sys
import time
from dataclasses import replace
from pathlib import Path

import optuna
import pytest
from optuna.trial import TrialState

from hpo.study.keys import DRIVER_ATTR, HEARTBEAT_PREFIX
from hpo.study.records import THIS_DRIVER, Driver, _process_start
from hpo.study.storage import open_storage
from tests.results.conftest import cli, make_study
from tests.study.test_records import dead_pid

URL = "sqlite:///studies/doomed.db"


@pytest.fixture(scope="module")
def doomed_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Two finished trials and one running, written once (each write is a SQLite transaction)."""
    path = tmp_path_factory.mktemp("doomed") / "doomed.db"
    make_study(f"sqlite:///{path}", "doomed", complete=2, pruned=0, failed=0, running=1)
    return path


@pytest.fixture
def doomed(doomed_file: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> optuna.Study:
    """A copy of the study in studies/doomed.db, with its folder, in a fresh working directory."""
    monkeypatch.chdir(tmp_path)
    (tmp_path / "studies" / "doomed" / "retrain").mkdir(parents=True)
    (tmp_path / "studies" / "doomed" / "best.yaml").write_text("epochs: 1\n")
    shutil.copy(doomed_file, tmp_path / "studies" / "doomed.db")
    return optuna.load_study(study_name="doomed", storage=URL)


def drive(study: optuna.Study, driver: Driver, heartbeat_age_s: float | None = None) -> None:
    """Mark the study's running trial as run by ``driver`` (as `hpo run` marks it), and its heartbeat."""
    storage = open_storage(URL)
    study_id = storage.get_study_id_from_name(study.study_name)
    (trial,) = study.get_trials(states=(TrialState.RUNNING,))
    storage.set_trial_system_attr(storage.get_trial_id_from_study_id_trial_number(study_id, trial.number), DRIVER_ATTR, driver.as_attr())
    if heartbeat_age_s is not None:
        storage.set_study_system_attr(study_id, HEARTBEAT_PREFIX + driver.token, time.time() - heartbeat_age_s)


def stored() -> list[str]:
    return optuna.study.get_all_study_names(URL)


def test_a_live_driver_refuses_the_deletion_and_says_which(doomed, capsys, monkeypatch):
    live = replace(THIS_DRIVER, pid=os.getppid(), token="live", started=_process_start(os.getppid()))
    drive(doomed, live)
    result = cli(capsys, monkeypatch, "delete", "doomed", "--yes")
    assert result.code == 2
    assert f"still being run by the driver on host {THIS_DRIVER.host}, pid {os.getppid()}" in result.err
    assert "Nothing was deleted" in result.err and "Traceback" not in result.err
    assert stored() == ["doomed"] and len(optuna.load_study(study_name="doomed", storage=URL).trials) == 3
    assert Path("studies/doomed/best.yaml").is_file()


def test_a_driver_elsewhere_with_a_fresh_heartbeat_refuses_it_a_stale_one_does_not(doomed, capsys, monkeypatch):
    far = Driver("another-host", 4321, "far", "boot/pid:[1]", "1")
    drive(doomed, far, heartbeat_age_s=0)
    refused = cli(capsys, monkeypatch, "delete", "doomed", "--yes")
    assert refused.code == 2 and "the driver on host another-host, pid 4321" in refused.err
    drive(doomed, far, heartbeat_age_s=10_000)
    assert cli(capsys, monkeypatch, "delete", "doomed", "--yes").code == 0
    assert stored() == []


def test_a_dead_drivers_study_is_deleted_and_its_folder_kept_aside(doomed, capsys, monkeypatch):
    drive(doomed, replace(THIS_DRIVER, pid=dead_pid(), token="dead"), heartbeat_age_s=0)
    result = cli(capsys, monkeypatch, "delete", "doomed", "--yes")
    assert result.code == 0, result.err
    assert stored() == []
    (aside,) = Path("studies").glob("doomed.deleted-*")
    assert (aside / "best.yaml").read_text() == "epochs: 1\n" and (aside / "retrain").is_dir()
    assert not Path("studies/doomed").exists()
    assert "deleted study doomed (3 trials) from sqlite:///studies/doomed.db" in result.out
    assert f"kept as {aside}" in result.out


class Terminal(io.StringIO):
    """Someone at a terminal, typing ``answer``."""

    def isatty(self) -> bool:
        return True


@pytest.mark.parametrize(("answer", "code", "left"), [("y\n", 0, []), ("n\n", 1, ["doomed"])])
def test_without_yes_it_asks(doomed, capsys, monkeypatch, answer, code, left):
    monkeypatch.setattr(sys, "stdin", Terminal(answer))
    result = cli(capsys, monkeypatch, "delete", "doomed")
    assert result.code == code
    assert "delete study doomed (3 trials) from sqlite:///studies/doomed.db?" in result.out
    assert stored() == left


def test_without_yes_and_nobody_to_ask_nothing_is_deleted(doomed, capsys, monkeypatch):
    monkeypatch.setattr(sys, "stdin", io.StringIO("y\n"))  # a pipe: not an answer from a person
    result = cli(capsys, monkeypatch, "delete", "doomed")
    assert result.code == 2 and "pass --yes" in result.err
    assert stored() == ["doomed"]

"""hpo list: every study of a storage, or of every database under studies/, in numbers."""

from __future__ import annotations

import re
import shutil
from pathlib import Path

import optuna

from hpo.format import format_datetime
from hpo.study.catalog import last_activity
from tests.results.conftest import cli


def row(out: str, name: str) -> list[str]:
    """The cells of the table row of study ``name``."""
    line = next(line for line in out.splitlines() if re.match(rf"│ {re.escape(name)}\s+│", line))
    return [cell.strip() for cell in line.strip("│").split("│")]


def test_every_study_under_studies_with_counts_best_and_last_activity(fake_study, capsys, monkeypatch):
    shutil.copy("studies/fake.db", "studies/other.db")  # a second database, holding "fake" too
    optuna.create_study(study_name="fake-v2", storage="sqlite:///studies/other.db")  # and a second study
    result = cli(capsys, monkeypatch, "list")
    assert result.code == 0, result.err
    last = format_datetime(last_activity(fake_study.trials))
    best = max((t for t in fake_study.trials if t.value is not None), key=lambda t: t.value)
    expected = ["8", "4", "1", "1", f"{best.value:.4f} (trial {best.number})", last]
    assert row(result.out, "fake") == ["fake", *expected, "sqlite:///studies/fake.db"]
    assert row(result.out, "fake-v2") == ["fake-v2", "0", "0", "0", "0", "-", "-", "sqlite:///studies/other.db"]
    assert result.out.count("sqlite:///studies/other.db") == 2  # fake and fake-v2


def test_storage_lists_only_that_storage(fake_study, capsys, monkeypatch, tmp_path):
    optuna.create_study(study_name="empty", storage=f"sqlite:///{tmp_path}/elsewhere.db")
    result = cli(capsys, monkeypatch, "list", "--storage", f"sqlite:///{tmp_path}/elsewhere.db")
    assert result.code == 0, result.err
    assert row(result.out, "empty")[1:7] == ["0", "0", "0", "0", "-", "-"] and "fake" not in result.out


def test_an_unreadable_database_is_named_and_the_others_listed(fake_study, capsys, monkeypatch):
    Path("studies/broken.db").write_bytes(b"not a database" * 100)
    result = cli(capsys, monkeypatch, "list")
    assert result.code == 0 and row(result.out, "fake")[1] == "8"
    assert "skipped: storage sqlite:///studies/broken.db: studies/broken.db is not a usable SQLite database" in result.err


def test_nothing_to_list_and_a_storage_that_is_not_there(tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert cli(capsys, monkeypatch, "list").out.strip() == "no study in studies/"
    missing = cli(capsys, monkeypatch, "list", "--storage", "sqlite:///nowhere.db")
    assert missing.code == 2 and "no study at nowhere.db" in missing.err

"""What ``hpo run`` tells the user beside its progress: where to watch the study."""

from __future__ import annotations

import pytest

from hpo.engine.runner import dashboard_command


@pytest.mark.parametrize(
    ("name", "url", "command"),
    [
        ("cnn", "sqlite:///studies/cnn.db", "hpo dashboard cnn"),
        ("cnn-v2", "sqlite:///studies/cnn.db", "hpo dashboard cnn-v2"),  # a new version lives in its first one's file
        ("cnn", "sqlite:///elsewhere/cnn.db", "hpo dashboard cnn --storage sqlite:///elsewhere/cnn.db"),
        ("cnn", "journal:///studies/cnn.log", "hpo dashboard cnn --storage journal:///studies/cnn.log"),
        (
            "cnn",
            "postgresql+psycopg://hpo@db:5432/hpo?sslmode=require",
            "hpo dashboard cnn --storage 'postgresql+psycopg://hpo@db:5432/hpo?sslmode=require'",
        ),
    ],
)
def test_the_dashboard_command_names_the_storage_only_when_hpo_would_not_find_it(tmp_path, monkeypatch, name, url, command):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "studies").mkdir()
    (tmp_path / "studies" / "cnn.db").touch()  # the run has created it by the time it prints the command
    assert dashboard_command(name, url) == command

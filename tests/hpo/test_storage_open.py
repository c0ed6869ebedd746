"""Opening a study's database: Optuna's schema scripts are read once per process, and a
database with an older schema is still refused, with Optuna's advice."""

from __future__ import annotations

import sqlite3

import pytest
from alembic.script import ScriptDirectory

from hpo.errors import HpoError
from hpo.storage import open_storage


def test_schema_scripts_are_read_once_per_process(tmp_path, monkeypatch):
    open_storage(f"sqlite:///{tmp_path}/first.db")
    reads = []
    original = ScriptDirectory.from_config
    monkeypatch.setattr(ScriptDirectory, "from_config", lambda config: reads.append(config) or original(config))
    for name in ("second", "third", "first"):
        open_storage(f"sqlite:///{tmp_path}/{name}.db")
    assert reads == []


def test_a_database_of_an_older_schema_is_refused_with_the_upgrade_command(tmp_path):
    url = f"sqlite:///{tmp_path}/old.db"
    open_storage(url)
    with sqlite3.connect(tmp_path / "old.db") as conn:
        conn.execute("UPDATE alembic_version SET version_num = 'v3.0.0.d'")
    with pytest.raises(HpoError, match=r"old\.db: .*optuna storage upgrade"):
        open_storage(url)

"""Opening a study's database: Optuna's schema scripts are read once per process, every
SQLite connection has the settings of a run, a new database another process is creating
at the same moment opens, and a database with an older schema is still refused, with
Optuna's advice."""

from __future__ import annotations

import sqlite3

import pytest
import sqlalchemy
from alembic.script import ScriptDirectory
from optuna.storages._rdb import models

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


@pytest.mark.parametrize("database", ["new", "existing"])
def test_every_sqlite_connection_has_the_settings_of_a_run(tmp_path, database):
    """WAL with synchronous NORMAL and a busy timeout, also on the connections Optuna opened
    while it checked the tables: with synchronous FULL each commit would fsync the WAL."""
    url = f"sqlite:///{tmp_path}/study.db"
    if database == "existing":
        open_storage(url)
    engine = open_storage(url).engine
    connections = [engine.connect() for _ in range(engine.pool.size() + 1)]  # every one pooled, and one more
    for conn in connections:
        assert conn.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
        assert conn.exec_driver_sql("PRAGMA synchronous").scalar() == 1  # NORMAL
        assert conn.exec_driver_sql("PRAGMA busy_timeout").scalar() > 0
    for conn in connections:
        conn.close()


def test_a_new_sqlite_database_opens_when_another_process_creates_its_tables_first(tmp_path, monkeypatch):
    """A reader (a dashboard, ``hpo status``) may open the file the moment the run creates
    it: both then create Optuna's tables, and SQLite tells the later one that a table
    already exists. Here the other process wins between Optuna's check and its CREATE."""
    url = f"sqlite:///{tmp_path}/raced.db"
    create_all = models.BaseModel.metadata.create_all
    races = []

    def lose_the_race_once(bind, **kwargs):
        if not races:
            races.append(bind)
            create_all(sqlalchemy.create_engine(url))  # the other process's tables
            return create_all(bind, checkfirst=False)
        return create_all(bind, **kwargs)

    monkeypatch.setattr(models.BaseModel.metadata, "create_all", lose_the_race_once)
    storage = open_storage(url)
    assert races and storage.get_all_studies() == []


def test_a_database_of_an_older_schema_is_refused_with_the_upgrade_command(tmp_path):
    url = f"sqlite:///{tmp_path}/old.db"
    open_storage(url)
    with sqlite3.connect(tmp_path / "old.db") as conn:
        conn.execute("UPDATE alembic_version SET version_num = 'v3.0.0.d'")
    with pytest.raises(HpoError, match=r"old\.db: .*optuna storage upgrade"):
        open_storage(url)

"""Opening a study's storage: every SQLite connection has the settings of a run, claims
on SQLite are atomic, the file journal works, a new database another process is creating
at the same moment opens, and a database with an older schema is still refused, with
Optuna's advice."""

from __future__ import annotations

import sqlite3
import threading

import optuna
import pytest
import sqlalchemy
from optuna.exceptions import UpdateFinishedTrialError
from optuna.trial import TrialState

from hpo.errors import HpoError
from hpo.study.storage import open_storage


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
        conn.rollback()  # each transaction holds SQLite's write lock (BEGIN IMMEDIATE) until it ends
    for conn in connections:
        conn.close()


def test_a_new_sqlite_database_opens_when_another_process_creates_its_tables_first(tmp_path):
    """A reader (a dashboard, ``hpo status``) may open the file the moment the run creates
    it: both then create Optuna's tables, and SQLite tells the later one that a table
    already exists. Here another storage wins between Optuna's check and its CREATE."""
    url = f"sqlite:///{tmp_path}/raced.db"
    races = []

    def lose_the_race_once(conn, cursor, statement, parameters, context, executemany):
        if not races and statement.lstrip().upper().startswith("CREATE TABLE") and str(conn.engine.url) == url:
            races.append(statement)
            optuna.storages.RDBStorage(url)  # the other process's tables, all of them

    sqlalchemy.event.listen(sqlalchemy.engine.Engine, "before_cursor_execute", lose_the_race_once)
    try:
        storage = open_storage(url)
    finally:
        sqlalchemy.event.remove(sqlalchemy.engine.Engine, "before_cursor_execute", lose_the_race_once)
    assert races and storage.get_all_studies() == []


def test_finishing_a_trial_twice_on_sqlite_lets_exactly_one_win(tmp_path):
    """Optuna reads a trial's state and then changes it; on SQLite hpo makes that one
    transaction, so two drivers recovering the same orphan cannot both claim it."""
    url = f"sqlite:///{tmp_path}/claims.db"
    first, second = open_storage(url), open_storage(url)
    study = optuna.create_study(storage=first, study_name="s")
    trial_id = first.get_trial_id_from_study_id_trial_number(first.get_study_id_from_name("s"), study.ask().number)
    barrier = threading.Barrier(2)
    outcomes = []

    def claim(storage) -> None:
        barrier.wait()
        try:
            storage.set_trial_state_values(trial_id, TrialState.FAIL)
            outcomes.append("claimed")
        except UpdateFinishedTrialError:
            outcomes.append("refused")

    threads = [threading.Thread(target=claim, args=(storage,)) for storage in (first, second)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(outcomes) == ["claimed", "refused"]


def test_a_journal_storage_opens_and_holds_a_study(tmp_path):
    url = f"journal:///{tmp_path}/study.log"
    study = optuna.create_study(storage=open_storage(url), study_name="j")
    study.tell(study.ask(), 1.0)
    reopened = optuna.load_study(study_name="j", storage=open_storage(url, create=False))
    assert [t.value for t in reopened.trials] == [1.0]


@pytest.mark.parametrize("url", ["journal:///no/such/dir/study.log", "journal:///{tmp}"])
def test_a_journal_location_that_cannot_hold_a_study_is_refused(tmp_path, url):
    with pytest.raises(HpoError, match="storage journal:///"):
        open_storage(url.format(tmp=tmp_path))


def test_a_database_of_an_older_schema_is_refused_with_the_upgrade_command(tmp_path):
    url = f"sqlite:///{tmp_path}/old.db"
    open_storage(url)
    with sqlite3.connect(tmp_path / "old.db") as conn:
        conn.execute("UPDATE alembic_version SET version_num = 'v3.0.0.d'")
    with pytest.raises(HpoError, match=r"old\.db: .*optuna storage upgrade"):
        open_storage(url)

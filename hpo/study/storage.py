"""Open the study's storage: SQLite under studies/ by default, any SQLAlchemy URL, or
Optuna's file journal (``journal:///path/to/study.log``).

SQLite runs in WAL mode, so optuna-dashboard and ``hpo status`` read while the run
writes, and with a long busy timeout, so a reader holding a lock makes the writer wait
instead of fail. Problems with the location (a missing directory, a read-only or
corrupt file) are reported before any trial runs, and nothing is created or changed.
"""

from __future__ import annotations

import os
import random
import re
import sqlite3
import time
from collections.abc import Iterator
from contextlib import closing, contextmanager
from pathlib import Path
from typing import TYPE_CHECKING

from hpo.errors import HpoError
from hpo.spec.sections import STUDY_NAME_PATTERN

if TYPE_CHECKING:
    import optuna

STUDIES_DIR = Path("studies")
SQLITE_BUSY_TIMEOUT_S = 60  # a dashboard query can hold the lock for a moment; wait, don't fail
JOURNAL_SCHEME = "journal:///"  # journal:///relative/study.log, journal:////absolute/study.log


def study_dir(name: str) -> Path:
    """``studies/<name>``, where a study's default outputs go (export, report, retrained models).

    A spec's study name is checked by the spec; a name read elsewhere (an exported config's
    header, a database another tool wrote) is checked here, so ``../../x`` cannot put a
    default output outside studies/.
    """
    if not re.fullmatch(STUDY_NAME_PATTERN, name):
        raise HpoError(
            f"study name {name!r} cannot name a directory under {STUDIES_DIR}/ (letters, digits, _ . and -, "
            "starting with a letter or digit); give the output path explicitly"
        )
    return STUDIES_DIR / name


def trial_log_path(study_name: str, number: int) -> Path:
    """``studies/<study>/trials/<number>/log.txt``: what trial ``number`` printed, its
    warnings and the traceback that ended it (the number is the study's, as Optuna shows it)."""
    return study_dir(study_name) / "trials" / str(number) / "log.txt"


def confirm_log_path(study_name: str, number: int, seed: int) -> Path:
    """``studies/<study>/trials/<number>/confirm-seed<seed>.txt``: the log of trial
    ``number``'s config trained again by ``hpo confirm`` with ``seed``, beside the trial's own."""
    return trial_log_path(study_name, number).with_name(f"confirm-seed{seed}.txt")


def default_storage_url(study_name: str) -> str:
    return f"sqlite:///{STUDIES_DIR / study_name}.db"


def sqlite_path(url: str) -> Path | None:
    """The database file of a ``sqlite:///`` URL, or None for other back ends."""
    if not url.startswith("sqlite:///"):
        return None
    return Path(url.removeprefix("sqlite:///").split("?", 1)[0])


def check_sqlite_location(url: str, *, create: bool) -> None:
    """Refuse, with a clear error, a SQLite location that cannot hold a study."""
    path = sqlite_path(url)
    if path is None or str(path) == ":memory:":
        return
    if check_file_location(url, path, create=create, what="a SQLite database file"):
        _check_sqlite_file(url, path)


def check_file_location(url: str, path: Path, *, create: bool, what: str) -> bool:
    """Refuse a file location that cannot hold a study (a directory, unreadable,
    read-only for a run, in a missing directory); returns whether the file exists."""
    if path.exists():
        if path.is_dir():
            raise HpoError(f"storage {url}: {path} is a directory, expected {what}")
        if not os.access(path, os.R_OK):
            raise HpoError(f"storage {url}: {path} is not readable")
        if create and not (os.access(path, os.W_OK) and os.access(path.parent, os.W_OK)):
            raise HpoError(
                f"storage {url}: {path} (or its directory) is read-only; a run must write "
                "the study there. Make it writable or give study.storage another location."
            )
        return True
    if not create:
        raise HpoError(f"storage {url}: no study at {path}")
    parent = path.parent
    if parent == STUDIES_DIR:
        parent.mkdir(parents=True, exist_ok=True)
    if not parent.is_dir():
        raise HpoError(f"storage {url}: the directory {parent} does not exist; create it or give study.storage another location")
    if not os.access(parent, os.W_OK):
        raise HpoError(f"storage {url}: the directory {parent} is read-only")
    return False


def _check_sqlite_file(url: str, path: Path) -> None:
    side_files = [Path(f"{path}-wal"), Path(f"{path}-shm")]
    existed = {side for side in side_files if side.exists()}
    problem = _sqlite_problem(path)
    if problem is None:
        return
    for side in side_files:  # reading a database in WAL mode creates them: leave the damage as found
        if side not in existed:
            side.unlink(missing_ok=True)
    raise HpoError(f"storage {url}: {path} {problem}; it was left untouched")


def _sqlite_problem(path: Path) -> str | None:
    try:
        with closing(sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=SQLITE_BUSY_TIMEOUT_S)) as conn:
            conn.execute("SELECT count(*) FROM sqlite_master").fetchone()
            result = conn.execute("PRAGMA quick_check").fetchone()[0]
    except sqlite3.DatabaseError as exc:
        return f"is not a usable SQLite database ({exc})"
    return None if result == "ok" else f"is corrupt (SQLite says: {result})"


def journal_path(url: str) -> Path | None:
    """The log file of a ``journal:///`` URL (Optuna's file journal), or None."""
    if not url.startswith(JOURNAL_SCHEME):
        return None
    return Path(url.removeprefix(JOURNAL_SCHEME))


def open_storage(url: str, *, create: bool = True) -> optuna.storages.BaseStorage:
    """Return an Optuna storage for ``url`` (checked first, see module doc): Optuna's
    file journal for ``journal:///path``, its RDB storage for a SQLAlchemy URL."""
    import optuna

    journal = journal_path(url)
    if journal is not None:
        check_file_location(url, journal, create=create, what="an Optuna journal file")
        from optuna.storages.journal import JournalFileBackend

        try:
            return optuna.storages.JournalStorage(JournalFileBackend(str(journal)))
        except (OSError, ValueError) as exc:
            raise HpoError(f"storage {url}: cannot use {journal} as an Optuna journal ({exc})") from None
    return _open_rdb(url, create=create)


def _open_rdb(url: str, *, create: bool) -> optuna.storages.RDBStorage:
    import sqlalchemy

    check_sqlite_location(url, create=create)
    engine_kwargs = {}
    if sqlite_path(url) is not None:
        engine_kwargs = {"connect_args": {"timeout": SQLITE_BUSY_TIMEOUT_S}}
    try:
        storage = _rdb_storage(url, engine_kwargs)
    except (sqlalchemy.exc.ArgumentError, ImportError, ValueError) as exc:
        raise HpoError(f"storage {url}: not a usable SQLAlchemy URL ({exc})") from None
    except sqlalchemy.exc.DBAPIError as exc:
        raise HpoError(_refused(url, exc)) from None
    except RuntimeError as exc:  # Optuna: the database's schema is not this Optuna's
        raise HpoError(f"storage {url}: {exc}") from None
    if sqlite_path(url) is not None:
        _configure_sqlite(storage)
    return storage


def _refused(url: str, exc: BaseException) -> str:
    """One paragraph for a database that will not hold a study: unreachable, or refusing
    hpo's work (no right to create tables, a read-only replica)."""
    orig = getattr(exc, "orig", None) or exc
    reason = str(orig).strip().splitlines()[0] if str(orig).strip() else type(orig).__name__
    return (
        f"storage {url}: the database refused to open or write the study ({reason}). hpo needs "
        "a database it can connect to, create Optuna's tables in (or find them made), and write: "
        "check the address, the user's rights on the schema, and that it is not a read-only replica."
    )


@contextmanager
def refused_as_error(url: str) -> Iterator[None]:
    """Turn the database refusing a write (Optuna wraps it as StorageInternalError) into
    the one-paragraph error of :func:`_refused`."""
    import optuna
    import sqlalchemy

    try:
        yield
    except (optuna.exceptions.StorageInternalError, sqlalchemy.exc.DBAPIError) as exc:
        raise HpoError(_refused(url, exc.__cause__ or exc)) from None


def _lost_creation_race(exc: Exception) -> bool:
    """Whether a database error says another process created Optuna's tables first."""
    text = str(getattr(exc, "orig", exc)).lower()
    return "already exists" in text or "duplicate key" in text or "unique constraint" in text


def _rdb_storage(url: str, engine_kwargs: dict, attempts: int = 5) -> optuna.storages.RDBStorage:
    """Optuna's storage; on an empty database, Optuna creates its tables. Two processes
    opening a new database at once both try: two drivers on one PostgreSQL database, or
    on SQLite a run and a reader (a dashboard, ``hpo status``, a notebook) that opened the
    file the moment it appeared. The one that loses the race fails on a duplicate table or
    key: it tries again and finds them made. Any other error is the database refusing."""
    import optuna
    import sqlalchemy

    for attempt in range(1, attempts + 1):
        try:
            return optuna.storages.RDBStorage(url, engine_kwargs=engine_kwargs)
        except sqlalchemy.exc.DBAPIError as exc:
            if attempt == attempts or not _lost_creation_race(exc):
                raise
            time.sleep(random.uniform(0.2, 1.0))
    raise AssertionError("unreachable")


def _configure_sqlite(storage: optuna.storages.RDBStorage) -> None:
    """WAL is a property of the database file: set once, every later connection has it.
    The other settings belong to each connection: the ones Optuna opened while it checked
    or created the tables are closed, so that every connection the pool hands out from
    now on is a new one with them.

    Each transaction starts with ``BEGIN IMMEDIATE``: Optuna reads a trial's state and
    then changes it (claiming a queued trial, finishing one), and guards that with a
    row lock (``SELECT ... FOR UPDATE``) that SQLite does not have. Taking SQLite's write
    lock at the start makes the read and the write one step, so of two drivers finishing
    or claiming the same trial exactly one succeeds."""
    import sqlalchemy

    with storage.engine.connect() as conn:
        mode = conn.exec_driver_sql("PRAGMA journal_mode").scalar()
        if str(mode).lower() != "wal":
            conn.exec_driver_sql("PRAGMA journal_mode=WAL")
        conn.commit()
    sqlalchemy.event.listen(storage.engine, "connect", _on_sqlite_connect)
    sqlalchemy.event.listen(storage.engine, "begin", _begin_immediate)
    storage.engine.dispose()


def _on_sqlite_connect(dbapi_connection, _record) -> None:
    dbapi_connection.isolation_level = None  # SQLAlchemy's "begin" event starts transactions
    cursor = dbapi_connection.cursor()
    cursor.execute(f"PRAGMA busy_timeout = {SQLITE_BUSY_TIMEOUT_S * 1000}")
    cursor.execute("PRAGMA synchronous = NORMAL")  # safe with WAL, fewer fsyncs per epoch report
    cursor.close()


def _begin_immediate(conn) -> None:
    conn.exec_driver_sql("BEGIN IMMEDIATE")

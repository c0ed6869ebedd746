"""Open the study's storage: SQLite under studies/ by default, any SQLAlchemy URL otherwise.

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
from contextlib import closing
from pathlib import Path

from hpo.errors import HpoError

STUDIES_DIR = Path("studies")
SQLITE_BUSY_TIMEOUT_S = 60  # a dashboard query can hold the lock for a moment; wait, don't fail
STUDY_NAME_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9_.-]*$"  # one plain path component: never ../x, a/b or /x


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
    if path.exists():
        if path.is_dir():
            raise HpoError(f"storage {url}: {path} is a directory, expected a SQLite database file")
        if not os.access(path, os.R_OK):
            raise HpoError(f"storage {url}: {path} is not readable")
        if create and not (os.access(path, os.W_OK) and os.access(path.parent, os.W_OK)):
            raise HpoError(
                f"storage {url}: {path} (or its directory) is read-only; a run must write "
                "the study there. Make it writable or give study.storage another location."
            )
        _check_sqlite_file(url, path)
        return
    if not create:
        raise HpoError(f"storage {url}: no study database at {path}")
    parent = path.parent
    if parent == STUDIES_DIR:
        parent.mkdir(parents=True, exist_ok=True)
    if not parent.is_dir():
        raise HpoError(
            f"storage {url}: the directory {parent} does not exist; create it or give "
            "study.storage another location"
        )
    if not os.access(parent, os.W_OK):
        raise HpoError(f"storage {url}: the directory {parent} is read-only")


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


def open_storage(url: str, *, create: bool = True):
    """Return an Optuna RDB storage for ``url`` (checked first, see module doc)."""
    import optuna
    import sqlalchemy

    check_sqlite_location(url, create=create)
    engine_kwargs = {}
    if sqlite_path(url) is not None:
        engine_kwargs = {"connect_args": {"timeout": SQLITE_BUSY_TIMEOUT_S}}
    try:
        storage = _rdb_storage(url, engine_kwargs)
    except (sqlalchemy.exc.ArgumentError, ImportError, ValueError) as exc:
        raise HpoError(f"storage {url}: not a usable SQLAlchemy URL ({exc})") from None
    except sqlalchemy.exc.OperationalError as exc:
        raise HpoError(f"storage {url}: cannot open it ({exc.orig})") from None
    except RuntimeError as exc:  # Optuna: the database's schema is not this Optuna's
        raise HpoError(f"storage {url}: {exc}") from None
    if sqlite_path(url) is not None:
        _enable_wal(storage)
    return storage


def _read_schema_scripts_once() -> None:
    """Optuna reads its 30-odd schema migration scripts (alembic) anew for each RDB storage
    it opens, up to three times for a new database: 0.1-0.3 s each time. They are the
    installed Optuna's own files, the same for every database, so hpo has Optuna read them
    once per process: a process that opens many studies (benchmarks, tests, a notebook)
    opens each in tens of milliseconds. The checks they serve are unchanged."""
    import functools

    from optuna.storages._rdb import storage as rdb

    manager = rdb._VersionManager
    if getattr(manager._create_alembic_script, "hpo_read_once", False):
        return
    read = manager._create_alembic_script  # its URL only matters to migrations, which use their own config

    @functools.cache
    def scripts():
        reader = manager.__new__(manager)
        reader.url = "sqlite://"
        return read(reader)

    def create_alembic_script(self):
        return scripts()

    create_alembic_script.hpo_read_once = True
    manager._create_alembic_script = create_alembic_script


def _rdb_storage(url: str, engine_kwargs: dict, attempts: int = 5):
    """Optuna's storage; on an empty database, Optuna creates its tables. Two processes
    opening a new database at once both try: two drivers on one PostgreSQL database, or
    on SQLite a run and a reader (a dashboard, ``hpo status``, a notebook) that opened the
    file the moment it appeared. The one that loses the race fails on a duplicate table or
    key: it tries again and finds them made."""
    import optuna
    import sqlalchemy

    _read_schema_scripts_once()
    for attempt in range(1, attempts + 1):
        try:
            return optuna.storages.RDBStorage(url, engine_kwargs=engine_kwargs)
        except (sqlalchemy.exc.IntegrityError, sqlalchemy.exc.ProgrammingError, sqlalchemy.exc.OperationalError) as exc:
            lost_the_race = not isinstance(exc, sqlalchemy.exc.OperationalError) or "already exists" in str(exc.orig)
            if attempt == attempts or not lost_the_race:
                raise
            time.sleep(random.uniform(0.2, 1.0))


def _enable_wal(storage) -> None:
    """WAL is a property of the database file: set once, every later connection has it.
    The other settings belong to each connection: the ones Optuna opened while it checked
    or created the tables are closed, so that every connection the pool hands out from
    now on is a new one with them (without, commits on those kept fsyncing the WAL)."""
    import sqlalchemy

    with storage.engine.connect() as conn:
        mode = conn.exec_driver_sql("PRAGMA journal_mode").scalar()
        if str(mode).lower() != "wal":
            conn.exec_driver_sql("PRAGMA journal_mode=WAL")
        conn.commit()
    sqlalchemy.event.listen(storage.engine, "connect", _on_sqlite_connect)
    storage.engine.dispose()


def _on_sqlite_connect(dbapi_connection, _record) -> None:
    cursor = dbapi_connection.cursor()
    cursor.execute(f"PRAGMA busy_timeout = {SQLITE_BUSY_TIMEOUT_S * 1000}")
    cursor.execute("PRAGMA synchronous = NORMAL")  # safe with WAL, fewer fsyncs per epoch report
    cursor.close()

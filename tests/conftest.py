"""Helpers every test directory uses: waiting on an event instead of on the clock.

A test that needs something to have happened (a study created, a trial running, a line
printed) polls for that very thing. A fixed sleep is too short on a loaded machine and
wasted time on an idle one, and an assertion that something happened within a second
fails whenever the machine is busy. The waits here give up only after a generous time
(``WAIT_TIMEOUT_S``), or at once when what would make the event happen has ended, and
then say what was awaited and what was seen.
"""

from __future__ import annotations

import signal
import sqlite3
import subprocess
import textwrap
import time
from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

import pytest

# The Ctrl-C tests signal the processes they start, which must hear SIGINT. A suite started
# in the background by a shell (`make test &`, `nohup`, a job runner) ignores it, and a child
# inherits an ignored signal through exec; one handled here reaches it as the default.
if signal.getsignal(signal.SIGINT) == signal.SIG_IGN:
    signal.signal(signal.SIGINT, signal.default_int_handler)


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Run the slow tests' files first. The suite hands a file at a time to each of its
    processes (pytest-xdist, ``--dist loadfile``): a long file handed out last keeps one
    process busy while the others have nothing left to do."""
    items.sort(key=lambda item: item.get_closest_marker("slow") is None)


WAIT_TIMEOUT_S = 300.0  # start-up of Ray and torch on a loaded 2-core machine is well below this
T = TypeVar("T")


def wait_for(
    condition: Callable[[], T],
    what: str,
    *,
    ended: Callable[[], str | None] | None = None,
    seen: Callable[[], object] | None = None,
    timeout: float = WAIT_TIMEOUT_S,
    interval: float = 0.2,
) -> T:
    """Poll ``condition()`` until it returns something true, and return that.

    ``ended()`` says (as text) that the event can no longer happen, e.g. the process that
    would cause it has exited; it is read before the condition, so an event that happened
    just before the end still counts. ``seen()`` describes the state observed, for the
    failure message. Fails the test after ``timeout`` seconds or once ``ended()`` says so.
    """
    deadline = time.monotonic() + timeout
    while True:
        gone = ended() if ended is not None else None
        value = condition()
        if value:
            return value
        if gone or time.monotonic() >= deadline:
            reason = gone or f"gave up after {timeout:g} s"
            observed = f"; seen: {seen()}" if seen is not None else ""
            pytest.fail(f"waiting for {what}: {reason}{observed}")
        time.sleep(interval)


def exited(process: subprocess.Popen, name: str) -> Callable[[], str | None]:
    """For ``wait_for(ended=...)``: None while ``process`` runs, then its exit code and
    output (its stdout, when piped as text: read only once it has exited, so never blocks
    on a running process)."""

    def check() -> str | None:
        if process.poll() is None:
            return None
        output = process.stdout.read() if process.stdout is not None else ""
        return f"{name} exited with code {process.returncode}" + (f"; its output:\n{output}" if output else "")

    return check


def read_sqlite(database: Path, sql: str, *args) -> list[tuple]:
    """Rows of a query on a run's SQLite database, read-only (a poll must not write to the
    study it watches); [] while the file or its tables do not exist yet."""
    if not database.exists():
        return []
    try:
        with sqlite3.connect(f"file:{database}?mode=ro", uri=True, timeout=60) as conn:
            return conn.execute(sql, args).fetchall()
    except sqlite3.OperationalError:
        return []


# A small valid spec that the spec, engine and input tests mutate.
VALID_SPEC = textwrap.dedent(
    """\
    study: {name: tiny, metric: val_acc, mode: max, trials: 4, seed: 0}
    sampler: {type: tpe, n_startup_trials: 2}
    scheduler: {type: asha, grace_period: 1, reduction_factor: 2}
    resources: {cpus_per_trial: 1, max_concurrent: 2}
    train:
      seed: 0
      data: {name: digits, val_fraction: 0.2}
      model: {name: cnn, channels: [8, 16], kernel_sizes: [3, 3], dropout: 0.1, hidden: [32]}
      optimizer: {name: adam, lr: 1.0e-3}
      batch_size: 64
      epochs: 3
    space:
      optimizer.lr: {float: [1.0e-4, 1.0e-1], log: true}
      batch_size: {choice: [32, 64]}
      model.kernel_sizes: {choice: {k33: [3, 3], k53: [5, 3]}}
      optimizer.name:
        choice: [sgd, adam]
        when:
          sgd: {optimizer.momentum: {float: [0.0, 0.9]}}
    """
)


def spec_error(spec_file, path: str, words: str):
    """Load ``spec_file``, which must be refused: one paragraph naming the file and ``path``
    (the key) and holding ``words`` (what was expected). Returns the error."""
    from hpo.errors import SpecError
    from hpo.spec.sections import load_spec

    with pytest.raises(SpecError) as caught:
        load_spec(spec_file)
    error = caught.value
    assert (error.source, error.path) == (str(spec_file), path)
    assert words in error.message
    assert str(error).startswith(f"{spec_file}: ")
    assert "\n" not in str(error)
    return error


@pytest.fixture
def write_spec(tmp_path):
    """Write spec text to a file and return its path."""

    def write(text: str, name: str = "spec.yaml"):
        path = tmp_path / name
        path.write_text(text)
        return path

    return write

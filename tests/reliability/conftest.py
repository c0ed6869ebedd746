"""The reliability suite: what hpo promises, measured.

Each test prints a figure, ``<what>: <passed>/<tried> <detail>`` (run pytest with -s to
see them as they come); the session's figures are listed again at the end of the run.
The end-to-end helpers (``workdir``, ``hpo()``, ``write_spec``, ``dashboard()``, ...) come
from tests/e2e/conftest.py.
"""

from __future__ import annotations

import signal
from pathlib import Path

from tests.conftest import read_sqlite
from tests.e2e.conftest import workdir  # noqa: F401  (a fixture)
from tests.results.conftest import CliResult, cli

FIGURES: list[str] = []


def figure(what: str, passed: int, tried: int, detail: str = "") -> str:
    """Print and keep one measured figure, e.g. ``kill -9: 10/10 resumed ...``."""
    line = f"{what}: {passed}/{tried}" + (f" {detail}" if detail else "")
    FIGURES.append(line)
    print(f"\nFIGURE {line}", flush=True)
    return line


def pytest_terminal_summary(terminalreporter) -> None:
    if FIGURES:
        terminalreporter.section("reliability figures")
        for line in FIGURES:
            terminalreporter.write_line(line)


def hpo_here(capsys, monkeypatch, *args: str) -> CliResult:
    """``hpo ARGS`` in this process (no Python start-up per case), as tests/results runs it;
    this process keeps its SIGTERM handler (``hpo run`` installs its own)."""
    handler = signal.getsignal(signal.SIGTERM)
    try:
        return cli(capsys, monkeypatch, *args)
    finally:
        signal.signal(signal.SIGTERM, handler)


def query(workdir: Path, sql: str, *args) -> list[tuple]:  # noqa: F811  (the fixture, passed on)
    """Rows from the quickstart study's database, read-only; [] while it (or its tables) does not exist."""
    return read_sqlite(workdir / "studies" / "quickstart.db", sql, *args)

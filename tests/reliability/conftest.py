"""The reliability suite: what hpo promises, measured.

Each test prints a figure, ``<what>: <passed>/<tried> <detail>`` (run pytest with -s to
see them as they come); the session's figures are listed again at the end of the run.
The end-to-end helpers (``workdir``, ``hpo()``, ``write_spec``, ...) come from
tests/e2e/conftest.py.
"""

from __future__ import annotations

import json
import re
import signal
import sqlite3
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

from tests.e2e.conftest import hpo_env, workdir  # noqa: F401  (workdir is a fixture)
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


def query(workdir, sql: str, *args) -> list[tuple]:
    """Rows from the quickstart study's database, read-only; [] while it (or its tables) does not exist."""
    database = workdir / "studies" / "quickstart.db"
    if not database.exists():
        return []
    try:
        with sqlite3.connect(f"file:{database}?mode=ro", uri=True, timeout=60) as conn:
            return conn.execute(sql, args).fetchall()
    except sqlite3.OperationalError:
        return []


@dataclass
class Dashboard:
    """A running ``hpo dashboard``: its process, the API address of its study, what it printed."""

    process: subprocess.Popen
    base: str = ""
    study_id: int = -1
    output: list[str] = field(default_factory=list)

    def study(self) -> dict:
        """The study as optuna-dashboard's API serves it (trials with user attributes)."""
        with urllib.request.urlopen(f"{self.base}/api/studies/{self.study_id}?after=0", timeout=60) as response:
            return json.load(response)


@contextmanager
def dashboard(cwd: Path, *args: str, timeout: float = 120) -> Iterator[Dashboard]:
    """``hpo dashboard ARGS`` in a subprocess, until it has printed its URL; stopped after."""
    process = subprocess.Popen(
        [sys.executable, "-m", "hpo.cli", "dashboard", *args],
        cwd=cwd, env=hpo_env(), stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
    )  # fmt: skip
    server = Dashboard(process)
    try:
        deadline = time.monotonic() + timeout
        while server.study_id < 0:
            line = process.stdout.readline()
            assert line or process.poll() is None, "hpo dashboard exited before serving:\n" + "".join(server.output)
            assert time.monotonic() < deadline, "hpo dashboard printed no URL:\n" + "".join(server.output)
            server.output.append(line)
            found = re.search(r"(http://\S+:\d+)/dashboard/studies/(\d+)", line)
            if found:
                server.base, server.study_id = found[1], int(found[2])
        yield server
    finally:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        # read(), not communicate(): readline() above may hold the next lines in its buffer
        server.output.append(process.stdout.read())

"""End-to-end helpers: run the real ``hpo`` command in a temporary directory."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import optuna
import pytest
import yaml

from hpo.storage import open_storage

REPO = Path(__file__).resolve().parents[2]
QUICKSTART = REPO / "search_spaces" / "quickstart.yaml"


def shortened_quickstart(trials: int = 8, epochs: int = 4, **study: object) -> dict:
    """The quickstart spec, made shorter for tests (same space, same data, same engine)."""
    spec = yaml.safe_load(QUICKSTART.read_text())
    spec["study"].update(trials=trials, **study)
    spec["train"]["epochs"] = epochs
    spec["scheduler"] = {"type": "asha", "grace_period": 1, "reduction_factor": 2}
    return spec


def hpo_env() -> dict[str, str]:
    """The test's environment, with the repo importable by Ray's workers."""
    path = os.pathsep.join(p for p in (str(REPO), os.environ.get("PYTHONPATH", "")) if p)
    return {**os.environ, "PYTHONPATH": path, "COLUMNS": "200"}


@pytest.fixture
def workdir(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    return tmp_path


def write_spec(workdir: Path, spec: dict, name: str = "spec.yaml") -> Path:
    path = workdir / name
    path.write_text(yaml.safe_dump(spec, sort_keys=False))
    return path


def hpo(*args: str, cwd: Path, timeout: float = 300) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "hpo.cli", *args], cwd=cwd, capture_output=True, text=True, timeout=timeout, env=hpo_env()
    )


def load_study(workdir: Path, name: str, database: str | None = None) -> optuna.Study:
    """A study of studies/<database or name>.db (versions live in their first one's file),
    opened as hpo opens it: a test polling a run may open the file while the run is still
    creating its tables."""
    return optuna.load_study(study_name=name, storage=open_storage(f"sqlite:///{workdir}/studies/{database or name}.db"))


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

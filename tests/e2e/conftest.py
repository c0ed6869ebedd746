"""End-to-end helpers: run the real ``hpo`` command in a temporary directory."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import threading
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import optuna
import pytest
import yaml

from hpo.study.storage import open_storage
from tests.conftest import wait_for

REPO = Path(__file__).resolve().parents[2]
QUICKSTART = REPO / "search_spaces" / "quickstart.yaml"
STOP_TIMEOUT_S = 60  # a signalled dashboard stops in a second; this only bounds a hung one


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
    return subprocess.run([sys.executable, "-m", "hpo.cli", *args], cwd=cwd, capture_output=True, text=True, timeout=timeout, env=hpo_env())


def load_study(workdir: Path, name: str, database: str | None = None) -> optuna.Study:
    """A study of studies/<database or name>.db (versions live in their first one's file),
    opened as hpo opens it: a test polling a run may open the file while the run is still
    creating its tables."""
    return optuna.load_study(study_name=name, storage=open_storage(f"sqlite:///{workdir}/studies/{database or name}.db"))


class Dashboard:
    """A running ``hpo dashboard``: its process, the API address of its study, what it
    printed (read by a thread as it comes, so a wait never blocks on a silent process)."""

    def __init__(self, cwd: Path, args: tuple[str, ...]) -> None:
        self.process = subprocess.Popen(
            [sys.executable, "-m", "hpo.cli", "dashboard", *args],
            cwd=cwd, env=hpo_env(), stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
        )  # fmt: skip
        self.output: list[str] = []
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()
        try:
            url = self.wait_for(r"(http://\S+:\d+)/dashboard/studies/(\d+)")
        except BaseException:
            self.process.kill()
            raise
        self.page, self.base, self.study_id = url[0], url[1], int(url[2])

    def _read(self) -> None:
        for line in self.process.stdout:
            self.output.append(line)

    def printed(self) -> str:
        return "".join(self.output)

    def wait_for(self, pattern: str) -> re.Match:
        """The first match of ``pattern`` in all it has printed, as soon as it is printed:
        a line printed before the one waited for last is found too."""
        return wait_for(
            lambda: re.search(pattern, self.printed()),
            f"hpo dashboard to print {pattern!r}",
            ended=lambda: None if self._reader.is_alive() else f"hpo dashboard exited with code {self.process.poll()}",
            seen=lambda: "its output:\n" + self.printed(),
            interval=0.1,
        )

    def get(self, route: str) -> dict:
        with urllib.request.urlopen(self.base + route, timeout=60) as response:
            return json.load(response)

    def study(self) -> dict:
        """The study as optuna-dashboard's API serves it (trials with user attributes)."""
        return self.get(f"/api/studies/{self.study_id}?after=0")

    def stop(self, signum: int = signal.SIGTERM) -> int | None:
        """Its exit code after ``signum``, once all it printed is read; None if it had to be
        killed, having ignored the signal for STOP_TIMEOUT_S."""
        self.process.send_signal(signum)
        try:
            code = self.process.wait(timeout=STOP_TIMEOUT_S)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
            code = None
        self._reader.join(timeout=STOP_TIMEOUT_S)
        return code


@contextmanager
def dashboard(cwd: Path, *args: str) -> Iterator[Dashboard]:
    """``hpo dashboard ARGS`` in a subprocess, once it has printed its URL; stopped after."""
    server = Dashboard(cwd, args)
    try:
        yield server
    finally:
        server.stop()

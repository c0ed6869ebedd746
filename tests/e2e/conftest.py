"""End-to-end helpers: run the real ``hpo`` command in a temporary directory."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import optuna
import pytest
import yaml

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
    """A study of studies/<database or name>.db (versions live in their first one's file)."""
    return optuna.load_study(study_name=name, storage=f"sqlite:///{workdir}/studies/{database or name}.db")

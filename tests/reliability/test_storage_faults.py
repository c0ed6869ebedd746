"""A study database that cannot be used is refused before any trial runs: exit 2, one
clear error, and nothing written (every file under studies/ keeps its bytes and mtime).

Root may write a read-only file, so the read-only file is tried as user ``nobody``, and
a read-only file system in a private mount namespace (nothing leaks to the machine).
"""

from __future__ import annotations

import hashlib
import os
import random
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import optuna
import pytest

from hpo.study.storage import open_storage
from tests.e2e.conftest import hpo_env, shortened_quickstart, write_spec
from tests.reliability.conftest import figure, hpo_here
from tests.results.conftest import CliResult

NOBODY = 65534

# Run hpo with the directory argv[1] bind-mounted read-only (inside `unshare --mount`).
READ_ONLY_LAUNCH = """\
import os, subprocess, sys
subprocess.run(["mount", "--bind", sys.argv[1], sys.argv[1]], check=True)
subprocess.run(["mount", "-o", "remount,bind,ro", sys.argv[1]], check=True)
os.execv(sys.executable, [sys.executable, "-m", "hpo.cli", *sys.argv[2:]])
"""


def make_study_database(path: Path, trials: int = 8) -> None:
    """A real study database as hpo writes it (WAL, several pages), closed cleanly."""
    path.parent.mkdir(parents=True, exist_ok=True)
    storage = open_storage(f"sqlite:///{path}")
    study = optuna.create_study(study_name="quickstart", storage=storage, direction="maximize")
    for _ in range(trials):
        trial = study.ask()
        trial.suggest_float("optimizer.lr", 1e-4, 0.3, log=True)
        trial.set_user_attr("config", {"note": "x" * 200})
        study.tell(trial, 0.5)
    storage.engine.dispose()


def snapshot(directory: Path) -> dict[str, tuple[str, int]]:
    """Every file below ``directory``: (sha256 of its bytes, mtime in ns)."""
    return {
        str(p.relative_to(directory)): (hashlib.sha256(p.read_bytes()).hexdigest(), p.stat().st_mtime_ns)
        for p in sorted(directory.rglob("*"))
        if p.is_file()
    }


def refused(result: CliResult | subprocess.CompletedProcess, workdir: Path, words: str, before: dict) -> str | None:
    """None if hpo exited 2 with one error naming the problem, no traceback, no Ray started
    and no file changed; else what went wrong."""
    if isinstance(result, subprocess.CompletedProcess):
        result = CliResult(result.returncode, result.stdout, result.stderr)
    after = snapshot(workdir)
    if result.code != 2 or not result.err.startswith("error: storage ") or words not in result.err:
        return f"exit {result.code}: {result.out}{result.err}"
    if "Traceback" in result.out + result.err:
        return f"a traceback: {result.err}"
    if after != before:
        return f"files changed: {sorted(dict(set(after.items()) ^ set(before.items())))}"
    if (workdir / "studies" / "quickstart").exists():  # Ray's log directory
        return "Ray was started"
    return None


def garbage(path: Path) -> None:
    path.write_bytes(random.Random(0).randbytes(64 * 1024))


def text(path: Path) -> None:
    path.write_text("study notes, not a database\n" * 200)


def truncated(path: Path) -> None:
    make_study_database(path)
    path.write_bytes(path.read_bytes()[: path.stat().st_size // 2])


def damaged_page(path: Path) -> None:
    make_study_database(path)
    data = bytearray(path.read_bytes())
    data[4096:8192] = random.Random(1).randbytes(4096)
    path.write_bytes(bytes(data))


CORRUPT = {"garbage bytes": garbage, "a text file": text, "truncated to half": truncated, "a damaged page": damaged_page}


def corrupt(damage):
    """`hpo run` and `hpo status` (in this process: no Ray may start) on a damaged database."""

    def case(workdir: Path, hpo_here) -> list[str | None]:
        spec_file = write_spec(workdir, shortened_quickstart(trials=2, epochs=2))
        (workdir / "studies").mkdir()
        damage(workdir / "studies" / "quickstart.db")
        before = snapshot(workdir)
        return [
            refused(hpo_here("run", str(spec_file)), workdir, "quickstart.db", before),
            refused(hpo_here("status", "quickstart"), workdir, "quickstart.db", before),
        ]

    return case


def missing_directory(workdir: Path, hpo_here) -> list[str | None]:
    spec_file = write_spec(workdir, shortened_quickstart(trials=2, epochs=2, storage=f"sqlite:///{workdir}/no/such/dir/q.db"))
    before = snapshot(workdir)
    problem = refused(hpo_here("run", str(spec_file)), workdir, "does not exist", before)
    return [problem or ("the directory was created" if (workdir / "no").exists() else None)]


def read_only_file(workdir: Path, hpo_here) -> list[str | None]:
    """As user nobody (root writes a read-only file), in a directory nobody can enter."""
    if shutil.which("setpriv") is None:
        pytest.skip("no setpriv to run hpo as user nobody")
    workdir.chmod(0o755)
    spec_file = write_spec(workdir, shortened_quickstart(trials=2, epochs=2))
    database = workdir / "studies" / "quickstart.db"
    make_study_database(database)
    for path in (workdir, *workdir.rglob("*")):
        os.chown(path, NOBODY, NOBODY)
    database.chmod(0o444)
    before = snapshot(workdir)
    as_nobody = ["setpriv", f"--reuid={NOBODY}", f"--regid={NOBODY}", "--clear-groups"]
    result = subprocess.run(
        [*as_nobody, sys.executable, "-m", "hpo.cli", "run", str(spec_file)],
        cwd=workdir, env={**hpo_env(), "HOME": str(workdir)}, capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    return [refused(result, workdir, "read-only", before)]


def read_only_file_system(workdir: Path, hpo_here) -> list[str | None]:
    """studies/ bind-mounted read-only in a private mount namespace of the hpo process."""
    if shutil.which("unshare") is None or subprocess.run(["unshare", "--mount", "true"], capture_output=True).returncode:
        pytest.skip("no private mount namespace here (unshare --mount)")
    spec_file = write_spec(workdir, shortened_quickstart(trials=2, epochs=2))
    make_study_database(workdir / "studies" / "quickstart.db")
    before = snapshot(workdir)
    result = subprocess.run(
        ["unshare", "--mount", "--propagation", "private", sys.executable, "-c", READ_ONLY_LAUNCH,
         str(workdir / "studies"), "run", str(spec_file)],
        cwd=workdir, env=hpo_env(), capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    return [refused(result, workdir, "read-only", before)]


CASES = {
    **{f"corrupt database ({name}): run and status": corrupt(damage) for name, damage in CORRUPT.items()},
    "missing directory": missing_directory,
    "read-only database file (user nobody)": read_only_file,
    "read-only file system": read_only_file_system,
}


def test_unusable_storage_is_refused_before_any_trial(capsys, monkeypatch):
    problems: dict[str, str] = {}
    tried = 0
    for name, case in CASES.items():
        workdir = Path(tempfile.mkdtemp(prefix="hpo-storage-"))  # /tmp: user nobody can enter it
        monkeypatch.chdir(workdir)
        try:
            for problem in case(workdir, lambda *args: hpo_here(capsys, monkeypatch, *args)):
                tried += 1
                if problem:
                    problems[f"{name} #{tried}"] = problem
        finally:
            shutil.rmtree(workdir, ignore_errors=True)
    figure("storage faults", tried - len(problems), tried, "refused before any trial: exit 2, one error, no traceback, no file changed")
    assert not problems, problems

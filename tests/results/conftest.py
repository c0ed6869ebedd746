"""Shared fixtures of the results tests (export, retrain, report, dashboard).

Two kinds of study:

- ``make_study`` builds a study directly with Optuna's API in the shape hpo's searcher
  writes (spec in the study's user attrs; per trial: params sampled from the real space,
  the config, one intermediate value per epoch, history, worker attrs; COMPLETE, PRUNED,
  FAIL and RUNNING trials). Fast: for unit tests.
- ``real_study`` is one real ``hpo run`` of a tiny spec (digits, 5 trials of 3 epochs),
  started once per test session; ``live_run`` gives access to it while it is running
  (its last trials wait for ``release()``, so it is still running when a test looks).
  Tests that use them are marked slow.
"""

from __future__ import annotations

import os
import random
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import optuna
import pytest

from hpo.spec.sections import spec_from_text
from hpo.spec.space import sample
from hpo.study.keys import SEARCH_ATTR, SEARCH_HASH_ATTR, SPEC_SOURCE_ATTR, SPEC_TEXT_ATTR
from hpo.study.storage import open_storage
from tests.conftest import wait_for
from tests.e2e.held_trainer import HELD_TRAINER, Hold

REPO = Path(__file__).resolve().parents[2]
HPO = [sys.executable, "-m", "hpo.cli"]
STUDY = "tiny"
RUN_TIMEOUT_S = 600  # a loaded CI machine; the run itself takes about a minute

SPEC = f"""\
study: {{name: {STUDY}, metric: val_acc, mode: max, trials: 5, seed: 0}}
sampler: {{type: tpe, n_startup_trials: 3}}
scheduler: {{type: asha, grace_period: 1, reduction_factor: 2}}
resources: {{cpus_per_trial: 1, max_concurrent: 2}}
train:
  seed: 0
  data: {{name: digits, val_fraction: 0.2}}
  model: {{name: cnn, channels: [8, 16], kernel_sizes: [3, 3], batch_norm: true, dropout: 0.1, hidden: [32]}}
  optimizer: {{name: adam, lr: 3.0e-3}}
  schedule: {{name: cosine}}
  batch_size: 64
  epochs: 3
  device: cpu
space:
  optimizer.lr: {{float: [1.0e-3, 3.0e-2], log: true}}
  batch_size: {{choice: [32, 64]}}
  model.kernel_sizes: {{choice: {{k33: [3, 3], k53: [5, 3]}}}}
  optimizer.name:
    choice: [sgd, adam]
    when:
      sgd: {{optimizer.momentum: {{float: [0.5, 0.95]}}}}
"""


# One torch/OpenMP thread per process: on a busy 2-core machine two threads spinning
# against other processes made `hpo train` 18 times slower (Ray trials already get one).
ONE_THREAD = {"OMP_NUM_THREADS": "1"}


def hpo_env() -> dict[str, str]:
    """The environment of a test's ``hpo`` subprocess: this checkout first on the path."""
    return {**os.environ, **ONE_THREAD, "PYTHONPATH": str(REPO), "PYTHONUNBUFFERED": "1", "RAY_USAGE_STATS_ENABLED": "0"}


def run_hpo(args: list[str], cwd: Path, timeout: float = 300) -> subprocess.CompletedProcess:
    return subprocess.run([*HPO, *args], cwd=cwd, env=hpo_env(), capture_output=True, text=True, timeout=timeout)


@dataclass
class CliResult:
    code: int
    out: str
    err: str


def cli(capsys: pytest.CaptureFixture, monkeypatch: pytest.MonkeyPatch, *args: str) -> CliResult:
    """Run ``hpo ARGS`` in this process through ``hpo.cli.main`` (errors -> exit 2)."""
    from hpo import cli as hpo_cli

    monkeypatch.setattr(sys, "argv", ["hpo", *args])
    capsys.readouterr()
    try:
        hpo_cli.main()
        code = 0
    except SystemExit as exc:
        code = exc.code if isinstance(exc.code, int) else 1
    captured = capsys.readouterr()
    return CliResult(code, captured.out, captured.err)


# ----------------------------------------------------------------------------- studies built with Optuna's API


def make_study(
    storage: str | optuna.storages.BaseStorage,
    name: str = "fake",
    *,
    complete: int = 8,
    pruned: int = 4,
    failed: int = 1,
    running: int = 1,
    seed: int = 0,
) -> optuna.Study:
    """A study shaped like the ones ``hpo run`` writes (see module doc), values made up."""
    spec = spec_from_text(SPEC.replace(f"name: {STUDY}", f"name: {name}"), f"{name}.yaml")
    study = optuna.create_study(study_name=name, storage=storage, direction="maximize", sampler=optuna.samplers.RandomSampler(seed))
    study.set_user_attr(SEARCH_HASH_ATTR, spec.search_hash())
    study.set_user_attr(SEARCH_ATTR, spec.search_definition())
    study.set_user_attr(SPEC_TEXT_ATTR, spec.text)
    study.set_user_attr(SPEC_SOURCE_ATTR, spec.source)
    rng = random.Random(seed)
    states = ["COMPLETE"] * complete + ["PRUNED"] * pruned + ["FAIL"] * failed + ["RUNNING"] * running
    rng.shuffle(states)
    for number, state in enumerate(states):
        trial = study.ask()
        config = sample(trial, spec.space, spec.train)
        trial.set_user_attr("config", config)
        worker = {"ray_trial_id": f"t{number:04d}", "node_id": "ab" * 28, "node_ip": "127.0.0.1", "hostname": "host"}
        trial.set_user_attr("worker", {**worker, "pid": 1000 + number % 2})
        epochs = {"COMPLETE": 3, "PRUNED": 1, "FAIL": 1, "RUNNING": 2}[state]
        quality = 0.5 + 0.4 * rng.random() + (0.05 if config["optimizer"]["name"] == "adam" else 0.0)
        history = []
        for epoch in range(1, epochs + 1):
            value = quality * (1 - 0.3 / epoch)
            trial.report(value, step=epoch)
            history.append({"epoch": epoch, "train_loss": 1 / epoch, "val_loss": 1 / epoch, "val_acc": value, "lr": 1e-3, "seconds": 0.1})
        if state == "RUNNING":
            continue
        trial.set_user_attr("epochs", epochs)
        trial.set_user_attr("seconds", 0.1 * epochs)
        trial.set_user_attr("history", history)
        if state == "FAIL":
            trial.set_user_attr("error_type", "NonFiniteLossError")
            trial.set_user_attr("error", "training loss is nan at epoch 1")
        state_enum = optuna.trial.TrialState[state]
        study.tell(trial, history[-1]["val_acc"] if state == "COMPLETE" else None, state=state_enum)
    return study


@pytest.fixture(scope="session")
def fake_study_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """``make_study`` written once to a SQLite file (each write is a transaction: slow)."""
    path = tmp_path_factory.mktemp("fake_study") / "fake.db"
    make_study(f"sqlite:///{path}")
    return path


def copied_study(study_file: Path, name: str, workdir: Path, monkeypatch: pytest.MonkeyPatch) -> optuna.Study:
    """A fresh copy of the study ``name`` of ``study_file`` in ``workdir/studies/<name>.db``,
    with the working directory there: each test writes to its own copy."""
    monkeypatch.chdir(workdir)
    (workdir / "studies").mkdir()
    shutil.copy(study_file, workdir / "studies" / f"{name}.db")
    return optuna.load_study(study_name=name, storage=f"sqlite:///studies/{name}.db")


@pytest.fixture
def fake_study(fake_study_file: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> optuna.Study:
    """A fresh copy of the fake study in ``studies/fake.db``, with the working directory there."""
    return copied_study(fake_study_file, "fake", tmp_path, monkeypatch)


@pytest.fixture
def hard_pruned_study() -> optuna.Study:
    """A study ASHA pruned hard, in memory: 1 complete trial, 11 pruned after the first epoch."""
    return make_study(optuna.storages.InMemoryStorage(), "hard", complete=1, pruned=11, failed=1, running=1)


# ----------------------------------------------------------------------------- one real run per session


# The trials from the third on wait before training until a test releases the run (or
# finishes it): a test sees the first trials finished while the run is still open, however
# fast the machine runs them.
HOLD_FROM = 2


@dataclass
class LiveRun:
    """``hpo run`` of SPEC in ``workdir``, started once, held open until ``release()``."""

    workdir: Path
    process: subprocess.Popen
    log: Path
    hold: Hold

    @property
    def storage(self) -> str:
        return f"sqlite:///{self.workdir / 'studies' / STUDY}.db"

    def running(self) -> bool:
        return self.process.poll() is None

    def ended(self) -> str | None:
        """None while the run runs, then how it ended (for ``wait_for(ended=...)``)."""
        if self.running():
            return None
        return f"hpo run exited with code {self.process.returncode}; its output:\n{self.log.read_text()}"

    def wait_for_study(self, timeout: float = RUN_TIMEOUT_S) -> optuna.Study:
        """The study, as soon as the run has created it (opened as hpo opens it: the run
        may still be creating the database's tables)."""

        def study() -> optuna.Study | None:
            if not (self.workdir / "studies" / f"{STUDY}.db").exists():
                return None
            try:
                return optuna.load_study(study_name=STUDY, storage=open_storage(self.storage))
            except KeyError:
                return None

        return wait_for(study, "hpo run to create its study", ended=self.ended, timeout=timeout, interval=0.5)

    def release(self) -> None:
        """Let the held trials train; the run then ends on its own."""
        self.hold.release()

    def finish(self) -> optuna.Study:
        self.release()
        try:
            code = self.process.wait(timeout=RUN_TIMEOUT_S)
        except subprocess.TimeoutExpired:
            self.process.kill()
            pytest.fail(f"hpo run took over {RUN_TIMEOUT_S} s; its output:\n{self.log.read_text()}")
        assert code == 0, f"hpo run exited {code}:\n{self.log.read_text()}"
        return optuna.load_study(study_name=STUDY, storage=self.storage)


@pytest.fixture(scope="session")
def live_run(tmp_path_factory: pytest.TempPathFactory):
    workdir = tmp_path_factory.mktemp("real_study")
    (workdir / "tiny.yaml").write_text(SPEC)
    log = workdir / "run.log"
    hold = Hold(workdir / "hold", start_from=HOLD_FROM)
    with log.open("w") as out:
        process = subprocess.Popen(
            [*HPO, "run", "tiny.yaml", "--trainer", HELD_TRAINER],
            cwd=workdir, env={**hpo_env(), **hold.env()}, stdout=out, stderr=subprocess.STDOUT,
        )  # fmt: skip
    run = LiveRun(workdir, process, log, hold)
    yield run
    if run.running():
        process.terminate()
        process.wait(timeout=60)


@pytest.fixture(scope="session")
def real_study(live_run: LiveRun) -> LiveRun:
    """The real run, finished."""
    live_run.finish()
    return live_run


@dataclass
class Retrained:
    """The real study's best trial exported to best.yaml and retrained over three seeds."""

    run: LiveRun
    export: subprocess.CompletedProcess
    train: subprocess.CompletedProcess

    @property
    def config(self) -> Path:
        return self.run.workdir / "best.yaml"

    @property
    def output(self) -> Path:
        return self.run.workdir / "studies" / STUDY / "retrain" / "best-final"


@pytest.fixture(scope="session")
def retrained(real_study: LiveRun) -> Retrained:
    export = run_hpo(["export", STUDY, "-o", "best.yaml"], real_study.workdir)
    assert export.returncode == 0, export.stderr
    train = run_hpo(["train", "best.yaml", "--seeds", "0", "1", "2", "--final"], real_study.workdir)
    assert train.returncode == 0, train.stdout + train.stderr
    return Retrained(real_study, export, train)

"""A study of two objectives with a constraint through the real CLI, Ray, Optuna and the
built-in trainer on digits: ``hpo run``, then ``hpo status``, ``hpo report``, ``hpo export``
(these three in this process: they start no Ray, and a new Python costs seconds)."""

from __future__ import annotations

import pytest
from optuna.trial import TrialState

from hpo.results.header import read_header
from tests.e2e.conftest import hpo, load_study, write_spec
from tests.results.conftest import cli

pytestmark = pytest.mark.slow

SPEC = {
    "study": {"name": "pareto", "metric": ["val_acc", "params"], "mode": ["max", "min"], "trials": 3, "seed": 0},
    "sampler": {"type": "tpe", "n_startup_trials": 2},
    "scheduler": {"type": "none"},
    "resources": {"cpus_per_trial": 1, "max_concurrent": 2},
    "constraints": ["params <= 8000"],
    "train": {
        "seed": 0,
        "data": {"name": "digits", "val_fraction": 0.2},
        "model": {"name": "cnn", "channels": [4, 8], "kernel_sizes": [3, 3], "hidden": [64]},
        "optimizer": {"name": "adam", "lr": 3.0e-3},
        "batch_size": 64,
        "epochs": 2,
        "device": "cpu",
    },
    "space": {
        "optimizer.lr": {"float": [1.0e-3, 1.0e-2], "log": True},
        "model.channels": {"choice": {"c4_8": [4, 8], "c16_32": [16, 32]}},
    },
    "enqueue": [{"model.channels": "c16_32"}],  # trial 1: 13,882 parameters, so infeasible (c4_8: 3,238)
}


def test_two_objectives_with_a_constraint_run_end_to_end(workdir, capsys, monkeypatch):
    spec_file = write_spec(workdir, SPEC)
    run = hpo("run", str(spec_file), cwd=workdir, timeout=600)
    assert run.returncode == 0, run.stdout + run.stderr
    assert "Pareto front:" in run.stdout

    study = load_study(workdir, "pareto")
    trials = study.trials
    assert [t.state for t in trials] == [TrialState.COMPLETE] * 3
    for trial in trials:
        last = trial.user_attrs["history"][-1]
        assert trial.values == [max(h["val_acc"] for h in trial.user_attrs["history"]), last["params"]]
        assert trial.constraints == {"params <= 8000": last["params"] - 8000}
    assert trials[1].user_attrs["config"]["model"]["channels"] == [16, 32] and trials[1].constraints["params <= 8000"] > 0
    front = {t.number for t in study.best_trials}
    assert front and 1 not in front

    status = cli(capsys, monkeypatch, "status", "pareto")
    assert status.code == 0, status.err
    assert f"Pareto front: {len(front)} trials (val_acc max, params min)" in status.out
    assert "trial 1 infeasible: breaks params <= 8000" in status.out

    report = cli(capsys, monkeypatch, "report", "pareto", "-o", "report.html")
    assert report.code == 0, report.err
    assert "<h2>Pareto front</h2>" in (workdir / "report.html").read_text()

    export = cli(capsys, monkeypatch, "export", "pareto", "-o", "front/best.yaml")
    assert export.code == 0, export.err
    written = sorted((workdir / "front").glob("*.yaml"))
    assert len(written) == len(front)
    exported = {int(read_header(path)["trial"].split()[0]) for path in written}
    assert exported == front

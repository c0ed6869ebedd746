"""A trainer of one's own, end to end: ``hpo run examples/sklearn_digits.yaml`` (real Ray,
real scikit-learn), then ``hpo export`` and ``hpo train`` of the best trial with the
trainer the study ran. The example's trainer declares its schema and metrics with
hpo.contract, so its spec names neither metric nor mode."""

from __future__ import annotations

import json

import pytest
from optuna.trial import TrialState

from tests.e2e.conftest import REPO, hpo, load_study

pytestmark = pytest.mark.slow

EXAMPLE = REPO / "examples" / "sklearn_digits.yaml"
TRAINER = "examples.sklearn_trainer:train"


def test_the_example_trainer_searches_exports_and_retrains(workdir):
    run = hpo("run", str(EXAMPLE), cwd=workdir, timeout=300)
    assert run.returncode == 0, run.stdout + run.stderr
    assert "best val_acc:" in run.stdout
    study = load_study(workdir, "sklearn_digits")
    assert study.user_attrs["trainer"] == TRAINER
    assert study.user_attrs["search_definition"]["trainer"] == TRAINER
    complete = [t for t in study.trials if t.state == TrialState.COMPLETE]
    assert complete and all(0.5 < t.value <= 1.0 for t in complete)
    assert len([t for t in study.trials if t.state in (TrialState.COMPLETE, TrialState.PRUNED)]) == 8
    for trial in complete:
        assert set(trial.user_attrs["config"]) >= {"alpha", "loss", "learning_rate", "epochs"}
        assert len(trial.intermediate_values) == 5  # one val_acc per epoch, all of them

    export = hpo("export", "sklearn_digits", "-o", "best.yaml", cwd=workdir)
    assert export.returncode == 0, export.stderr
    assert "retrain: hpo train best.yaml --seeds 0 1 2\n" in export.stdout  # no --final: a plain trainer
    assert f"# trainer: {TRAINER}\n" in (workdir / "best.yaml").read_text()
    train = hpo("train", "best.yaml", "--seeds", "0", "1", cwd=workdir)
    assert train.returncode == 0, train.stdout + train.stderr
    summary = json.loads((workdir / "studies" / "sklearn_digits" / "retrain" / "best" / "summary.json").read_text())
    assert summary["metric"] == "val_acc" and summary["seeds"] == [0, 1] and 0.5 < summary["mean"] <= 1.0
    assert f"{summary['mean']:.4f} ± {summary['std']:.4f}" in train.stdout

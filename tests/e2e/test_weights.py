"""The best trial's weights, end to end: kept by `hpo run`, written by `hpo export --weights`,
scored by `hpo evaluate` without training, and listed (and served) by optuna-dashboard."""

from __future__ import annotations

import urllib.request

import pytest
from optuna.trial import TrialState

from hpo.results.retrain import load_train_config
from tests.e2e.conftest import dashboard, hpo, load_study, shortened_quickstart, write_spec
from trainers.loop import evaluate_weights

pytestmark = pytest.mark.slow


def test_the_best_weights_are_kept_exported_scored_and_shown_by_the_dashboard(workdir):
    spec = shortened_quickstart(trials=2, epochs=2, name="weights")
    spec["scheduler"] = {"type": "none"}  # every trial COMPLETE: each ranks for the one place
    spec["checkpoint"] = {"keep": 1}
    run = hpo("run", str(write_spec(workdir, spec)), cwd=workdir)
    assert run.returncode == 0, run.stdout + run.stderr
    study = load_study(workdir, "weights")
    assert [t.state for t in study.trials] == [TrialState.COMPLETE] * 2
    best = study.best_trial
    assert len(list((workdir / "studies" / "weights" / "artifacts").iterdir())) == 1  # keep: 1, whichever order they ended in
    assert not list((workdir / "studies" / "weights" / "ray").rglob("checkpoint_*"))  # the checkpoints went

    export = hpo("export", "weights", "--weights", "-o", "best.yaml", cwd=workdir)
    assert export.returncode == 0, export.stdout + export.stderr
    assert f"trial {best.number} " in export.stdout and (workdir / "best.model.pt").is_file()

    scored = hpo("evaluate", "best.yaml", "--weights", "best.model.pt", cwd=workdir)
    assert scored.returncode == 0, scored.stdout + scored.stderr
    assert "test_acc of best.model.pt: " in scored.stdout and "confusion" in scored.stdout.lower()
    # the very weights of the trial's last epoch: on its validation split they score what it reported there
    # (the hook `hpo evaluate --split val` calls, here in this process: one process fewer to start)
    val = evaluate_weights(load_train_config(workdir / "best.yaml"), str(workdir / "best.model.pt"), "val")
    assert val["val_acc"] == pytest.approx(best.user_attrs["history"][-1]["val_acc"], abs=1e-6)

    with dashboard(workdir, "weights", "--port", "0") as server:
        served = next(t for t in server.study()["trials"] if t["number"] == best.number)
        [artifact] = served["artifacts"]
        assert artifact["filename"] == "model.pt"
        route = f"{server.base}/artifacts/{server.study_id}/{served['trial_id']}/{artifact['artifact_id']}"
        with urllib.request.urlopen(route, timeout=60) as response:
            assert response.read() == (workdir / "best.model.pt").read_bytes()

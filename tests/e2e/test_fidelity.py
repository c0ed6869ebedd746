"""``scheduler: {fidelity: data_fraction}`` through the real CLI, Ray, Optuna and trainer:
promotion ASHA on the quickstart space, three epochs, η=2 (rungs at epochs 1 and 2): epoch
1 trains on a quarter of the training split, epoch 2 on half, epoch 3 on all of it. Four
configs, two at a time: the trials paused at a rung and promoted go on from their
checkpoints onto more of the data. ``hpo report`` runs in this process (no Ray)."""

from __future__ import annotations

import pytest
from optuna.trial import TrialState

from hpo.study.keys import SEARCH_ATTR
from tests.e2e.conftest import hpo, load_study, shortened_quickstart, write_spec
from tests.e2e.test_promotion import CONFIGS
from tests.results.conftest import cli

pytestmark = pytest.mark.slow

SHARES = [1 / 4, 1 / 2, 1.0]


def test_early_rungs_train_on_a_share_of_the_data_and_promoted_trials_on_more(workdir, capsys, monkeypatch):
    spec = shortened_quickstart(trials=4, epochs=3, baseline=False)
    spec["scheduler"] = {"type": "asha", "grace_period": 1, "reduction_factor": 2, "promotion": True, "fidelity": "data_fraction"}
    spec["resources"] = {"cpus_per_trial": 0.5, "max_concurrent": 2}
    spec["enqueue"] = CONFIGS
    run = hpo("run", str(write_spec(workdir, spec)), cwd=workdir, timeout=600)
    assert run.returncode == 0, run.stdout + run.stderr

    study = load_study(workdir, "quickstart")
    assert study.user_attrs[SEARCH_ATTR]["data_fraction"] == pytest.approx(SHARES)
    trials = study.trials
    assert [t.state for t in trials].count(TrialState.COMPLETE) >= 1
    assert {t.state for t in trials} <= {TrialState.COMPLETE, TrialState.PRUNED}
    for trial in trials:  # each epoch's share, as the trainer reported it: whole curves, every epoch once
        history = trial.user_attrs["history"]
        assert [h["epoch"] for h in history] == sorted(trial.intermediate_values) == list(range(1, len(history) + 1))
        assert [h["data_fraction"] for h in history] == pytest.approx(SHARES[: len(history)], abs=1e-3), trial.number
    promoted = [t for t in trials if t.state == TrialState.COMPLETE]
    assert all(len(t.user_attrs["history"]) == 3 for t in promoted)

    report = cli(capsys, monkeypatch, "report", "quickstart", "-o", "report.html")
    assert report.code == 0, report.err
    assert "data seen (epochs of the whole training split" in (workdir / "report.html").read_text()

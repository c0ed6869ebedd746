"""The schedulers beside ASHA through the real CLI, Ray, Optuna and trainer.

Four trials of the quickstart space, two epochs: the baseline and a good config first,
then a good config that trains fast (batch 128) and one that learns nothing and trains
slowly (SGD at 1e-4, batch 32). The median rule, judging a trial only once three others
have reached its epoch, runs the first three in full; a second run that continues the
study judges the last one by their stored curves and stops it at its first epoch (a rule
that started empty would have no other trial to judge it by). HyperBand (η=2), the four
at once, puts the first two trials in a bracket that runs them in full and the last two in
one that halves at epoch 1: the fast one reaches it first and is paused, then resumed from
its checkpoint once the slow one is there and stopped.
"""

from __future__ import annotations

import pytest
from optuna.trial import TrialState

from tests.e2e.conftest import hpo, load_study, shortened_quickstart, write_spec

pytestmark = pytest.mark.slow

EPOCHS = 2
GOOD_AND_FAST = {"optimizer.name": "adam", "optimizer.lr": 0.003, "batch_size": 128}
NOTHING_AND_SLOW = {"optimizer.name": "sgd", "optimizer.lr": 1.0e-4, "optimizer.momentum": 0.0, "batch_size": 32}


@pytest.mark.parametrize(
    "scheduler",
    [{"type": "median", "grace_period": 1, "min_samples_required": 3}, {"type": "hyperband", "reduction_factor": 2}],
    ids=["median", "hyperband"],
)
def test_a_scheduler_prunes_the_trial_that_learns_nothing_and_records_whole_curves(workdir, scheduler):
    spec = shortened_quickstart(trials=4, epochs=EPOCHS)
    spec["scheduler"] = scheduler
    spec["resources"] = {"cpus_per_trial": 0.5, "max_concurrent": 4}
    spec["enqueue"] = [{"optimizer.name": "adam", "optimizer.lr": 0.002, "batch_size": 64}, GOOD_AND_FAST, NOTHING_AND_SLOW]
    resumed = scheduler["type"] == "median"
    spec["study"]["trials"] = 3 if resumed else 4
    spec_file = write_spec(workdir, spec)
    run = hpo("run", str(spec_file), cwd=workdir)
    assert run.returncode == 0, run.stdout + run.stderr
    if resumed:
        assert [t.state for t in load_study(workdir, "quickstart").trials] == [TrialState.COMPLETE] * 3 + [TrialState.WAITING]
        spec["study"]["trials"] = 4  # the same study, one trial more: the slow one, queued
        write_spec(workdir, spec)
        run = hpo("run", str(spec_file), cwd=workdir)
        assert run.returncode == 0, run.stdout + run.stderr
    assert "Traceback" not in run.stdout + run.stderr

    trials = load_study(workdir, "quickstart").trials
    assert [t.state for t in trials] == [TrialState.COMPLETE] * 3 + [TrialState.PRUNED]
    for trial in trials:  # one record per config, its curve whole: every epoch once, from 1
        epochs = EPOCHS if trial.state == TrialState.COMPLETE else 1
        assert sorted(trial.intermediate_values) == list(range(1, epochs + 1)), trial.number
        assert [h["epoch"] for h in trial.user_attrs["history"]] == list(range(1, epochs + 1)), trial.number
        assert trial.user_attrs["epochs"] == epochs
    assert trials[3].params["batch_size"] == 32 and trials[2].params["batch_size"] == 128
    starts = [(workdir / "studies" / "quickstart" / "trials" / str(t.number) / "log.txt").read_text().count("==> trial") for t in trials]
    # paused at epoch 1 and resumed from its checkpoint: two starts, and epoch 2 after the first
    assert starts == ([1, 1, 2, 1] if scheduler["type"] == "hyperband" else [1, 1, 1, 1])
    assert not list((workdir / "studies" / "quickstart" / "ray").rglob("checkpoint_*")), "a finished study keeps no checkpoint"

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

Each scheduler also resumes after ``kill -9``: four trials of the quickstart space at once,
slowed to a second an epoch, the driver killed once a trial has its first checkpoint; the
same ``hpo run`` then finishes the study, continuing the interrupted trials from their
checkpoints.
"""

from __future__ import annotations

import json
import signal

import pytest
from optuna.trial import TrialState

from tests.conftest import exited, read_sqlite, wait_for
from tests.e2e.conftest import hpo, load_study, shortened_quickstart, write_spec
from tests.e2e.test_resume import check_final_study, kill_tree, start

from .counted_trainer import COUNTED_TRAINER

pytestmark = pytest.mark.slow

EPOCHS = 2
GOOD_AND_FAST = {"optimizer.name": "adam", "optimizer.lr": 0.003, "batch_size": 128}
NOTHING_AND_SLOW = {"optimizer.name": "sgd", "optimizer.lr": 1.0e-4, "optimizer.momentum": 0.0, "batch_size": 32}

SCHEDULERS = pytest.mark.parametrize(
    "scheduler",
    [{"type": "median", "grace_period": 1, "min_samples_required": 3}, {"type": "hyperband", "reduction_factor": 2}],
    ids=["median", "hyperband"],
)


@SCHEDULERS
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


def checkpointed_epochs(workdir) -> list[int]:
    """The epochs of the checkpoints the study records for its trials."""
    rows = read_sqlite(workdir / "studies" / "quickstart.db", "SELECT value_json FROM trial_user_attributes WHERE key = 'checkpoint'")
    return [json.loads(value)["epoch"] for (value,) in rows]


@SCHEDULERS
def test_a_scheduler_resumes_after_kill_9_from_the_checkpoints(workdir, monkeypatch, scheduler):
    epochs_file = workdir / "epochs.txt"
    monkeypatch.setenv("HPO_TEST_EPOCHS", str(epochs_file))  # both runs count the epochs they train there
    spec = shortened_quickstart(trials=4, epochs=EPOCHS)
    spec.update(trainer=COUNTED_TRAINER, scheduler=scheduler, resources={"cpus_per_trial": 1, "max_concurrent": 2})
    spec_file = write_spec(workdir, spec)
    process = start(spec_file, workdir, env={"HPO_TEST_EPOCH_S": "1"})
    try:
        wait_for(lambda: checkpointed_epochs(workdir), "a trial's first checkpoint", ended=exited(process, "hpo run"))
    finally:
        kill_tree(process, signal.SIGKILL)  # the driver, and the Ray processes it started

    final = hpo("run", str(spec_file), cwd=workdir)
    assert final.returncode == 0, final.stdout + final.stderr
    assert "Traceback" not in final.stdout + final.stderr
    assert "from their last checkpoint" in final.stdout, final.stdout
    trials = check_final_study(workdir, 4)  # 4 finished, none RUNNING or WAITING, the others failed as interrupted
    finished = [t for t in trials if t.state in (TrialState.COMPLETE, TrialState.PRUNED)]
    for trial in finished:  # one record per config, its curve whole: every epoch once, from 1
        epochs = trial.user_attrs["epochs"]
        assert epochs == EPOCHS or trial.state == TrialState.PRUNED, trial.number
        assert sorted(trial.intermediate_values) == list(range(1, epochs + 1)), trial.number
        assert [h["epoch"] for h in trial.user_attrs["history"]] == list(range(1, epochs + 1)), trial.number
    interrupted = {t.number: t for t in trials if t.state == TrialState.FAIL}
    resumed = [t for t in finished if t.user_attrs.get("resumed_from", {}).get("epoch")]
    assert resumed, "no trial continued from a checkpoint"
    for trial in resumed:  # its curve starts with the interrupted trial's epochs, up to the checkpoint
        origin = trial.user_attrs["resumed_from"]
        before = interrupted[origin["trial"]]
        assert trial.params == before.params
        kept = {e: v for e, v in before.intermediate_values.items() if e <= origin["epoch"]}
        assert {e: v for e, v in trial.intermediate_values.items() if e <= origin["epoch"]} == kept
    # each epoch of a finished curve trained once, plus at most the one an interrupted trial trained after its checkpoint
    trained = len(epochs_file.read_text().split())
    assert trained <= sum(t.user_attrs["epochs"] for t in finished) + len(interrupted), epochs_file.read_text()
    assert not list((workdir / "studies" / "quickstart" / "ray").rglob("checkpoint_*")), "a finished study keeps no checkpoint"

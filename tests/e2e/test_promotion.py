"""Promotion-type ASHA through the real CLI, Ray, Optuna and trainer, and after ``kill -9``.

Four enqueued configs of the quickstart space, two epochs (one rung, at epoch 1, η=2), one
trial at a time, so the order of arrival is fixed: a good config, then one that learns
slowly (0.4 after an epoch), then two that learn nothing. The slow one is paused at the
rung behind the good one; with four trials there it ranks in the top two and is resumed
from its checkpoint; the two that learnt nothing are still paused when nothing can be
promoted and no place is left, and end PRUNED. One slot with a paused trial in it is what
Ray's own concurrency limit would wait on for ever.

Killed with the slow one paused and the third held before it trains
(tests/e2e/held_trainer.py), the next run knows the slow one's queued copy as paused at
the rung: it runs the other two first and promotes it only once four trials are there.
"""

from __future__ import annotations

import signal

import pytest
from optuna.trial import TrialState

from tests.conftest import exited, wait_for
from tests.e2e.conftest import hpo, load_study, shortened_quickstart, write_spec
from tests.e2e.test_resume import kill_tree, start

from .held_trainer import HELD_RESUMABLE_TRAINER, Hold

pytestmark = pytest.mark.slow

COMMON = {"model.dropout": 0.0, "model.kernel_sizes": "k33"}
CONFIGS = [
    {"optimizer.name": "adam", "optimizer.lr": 0.003, "batch_size": 64, **COMMON},  # 0.9 after an epoch
    {"optimizer.name": "adam", "optimizer.lr": 0.001, "batch_size": 128, **COMMON},  # 0.4
    {"optimizer.name": "sgd", "optimizer.lr": 1.0e-4, "optimizer.momentum": 0.0, "batch_size": 32, **COMMON},  # 0.1
    {"optimizer.name": "sgd", "optimizer.lr": 1.0e-4, "optimizer.momentum": 0.0, "batch_size": 128, **COMMON},  # 0.1
]


def promotion_spec(workdir):
    spec = shortened_quickstart(trials=4, epochs=2, baseline=False)
    spec["trainer"] = HELD_RESUMABLE_TRAINER  # the real trainer, held only when a test holds it
    spec["scheduler"] = {"type": "asha", "grace_period": 1, "reduction_factor": 2, "promotion": True}
    spec["resources"] = {"cpus_per_trial": 0.5, "max_concurrent": 1}
    spec["enqueue"] = CONFIGS
    return write_spec(workdir, spec)


def starts(workdir, number: int) -> int:
    """How often trial ``number``'s trainer started (a resume from a checkpoint is a start)."""
    return (workdir / "studies" / "quickstart" / "trials" / str(number) / "log.txt").read_text().count("==> trial")


def check_curves(trials, pruned: list[int]) -> None:
    """Each finished trial's curve whole, every epoch once from 1: PRUNED ones at the rung."""
    for trial in trials:
        if trial.state in (TrialState.COMPLETE, TrialState.PRUNED):
            epochs = 1 if trial.number in pruned else 2
            assert sorted(trial.intermediate_values) == list(range(1, epochs + 1)), trial.number
            assert [h["epoch"] for h in trial.user_attrs["history"]] == list(range(1, epochs + 1)), trial.number
            assert trial.user_attrs.get("paused_at") is None, trial.number  # an ended trial waits at no rung


def test_a_paused_trial_is_promoted_from_its_checkpoint_and_the_last_paused_end_pruned(workdir):
    run = hpo("run", str(promotion_spec(workdir)), cwd=workdir)
    assert run.returncode == 0, run.stdout + run.stderr
    assert "Traceback" not in run.stdout + run.stderr
    trials = load_study(workdir, "quickstart").trials
    assert [t.state for t in trials] == [TrialState.COMPLETE, TrialState.COMPLETE, TrialState.PRUNED, TrialState.PRUNED]
    assert [t.params["optimizer.lr"] for t in trials] == [c["optimizer.lr"] for c in CONFIGS]
    check_curves(trials, pruned=[2, 3])
    assert [starts(workdir, t.number) for t in trials] == [1, 2, 1, 1]  # trial 1 paused, then resumed from its checkpoint
    assert trials[1].datetime_complete > trials[3].datetime_start  # promoted once the fourth trial reached the rung
    assert not list((workdir / "studies" / "quickstart" / "ray").rglob("checkpoint_*")), "a finished study keeps no checkpoint"


def test_kill_9_with_a_trial_paused_then_the_next_run_promotes_it_when_the_rule_says(workdir):
    spec_file = promotion_spec(workdir)
    hold = Hold(workdir / "hold", start_from=2)  # trial 2 waits before training: trial 1 is paused by then
    process = start(spec_file, workdir, env=hold.env())
    try:
        wait_for(
            lambda: hold.held() and load_study(workdir, "quickstart").trials[1].user_attrs.get("paused_at") == 1,
            "trial 1 paused at its rung and trial 2 held",
            ended=exited(process, "hpo run"),
        )
    finally:
        kill_tree(process, signal.SIGKILL)  # the driver, and the Ray processes it started
    paused = load_study(workdir, "quickstart").trials[1]
    assert paused.state == TrialState.RUNNING and paused.user_attrs["checkpoint"]["epoch"] == 1

    final = hpo("run", str(spec_file), cwd=workdir)
    assert final.returncode == 0, final.stdout + final.stderr
    trials = load_study(workdir, "quickstart").trials
    states = [t.state for t in trials]
    assert states == [TrialState.COMPLETE, TrialState.FAIL, TrialState.FAIL, TrialState.PRUNED, TrialState.COMPLETE, TrialState.PRUNED]
    assert [t.user_attrs.get("error") for t in trials[1:3]] == ["interrupted", "interrupted"]
    resumed = trials[4]  # trial 1, queued again paused at the rung
    assert resumed.params == trials[1].params and resumed.user_attrs["resumed_from"]["trial"] == 1
    assert resumed.intermediate_values[1] == trials[1].intermediate_values[1]  # one curve: trial 1's epoch, then its own
    assert trials[5].params == trials[2].params
    assert resumed.datetime_start > trials[5].datetime_start > trials[3].datetime_start  # held until four had reached the rung
    check_curves(trials, pruned=[3, 5])
    assert starts(workdir, 4) == 1  # from trial 1's checkpoint: epoch 2 only
    assert not list((workdir / "studies" / "quickstart" / "ray").rglob("checkpoint_*")), "a finished study keeps no checkpoint"

"""Trials resume where they stopped: after ``kill -9`` of the driver, and after the time budget.

One 10-epoch trial of a deterministic trainer that hands hpo its state
(tests/e2e/resumable_trainer.py), one trial at a time. Each test compares the resumed
trial with the same trainer run uninterrupted, here, in this process: its curve and its
value must be the very same, and the epochs trained across the runs (the trainer counts
them in a file) at most one more than the trial's 10.
"""

from __future__ import annotations

import json
import signal

import pytest
from optuna.trial import TrialState

from tests.conftest import exited, read_sqlite, wait_for
from tests.e2e.conftest import hpo, load_study, write_spec
from tests.e2e.test_resume import kill_tree, start

from .resumable_trainer import train

pytestmark = pytest.mark.slow

EPOCHS = 10
TRAIN = {"seed": 0, "lr": 0.05, "epochs": EPOCHS}


def spec(epoch_s: float, **study: object) -> dict:
    return {
        "trainer": "tests.e2e.resumable_trainer:train",
        "study": {"name": "resumable", "metric": "score", "mode": "max", "trials": 1, **study},
        "scheduler": {"type": "none"},
        "resources": {"cpus_per_trial": 1, "max_concurrent": 1},
        "train": {**TRAIN, "epoch_s": epoch_s},
        "space": {"lr": {"float": [0.01, 0.2]}},
    }


def uninterrupted() -> dict[int, float]:
    """Epoch -> score of the trial's config trained in one go (the baseline trial: ``train:`` as it is)."""
    curve: dict[int, float] = {}  # it counts in HPO_TEST_EPOCHS too: a test counts the study's epochs before
    train(dict(TRAIN), lambda metrics, state=None: curve.__setitem__(metrics["epoch"], metrics["score"]))
    return curve


def checkpointed_epoch(workdir) -> int:
    """The epoch of trial 0's latest checkpoint as the study records it (0: none yet)."""
    rows = read_sqlite(
        workdir / "studies" / "resumable.db",
        "SELECT a.value_json FROM trial_user_attributes a JOIN trials t ON a.trial_id = t.trial_id "
        "WHERE t.number = 0 AND a.key = 'checkpoint'",
    )
    return json.loads(rows[0][0])["epoch"] if rows else 0


def trained(epochs_file) -> int:
    return len(epochs_file.read_text().split()) if epochs_file.exists() else 0


def check_resumed(workdir, resumed_at: int) -> None:
    """Trial 0 was interrupted with its checkpoint at ``resumed_at``; trial 1 continued it to the end."""
    interrupted, resumed = load_study(workdir, "resumable").trials
    assert interrupted.state == TrialState.FAIL and interrupted.user_attrs["error_type"] == "Interrupted"
    assert resumed.state == TrialState.COMPLETE
    assert resumed.params == interrupted.params
    assert resumed.user_attrs["resumed_from"]["trial"] == 0 and resumed.user_attrs["resumed_from"]["epoch"] == resumed_at
    expected = uninterrupted()
    assert resumed.intermediate_values == expected  # one unbroken curve, the same as in one go
    assert resumed.value == max(expected.values())
    assert [h["epoch"] for h in resumed.user_attrs["history"]] == list(range(1, EPOCHS + 1))
    assert not list((workdir / "studies" / "resumable" / "ray").rglob("checkpoint_*")), "a finished study keeps no checkpoint"


def test_kill_9_mid_trial_resumes_from_the_last_checkpoint(workdir, monkeypatch):
    epochs_file = workdir / "epochs.txt"
    monkeypatch.setenv("HPO_TEST_EPOCHS", str(epochs_file))
    # every epoch's checkpoint, whatever it costs: the bound below is that of checkpoints every epoch,
    # where the default leaves some out for epochs this short (checkpoint.max_overhead)
    spec_file = write_spec(workdir, {**spec(epoch_s=0.3), "checkpoint": {"max_overhead": 1}})
    process = start(spec_file, workdir)
    try:
        wait_for(lambda: checkpointed_epoch(workdir) >= 6, "trial 0's checkpoint of epoch 6", ended=exited(process, "hpo run"))
    finally:
        kill_tree(process, signal.SIGKILL)  # the driver, and the Ray processes it started
    killed_at = checkpointed_epoch(workdir)
    assert 6 <= killed_at < EPOCHS

    final = hpo("run", str(spec_file), cwd=workdir)
    assert final.returncode == 0, final.stdout + final.stderr
    assert "from their last checkpoint" in final.stdout
    assert trained(epochs_file) <= EPOCHS + 1, epochs_file.read_text()
    check_resumed(workdir, killed_at)


def test_the_time_budget_pauses_the_running_trial_and_the_next_run_resumes_it(workdir, monkeypatch):
    epochs_file = workdir / "epochs.txt"
    monkeypatch.setenv("HPO_TEST_EPOCHS", str(epochs_file))
    spec_file = write_spec(workdir, spec(epoch_s=1.0, time_budget=6))
    paused = hpo("run", str(spec_file), cwd=workdir)
    assert paused.returncode == 0, paused.stdout + paused.stderr
    assert "paused 1 running trials at the time budget" in paused.stdout, paused.stdout
    trial = load_study(workdir, "resumable").trials[0]
    assert trial.state == TrialState.FAIL and trial.user_attrs["error"] == "paused at the time budget"
    at = trial.user_attrs["checkpoint"]["epoch"]
    assert at == max(trial.intermediate_values) < EPOCHS  # stopped at the report it was checkpointed with
    assert trained(epochs_file) == at

    write_spec(workdir, spec(epoch_s=1.0))  # no budget: the same study (the budget is no part of the search)
    final = hpo("run", str(spec_file), cwd=workdir)
    assert final.returncode == 0, final.stdout + final.stderr
    assert trained(epochs_file) == EPOCHS  # a pause loses no epoch
    check_resumed(workdir, at)

"""Population Based Training through the real CLI, Ray, Optuna and trainer.

Four trials of the quickstart space at once, four epochs, compared every epoch: the
baseline, two good configs, and one that learns nothing (SGD at 1e-4, no momentum). At
each comparison the bottom quarter (one trial) goes on from the top trial's checkpoint
with a perturbed copy of its parameters, so a trial is exploited as soon as two have a
score to compare. The CNN is wider than the quickstart's so that an epoch outlasts the
trials' start-up: a trial that finished all its epochs before the others started would
have no one to be compared with.

One test, to keep to two runs (each a Ray start-up): the first is killed with ``kill -9``
once a trial has been exploited, the second resumes it. Every trial then ends COMPLETE with
one unbroken curve, or FAIL "interrupted"; each exploited trial's record says which trial
and epoch it was copied from and the parameters it ran from there, and the learning rate
its trainer reported after the copy is the perturbed one (also for the trial that resumed
an exploited one from its copied checkpoint, its record of exploits kept).
"""

from __future__ import annotations

import math
import signal

import pytest
from optuna.trial import FrozenTrial, TrialState

from tests.conftest import exited, wait_for
from tests.e2e.conftest import hpo, load_study, shortened_quickstart, write_spec
from tests.e2e.test_resume import check_final_study, kill_tree, start

pytestmark = pytest.mark.slow

EPOCHS = 4
TRIALS = 4
LEARNS_NOTHING = {"optimizer.name": "sgd", "optimizer.lr": 1.0e-4, "optimizer.momentum": 0.0, "batch_size": 64}


def pbt_spec(workdir):
    spec = shortened_quickstart(trials=TRIALS, epochs=EPOCHS)
    spec["train"]["model"]["channels"] = [64, 128]
    spec["scheduler"] = {"type": "pbt", "perturbation_interval": 1}
    spec["resources"] = {"cpus_per_trial": 0.5, "max_concurrent": TRIALS}
    spec["enqueue"] = [
        {"optimizer.name": "adam", "optimizer.lr": 0.002, "batch_size": 64},
        {"optimizer.name": "adam", "optimizer.lr": 0.003, "batch_size": 128},
        LEARNS_NOTHING,
    ]
    return write_spec(workdir, spec)


def param_at(trial: FrozenTrial, key: str, epoch: int) -> float:
    """The value of ``key`` ``trial`` trained ``epoch`` with: its own, or that of its last
    exploit before the epoch."""
    value = trial.params[key]
    for exploit in trial.user_attrs.get("perturbations", []):
        if exploit["from_epoch"] < epoch:
            value = exploit["params"][key]
    return value


def lineage(trials: list[FrozenTrial], number: int) -> FrozenTrial:
    """The trial that ran trial ``number``'s curve to its end: itself, or the one that resumed it."""
    later = next((t for t in trials if t.user_attrs.get("requeued_from") == number), None)
    return lineage(trials, later.number) if later is not None else next(t for t in trials if t.number == number)


def check_exploited(trials: list[FrozenTrial], exploited: FrozenTrial) -> int:
    """The exploited trial's record: where it was copied from, with which parameters, and
    its trainer's learning rate after the copy, the perturbed one. Returns at how many
    epochs the rate was compared with the trial it was copied from (or the one that resumed it)."""
    for exploit in exploited.user_attrs["perturbations"]:
        assert exploit["cloned_from"] != exploited.number and exploit["from_epoch"] >= 1
        assert 1.0e-4 <= exploit["params"]["optimizer.lr"] <= 0.3
    last = exploited.user_attrs["perturbations"][-1]
    source = lineage(trials, last["cloned_from"])
    after = [h for h in exploited.user_attrs["history"] if h["epoch"] > last["from_epoch"]]
    assert after, "the exploited trial trained after its copy"
    # the same cosine schedule over the same epochs and batches: the reported rates differ by the base rate alone
    source_lr = {h["epoch"]: h["lr"] for h in source.user_attrs["history"]}
    compared = [
        h
        for h in after
        if h["epoch"] in source_lr and param_at(exploited, "batch_size", h["epoch"]) == param_at(source, "batch_size", h["epoch"])
    ]
    for h in compared:
        ratio = param_at(exploited, "optimizer.lr", h["epoch"]) / param_at(source, "optimizer.lr", h["epoch"])
        assert math.isclose(h["lr"] / source_lr[h["epoch"]], ratio, rel_tol=1e-6), (h, source.number)
    return len(compared)


def exploited_trials(workdir) -> list[int]:
    if not (workdir / "studies" / "quickstart.db").exists():
        return []
    try:
        trials = load_study(workdir, "quickstart").trials
    except KeyError:
        return []
    return [t.number for t in trials if t.user_attrs.get("perturbations") and t.state == TrialState.RUNNING]


def test_pbt_exploits_records_each_exploit_and_resumes_after_kill_9(workdir):
    spec_file = pbt_spec(workdir)
    process = start(spec_file, workdir)
    try:
        wait_for(lambda: exploited_trials(workdir), "an exploited trial RUNNING", ended=exited(process, "hpo run"), interval=0.1)
    finally:
        kill_tree(process, signal.SIGKILL)
    killed = {t.number: t for t in load_study(workdir, "quickstart").trials}
    final = hpo("run", str(spec_file), cwd=workdir)
    assert final.returncode == 0, final.stdout + final.stderr
    assert "Traceback" not in final.stdout + final.stderr
    trials = check_final_study(workdir, TRIALS)  # exactly 4 finished, the others FAIL "interrupted"
    complete = [t for t in trials if t.state == TrialState.COMPLETE]
    assert len(complete) == TRIALS
    for trial in complete:  # one record per curve, whole: every epoch once, from 1
        assert sorted(trial.intermediate_values) == list(range(1, EPOCHS + 1)), trial.number
        assert [h["epoch"] for h in trial.user_attrs["history"]] == list(range(1, EPOCHS + 1)), trial.number
        assert trial.value == trial.intermediate_values[EPOCHS]  # its last epoch's, not its best
    exploited = [t for t in complete if t.user_attrs.get("perturbations")]
    assert exploited
    assert all([check_exploited(trials, t) for t in exploited]), "an exploited trial with no epoch to compare its rate at"
    resumed = [t for t in complete if "perturbations" in getattr(killed.get(t.user_attrs.get("requeued_from", -1)), "user_attrs", {})]
    assert resumed, [(t.number, t.state.name, t.user_attrs.get("requeued_from")) for t in trials]
    for trial in resumed:  # it went on from its copied checkpoint with its perturbed parameters, its record kept
        before = killed[trial.user_attrs["requeued_from"]]
        assert trial.user_attrs["perturbations"][: len(before.user_attrs["perturbations"])] == before.user_attrs["perturbations"]
        assert trial.params == before.params  # Optuna's record of what it started with
    status = hpo("status", "quickstart", cwd=workdir)
    first = exploited[0]
    assert f"trial {first.number} at epoch {first.user_attrs['perturbations'][0]['epoch']}: copied trial" in status.stdout, status.stdout
    assert not list((workdir / "studies" / "quickstart" / "ray").rglob("checkpoint_*")), "a finished study keeps no checkpoint"

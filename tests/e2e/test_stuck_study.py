"""A study that cannot make progress ends instead of failing trial after trial for ever:
refused before any trial when its data set is not on disk (the trainer's check), and
stopped with exit code 1 and the reasons after ``study.max_failures`` failed trials in a
row when every trial raises; such a study stays resumable."""

from __future__ import annotations

import time

import pytest
from optuna.trial import TrialState

from tests.e2e.conftest import hpo, load_study, shortened_quickstart, write_spec
from tests.e2e.failing_trainer import MESSAGE

CIFAR10_FILES = [*(f"data_batch_{i}" for i in range(1, 6)), "test_batch", "batches.meta"]


def test_a_missing_data_set_is_refused_before_any_trial(workdir):
    (workdir / "empty").mkdir()
    spec = shortened_quickstart(trials=4, epochs=2)
    spec["train"]["data"] = {"name": "cifar10", "root": "empty", "val_size": 1000}
    spec_file = write_spec(workdir, spec)
    started = time.monotonic()
    result = hpo("run", str(spec_file), cwd=workdir, timeout=120)
    seconds = time.monotonic() - started
    assert result.returncode == 2, result.stdout + result.stderr
    assert "Traceback" not in result.stdout + result.stderr
    error = result.stderr
    assert error.startswith(f"error: {spec_file}: train.data.root: every trial would fail: "), error
    assert "empty/cifar-10-batches-py/ must hold " + ", ".join(CIFAR10_FILES) in error
    assert seconds < 60, f"refused after {seconds:.0f} s"  # the Python start-up, not a trial
    assert not (workdir / "studies").exists()  # no database opened, so no trial in it


@pytest.mark.slow
def test_a_trainer_that_always_raises_ends_the_run_with_the_reasons_and_resumes(workdir):
    spec = shortened_quickstart(trials=4, epochs=2, max_failures=3)  # two trials at a time
    spec_file = write_spec(workdir, spec)
    runs = []
    for _ in range(2):  # the second run continues the study, with a new count
        result = hpo("run", str(spec_file), "--trainer", "tests.e2e.failing_trainer:train", cwd=workdir, timeout=600)
        output = result.stdout + result.stderr
        assert result.returncode == 1, output
        assert "Traceback" not in output
        assert "stopped: the last 3 trials failed in a row (study.max_failures: 3):" in result.stderr, output
        assert f"  3 × RuntimeError, e.g. {MESSAGE}" in result.stderr, output
        assert f"`hpo run {spec_file}` continues the study" in result.stderr
        trials = load_study(workdir, "quickstart").trials
        assert all(t.state == TrialState.FAIL and t.user_attrs["error"] == MESSAGE for t in trials)
        runs.append(len(trials))
    first, both = runs
    assert 3 <= first <= 4  # the third failure in a row stops it; the other running trial ends as it would
    assert 3 <= both - first <= 4

"""A failing trial is recorded as FAIL with its reason and the study goes on."""

from __future__ import annotations

import pytest
from optuna.trial import TrialState

from .conftest import hpo, load_study, shortened_quickstart, write_spec

pytestmark = pytest.mark.slow


def test_each_fault_is_fail_with_reason_and_the_study_reaches_its_count(workdir):
    spec = shortened_quickstart(trials=3, epochs=2, trial_timeout="30s")
    spec["sampler"] = {"type": "grid"}
    spec["scheduler"] = {"type": "none"}  # ASHA could stop the failing trial at its poor epoch 1 first
    spec["space"] = {"batch_size": {"choice": [16, 24, 32, 40, 56, 64, 128]}}
    spec_file = write_spec(workdir, spec)
    result = hpo("run", str(spec_file), "--trainer", "tests.e2e.faulty_trainer:train", cwd=workdir)
    assert result.returncode == 0, result.stdout + result.stderr
    trials = {t.params["batch_size"]: t for t in load_study(workdir, "quickstart").trials}
    reasons = {b: (t.user_attrs.get("error_type"), t.user_attrs.get("error", "")) for b, t in trials.items()}
    assert reasons[16][0] == "OutOfMemoryError" and "out of memory" in reasons[16][1]
    assert reasons[24] == ("RuntimeError", "simulated failure in epoch 2")
    assert reasons[40][0] == "NonFiniteLossError" and "nan" in reasons[40][1].lower()
    assert reasons[56][0] == "TrialTimeoutError" and "timeout" in reasons[56][1]
    for batch in (16, 24, 40, 56):
        assert trials[batch].state == TrialState.FAIL
    assert trials[24].intermediate_values == {1: 0.1}
    finished = [t for t in trials.values() if t.state in (TrialState.COMPLETE, TrialState.PRUNED)]
    assert len(finished) == 3
    assert "FAIL" in result.stdout and "3/3 finished" in result.stdout

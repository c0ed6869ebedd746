"""A trial the watchdog kills for ``study.trial_timeout`` is FAIL and not run again, even
with ``study.retries``: a timeout is the trial's own doing, not a worker fault, and a
retry would only hang as long again."""

from __future__ import annotations

import subprocess
import sys

import pytest
from optuna.trial import TrialState

from tests.e2e.conftest import hpo_env, load_study, shortened_quickstart, write_spec

pytestmark = pytest.mark.slow


def test_a_timed_out_trial_is_not_retried(workdir):
    # the watchdog's clock starts when Ray starts the trial, before its worker has imported torch: a timeout
    # above a busy machine's worker start-up, so that the trainer has started (and noted it) when it is killed
    spec = shortened_quickstart(trials=1, epochs=2, retries=1, trial_timeout=20, max_failures=1)
    attempts = workdir / "attempts.txt"
    run = subprocess.run(
        [sys.executable, "-m", "hpo.cli", "run", str(write_spec(workdir, spec)), "--trainer", "tests.reliability.stuck_trainer:train"],
        cwd=workdir,
        capture_output=True,
        text=True,
        timeout=300,
        env={**hpo_env(), "HPO_TEST_ATTEMPTS": str(attempts)},
    )
    assert run.returncode == 1, run.stdout + run.stderr  # study.max_failures: 1 ends the run
    (trial,) = load_study(workdir, "quickstart").trials
    assert trial.state == TrialState.FAIL and trial.user_attrs["error_type"] == "TrialTimeoutError", trial.user_attrs
    assert len(attempts.read_text().split()) == 1, "the trial ran again after its timeout"

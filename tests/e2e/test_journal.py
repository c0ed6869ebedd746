"""Optuna's file journal as the study's storage, end to end: a run records every trial
with its epochs, ``hpo status`` reads it, and optuna-dashboard serves it."""

from __future__ import annotations

import optuna
import pytest
from optuna.trial import TrialState

from hpo.study.storage import open_storage
from tests.e2e.conftest import dashboard, hpo, shortened_quickstart, write_spec

pytestmark = pytest.mark.slow

URL = "journal:///studies/quickstart.log"


def test_a_study_in_a_journal_file_runs_resumes_and_is_served(workdir):
    spec = shortened_quickstart(trials=2, epochs=2, storage=URL)
    path = write_spec(workdir, spec)
    run = hpo("run", str(path), cwd=workdir)
    assert run.returncode == 0, run.stdout + run.stderr
    assert run.stdout.count(f"follow it: hpo dashboard quickstart --storage {URL}\n") == 1
    study = optuna.load_study(study_name="quickstart", storage=open_storage(URL, create=False))
    finished = study.get_trials(states=(TrialState.COMPLETE, TrialState.PRUNED))
    assert len(finished) == 2 and all(t.intermediate_values for t in finished)
    assert (workdir / "studies" / "quickstart.log").is_file() and not (workdir / "studies" / "quickstart.db").exists()

    spec["study"]["trials"] = 3  # resuming the same journal
    run = hpo("run", str(write_spec(workdir, spec)), cwd=workdir)
    assert run.returncode == 0 and "resuming study quickstart" in run.stdout, run.stdout + run.stderr

    status = hpo("status", "quickstart", "--storage", URL, cwd=workdir)
    assert status.returncode == 0 and "3/3" in status.stdout, status.stdout + status.stderr

    with dashboard(workdir, "quickstart", "--storage", URL, "--port", "0") as server:
        served = server.study()["trials"]
    assert len([t for t in served if t["state"] in ("Complete", "Pruned")]) == 3
    assert all(t["intermediate_values"] for t in served if t["state"] in ("Complete", "Pruned"))

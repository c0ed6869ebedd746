"""A failing trial is recorded as FAIL with its reason, and the study goes on to its count.

One run of a grid over the faults of tests/reliability/faulty_trainer.py (out of memory,
an exception, a NaN loss, a timeout seen at a report, a trial stuck past its timeout)
and three trials that train for real. Each reason must be in the study, in the output
of ``hpo status`` and in optuna-dashboard's API as ``hpo dashboard`` serves it; each
trial's log (its own only, though workers run trial after trial) must hold what it
printed, the raised one's traceback included, and ``hpo logs`` must print it.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from optuna.trial import TrialState

from tests.e2e.conftest import dashboard, hpo, load_study, shortened_quickstart, write_spec
from tests.reliability.conftest import figure, hpo_here
from tests.reliability.faulty_trainer import FAULTS, TRIAL_TIMEOUT_S

pytestmark = pytest.mark.slow

REAL = (32, 64, 128)  # batch sizes that train for real


@pytest.fixture(scope="module")
def fault_run(tmp_path_factory):
    workdir = tmp_path_factory.mktemp("faults")
    spec = shortened_quickstart(trials=len(REAL), epochs=2, trial_timeout=f"{TRIAL_TIMEOUT_S}s")
    spec["sampler"] = {"type": "grid"}
    spec["scheduler"] = {"type": "none"}  # ASHA could stop a failing trial at its poor epoch 1 first
    spec["space"] = {"batch_size": {"choice": sorted([*FAULTS, *REAL])}}
    spec_file = write_spec(workdir, spec)
    result = hpo("run", str(spec_file), "--trainer", "tests.reliability.faulty_trainer:train", cwd=workdir, timeout=900)
    assert result.returncode == 0, result.stdout + result.stderr
    return workdir, result


def test_each_fault_is_fail_with_its_reason_and_the_study_reaches_its_count(fault_run):
    workdir, result = fault_run
    trials = {t.params["batch_size"]: t for t in load_study(workdir, "quickstart").trials}
    recorded = [
        batch
        for batch, (kind, words) in FAULTS.items()
        if trials[batch].state == TrialState.FAIL
        and trials[batch].user_attrs.get("error_type") == kind
        and words in trials[batch].user_attrs.get("error", "").lower()
    ]
    finished = [b for b in REAL if trials[b].state in (TrialState.COMPLETE, TrialState.PRUNED)]
    late = "its own check" if "ran longer than" in trials[48].user_attrs.get("error", "") else "the watchdog"
    figure(
        "trial faults in the study",
        len(recorded),
        len(FAULTS),
        f"FAIL with their reason (OOM, exception, NaN, a late report: ended by {late}, stuck past the timeout: "
        f"killed by the watchdog); study reached {len(finished)}/{len(REAL)} finished trials",
    )
    assert recorded == list(FAULTS), {b: (t.state, t.user_attrs) for b, t in trials.items()}
    assert trials[24].intermediate_values == {1: 0.1}
    assert len(finished) == len(REAL)
    assert "FAIL" in result.stdout and f"{len(REAL)}/{len(REAL)} finished" in result.stdout


def test_each_reason_shows_in_hpo_status(fault_run):
    workdir, _ = fault_run
    status = hpo("status", "quickstart", cwd=workdir)
    assert status.returncode == 0, status.stderr
    trials = {t.params["batch_size"]: t for t in load_study(workdir, "quickstart").trials}
    lines = status.stdout.splitlines()
    shown = [
        batch
        for batch, (kind, _) in FAULTS.items()
        if any(line.startswith(f"trial {trials[batch].number} FAIL: {kind}: ") for line in lines)
    ]
    figure("trial faults in `hpo status`", len(shown), len(FAULTS), "FAIL lines with their reason")
    assert shown == list(FAULTS), status.stdout
    assert f"{len(REAL)}/{len(REAL)} finished" in status.stdout


def test_each_reason_shows_in_the_dashboard_api(fault_run):
    workdir, _ = fault_run
    with dashboard(workdir, "quickstart", "--port", "0") as server:
        served = server.study()
    shown = []
    by_batch = {}
    for trial in served["trials"]:
        params = {p["name"]: p["param_external_value"] for p in trial["params"]}
        attrs = {a["key"]: a["value"] for a in trial["user_attrs"]}  # values as text: strings as they are
        by_batch[int(params["batch_size"])] = (trial["state"], attrs)
    for batch, (kind, words) in FAULTS.items():
        state, attrs = by_batch[batch]
        if state == "Fail" and attrs.get("error_type") == kind and words in attrs.get("error", "").lower():
            shown.append(batch)
    figure("trial faults in the dashboard API", len(shown), len(FAULTS), "trials served as Fail with error_type and error")
    assert shown == list(FAULTS), by_batch


def test_each_trial_has_its_own_log_and_the_raised_ones_holds_its_traceback(fault_run, capsys, monkeypatch):
    workdir, _ = fault_run
    trials = load_study(workdir, "quickstart").trials
    headers = {}
    for trial in trials:
        log = Path(trial.user_attrs["log"])
        assert log == workdir / "studies" / "quickstart" / "trials" / str(trial.number) / "log.txt"
        headers[trial.number] = re.findall(r"^==> trial (\d+) started ", log.read_text(), re.MULTILINE)
    own = [n for n, found in headers.items() if found and set(found) == {str(n)}]  # a retried trial adds a header of its own
    figure("trial logs", len(own), len(trials), "hold their own trial's output only")
    assert len(own) == len(trials), headers
    raised = next(t for t in trials if t.params["batch_size"] == 24)
    monkeypatch.chdir(workdir)
    printed = hpo_here(capsys, monkeypatch, "logs", "quickstart", str(raised.number))
    assert printed.code == 0, printed.err
    assert printed.out == Path(raised.user_attrs["log"]).read_text()
    assert "Traceback (most recent call last):" in printed.out
    assert printed.out.rstrip().endswith("RuntimeError: simulated failure in epoch 2")

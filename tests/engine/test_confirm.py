"""hpo confirm's progress line: runs done, running, failed, and an ETA that leaves out
each worker's first run (it also waited for the worker to start)."""

from __future__ import annotations

import io

from rich.console import Console

from hpo.engine.confirm import ConfirmProgress
from hpo.study.confirm import ConfirmRun, PlannedRun


def test_the_eta_comes_from_the_runs_after_each_workers_first():
    now = [0.0]
    shown = io.StringIO()
    runs = [PlannedRun(0, seed, {}) for seed in range(5)]
    with ConfirmProgress(len(runs), 2, Console(file=shown, width=300), clock=lambda: now[0]) as progress:
        progress.started(runs[0])
        progress.started(runs[1])
        now[0] = 10.0  # the first wave: 10 s each, worker start-up included
        progress.finished(runs[0], ConfirmRun(0, 0.9), "val_acc")
        progress.finished(runs[1], ConfirmRun(1, None, error_type="NonFiniteLossError", error="nan"), "val_acc")
        progress.started(runs[2])
        progress.started(runs[3])
        now[0] = 12.0
        progress.finished(runs[2], ConfirmRun(2, 0.8), "val_acc")
    lines = shown.getvalue().splitlines()
    assert lines[0] == "confirm: 0/5 runs done, 0 running, 0 failed | elapsed 0:00 eta -"
    assert lines[2].startswith("trial 0 seed 1: failed: NonFiniteLossError: nan | confirm: 2/5 runs done, 0 running, 1 failed")
    # runs take 2 s once workers are up: run 3 (2 s in) ends now, run 4 starts now and ends in 2 s
    assert lines[3] == "trial 0 seed 2: val_acc 0.8000 | confirm: 3/5 runs done, 1 running, 1 failed | elapsed 0:12 eta 0:02"

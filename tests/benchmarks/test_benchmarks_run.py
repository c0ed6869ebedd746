"""The benchmarks run end to end with tiny arguments and end with their line.

Only the format is checked: wall-clock figures of a shared machine are no test.
"""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

BENCHMARKS = Path(__file__).resolve().parents[2] / "benchmarks"
NUMBER = r"(-?\d+\.\d+)"

pytestmark = pytest.mark.slow


def last_line(tmp_path: Path, script: str, *args: str) -> str:
    run = subprocess.run(
        [sys.executable, str(BENCHMARKS / script), "--workdir", str(tmp_path), *args],
        capture_output=True,
        text=True,
        timeout=600,
        cwd=tmp_path,
    )
    assert run.returncode == 0, run.stdout + run.stderr
    return run.stdout.strip().splitlines()[-1]


def test_engine_overhead_prints_seconds_per_trial_and_their_ratio(tmp_path):
    line = last_line(tmp_path, "engine_overhead.py", "--trials", "4", "--repeats", "1", "--no-warm-up")
    match = re.fullmatch(f"overhead_s_per_trial={NUMBER} raw_ray_s_per_trial={NUMBER} ratio={NUMBER}", line)
    assert match, line
    hpo_s, raw_s, ratio = map(float, match.groups())
    assert hpo_s > 0 and raw_s > 0
    assert ratio == pytest.approx(hpo_s / raw_s, rel=0.01, abs=0.002)


def test_search_efficiency_prints_the_epochs_ratio(tmp_path):
    line = last_line(tmp_path, "search_efficiency.py", "--seeds", "1", "--epochs", "2", "--budget-epochs", "4", "--methods", "tpe_asha")
    match = re.fullmatch(f"epochs_to_match_random_best_ratio tpe_asha={NUMBER}", line)
    assert match, line
    assert float(match.group(1)) > 0


def test_study_work_prints_milliseconds_per_trial_and_their_ratio(tmp_path):
    line = last_line(tmp_path, "study_work.py", "--trials", "4", "--rounds", "1")
    match = re.fullmatch(f"study_ms_per_trial={NUMBER} optuna_search_ms_per_trial={NUMBER} ratio={NUMBER}", line)
    assert match, line
    ours, theirs, ratio = map(float, match.groups())
    assert ours > 0 and theirs > 0
    assert ratio == pytest.approx(ours / theirs, rel=0.02, abs=0.01)


def test_checkpoint_cost_prints_milliseconds_per_epoch_and_their_ratio(tmp_path):
    line = last_line(tmp_path, "checkpoint_cost.py", "--epochs", "3", "--repeats", "1")
    match = re.fullmatch(f"checkpoint_ms_per_epoch={NUMBER} epoch_ms={NUMBER} ratio={NUMBER} every_epoch_ratio={NUMBER}", line)
    assert match, line
    cost, epoch, ratio, _ = map(float, match.groups())
    assert epoch > 0  # the costs are differences of runs' report times: on a busy machine, noise may make them negative
    assert ratio == pytest.approx(cost / epoch, rel=0.01, abs=0.001)
    assert not list(tmp_path.iterdir()), "the runs' folders, made in --workdir, are removed"


def test_warm_start_prints_the_warm_to_cold_epochs_ratio(tmp_path):
    line = last_line(tmp_path, "warm_start.py", "--seeds", "1", "--trials", "1", "--epochs", "3")
    match = re.fullmatch(f"warm_to_cold_epochs_ratio={NUMBER}", line)
    assert match, line
    assert float(match.group(1)) > 0

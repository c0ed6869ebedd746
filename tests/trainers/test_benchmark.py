"""benchmarks/trainer_throughput.py runs end to end (one tiny round) and prints its last line."""

from __future__ import annotations

import pathlib
import re
import subprocess
import sys

import pytest

SCRIPT = pathlib.Path(__file__).resolve().parents[2] / "benchmarks" / "trainer_throughput.py"


@pytest.mark.slow
def test_throughput_benchmark_prints_the_ratios():
    run = subprocess.run(
        [sys.executable, str(SCRIPT), "--rounds", "1", "--steps", "2", "--workers", "1", "--threads", "1", "--images", "600"],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert run.returncode == 0, run.stderr
    last = run.stdout.strip().splitlines()[-1]
    assert re.fullmatch(r"trainer/compute=\d+\.\d+ trainer/classic=\d+\.\d+", last), last

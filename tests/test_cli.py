"""The command line: it lists its commands and starts without the heavy libraries."""

from __future__ import annotations

import json
import subprocess
import sys


def test_help_lists_the_commands():
    result = subprocess.run([sys.executable, "-m", "hpo.cli", "--help"], capture_output=True, text=True)
    assert result.returncode == 0
    for command in ("run", "validate", "train", "status"):
        assert command in result.stdout


def test_start_up_imports_no_torch_ray_or_optuna():
    code = "import sys, json, hpo.cli; print(json.dumps(sorted(sys.modules)))"
    modules = set(json.loads(subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout))
    assert not {"torch", "ray", "optuna", "pandas", "plotly", "sklearn"} & modules


def test_unknown_command_and_wrong_types_exit_2():
    assert subprocess.run([sys.executable, "-m", "hpo.cli", "frobnicate"], capture_output=True).returncode == 2
    wrong = subprocess.run([sys.executable, "-m", "hpo.cli", "train", "x.yaml", "--seeds", "one"], capture_output=True, text=True)
    assert wrong.returncode == 2 and "Traceback" not in wrong.stderr


def test_status_of_an_unknown_study_is_a_clear_error(tmp_path):
    result = subprocess.run([sys.executable, "-m", "hpo.cli", "status", "nosuchstudy"], capture_output=True, text=True, cwd=tmp_path)
    assert result.returncode == 2
    assert "no study named 'nosuchstudy'" in result.stderr and "Traceback" not in result.stderr


def test_startup_benchmark_prints_its_ratio():
    result = subprocess.run([sys.executable, "benchmarks/cli_startup.py", "--repeats", "2"], capture_output=True, text=True, check=True)
    ratio = result.stdout.strip().splitlines()[-1]
    assert ratio.startswith("cli_startup_ratio=") and float(ratio.split("=")[1]) > 0

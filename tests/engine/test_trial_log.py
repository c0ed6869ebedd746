"""hpo.engine.trial_log: a trial's stdout and stderr, from Python, C and child processes,
go to its own log and nowhere else, and the worker's own streams come back afterwards."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from hpo.engine.trial_log import TrialLogError, trial_output

REPO = Path(__file__).resolve().parents[2]

# One worker process running trial 3, then trial 4 (a reused actor), then trial 3 again
# (Ray retrying it): what each writes, however it writes it.
WORKER = textwrap.dedent(
    """
    import os, subprocess, sys, warnings
    from pathlib import Path
    from hpo.engine.trial_log import trial_output

    root = Path(sys.argv[1])
    warnings.simplefilter("always")  # each attempt warns again
    print("worker before")
    for number in (3, 4, 3):
        with trial_output(root / str(number) / "log.txt", number):
            print(f"print of trial {number}")
            os.write(1, f"fd 1 of trial {number}\\n".encode())
            os.write(2, f"fd 2 of trial {number}\\n".encode())
            warnings.warn(f"warning of trial {number}")
            subprocess.run([sys.executable, "-c", f"import sys; print('child of trial {number}', file=sys.stderr)"], check=True)
            sys.stdout.write(f"unflushed of trial {number}")  # Python's buffer: flushed into this log, not the next
    print("worker after")
    print("worker stderr after", file=sys.stderr)
    """
)


def test_each_trial_of_a_reused_worker_writes_only_its_own_log(tmp_path):
    worker = subprocess.run(
        [sys.executable, "-c", WORKER, str(tmp_path)],
        capture_output=True, text=True, check=True, env={**os.environ, "PYTHONPATH": str(REPO)}, timeout=60,
    )  # fmt: skip
    assert worker.stdout == "worker before\nworker after\n"
    assert worker.stderr == "worker stderr after\n"
    for number, attempts in ((3, 2), (4, 1)):
        log = (tmp_path / str(number) / "log.txt").read_text()
        other = 7 - number
        assert f"trial {other}" not in log, log
        assert log.count(f"==> trial {number} started ") == attempts, log
        assert log.startswith(f"==> trial {number} started "), log
        assert log.count(f"\n==> trial {number} started ") == attempts - 1, log  # each attempt's header on a line of its own
        for line in ("print", "fd 1", "fd 2", "child", "unflushed"):
            assert log.count(f"{line} of trial {number}") == attempts, (line, log)
        assert log.count(f"UserWarning: warning of trial {number}") == attempts, log


def test_a_log_that_cannot_be_written_fails_before_the_trial_and_leaves_the_streams(tmp_path, capfd):
    (tmp_path / "studies").write_text("a file where the directory should be")
    path = tmp_path / "studies" / "s" / "trials" / "0" / "log.txt"
    with pytest.raises(TrialLogError, match=r"cannot write the trial's log .*/studies/s/trials/0/log.txt on .*: .*every node needs"):
        with trial_output(path, 0):
            pytest.fail("the trial ran without its log")
    os.write(1, b"still the worker's stdout\n")
    assert capfd.readouterr().out == "still the worker's stdout\n"

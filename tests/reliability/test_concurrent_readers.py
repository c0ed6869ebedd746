"""Readers never see "database is locked" while a run writes the study (SQLite in WAL mode).

While ``hpo run`` writes (epoch reports, tells, heartbeats), optuna-dashboard's API (as
``hpo dashboard`` serves it) and ``hpo status`` are polled in loops. Every poll must
succeed; the run, the dashboard and every status must print no "database is locked".
The run's last trial waits (tests/e2e/held_trainer.py) until each reader has polled
MIN_POLLS times, so the readers poll while the run is open however fast it goes.
"""

from __future__ import annotations

import subprocess
import sys
import threading
import urllib.error
import urllib.request

import pytest

from tests.conftest import exited, wait_for
from tests.e2e.conftest import dashboard, hpo, hpo_env, shortened_quickstart, write_spec
from tests.e2e.held_trainer import HELD_TRAINER, Hold
from tests.reliability.conftest import figure, query

pytestmark = pytest.mark.slow

LOCKED = "database is locked"
TRIALS = 6
MIN_POLLS = 3


class Poller(threading.Thread):
    """Call ``poll`` until stopped; count the calls, the failures and the lock errors."""

    def __init__(self, poll, pause_s: float) -> None:
        super().__init__(daemon=True)
        self._poll = poll
        self._pause_s = pause_s
        self.stop = threading.Event()
        self.polls = self.failures = self.locked = 0
        self.errors: list[str] = []

    def run(self) -> None:
        while not self.stop.is_set():
            error = self._poll()
            self.polls += 1
            if error is not None:
                self.failures += 1
                self.locked += LOCKED in error
                self.errors.append(error[-2000:])
            self.stop.wait(self._pause_s)


def test_dashboard_api_and_status_read_while_a_run_writes(workdir):
    spec_file = write_spec(workdir, shortened_quickstart(trials=TRIALS, epochs=2))
    hold = Hold(workdir / "hold", start_from=TRIALS - 1)
    run = subprocess.Popen(
        [sys.executable, "-m", "hpo.cli", "run", str(spec_file), "--trainer", HELD_TRAINER],
        cwd=workdir, env={**hpo_env(), **hold.env()}, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
    )  # fmt: skip
    try:
        wait_for(
            lambda: query(workdir, "SELECT 1 FROM studies WHERE study_name = 'quickstart'"),
            "the run to create its study",
            ended=exited(run, "hpo run"),
        )
        with dashboard(workdir, "quickstart", "--port", "0") as server:

            def poll_api() -> str | None:
                for path in ("/api/studies", f"/api/studies/{server.study_id}?after=0"):
                    try:
                        with urllib.request.urlopen(server.base + path, timeout=60) as response:
                            response.read()
                    except (urllib.error.URLError, OSError) as exc:
                        body = exc.read().decode(errors="replace") if isinstance(exc, urllib.error.HTTPError) else ""
                        return f"{path}: {exc} {body}"
                return None

            def poll_status() -> str | None:
                result = hpo("status", "quickstart", cwd=workdir)
                return None if result.returncode == 0 and LOCKED not in result.stdout + result.stderr else result.stderr + result.stdout

            pollers = {"dashboard API": Poller(poll_api, 0.25), "hpo status": Poller(poll_status, 2.0)}  # leave the run CPU
            for poller in pollers.values():
                poller.start()
            wait_for(
                lambda: all(poller.polls >= MIN_POLLS for poller in pollers.values()),
                f"each reader to poll {MIN_POLLS} times while the run is held open",
                ended=exited(run, "hpo run"),
                seen=lambda: {name: poller.polls for name, poller in pollers.items()},
            )
            hold.release()
            output, _ = run.communicate(timeout=900)
            for poller in pollers.values():
                poller.stop.set()
                poller.join(timeout=120)
        served = "".join(server.output)
    finally:
        if run.poll() is None:
            run.kill()
            run.wait()
    assert run.returncode == 0, output
    for name, poller in pollers.items():
        figure(
            f"concurrent readers, {name}",
            poller.polls - poller.failures,
            poller.polls,
            f"polls succeeded while the run wrote; {poller.locked} 'database is locked'",
        )
    assert LOCKED not in output and LOCKED not in served
    for name, poller in pollers.items():
        assert poller.polls >= MIN_POLLS, f"{name}: only {poller.polls} polls during the run"
        assert poller.failures == 0, f"{name}: " + "\n".join(poller.errors[:3])

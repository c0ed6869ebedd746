"""hpo dashboard: optuna-dashboard on the study's storage, checked through its JSON API.

Routes (optuna_dashboard/_app.py): ``GET /api/studies`` lists the studies of the storage
(``study_summaries``: study_id, study_name, user_attrs); ``GET /api/studies/<id>`` gives
one study with its trials (number, state, params, intermediate_values, values,
user_attrs). Attribute values come as text: strings as they are, numbers through str(),
anything else as JSON cut at 1024 characters.
"""

from __future__ import annotations

import io
import json
import queue
import re
import signal
import socket
import subprocess
import threading
import time
import urllib.request
from pathlib import Path

import optuna
import pytest
from rich.console import Console

from hpo.dashboard import is_loopback, serve
from hpo.errors import HpoError
from tests.results.conftest import HPO, STUDY, cli, hpo_env

START_TIMEOUT_S = 120  # imports on a loaded machine
MAX_ATTR_LENGTH = 1024  # optuna-dashboard's cut for JSON attribute values


class Dashboard:
    """``hpo dashboard ARGS`` in a subprocess; its output read line by line."""

    def __init__(self, args: list[str], cwd: Path) -> None:
        self.process = subprocess.Popen(
            [*HPO, "dashboard", *args], cwd=cwd, env=hpo_env(), stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
        )
        self.lines: queue.Queue[str] = queue.Queue()
        self.output: list[str] = []
        threading.Thread(target=self._read, daemon=True).start()
        self.page = self.wait_for(r"http://\S+")
        self.base = self.page.split("/dashboard/")[0]

    def _read(self) -> None:
        for line in self.process.stdout:
            self.lines.put(line)

    def wait_for(self, pattern: str, timeout: float = START_TIMEOUT_S) -> str:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                line = self.lines.get(timeout=0.5)
            except queue.Empty:
                if self.process.poll() is not None and self.lines.empty():
                    break
                continue
            self.output.append(line)
            match = re.search(pattern, line)
            if match:
                return match.group(0)
        self.process.kill()
        pytest.fail(f"hpo dashboard never printed {pattern!r}; its output:\n{''.join(self.output)}")

    def get(self, route: str) -> dict:
        with urllib.request.urlopen(self.base + route, timeout=60) as response:
            return json.load(response)

    def stop(self, signum: int) -> int:
        self.process.send_signal(signum)
        try:
            code = self.process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self.process.kill()
            pytest.fail(f"hpo dashboard ignored signal {signum}")
        self.wait_for("dashboard stopped", timeout=5)
        return code


def shown(value: object) -> str:
    """An attribute value as optuna-dashboard serves it (see module doc)."""
    if isinstance(value, str):
        return value
    if isinstance(value, (int, float)):
        return str(value)
    return json.dumps(value)[:MAX_ATTR_LENGTH]


def check_study(api: dict, study: optuna.Study) -> None:
    assert {a["key"]: a["value"] for a in api["user_attrs"]} == {k: shown(v) for k, v in study.user_attrs.items()}
    assert api["name"] == study.study_name


def check_trial(api: dict, trial: optuna.trial.FrozenTrial) -> None:
    """A trial the dashboard serves matches the database: state, params, curve, user attrs."""
    assert api["number"] == trial.number
    assert api["state"] == trial.state.name.capitalize()
    assert {p["name"]: p["param_external_value"] for p in api["params"]} == {k: str(v) for k, v in trial.params.items()}
    assert {v["step"]: v["value"] for v in api["intermediate_values"]} == trial.intermediate_values
    assert api.get("values") == trial.values
    assert {a["key"]: a["value"] for a in api["user_attrs"]} == {k: shown(v) for k, v in trial.user_attrs.items()}


@pytest.mark.slow
def test_dashboard_follows_a_running_study(live_run):
    """Started while `hpo run` writes the study; its API matches the database, live and at the end."""
    live_run.wait_for_study()
    dashboard = Dashboard([STUDY, "--port", "0"], live_run.workdir)
    assert dashboard.base.startswith("http://127.0.0.1:")
    summaries = dashboard.get("/api/studies")["study_summaries"]
    assert [s["study_name"] for s in summaries] == [STUDY]
    study_id = summaries[0]["study_id"]
    assert dashboard.page.endswith(f"/dashboard/studies/{study_id}")

    checked_live = 0
    while live_run.running():
        served = dashboard.get(f"/api/studies/{study_id}")
        stored = {t.number: t for t in optuna.load_study(study_name=STUDY, storage=live_run.storage).trials}
        for trial in served["trials"]:
            assert trial["number"] in stored
            if trial["state"] in ("Complete", "Pruned", "Fail"):  # final: must match exactly
                check_trial(trial, stored[trial["number"]])
                checked_live += 1
        time.sleep(1)
    study = live_run.finish()
    served = dashboard.get(f"/api/studies/{study_id}")
    check_study(served, study)
    assert len(served["trials"]) == len(study.trials) == 5
    for api, trial in zip(served["trials"], study.trials):
        check_trial(api, trial)
    spec = {a["key"]: a["value"] for a in served["user_attrs"]}["spec_yaml"]
    assert spec == (live_run.workdir / "tiny.yaml").read_text()  # the stored spec, whole
    assert dashboard.stop(signal.SIGINT) == 0
    assert checked_live > 0, "the run ended before the dashboard served a finished trial"


def test_exposed_host_warns_and_sigterm_stops(fake_study, tmp_path):
    dashboard = Dashboard(["fake", "--host", "0.0.0.0", "--port", "0"], tmp_path)
    dashboard.wait_for("exposed to the network")
    port = dashboard.base.rsplit(":", 1)[1]
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/api/studies", timeout=60) as response:
        assert [s["study_name"] for s in json.load(response)["study_summaries"]] == ["fake"]
    assert dashboard.stop(signal.SIGTERM) == 0


def test_port_in_use_is_a_clear_error(fake_study):
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        with pytest.raises(HpoError, match=f"cannot listen on 127.0.0.1:{port}"):
            serve("fake", None, host="127.0.0.1", port=port, console=Console(file=io.StringIO()))


def test_unknown_study_is_refused(fake_study, capsys, monkeypatch):
    result = cli(capsys, monkeypatch, "dashboard", "nope", "--port", "0")
    assert result.code == 2 and "no study named 'nope'" in result.err


@pytest.mark.parametrize(
    ("host", "loopback"),
    [("127.0.0.1", True), ("127.0.0.2", True), ("::1", True), ("localhost", True), ("0.0.0.0", False),
     ("::", False), ("192.168.1.5", False), ("10.0.0.1", False), ("no-such-host.invalid", False)],
)
def test_loopback(host, loopback):
    assert is_loopback(host) is loopback

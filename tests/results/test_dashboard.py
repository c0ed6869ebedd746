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
import signal
import socket
import time
import urllib.request

import optuna
import pytest
from rich.console import Console

from hpo.errors import HpoError
from hpo.results.dashboard import is_loopback, serve
from tests.conftest import wait_for
from tests.e2e.conftest import dashboard
from tests.results.conftest import STUDY, cli

MAX_ATTR_LENGTH = 1024  # optuna-dashboard's cut for JSON attribute values


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
    """Started while `hpo run` writes the study; its API matches the database, live and at
    the end. The run holds its last trials until released (see live_run): the dashboard
    is seen serving finished trials of a study still running, however fast the run."""
    live_run.wait_for_study()
    with dashboard(live_run.workdir, STUDY, "--port", "0") as server:
        assert server.base.startswith("http://127.0.0.1:")
        summaries = server.get("/api/studies")["study_summaries"]
        assert [s["study_name"] for s in summaries] == [STUDY]
        assert server.study_id == summaries[0]["study_id"]  # the page it printed is this study's

        def check_live() -> int:
            """Checks the served trials against the database; how many final ones it checked."""
            served = server.study()
            stored = {t.number: t for t in optuna.load_study(study_name=STUDY, storage=live_run.storage).trials}
            checked = 0
            for trial in served["trials"]:
                assert trial["number"] in stored
                if trial["state"] in ("Complete", "Pruned", "Fail"):  # final: must match exactly
                    check_trial(trial, stored[trial["number"]])
                    checked += 1
            return checked

        wait_for(check_live, "the dashboard to serve a finished trial of the running study", ended=live_run.ended, interval=1)
        live_run.release()
        while live_run.running():
            check_live()
            time.sleep(1)  # a poll's pause, not a wait for an event
        study = live_run.finish()
        served = server.study()
        check_study(served, study)
        assert len(served["trials"]) == len(study.trials) == 5
        for api, trial in zip(served["trials"], study.trials):
            check_trial(api, trial)
        spec = {a["key"]: a["value"] for a in served["user_attrs"]}["spec_yaml"]
        assert spec == (live_run.workdir / "tiny.yaml").read_text()  # the stored spec, whole
        assert server.stop(signal.SIGINT) == 0
        server.wait_for("dashboard stopped")


def test_exposed_host_warns_and_sigterm_stops(fake_study, tmp_path):
    with dashboard(tmp_path, "fake", "--host", "0.0.0.0", "--port", "0") as server:
        server.wait_for("exposed to the network")  # found whether printed before or after the URL
        port = server.base.rsplit(":", 1)[1]
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/api/studies", timeout=60) as response:
            assert [s["study_name"] for s in json.load(response)["study_summaries"]] == ["fake"]
        assert server.stop(signal.SIGTERM) == 0
        server.wait_for("dashboard stopped")


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
    [
        ("127.0.0.1", True),
        ("127.0.0.2", True),
        ("::1", True),
        ("localhost", True),
        ("0.0.0.0", False),
        ("::", False),
        ("192.168.1.5", False),
        ("10.0.0.1", False),
        ("no-such-host.invalid", False),
    ],
)
def test_loopback(host, loopback):
    assert is_loopback(host) is loopback

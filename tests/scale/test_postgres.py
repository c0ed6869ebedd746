"""Two ``hpo run`` drivers on one PostgreSQL study at once, read live by the dashboard."""

from __future__ import annotations

import subprocess
import sys
from collections import Counter

import optuna
import pytest
from optuna.trial import TrialState

from hpo.study.keys import DRIVER_ATTR
from tests.conftest import exited, wait_for
from tests.e2e.conftest import dashboard
from tests.e2e.held_trainer import HELD_TRAINER, Hold
from tests.scale.conftest import communicate, hpo_command, hpo_env, small_spec, write_spec

pytestmark = pytest.mark.slow

TRIALS = 6


def test_two_drivers_share_one_study_and_stop_at_exactly_its_count(tmp_path, postgres_url):
    """Each driver starts its own local Ray (no --address), both in one directory, as two
    terminals on one machine would; together they run exactly TRIALS trials. Both take
    part whichever starts first: trials wait before training (the held trainer) until
    two are held, one per driver (each runs one trial at a time)."""
    spec = small_spec("shared", trials=TRIALS, epochs=2, storage=postgres_url)
    spec["resources"]["max_concurrent"] = 1
    path = write_spec(tmp_path, spec)
    hold = Hold(tmp_path / "hold")
    env = {**hpo_env(), **hold.env()}
    drivers = [
        subprocess.Popen(
            hpo_command("run", str(path), "--trainer", HELD_TRAINER),
            cwd=tmp_path,
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )  # fmt: skip
        for _ in range(2)
    ]
    try:
        ended = [exited(driver, f"driver {n}") for n, driver in enumerate(drivers)]
        wait_for(
            lambda: hold.held() >= 2,
            "a trial of each driver held before training",
            ended=lambda: ended[0]() or ended[1](),
            seen=lambda: f"{hold.held()} held",
        )
        hold.release()
        outputs = [communicate(driver) for driver in drivers]
    finally:
        for driver in drivers:  # the second one, if the first failed
            if driver.poll() is None:
                driver.kill()
                driver.wait()
    for driver, output in zip(drivers, outputs):
        assert driver.returncode == 0, output

    study = optuna.load_study(study_name="shared", storage=postgres_url)  # a third process reads it
    trials = study.get_trials()
    states = Counter(t.state for t in trials)
    finished = states[TrialState.COMPLETE] + states[TrialState.PRUNED]
    assert finished == TRIALS, f"{states}\n" + "\n".join(outputs)
    assert states[TrialState.RUNNING] == 0
    numbers = [t.number for t in trials]
    assert sorted(numbers) == list(range(len(trials))), numbers  # no number twice, none skipped
    by_driver = Counter(t.system_attrs[DRIVER_ATTR]["token"] for t in trials if t.state in (TrialState.COMPLETE, TrialState.PRUNED))
    assert len(by_driver) == 2, f"one driver did all the work: {by_driver}"
    print(f"finished trials per driver: {sorted(by_driver.values())}, states: {dict((s.name, n) for s, n in states.items())}")

    detail = _dashboard_study(tmp_path, postgres_url, "shared")
    assert detail["name"] == "shared"
    assert sorted(t["number"] for t in detail["trials"]) == sorted(numbers)
    assert sum(t["state"] in ("Complete", "Pruned") for t in detail["trials"]) == TRIALS


def _dashboard_study(cwd, storage: str, name: str) -> dict:
    """The study as optuna-dashboard's API serves it, from `hpo dashboard` on a free port."""
    with dashboard(cwd, name, "--storage", storage, "--port", "0") as server:
        return server.study()


def test_drivers_opening_an_empty_database_at_once_all_succeed(postgres_url):
    """Optuna creates its tables on first use; of several drivers starting together on a
    new database, those that lose that race open it again instead of failing."""
    code = "import sys; from hpo.study.storage import open_storage; open_storage(sys.argv[1])"
    openers = [
        subprocess.Popen([sys.executable, "-c", code, postgres_url], env=hpo_env(), stderr=subprocess.PIPE, text=True) for _ in range(4)
    ]
    errors = [opener.communicate(timeout=300)[1] for opener in openers]
    assert [opener.returncode for opener in openers] == [0] * 4, "\n".join(errors)

"""Two drivers that start at the same moment on one SQLite study both find the same
orphan: exactly one of them fails it and enqueues its parameters; the other gets no
traceback and enqueues nothing. Real processes, released together by a barrier."""

from __future__ import annotations

import multiprocessing
import subprocess
import sys
from dataclasses import replace

import optuna
from optuna.trial import TrialState

from hpo.study.keys import DRIVER_ATTR
from hpo.study.records import THIS_DRIVER
from hpo.study.storage import open_storage
from tests.reliability.conftest import figure

ROUNDS = 3


def _recover(url: str, barrier, results) -> None:
    from hpo.study.records import recover_orphans

    storage = open_storage(url)
    study = optuna.load_study(study_name="s", storage=storage)
    running = study.get_trials(states=(TrialState.RUNNING,))
    barrier.wait()
    results.put(recover_orphans(study, storage, running))


def _study_with_an_orphan(url: str) -> None:
    storage = open_storage(url)
    study = optuna.create_study(study_name="s", storage=storage)
    trial = study.ask()
    trial.suggest_float("lr", 0.01, 0.01)
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    trial_id = storage.get_trial_id_from_study_id_trial_number(storage.get_study_id_from_name("s"), trial.number)
    storage.set_trial_system_attr(trial_id, DRIVER_ATTR, replace(THIS_DRIVER, pid=dead.pid, token="gone").as_attr())


def test_two_drivers_recovering_one_orphan_at_once_enqueue_it_once(tmp_path):
    context = multiprocessing.get_context("spawn")
    sound = 0
    for round_ in range(ROUNDS):
        url = f"sqlite:///{tmp_path}/r{round_}.db"
        _study_with_an_orphan(url)
        barrier, results = context.Barrier(2), context.Queue()
        drivers = [context.Process(target=_recover, args=(url, barrier, results)) for _ in range(2)]
        for driver in drivers:
            driver.start()
        for driver in drivers:
            driver.join(timeout=300)
            assert driver.exitcode == 0, "a driver's recovery raised"
        claims = sorted([results.get(timeout=10), results.get(timeout=10)])
        trials = optuna.load_study(study_name="s", storage=open_storage(url)).trials
        waiting = [t for t in trials if t.state == TrialState.WAITING]
        assert claims == [[], [0]], claims
        assert len(waiting) == 1 and waiting[0].params == {} and waiting[0].user_attrs["requeued_from"] == 0
        sound += 1
    figure("simultaneous recoveries with one claim", sound, ROUNDS)

"""The searcher's records on SQLite: what reaches the database, and when (a trial's
epochs are written together when they come faster than one a second)."""

from __future__ import annotations

import optuna
from optuna.trial import TrialState

import hpo.engine.searcher
from hpo.engine.searcher import StudySearcher
from hpo.engine.trainable import ERROR_KEY, ERROR_TYPE_KEY
from hpo.spec.space import parse_space
from hpo.study.storage import open_storage

SPACE = parse_space({"optimizer.lr": {"float": [1e-4, 1e-1], "log": True}}, "t.yaml")
BASE = {"optimizer": {"name": "adam", "lr": 1e-3}, "epochs": 4}
WHERE = {"node_id": "n1", "node_ip": "127.0.0.1", "hostname": "host", "pid": 7}


def sqlite_study(tmp_path) -> tuple[optuna.Study, optuna.storages.BaseStorage]:
    storage = open_storage(f"sqlite:///{tmp_path}/s.db")
    sampler = optuna.samplers.RandomSampler(seed=0)
    return optuna.create_study(storage=storage, direction="maximize", sampler=sampler), storage


def test_searcher_records_on_sqlite(tmp_path):
    study, storage = sqlite_study(tmp_path)
    searcher = StudySearcher(study, storage, SPACE, BASE, metric="val_acc", mode="max", objective="best", target=5)
    config = searcher.suggest("a")["config"]
    searcher.suggest("b")
    searcher.on_trial_result("a", {"epoch": 1, "val_acc": 0.5, **WHERE})
    searcher.on_trial_complete("a", {"epoch": 2, "val_acc": 0.6, "finished": True, **WHERE})
    searcher.on_trial_complete("b", {ERROR_TYPE_KEY: "NonFiniteLossError", ERROR_KEY: "loss is nan", **WHERE})
    complete, failed = study.get_trials()
    assert complete.state == TrialState.COMPLETE and complete.value == 0.6
    assert complete.intermediate_values == {1: 0.5, 2: 0.6}
    assert set(complete.user_attrs) == {"config", "epochs", "seconds", "history", "worker", "log"}
    assert complete.user_attrs["config"] == config and complete.user_attrs["worker"] == {"ray_trial_id": "a", **WHERE}
    assert complete.user_attrs["epochs"] == 2 and [h["epoch"] for h in complete.user_attrs["history"]] == [1, 2]
    assert failed.state == TrialState.FAIL
    assert failed.user_attrs["error_type"] == "NonFiniteLossError" and failed.user_attrs["error"] == "loss is nan"
    assert failed.user_attrs["epochs"] == 0


def test_epochs_faster_than_one_a_second_are_written_together(tmp_path, monkeypatch):
    study, storage = sqlite_study(tmp_path)
    searcher = StudySearcher(study, storage, SPACE, BASE, metric="val_acc", mode="max", objective="best", target=5)
    searcher.suggest("a")
    monkeypatch.setattr(hpo.engine.searcher, "WRITE_INTERVAL_S", 3600.0)  # every epoch comes within it, however slow
    stored = lambda: study.get_trials()[0].intermediate_values  # noqa: E731
    for epoch, val_acc in ((1, 0.5), (2, 0.6), (3, 0.7)):
        searcher.on_trial_result("a", {"epoch": epoch, "val_acc": val_acc})
    assert stored() == {}  # within the interval of the trial's creation, its last write, they wait
    searcher.on_trial_complete("a", {"epoch": 4, "val_acc": 0.8, "finished": True})
    assert stored() == {1: 0.5, 2: 0.6, 3: 0.7, 4: 0.8}  # and are written with the trial's end


def test_an_epoch_a_second_after_the_last_write_is_written_at_once(tmp_path, monkeypatch):
    study, storage = sqlite_study(tmp_path)
    searcher = StudySearcher(study, storage, SPACE, BASE, metric="val_acc", mode="max", objective="best", target=5)
    searcher.suggest("a")
    monkeypatch.setattr(hpo.engine.searcher, "WRITE_INTERVAL_S", 0.0)  # every epoch comes a second after the last
    for epoch in (1, 2, 3):
        searcher.on_trial_result("a", {"epoch": epoch, "val_acc": epoch / 10})
        assert set(study.get_trials()[0].intermediate_values) == set(range(1, epoch + 1))

"""The searcher's records on SQLite, where a trial's attributes are written in one
transaction per call (``set_trial_attrs``) instead of one commit per key: the records
must be exactly those that ``trial.set_user_attr`` key by key would leave."""

from __future__ import annotations

import optuna
from optuna.trial import TrialState

from hpo.records import driver_mark, set_trial_attrs
from hpo.searcher import StudySearcher
from hpo.space import parse_space
from hpo.storage import open_storage
from hpo.trainable import ERROR_KEY, ERROR_TYPE_KEY

SPACE = parse_space({"optimizer.lr": {"float": [1e-4, 1e-1], "log": True}}, "t.yaml")
BASE = {"optimizer": {"name": "adam", "lr": 1e-3}, "epochs": 4}
WHERE = {"node_id": "n1", "node_ip": "127.0.0.1", "hostname": "host", "pid": 7}


def sqlite_study(tmp_path) -> optuna.Study:
    storage = open_storage(f"sqlite:///{tmp_path}/s.db")
    return optuna.create_study(storage=storage, direction="maximize", sampler=optuna.samplers.RandomSampler(seed=0))


def test_set_trial_attrs_writes_what_set_user_attr_writes(tmp_path):
    study = sqlite_study(tmp_path)
    attrs = {"epochs": 3, "seconds": 1.5, "history": [{"epoch": 1, "val_acc": 0.5}], "hostname": "h", "error": None}
    one_by_one, batched = study.ask(), study.ask()
    for key, value in attrs.items():
        one_by_one.set_user_attr(key, value)
    set_trial_attrs(study, batched, attrs, driver_mark())
    set_trial_attrs(study, batched, {"epochs": 4})  # an existing key is overwritten
    one_by_one.set_user_attr("epochs", 4)
    assert batched.user_attrs == one_by_one.user_attrs
    stored = {t.number: t for t in study.get_trials()}
    assert stored[batched.number].user_attrs == stored[one_by_one.number].user_attrs == {**attrs, "epochs": 4}
    assert stored[batched.number].system_attrs == batched._cached_frozen_trial.system_attrs == driver_mark()


def test_searcher_records_on_sqlite(tmp_path):
    study = sqlite_study(tmp_path)
    searcher = StudySearcher(study, SPACE, BASE, metric="val_acc", mode="max", objective="best", target=5)
    config = searcher.suggest("a")["config"]
    searcher.suggest("b")
    searcher.on_trial_result("a", {"epoch": 1, "val_acc": 0.5, **WHERE})
    searcher.on_trial_complete("a", {"epoch": 2, "val_acc": 0.6, "finished": True, **WHERE})
    searcher.on_trial_complete("b", {ERROR_TYPE_KEY: "NonFiniteLossError", ERROR_KEY: "loss is nan", **WHERE})
    complete, failed = study.get_trials()
    assert complete.state == TrialState.COMPLETE and complete.value == 0.6
    assert complete.intermediate_values == {1: 0.5, 2: 0.6}
    assert set(complete.user_attrs) == {"config", "ray_trial_id", "epochs", "seconds", "history", *WHERE}
    assert complete.user_attrs["config"] == config and complete.user_attrs["ray_trial_id"] == "a"
    assert complete.user_attrs["epochs"] == 2 and [h["epoch"] for h in complete.user_attrs["history"]] == [1, 2]
    assert failed.state == TrialState.FAIL
    assert failed.user_attrs["error_type"] == "NonFiniteLossError" and failed.user_attrs["error"] == "loss is nan"
    assert failed.user_attrs["epochs"] == 0

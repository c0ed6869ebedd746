"""hpo/engine/failures.py: failed trials in a row end a run, with a summary of why."""

from __future__ import annotations

import optuna
import pytest
from optuna.trial import TrialState
from ray.tune.search import Searcher

from hpo.engine.failures import EXAMPLE_CHARS, FailureStreak
from hpo.engine.searcher import StudySearcher
from hpo.engine.trainable import ERROR_KEY, ERROR_TYPE_KEY
from hpo.spec.space import parse_space
from hpo.study.storage import open_storage


def fail(streak: FailureStreak, error_type: str = "RuntimeError", message: str = "boom", times: int = 1) -> None:
    for _ in range(times):
        streak.record(TrialState.FAIL, error_type, message)


def test_stops_after_limit_failures_in_a_row():
    streak = FailureStreak(3)
    fail(streak, times=2)
    assert not streak.stop
    fail(streak)
    assert streak.stop


@pytest.mark.parametrize("finished", [TrialState.COMPLETE, TrialState.PRUNED])
def test_a_finished_trial_resets_the_count(finished):
    streak = FailureStreak(3)
    fail(streak, times=2)
    streak.record(finished)
    fail(streak, times=2)
    assert not streak.stop
    fail(streak)
    assert streak.stop
    assert streak.summary().startswith("the last 3 trials failed in a row (study.max_failures: 3):")


@pytest.mark.parametrize("limit", [None, 0])
def test_no_limit_never_stops(limit):
    streak = FailureStreak(limit)
    fail(streak, times=1000)
    assert not streak.stop


def test_once_stopped_stays_stopped_and_keeps_the_streak_that_stopped_it():
    streak = FailureStreak(2)
    fail(streak, "ValueError", "first", times=2)
    streak.record(TrialState.COMPLETE)  # a trial still running when the run began to end
    fail(streak, "OSError", "later")
    assert streak.stop
    assert list(streak.kinds()) == ["ValueError"]


def test_states_other_than_an_end_are_ignored():
    streak = FailureStreak(2)
    fail(streak)
    streak.record(TrialState.RUNNING)
    streak.record(TrialState.WAITING)
    fail(streak)
    assert streak.stop


def test_summary_counts_each_error_type_with_its_first_message_most_frequent_first():
    streak = FailureStreak(6)
    fail(streak, "DatasetNotFoundError", "data set 'cifar10' not found: data/cifar-10-batches-py/ must hold ...")
    fail(streak, "NonFiniteLossError", "training loss is nan at epoch 1\nsecond line")
    fail(streak, "NonFiniteLossError", "training loss is inf at epoch 2")
    fail(streak, "NonFiniteLossError", "training loss is nan at epoch 3")
    fail(streak, "DatasetNotFoundError", "another message")
    fail(streak, None, "")
    assert streak.stop
    assert streak.summary().splitlines() == [
        "the last 6 trials failed in a row (study.max_failures: 6):",
        "  3 × NonFiniteLossError, e.g. training loss is nan at epoch 1",
        "  2 × DatasetNotFoundError, e.g. data set 'cifar10' not found: data/cifar-10-batches-py/ must hold ...",
        "  1 × UnknownError",
    ]


def test_summary_shortens_a_long_message():
    streak = FailureStreak(1)
    fail(streak, "RuntimeError", "x" * 5000)
    line = streak.summary().splitlines()[1]
    assert line.endswith("…") and len(line) < EXAMPLE_CHARS + 40


# ----------------------------------------------------------------------------- in the searcher

SPACE = parse_space({"optimizer.lr": {"float": [1e-4, 1e-1], "log": True}}, "t.yaml")
BASE = {"optimizer": {"name": "adam", "lr": 1e-3}, "epochs": 2}


def searcher(tmp_path, streak: FailureStreak, target: int = 100) -> StudySearcher:
    storage = open_storage(f"sqlite:///{tmp_path}/s.db")
    study = optuna.create_study(storage=storage, direction="maximize")
    return StudySearcher(study, storage, SPACE, BASE, metric="val_acc", mode="max", objective="best", target=target, failures=streak)


def raised(message: str = "no data") -> dict:
    return {ERROR_TYPE_KEY: "DatasetNotFoundError", ERROR_KEY: message}


def test_searcher_finishes_after_the_streak_and_feeds_it_every_end(tmp_path):
    streak = FailureStreak(3)
    s = searcher(tmp_path, streak)
    s.suggest("a")
    s.on_trial_complete("a", raised())
    s.suggest("b")
    s.on_trial_complete("b", {"epoch": 1, "val_acc": 0.5, "finished": True})  # COMPLETE: resets
    for trial_id in ("c", "d"):
        s.suggest(trial_id)
        s.on_trial_complete(trial_id, raised())
    s.suggest("e")
    s.suggest("f")  # two running when the third failure in a row comes
    s.on_trial_complete("e", raised("the third"))
    assert s.suggest("g") == Searcher.FINISHED
    s.on_trial_complete("f", {"epoch": 1, "val_acc": 0.5, "finished": True})  # running trials end as they would
    assert s.suggest("h") == Searcher.FINISHED
    assert streak.summary().splitlines()[1] == "  3 × DatasetNotFoundError, e.g. no data"


def test_searcher_without_a_streak_keeps_proposing(tmp_path):
    storage = open_storage(f"sqlite:///{tmp_path}/s.db")
    study = optuna.create_study(storage=storage, direction="maximize")
    s = StudySearcher(study, storage, SPACE, BASE, metric="val_acc", mode="max", objective="best", target=100)
    for n in range(20):
        s.suggest(f"t{n}")
        s.on_trial_complete(f"t{n}", raised())
    assert isinstance(s.suggest("next"), dict)

"""Several drivers' searchers on one study: together they ask exactly ``study.trials`` trials.

Each searcher reads the study at most once a second, so two drivers (or one driver
filling several slots in a row) can each believe one more trial is needed, and a driver
sees the others' trials end at its next read. These tests interleave two
searchers on one storage deterministically, without Ray.
"""

from __future__ import annotations

import optuna
import pytest
from optuna.trial import TrialState
from ray.tune.search import Searcher

import hpo.engine.replica
from hpo.engine.searcher import StudySearcher
from hpo.spec.sections import load_spec
from hpo.study.storage import open_storage
from tests.scale.conftest import small_spec, write_spec

TARGET = 3


@pytest.fixture
def two_searchers(tmp_path, monkeypatch):
    monkeypatch.setattr(hpo.engine.replica, "SYNC_INTERVAL_S", 3600.0)  # all within "one second", however slow
    spec = load_spec(write_spec(tmp_path, small_spec("shared", trials=TARGET, epochs=1)))
    storage = f"sqlite:///{tmp_path}/shared.db"
    optuna.create_study(study_name="shared", storage=storage, direction="maximize")

    def searcher() -> StudySearcher:
        own = open_storage(storage)  # a driver's own connection
        study = optuna.load_study(study_name="shared", storage=own)
        return StudySearcher(study, own, spec.space, spec.train, metric="val_acc", mode="max", objective="best", target=TARGET)

    return searcher(), searcher(), optuna.load_study(study_name="shared", storage=storage)


def _a_second_later(monkeypatch) -> None:
    """The searchers' next calls read the study again."""
    monkeypatch.setattr(hpo.engine.replica, "SYNC_INTERVAL_S", 0.0)


def _finish(searcher: StudySearcher, trial_id: str, value: float = 0.5) -> None:
    searcher.on_trial_complete(trial_id, {"epoch": 1, "val_acc": value, "finished": True})


def test_interleaved_asks_from_stale_counts_stop_at_the_target(two_searchers, monkeypatch):
    a, b, study = two_searchers
    proposals = [a.suggest("a1"), b.suggest("b1"), a.suggest("a2"), b.suggest("b2")]  # within one second

    assert [p is not None for p in proposals] == [True, True, True, False]
    assert len(study.get_trials(states=(TrialState.RUNNING,))) == TARGET
    waiting = study.get_trials(states=(TrialState.WAITING,))
    assert len(waiting) == 1 and waiting[0].params  # given back as sampled, to run as queued

    for searcher, trial_id in ((a, "a1"), (b, "b1"), (a, "a2")):
        _finish(searcher, trial_id)
    assert a.suggest("a3") is None  # a has not yet seen b's trial end: it waits
    _a_second_later(monkeypatch)
    assert a.suggest("a3") == Searcher.FINISHED and b.suggest("b3") == Searcher.FINISHED
    assert len(study.get_trials(states=(TrialState.COMPLETE,))) == TARGET


def test_a_slot_given_back_is_taken_again_when_an_earlier_trial_fails(two_searchers, monkeypatch):
    a, b, study = two_searchers
    for searcher, trial_id in ((a, "a1"), (b, "b1"), (a, "a2")):
        assert searcher.suggest(trial_id) is not None
    assert b.suggest("b2") is None  # the fourth ask gives its slot back

    a.on_trial_complete("a1", None, error=True)
    a.record_error("a1", "WorkerDied", "the trial's node died")
    assert b.suggest("b3") is None  # b has not seen the failure yet
    _a_second_later(monkeypatch)
    again = b.suggest("b3")

    assert again is not None and again["trial_number"] == 3  # the trial that was given back
    for searcher, trial_id in ((b, "b1"), (a, "a2"), (b, "b3")):
        _finish(searcher, trial_id)
    states = [t.state for t in study.get_trials()]
    assert states.count(TrialState.COMPLETE) == TARGET and states.count(TrialState.FAIL) == 1
    assert a.suggest("a4") == Searcher.FINISHED

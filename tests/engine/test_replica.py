"""The replica the sampler works on writes the same records Optuna's own ``Study.tell``
would, numbers trials as the study does, and takes in other drivers' trials."""

from __future__ import annotations

import optuna
import pytest
from optuna.distributions import FloatDistribution
from optuna.trial import TrialState

from hpo.engine.replica import StudyReplica
from hpo.study.storage import open_storage

LR = FloatDistribution(1e-4, 1e-1, log=True)


@pytest.fixture
def storage(tmp_path):
    return open_storage(f"sqlite:///{tmp_path}/replica.db")


def study_on(storage, name: str = "r") -> optuna.Study:
    return optuna.create_study(study_name=name, storage=storage, direction="maximize", load_if_exists=True,
                               sampler=optuna.samplers.RandomSampler(seed=0))  # fmt: skip


def record(trial: optuna.Trial, steps: dict[int, float]) -> None:
    trial.suggest_float("lr", 1e-4, 1e-1, log=True)
    trial.set_user_attr("config", {"lr": trial.params["lr"]})
    for step, value in steps.items():
        trial.report(value, step)


@pytest.mark.parametrize("state", [TrialState.COMPLETE, TrialState.PRUNED, TrialState.FAIL])
def test_a_trial_written_through_equals_optunas_own_record(storage, state):
    ours = study_on(storage, "ours")
    replica = StudyReplica(ours, storage)
    trial = replica.ask(target=5)
    record(trial, {1: 0.5, 2: 0.7})
    assert replica.start(trial, target=5)
    replica.flush(trial)
    told = replica.tell(trial, state, 0.7 if state == TrialState.COMPLETE else None)

    theirs = study_on(storage, "theirs")
    reference = theirs.ask()
    reference.suggest_float("lr", trial.params["lr"], trial.params["lr"])  # same value, recorded under its own range
    reference.set_user_attr("config", {"lr": trial.params["lr"]})
    for step, value in {1: 0.5, 2: 0.7}.items():
        reference.report(value, step)
    theirs.tell(reference, 0.7 if state == TrialState.COMPLETE else None, state=state)

    (stored,), (expected,) = ours.get_trials(), theirs.get_trials()
    assert told.number == stored.number == 0
    assert stored.state == expected.state and stored.values == expected.values
    assert stored.params == expected.params and stored.distributions == {"lr": LR}
    assert stored.intermediate_values == expected.intermediate_values
    assert stored.user_attrs == expected.user_attrs


def test_two_replicas_number_trials_as_the_study_does_and_see_each_other(storage):
    study_on(storage)
    first = StudyReplica(study_on(storage), storage)
    second = StudyReplica(study_on(storage), storage)
    a = first.ask(target=10)
    record(a, {})
    first.start(a, target=10)
    b = second.ask(target=10)
    record(b, {})
    second.start(b, target=10)
    c = first.ask(target=10)
    record(c, {})
    first.start(c, target=10)
    assert [first.number(a), second.number(b), first.number(c)] == [0, 1, 2]
    first.tell(a, TrialState.COMPLETE, 0.9)
    second.sync()
    assert [(t.number, t.state) for t in second.study_trials()] == [
        (0, TrialState.COMPLETE), (1, TrialState.RUNNING), (2, TrialState.RUNNING)
    ]  # fmt: skip
    assert [t.number for t in first.running_elsewhere()] == [1]


def test_a_queued_trial_another_driver_claimed_first_counts_as_its_running_trial(storage):
    study_on(storage).enqueue_trial({"lr": 1e-3})  # the baseline both drivers see queued
    first = StudyReplica(study_on(storage), storage)
    second = StudyReplica(study_on(storage), storage)
    claimed = first.ask(target=3)
    assert claimed is not None and first.start(claimed, target=3)
    assert second.ask(target=3) is None  # its claim lost: nothing to sample this time
    assert [(t.number, t.state) for t in second.running_elsewhere()] == [(0, TrialState.RUNNING)]
    second.sync()  # and it stays tracked: a later sync still sees it running, and its end
    assert [t.number for t in second.running_elsewhere()] == [0]
    first.tell(claimed, TrialState.COMPLETE, 0.5)
    second.sync()
    assert second.running_elsewhere() == [] and [t.state for t in second.study_trials()] == [TrialState.COMPLETE]


def test_a_place_taken_twice_is_given_back_sampled_and_claimed_by_the_next_ask(storage):
    study_on(storage)
    first = StudyReplica(study_on(storage), storage)
    second = StudyReplica(study_on(storage), storage)  # read before the first took the last place
    a = first.ask(target=1)
    record(a, {})
    assert first.start(a, target=1)
    b = second.ask(target=1)  # its view is stale: one place free
    record(b, {})
    assert not second.start(b, target=1)
    study = study_on(storage)
    assert [t.state for t in study.get_trials()] == [TrialState.RUNNING, TrialState.WAITING]
    first.tell(a, TrialState.FAIL)  # the place frees up
    second.sync()
    again = second.ask(target=1)
    assert again is not None
    record(again, {})
    assert again.params == {"lr": b.params["lr"]}  # the given-back trial, its parameters fixed
    assert second.start(again, target=1) and second.number(again) == 1


def test_the_samplers_study_attributes_reach_the_study(storage):
    study = optuna.create_study(study_name="q", storage=storage, sampler=optuna.samplers.QMCSampler(seed=0))
    replica = StudyReplica(study, storage)
    for _ in range(3):
        trial = replica.ask(target=10)
        trial.suggest_float("x", 0, 1)
        trial.suggest_float("y", 0, 1)
        replica.start(trial, target=10)
        replica.tell(trial, TrialState.COMPLETE, 0.0)
    stored = storage.get_study_system_attrs(storage.get_study_id_from_name("q"))
    assert any(key.startswith("qmc:") and value >= 1 for key, value in stored.items()), stored  # its sequence's place


class WriteLog(optuna.storages.InMemoryStorage):
    """Optuna's in-memory storage, noting the key of each trial user attribute written."""

    def __init__(self) -> None:
        super().__init__()
        self.user_attrs_written: list[str] = []

    def set_trial_user_attr(self, trial_id: int, key: str, value) -> None:
        self.user_attrs_written.append(key)
        super().set_trial_user_attr(trial_id, key, value)


@pytest.mark.parametrize("background", [False, True])
def test_the_attribute_that_marks_a_flush_whole_is_written_after_the_rest(background):
    """A run killed during a flush leaves its first writes only: the checkpoint a resume
    reads must not be there without the history it holds, whatever order it was set in."""
    storage = WriteLog()
    replica = StudyReplica(study_on(storage), storage, written_last=("checkpoint",))
    trial = replica.ask(target=2)
    record(trial, {1: 0.5})
    assert replica.start(trial, target=2)

    def flush() -> None:
        if background:
            replica.flush_behind(trial, lambda: None)
            replica.settle(wait=True)
        else:
            replica.flush(trial)

    for epoch in (1, 2):  # the checkpoint's key set before the history's, as a resumed trial does
        storage.user_attrs_written.clear()
        trial.set_user_attr("checkpoint", {"epoch": epoch})
        trial.set_user_attr("history", [{"epoch": e} for e in range(1, epoch + 1)])
        flush()
        assert storage.user_attrs_written == ["history", "checkpoint"]
    assert replica.trials()[0].user_attrs["checkpoint"] == {"epoch": 2}

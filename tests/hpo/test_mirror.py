"""The study mirror: the records it writes with plain SQL are the ones Optuna's own API
would write, and drivers sharing a study see each other's trials through the database."""

from __future__ import annotations

import math
from datetime import datetime, timedelta

import optuna
import pytest
from optuna.trial import TrialState

from hpo.mirror import StudyMirror
from hpo.records import driver_mark
from hpo.samplers import ConditionalGridSampler
from hpo.storage import open_storage


def sqlite_study(tmp_path, name="s", sampler=None) -> optuna.Study:
    storage = open_storage(f"sqlite:///{tmp_path}/mirror.db")
    sampler = sampler or optuna.samplers.RandomSampler(seed=0)
    return optuna.create_study(storage=storage, study_name=name, direction="maximize", sampler=sampler, load_if_exists=True)


def reread(study: optuna.Study) -> list[optuna.trial.FrozenTrial]:
    """The trials as a new process reads them (optuna-dashboard, ``hpo status``)."""
    return optuna.load_study(study_name=study.study_name, storage=open_storage(study._storage._backend.url)).get_trials()


def play(trial: optuna.Trial, steps: dict[int, float]) -> None:
    trial.suggest_float("lr", 1e-4, 1e-1, log=True)
    trial.suggest_categorical("optimizer", ["sgd", "adam"])
    trial.suggest_int("width", 8, 64, step=8)
    for step, value in steps.items():
        trial.report(value, step)
    trial.set_user_attr("config", {"optimizer": {"name": "adam"}, "epochs": 3})
    trial.set_user_attr("history", [{"epoch": 1, "val_acc": 0.5}])


@pytest.mark.parametrize(
    "state, value, steps",
    [
        (TrialState.COMPLETE, 0.9, {1: 0.5, 2: 0.9, 3: 0.8}),
        (TrialState.PRUNED, None, {1: 0.25, 2: 0.3}),
        (TrialState.FAIL, None, {1: float("nan")}),
    ],
)
def test_mirror_records_what_optuna_records(tmp_path, state, value, steps):
    by_optuna = sqlite_study(tmp_path, "optuna")
    trial = by_optuna.ask()
    play(trial, steps)
    by_optuna.tell(trial, value, state=state)

    by_mirror = sqlite_study(tmp_path, "mirror")
    mirror = StudyMirror(by_mirror)
    trial = mirror.ask(target=10)
    play(trial, {1: steps[1]})
    mirror.flush(trial)  # part of it before the end, as the searcher does
    for step, later in list(steps.items())[1:]:
        trial.report(later, step)
    told = mirror.tell(trial, state, value)

    (expected,), (got,) = reread(by_optuna), reread(by_mirror)
    assert got.system_attrs == driver_mark()
    for key in ("number", "state", "params", "distributions", "user_attrs"):
        assert getattr(got, key) == getattr(expected, key), key
    assert got.values == expected.values and told.values == expected.values
    assert got.intermediate_values.keys() == expected.intermediate_values.keys()
    for step, stored in got.intermediate_values.items():
        assert stored == expected.intermediate_values[step] or (math.isnan(stored) and math.isnan(expected.intermediate_values[step]))
    for key in ("datetime_start", "datetime_complete"):  # local time, as Optuna returns it
        assert abs(getattr(got, key) - getattr(expected, key)) < timedelta(seconds=30), key
    assert abs(got.datetime_complete - datetime.now()) < timedelta(seconds=30)


def test_trials_of_two_drivers_are_numbered_in_order_and_seen_by_each_other(tmp_path):
    first, second = StudyMirror(sqlite_study(tmp_path)), StudyMirror(sqlite_study(tmp_path))
    a = first.ask(target=10)
    b = second.ask(target=10)
    c = first.ask(target=10)
    assert [first.number(a), second.number(b), first.number(c)] == [0, 1, 2]
    a.suggest_float("x", 0, 1)
    first.tell(a, TrialState.COMPLETE, 0.7)
    second.sync()
    theirs = [t for t in second.trials() if t.state == TrialState.COMPLETE]
    assert [(t.value, t.params) for t in theirs] == [(0.7, a.params)]
    assert [t.state for t in second.trials()].count(TrialState.RUNNING) == 2  # its own, and first's c
    first.tell(c, TrialState.FAIL)
    second.sync()
    assert sorted(t.state.name for t in second.trials()) == ["COMPLETE", "FAIL", "RUNNING"]


def test_each_driver_reads_the_study_as_the_database_holds_it(tmp_path, monkeypatch):
    study = sqlite_study(tmp_path)
    earlier = study.ask()  # from a run before these drivers started
    play(earlier, {1: 0.4})
    study.tell(earlier, 0.4)
    first, second = StudyMirror(sqlite_study(tmp_path)), StudyMirror(sqlite_study(tmp_path))
    a = first.ask(target=10)
    with monkeypatch.context() as asking_at_once:  # second asks before it has seen a
        asking_at_once.setattr(second, "sync", lambda: None)
        b = second.ask(target=10)
    c = first.ask(target=10)
    for trial, steps in ((a, {1: 0.5, 2: 0.6}), (b, {1: 0.7}), (c, {1: 0.2})):
        play(trial, steps)
    first.tell(a, TrialState.COMPLETE, 0.6)
    second.tell(b, TrialState.PRUNED)
    first.tell(c, TrialState.FAIL)
    second.ask(target=10)  # still running
    assert second.ask(target=4) is None  # given back: waiting in the queue

    def seen(trials):  # a running trial's parameters and values reach the others when it ends
        return [(t.number, t.state) + ((t.value, t.params, t.intermediate_values) if t.state.is_finished() else ()) for t in trials]

    in_database = seen(t for t in reread(study) if t.state != TrialState.WAITING)
    assert [number for number, *_ in in_database] == [0, 1, 2, 3, 4]
    assert seen(first.study_trials()) == in_database
    assert seen(second.study_trials()) == in_database


def test_the_later_of_two_asks_for_the_last_place_gives_it_back(tmp_path):
    study = sqlite_study(tmp_path)
    first, second = StudyMirror(study), StudyMirror(study)
    trial = first.ask(target=1)
    assert second.ask(target=1) is None
    assert [t.state for t in reread(study)] == [TrialState.RUNNING, TrialState.WAITING]
    first.tell(trial, TrialState.FAIL)  # the place is free again
    again = second.ask(target=1)
    assert second.number(again) == 1  # the trial given back, taken again
    assert [t.state for t in reread(study)] == [TrialState.FAIL, TrialState.RUNNING]


def test_a_queued_trial_is_claimed_with_its_parameters(tmp_path):
    study = sqlite_study(tmp_path)
    study.enqueue_trial({"x": 0.3}, user_attrs={"requeued_from": 7})
    (queued,) = study.get_trials()
    study._storage.set_trial_system_attr(queued._trial_id, "hpo:driver", "a-driver-long-gone")
    mirror = StudyMirror(study)
    trial = mirror.ask(target=5)
    assert trial.suggest_float("x", 0, 1) == 0.3
    trial.set_user_attr("epochs", 2)
    mirror.tell(trial, TrialState.COMPLETE, 0.5)
    (stored,) = reread(study)
    assert stored.state == TrialState.COMPLETE and stored.params == {"x": 0.3}
    assert stored.user_attrs == {"requeued_from": 7, "epochs": 2}
    assert stored.system_attrs == {"fixed_params": {"x": 0.3}, **driver_mark()}
    assert mirror.ask(target=5) is not None and [t.state for t in reread(study)].count(TrialState.WAITING) == 0


def test_what_a_sampler_keeps_in_the_study_reaches_the_database(tmp_path):
    grid = ConditionalGridSampler([{"x": 1}, {"x": 2}], seed=0)
    study = sqlite_study(tmp_path, sampler=grid)
    mirror = StudyMirror(study)
    trial = mirror.ask(target=2)
    mirror.flush(trial)
    assert reread(study)[0].system_attrs["hpo:grid_index"] in (0, 1)

    qmc = sqlite_study(tmp_path, "qmc", optuna.samplers.QMCSampler(seed=0))
    mirror = StudyMirror(qmc)
    for _ in range(3):  # QMC samples relative to the first trial's space, from the second on
        trial = mirror.ask(target=5)
        trial.suggest_float("x", 0, 1)
        mirror.tell(trial, TrialState.COMPLETE, 0.1)
    stored = qmc._storage.get_study_system_attrs(qmc._study_id)
    counters = {k: v for k, v in stored.items() if k.startswith("qmc:")}
    assert list(counters.values()) == [1]  # its place in the sequence, for a resumed run to go on


def test_a_trial_finished_elsewhere_is_not_finished_again(tmp_path):
    study = sqlite_study(tmp_path)
    mirror = StudyMirror(study)
    trial = mirror.ask(target=5)
    study._storage.set_trial_state_values(reread(study)[0]._trial_id, TrialState.FAIL)  # another driver's recovery
    with pytest.raises(optuna.exceptions.UpdateFinishedTrialError):
        mirror.tell(trial, TrialState.COMPLETE, 0.5)
    assert reread(study)[0].state == TrialState.FAIL


def test_only_a_study_in_a_database_can_be_mirrored():
    with pytest.raises(TypeError, match="RDB"):
        StudyMirror(optuna.create_study())

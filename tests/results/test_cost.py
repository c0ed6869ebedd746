"""hpo.results.cost: what a study cost and what pruning saved."""

from __future__ import annotations

import datetime as dt

import optuna
import pytest
from optuna.trial import FrozenTrial, TrialState

from hpo.results.cost import busy_seconds, cost_of, study_cost
from hpo.spec.sections import ResourcesSection
from hpo.study.keys import SPEC_TEXT_ATTR

T0 = dt.datetime(2026, 1, 1, 12, 0, 0)


def at(seconds: float) -> dt.datetime:
    return T0 + dt.timedelta(seconds=seconds)


def trial(state: str, epochs: int, start: float | None, end: float | None, seconds: float | None = None) -> FrozenTrial:
    """A trial that ran ``epochs`` epochs from ``start`` to ``end`` (seconds after T0),
    recording ``seconds`` as the searcher does when it ends."""
    done = TrialState[state].is_finished()
    made = optuna.trial.create_trial(
        state=TrialState[state],
        value=0.5 if state == "COMPLETE" else None,
        intermediate_values={e: 0.5 for e in range(1, epochs + 1)},
        user_attrs={"epochs": epochs, "seconds": seconds} if done else {},
    )
    made.datetime_start = None if start is None else at(start)
    made.datetime_complete = None if end is None else at(end)
    return made


def test_epochs_time_and_hours_of_every_kind_of_trial():
    trials = [
        trial("COMPLETE", 8, 0, 80, seconds=80),
        trial("COMPLETE", 5, 10, 60, seconds=50),  # stopped by the trainer's own early stopping
        trial("PRUNED", 2, 20, 40, seconds=20),
        trial("PRUNED", 4, 30, 70, seconds=40),
        trial("FAIL", 1, 200, 210, seconds=10),  # after a gap: a resumed run
        trial("RUNNING", 3, 220, None),  # no seconds yet: counts to now
        trial("WAITING", 0, None, None),  # queued, never started
    ]
    cost = cost_of(trials, 8, ResourcesSection(cpus_per_trial=2, gpus_per_trial=0.5), now=at(250))
    assert cost.trials == 6
    assert cost.epochs == 8 + 5 + 2 + 4 + 1 + 3
    # only the pruned trials would have run on, to train.epochs
    assert cost.epochs_unpruned == cost.epochs + (8 - 2) + (8 - 4)
    assert cost.epochs_saved == 10 and cost.saved_fraction == pytest.approx(10 / 33)
    assert cost.wall_seconds == pytest.approx(80 + 10 + 30)  # 0-80, 200-210, 220-250
    assert cost.trial_seconds == pytest.approx(80 + 50 + 20 + 40 + 10 + 30)
    assert cost.cpu_hours == pytest.approx(230 * 2 / 3600) and cost.gpu_hours == pytest.approx(230 * 0.5 / 3600)


def test_without_a_spec_the_savings_and_hours_are_unknown():
    cost = cost_of([trial("PRUNED", 2, 0, 20, seconds=20)], None, None, now=at(30))
    assert (cost.epochs, cost.wall_seconds, cost.trial_seconds) == (2, 20, 20)
    assert None is cost.epochs_unpruned is cost.epochs_saved is cost.saved_fraction is cost.cpu_hours is cost.gpu_hours


def test_a_trial_ended_without_seconds_counts_from_start_to_end():
    cost = cost_of([trial("FAIL", 1, 0, 12), trial("COMPLETE", 3, 5, 20, seconds=15)], 3, ResourcesSection(), now=at(100))
    assert cost.trial_seconds == pytest.approx(27) and cost.wall_seconds == pytest.approx(20)
    assert cost.epochs_saved == 0 and cost.saved_fraction == 0 and cost.gpu_hours == 0


@pytest.mark.parametrize(
    ("spans", "seconds"),
    [([], 0), ([(0, 10), (5, 8)], 10), ([(0, 10), (10, 20)], 20), ([(30, 40), (0, 10), (5, 15)], 25)],
    ids=["none", "one inside another", "end to end", "a gap, out of order"],
)
def test_busy_seconds_count_overlaps_once_and_gaps_not_at_all(spans, seconds):
    assert busy_seconds([(at(a), at(b)) for a, b in spans]) == seconds


def test_the_study_cost_reads_train_epochs_and_resources_from_the_stored_spec(fake_study):
    trials = fake_study.get_trials()
    now = max(t.datetime_start for t in trials) + dt.timedelta(seconds=5)
    cost = study_cost(fake_study, now)
    # make_study: 8 complete trials of 3 epochs, 4 pruned after 1, 1 failed after 1, 1 running at 2
    assert (cost.trials, cost.epochs, cost.epochs_unpruned) == (14, 8 * 3 + 4 + 1 + 2, 31 + 4 * 2)
    assert (cost.cpus_per_trial, cost.gpus_per_trial) == (1, 0)
    running = next(t for t in trials if t.state == TrialState.RUNNING)
    assert cost.trial_seconds == pytest.approx(0.1 * 29 + (now - running.datetime_start).total_seconds())

    spec = fake_study.user_attrs[SPEC_TEXT_ATTR]
    fake_study.set_user_attr(SPEC_TEXT_ATTR, spec.replace("cpus_per_trial: 1,", "cpus_per_trial: 4, gpus_per_trial: 0.25,"))
    packed = study_cost(fake_study, now)
    assert packed.cpu_hours == pytest.approx(4 * cost.cpu_hours) and packed.gpu_hours == pytest.approx(cost.cpu_hours / 4)

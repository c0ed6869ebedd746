"""The live panel's ETA: this run's trial durations, max_concurrent at a time, within the time budget."""

from __future__ import annotations

import io

import pytest
from optuna.trial import FrozenTrial, TrialState, create_trial
from rich.console import Console

from hpo.engine.progress import Eta, StudyProgress, estimate_eta
from hpo.study.summary import Tally


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def ended(number: int, state: TrialState = TrialState.COMPLETE) -> FrozenTrial:
    trial = create_trial(state=state, value=0.5 if state == TrialState.COMPLETE else None)
    trial.number = number
    return trial


@pytest.mark.parametrize(
    ("case", "kwargs", "eta"),
    [
        ("two slots, four to start", dict(mean_s=10, running_for=[0, 0], to_start=4, concurrency=2), Eta(30, False)),
        ("running trials part done", dict(mean_s=10, running_for=[4, 8], to_start=1, concurrency=2), Eta(12, False)),
        ("an overdue trial ends any moment", dict(mean_s=10, running_for=[25], to_start=0, concurrency=1), Eta(0, False)),
        ("idle slots start trials now", dict(mean_s=10, running_for=[], to_start=3, concurrency=4), Eta(10, False)),
        ("one trial left waits for no slot", dict(mean_s=10, running_for=[0, 0, 0], to_start=1, concurrency=4), Eta(10, False)),
        ("the budget ends it first", dict(mean_s=10, running_for=[0, 0], to_start=4, concurrency=2, budget_left_s=15), Eta(15, True)),
        ("the budget outlasts it", dict(mean_s=10, running_for=[0, 0], to_start=4, concurrency=2, budget_left_s=60), Eta(30, False)),
        ("a running trial passes the budget", dict(mean_s=10, running_for=[0], to_start=0, concurrency=1, budget_left_s=4), Eta(4, True)),
        ("a spent budget", dict(mean_s=10, running_for=[3], to_start=5, concurrency=1, budget_left_s=-2), Eta(0, True)),
    ],
)
def test_estimate(case, kwargs, eta):
    assert estimate_eta(**kwargs) == eta, case


def progress(clock: FakeClock, target: int, out: io.StringIO, **kwargs) -> StudyProgress:
    console = Console(file=out, width=300)  # not a terminal: a line per finished trial
    return StudyProgress("s", Tally(target=target, mode="max"), console, clock=clock, **kwargs)


def test_the_eta_counts_trial_durations_and_concurrency_not_start_up():
    """Two workers; their first trials also started them (60 s), the next took 10 s.
    Elapsed / done would say 70 / 4 * 2 = 35 s; two trials are left for two workers: 10 s."""
    clock, out = FakeClock(), io.StringIO()
    with progress(clock, 6, out, concurrency=2) as panel:
        assert panel.eta is None  # nothing to go by before the first trial ends
        panel.trial_started(0)
        panel.trial_started(1)
        clock.now += 60
        panel.trial_finished(ended(0))
        assert panel.eta == Eta(120, False)  # only the first wave to go by: 4 more of 60 s, two at a time
        panel.trial_finished(ended(1, TrialState.PRUNED))
        panel.trial_started(2)
        panel.trial_started(3)
        clock.now += 10
        panel.trial_finished(ended(2))
        panel.trial_finished(ended(3, TrialState.PRUNED))
        assert panel.eta == Eta(10, False)
        panel.trial_started(4)
        clock.now += 5
        assert panel.eta == Eta(10, False)  # trial 4 has 5 s left; trial 5 starts now on the free worker
    assert "eta 0:10" in out.getvalue().splitlines()[-1]


def test_failed_trials_do_not_set_the_pace():
    clock, out = FakeClock(), io.StringIO()
    with progress(clock, 3, out, concurrency=1) as panel:
        panel.trial_started(0)
        clock.now += 20
        panel.trial_finished(ended(0))
        panel.trial_started(1)
        clock.now += 1
        panel.trial_finished(ended(1, TrialState.FAIL))
        assert panel.eta == Eta(40, False)  # two more trials of 20 s, one at a time


def test_a_study_under_a_time_budget_ends_with_it():
    """A 30-minute budget, trials of 10 minutes one at a time, 10 to go: the ETA is the
    budget's end, and the line says so."""
    clock, out = FakeClock(), io.StringIO()
    with progress(clock, 12, out, concurrency=1, time_budget_s=1800) as panel:
        for number in range(2):
            panel.trial_started(number)
            clock.now += 600
            panel.trial_finished(ended(number))
        assert panel.eta == Eta(600, True)
    assert out.getvalue().splitlines()[-1].endswith("eta 10:00 (the time budget ends the study)")

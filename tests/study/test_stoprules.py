"""The stop rules (study.target, study.patience), judged on trial lists as a study stores them."""

from __future__ import annotations

from datetime import datetime, timedelta

import pytest
from optuna.trial import FrozenTrial, TrialState, create_trial

from hpo.study.stoprules import StopRules, finish_order

START = datetime(2026, 1, 1)
C, P, F, R = TrialState.COMPLETE, TrialState.PRUNED, TrialState.FAIL, TrialState.RUNNING


def trials(*ends: tuple[TrialState, float | None]) -> list[FrozenTrial]:
    """Trials numbered 0, 1, ... that finished in that order, a second apart."""
    made = []
    for number, (state, value) in enumerate(ends):
        trial = create_trial(state=state, value=value if state == C else None, intermediate_values={1: value} if value is not None else {})
        trial.number = number
        trial.datetime_complete = None if state == R else START + timedelta(seconds=number)
        made.append(trial)
    return made


def rules(mode: str = "max", **kwargs: float) -> StopRules:
    return StopRules("val_acc", mode, **kwargs)  # type: ignore[arg-type]


def test_no_rule_set_never_stops():
    assert rules().verdict(trials((C, 1.0), (P, 0.0), (P, 0.0))) is None


@pytest.mark.parametrize(
    ("mode", "target", "values", "verdict"),
    [
        ("max", 0.9, [0.5, 0.9, 0.95], "target val_acc >= 0.9 reached by trial 1"),
        ("max", 0.9, [0.5, 0.89], None),
        ("min", 0.2, [0.5, 0.3, 0.2], "target val_acc <= 0.2 reached by trial 2"),
        ("min", 0.2, [0.1], "target val_acc <= 0.2 reached by trial 0"),
        ("max", 0.0, [0.0], "target val_acc >= 0 reached by trial 0"),
        ("min", 1.5, [1.6, 1.5], "target val_acc <= 1.5 reached by trial 1"),
    ],
)
def test_target_is_reached_by_the_first_complete_trial_at_or_beyond_it(mode, target, values, verdict):
    assert rules(mode, target=target).verdict(trials(*((C, v) for v in values))) == verdict


def test_a_pruned_or_failed_trial_beyond_the_target_does_not_reach_it():
    # a pruned trial's value is that of an unfinished training; a failed one has none
    assert rules(target=0.9).verdict(trials((P, 0.99), (F, None), (C, 0.5))) is None


def test_the_order_of_finishing_decides_not_the_numbers():
    late, early = trials((C, 0.95), (C, 0.97))
    late.datetime_complete, early.datetime_complete = START + timedelta(seconds=5), START
    assert rules(target=0.9).verdict([late, early]) == "target val_acc >= 0.9 reached by trial 1"
    assert [t.number for t in finish_order([late, early])] == [1, 0]


def test_finish_order_leaves_out_running_and_failed_trials():
    assert [t.number for t in finish_order(trials((C, 0.5), (R, None), (F, None), (P, 0.1)))] == [0, 3]


@pytest.mark.parametrize(
    ("mode", "ends", "verdict"),
    [
        # best at trial 1, then two finished trials (one pruned) that do not beat it
        ("max", [(C, 0.5), (C, 0.8), (P, 0.9), (C, 0.7)], "patience: 2 finished trials without a better one since trial 1"),
        # a tie does not reset the count
        ("max", [(C, 0.8), (C, 0.8), (C, 0.8)], "patience: 2 finished trials without a better one since trial 0"),
        # a better complete trial resets it
        ("max", [(C, 0.5), (C, 0.4), (C, 0.6), (C, 0.5)], None),
        ("min", [(C, 0.5), (C, 0.4), (C, 0.6), (C, 0.5)], "patience: 2 finished trials without a better one since trial 1"),
        # failed and running trials are not finished: they neither count nor reset
        ("max", [(C, 0.8), (F, None), (C, 0.1), (R, None), (F, None)], None),
        # pruned from the start: no best yet, and still no better one
        ("max", [(P, 0.5), (P, 0.6)], "patience: 2 finished trials without a better one since the start (none complete)"),
    ],
)
def test_patience_counts_finished_trials_without_a_better_complete_value(mode, ends, verdict):
    assert rules(mode, patience=2).verdict(trials(*ends)) == verdict


def test_a_rule_that_fired_stays_fired_when_later_trials_would_undo_it():
    # trials running when patience ran out, and better: the verdict (and a resumed run's) stands
    ended = trials((C, 0.5), (C, 0.4), (C, 0.3), (C, 0.9))
    assert rules(patience=2).verdict(ended) == "patience: 2 finished trials without a better one since trial 0"


def test_the_rule_that_fires_first_in_finish_order_is_the_verdict():
    ended = trials((C, 0.5), (C, 0.4), (C, 0.3), (C, 0.95))
    assert rules(target=0.9, patience=2).verdict(ended).startswith("patience: 2")
    assert rules(target=0.9, patience=3).verdict(ended) == "target val_acc >= 0.9 reached by trial 3"

"""Checkpoints take at most ``checkpoint.max_overhead`` of a trial's time: a due one waits
until the trial has trained long enough after the last for that one's cost to be that share."""

from __future__ import annotations

import time

import pytest

from hpo.engine.trainable import CheckpointPacing


def test_the_first_is_due_and_the_next_waits_for_the_cost_over_the_share_allowed():
    pacing = CheckpointPacing(max_overhead=0.5)
    assert pacing.due()
    pacing.written(0.2)  # half the time: the next after 0.2 s more of training
    assert not pacing.due()
    time.sleep(0.1)
    assert not pacing.due()
    time.sleep(0.15)
    assert pacing.due()


def test_a_cheap_checkpoint_leaves_out_none_of_epochs_longer_than_its_cost_over_the_share():
    pacing = CheckpointPacing(max_overhead=0.05)
    pacing.written(0.001)  # 1 ms: the next is due 19 ms later
    time.sleep(0.03)
    assert pacing.due()


@pytest.mark.parametrize("max_overhead", [None, 1.0])
def test_without_a_share_or_with_all_of_it_every_due_checkpoint_is_written(max_overhead):
    pacing = CheckpointPacing(max_overhead)
    for _ in range(3):
        assert pacing.due()
        pacing.written(10.0)

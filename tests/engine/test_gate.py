"""What a result goes through before Ray's HyperBand or PBT rule sees it."""

from __future__ import annotations

import math

import pytest
from ray.tune.schedulers import TrialScheduler

from hpo.engine.gate import ResultGate

CONTINUE, STOP = TrialScheduler.CONTINUE, TrialScheduler.STOP


@pytest.mark.parametrize(
    ("mode", "result", "admitted"),
    [
        ("max", {"hpo_error_type": "ValueError"}, CONTINUE),  # a trainer's error report
        ("max", {"epoch": 2, "hpo_paused": True}, CONTINUE),  # a pause at the time budget: no metric
        ("max", {"val_acc": 0.5}, CONTINUE),  # no epoch
        ("max", {"epoch": 3, "val_acc": 0.5}, STOP),  # the last epoch
        ("max", {"epoch": 2, "val_acc": 0.5, "finished": True}, STOP),  # the trainer's last report
        ("max", {"training_iteration": 3, "val_acc": 0.5}, STOP),  # Ray's count of reports, without the trainer's epoch
        ("max", {"epoch": 1, "val_acc": 0.5}, {"epoch": 1, "val_acc": 0.5}),
        ("max", {"training_iteration": 2, "val_acc": 1}, {"training_iteration": 2, "epoch": 2, "val_acc": 1.0}),
        ("max", {"epoch": 1, "val_acc": math.nan, "loss": 2.5}, {"epoch": 1, "val_acc": -math.inf, "loss": 2.5}),
        ("min", {"epoch": 1, "val_acc": math.nan}, {"epoch": 1, "val_acc": math.inf}),
    ],
)
def test_a_result_is_decided_or_handed_on_with_its_epoch_and_nan_as_the_worst(mode, result, admitted):
    assert ResultGate("val_acc", mode, epochs=3).admit(result) == admitted

"""What a result goes through before Ray's own scheduler rule sees it (HyperBand, PBT).

hpo.engine.schedulers builds HyperBand and PBT on Ray's classes, whose rules would pause
or exploit any trial at any report and sort a NaN anywhere. Each result first passes a
:class:`ResultGate`, which settles three cases before Ray's rule:

- a result without the epoch or the compared metric (a trainer's error report, a pause
  at the time budget) continues: the trial ends by itself, and Ray's rule has nothing to
  compare;
- a result at the trial's last epoch, or one the trainer marks finished, stops the trial:
  it has run all it will and must end COMPLETE, where HyperBand would pause it at a
  milestone (leaving it open to be stopped as pruned) and PBT could exploit it;
- any other result goes on to Ray's rule with the epoch under ``EPOCH`` (Ray's
  ``time_attr``), and a NaN of the compared metric replaced by the worst value for the
  mode, so that a diverged trial ranks last (the first HyperBand stops, the first PBT
  replaces).
"""

from __future__ import annotations

import math
from typing import Any

from ray.tune.schedulers import TrialScheduler

from hpo.contract import EPOCH, FINISHED
from hpo.engine.trainable import reported_epoch

__all__ = ["ResultGate"]


class ResultGate:
    """The cases a result settles before Ray's rule (see module doc).

    Args:
        metric: The per-epoch value Ray's rule compares.
        mode: ``max`` or ``min``: its direction, which says what the worst value is.
        epochs: Epochs of a full trial; a trial is stopped there.
    """

    def __init__(self, metric: str, mode: str, epochs: int) -> None:
        self._compared = metric
        self._worst = -math.inf if mode == "max" else math.inf
        self._epochs = epochs

    def admit(self, result: dict[str, Any]) -> str | dict[str, Any]:
        """The decision for ``result`` (CONTINUE or STOP) where Ray's rule must not see it,
        else the result to hand to Ray's rule: with ``EPOCH``, and NaN as the worst value."""
        epoch = reported_epoch(result)
        if epoch is None or self._compared not in result:
            return TrialScheduler.CONTINUE  # a trainer's error report, a pause at the time budget: the trial ends by itself
        if epoch >= self._epochs or result.get(FINISHED):
            return TrialScheduler.STOP  # it has run all it will: never paused or exploited at its end
        value = float(result[self._compared])
        return {**result, EPOCH: epoch, self._compared: self._worst if math.isnan(value) else value}

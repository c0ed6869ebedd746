"""End a run whose trials keep failing: ``study.max_failures`` failed trials in a row.

A failed trial does not count toward ``study.trials``, so a study whose every trial fails
(a bug in the trainer, a mount gone, a space whose every corner diverges) would otherwise
propose trial after trial for ever. Like Katib's ``maxFailedTrialCount`` and Ray Tune's
``fail_fast``, the run ends instead, and says why: how many failures of each error type,
with one message of each.

The count (``study.max_failures``, 10 by default) is of failures in a row, in this run:
a trial that finishes (COMPLETE or PRUNED) shows the trainer can work with this space,
so a study that fails now and then goes on to its count. A trial that hpo itself ends
(Ctrl-C, a resumed run's leftovers) is not a verdict on the trainer: the runner reports a
stop only for a run that was not interrupted, and the leftovers are failed before the
run starts. The study is untouched, so the next ``hpo run`` continues it, with a new count.

The searcher feeds :meth:`FailureStreak.record` each trial's end and stops proposing once
:attr:`FailureStreak.stop` is true; the runner shows :meth:`FailureStreak.summary`.
"""

from __future__ import annotations

from dataclasses import dataclass

from optuna.trial import TrialState

EXAMPLE_CHARS = 300  # of one example message in the summary


@dataclass
class _ErrorKind:
    count: int
    example: str


class FailureStreak:
    """Counts trials failed in a row and says when a run should stop.

    Args:
        limit: Failed trials in a row that stop the run; None or 0 never stops it.
    """

    def __init__(self, limit: int | None) -> None:
        self.limit = limit or None
        self._streak: list[tuple[str, str]] = []  # (error type, message) since the last finished trial
        self.stop = False  # once true, stays true: the run is ending, whatever ends next

    def record(self, state: TrialState, error_type: str | None = None, message: str | None = None) -> None:
        """Take one trial's end: FAIL extends the streak, COMPLETE or PRUNED resets it."""
        if self.stop or self.limit is None:
            return
        if state == TrialState.FAIL:
            self._streak.append((error_type or "UnknownError", (message or "").strip()))
            self.stop = len(self._streak) >= self.limit
        elif state in (TrialState.COMPLETE, TrialState.PRUNED):
            self._streak.clear()

    def kinds(self) -> dict[str, _ErrorKind]:
        """Error type -> how many of the streak's failures had it and the first message;
        the most frequent first (ties in the order they first failed)."""
        kinds: dict[str, _ErrorKind] = {}
        for error_type, message in self._streak:
            kind = kinds.setdefault(error_type, _ErrorKind(0, message))
            kind.count += 1
        return dict(sorted(kinds.items(), key=lambda item: -item[1].count))

    def headline(self) -> str:
        """Why the run stopped, in one line (the run's stop reason)."""
        return f"the last {len(self._streak)} trials failed in a row (study.max_failures: {self.limit})"

    def summary(self) -> str:
        """Why the run stopped: the headline, then one line per error type with an example."""
        lines = [self.headline() + ":"]
        for error_type, kind in self.kinds().items():
            example = _first_line(kind.example)
            lines.append(f"  {kind.count} × {error_type}" + (f", e.g. {example}" if example else ""))
        return "\n".join(lines)


def _first_line(message: str) -> str:
    line = message.splitlines()[0] if message else ""
    return line if len(line) <= EXAMPLE_CHARS else line[: EXAMPLE_CHARS - 1] + "…"

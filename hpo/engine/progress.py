"""Progress of a study: trials done, running, pruned, failed; best so far; elapsed; ETA.

In a terminal it is a live rich panel; otherwise (CI logs, pipes) one plain line per
finished trial. ``hpo status`` prints the same summary from the database.
"""

from __future__ import annotations

import time
from typing import Any

from optuna.trial import FrozenTrial, TrialState
from rich.console import Console, Group
from rich.live import Live
from rich.table import Table
from rich.text import Text

from hpo.format import format_params, format_seconds, format_value
from hpo.study.records import epochs_of, error_of
from hpo.study.summary import Tally


class StudyProgress:
    """Observer of a running study (see hpo.engine.searcher.TrialObserver)."""

    def __init__(self, study_name: str, tally: Tally, console: Console) -> None:
        self._name = study_name
        self._tally = tally
        self._console = console
        self._start = time.monotonic()
        self._finished_at_start = tally.finished
        self._live: Live | None = None

    def __enter__(self) -> StudyProgress:
        if self._console.is_terminal:
            self._live = Live(self._render(), console=self._console, refresh_per_second=2, get_renderable=self._render)
            self._live.__enter__()
        else:
            self._console.print(f"study {self._name}: {self._tally.summary()}", highlight=False)
        return self

    def __exit__(self, *exc: Any) -> None:
        if self._live is not None:
            self._live.__exit__(*exc)

    def trial_started(self, number: int) -> None:
        self._tally.running.add(number)

    def trial_finished(self, trial: FrozenTrial) -> None:
        self._tally.add(trial)
        if self._live is None:
            reason = f" ({error_of(trial)})" if trial.state == TrialState.FAIL else ""
            value = f" value {format_value(trial.value)}" if trial.value is not None else ""
            self._console.print(
                f"trial {trial.number} {trial.state.name}{value} after {epochs_of(trial)} epochs{reason} | "
                f"{self._tally.summary()} | elapsed {format_seconds(self.elapsed)} eta {format_seconds(self.eta)}",
                highlight=False,
                soft_wrap=True,
            )

    @property
    def elapsed(self) -> float:
        return time.monotonic() - self._start

    @property
    def eta(self) -> float | None:
        done = self._tally.finished - self._finished_at_start
        remaining = self._tally.target - self._tally.finished
        if done <= 0:
            return None
        return max(0.0, self.elapsed / done * remaining)

    def _render(self) -> Group:
        tally = self._tally
        table = Table.grid(padding=(0, 2))
        table.add_row(
            Text(f"study {self._name}", style="bold"),
            f"finished {tally.finished}/{tally.target}",
            f"complete {tally.complete}",
            f"pruned {tally.pruned}",
            f"running {len(tally.running)}",
            f"failed {tally.failed}",
            f"elapsed {format_seconds(self.elapsed)}",
            f"eta {format_seconds(self.eta)}",
        )
        best = tally.best
        best_line = (
            Text("best: -")
            if best is None
            else Text(f"best {format_value(best.value)} (trial {best.number}): {format_params(best.params)}")
        )
        return Group(table, best_line)

"""Progress of a study: trials done, running, pruned, failed; best so far; elapsed; ETA.

In a terminal it is a live rich panel; otherwise (CI logs, pipes) one plain line per
finished trial. ``hpo status`` prints the same summary from the database.
"""

from __future__ import annotations

import heapq
import statistics
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from optuna.trial import FrozenTrial, TrialState
from rich.console import Console, Group
from rich.live import Live
from rich.table import Table
from rich.text import Text

from hpo.format import format_params, format_seconds, format_value
from hpo.study.records import FINISHED_STATES, epochs_of, error_of
from hpo.study.summary import Tally, broken_constraints, first_value


class StudyProgress:
    """Observer of a running study (see hpo.engine.searcher.TrialObserver).

    The ETA (:func:`estimate_eta`) comes from how long this run's trials took, ``concurrency``
    at a time, and ends no later than ``time_budget_s`` after the start: no trial starts
    after the budget is spent.
    """

    def __init__(
        self,
        study_name: str,
        tally: Tally,
        console: Console,
        *,
        concurrency: int = 1,
        time_budget_s: float | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._name = study_name
        self._tally = tally
        self._console = console
        self._concurrency = concurrency
        self._budget = time_budget_s
        self._clock = clock
        self._start = clock()
        self._started: dict[int, float] = {}  # running trial -> when it started
        self._first_wave: set[int] = set()  # the first trial of each worker: it also started the worker
        self._durations: list[tuple[int, float]] = []  # (trial, seconds) of this run's finished trials
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
        self._started[number] = self._clock()
        if len(self._first_wave) < self._concurrency and not self._durations:
            self._first_wave.add(number)

    def trial_finished(self, trial: FrozenTrial) -> None:
        self._tally.add(trial)
        started = self._started.pop(trial.number, None)
        if started is not None and trial.state in FINISHED_STATES:  # a failure says little of how long trials take
            self._durations.append((trial.number, self._clock() - started))
        if self._live is None:
            reason = f" ({error_of(trial)})" if trial.state == TrialState.FAIL else ""
            value = f" value {format_value(first_value(trial))}" if trial.values else ""
            broken = broken_constraints(trial)
            value += f" (infeasible: breaks {', '.join(broken)})" if broken else ""
            self._console.print(
                f"trial {trial.number} {trial.state.name}{value} after {epochs_of(trial)} epochs{reason} | "
                f"{self._tally.summary()} | elapsed {format_seconds(self.elapsed)} {self._eta_text()}",
                highlight=False,
                soft_wrap=True,
            )

    @property
    def elapsed(self) -> float:
        return self._clock() - self._start

    @property
    def eta(self) -> Eta | None:
        """Seconds until the study has its trials or its budget is spent; None before a
        trial of this run has finished (nothing to go by yet)."""
        later = [seconds for number, seconds in self._durations if number not in self._first_wave]
        durations = later or [seconds for _, seconds in self._durations]
        if not durations:
            return None
        now = self._clock()
        return estimate_eta(
            mean_s=statistics.fmean(durations),
            running_for=[now - self._started.get(number, now) for number in self._tally.running],
            to_start=max(0, self._tally.target - self._tally.finished - len(self._tally.running)),
            concurrency=self._concurrency,
            budget_left_s=None if self._budget is None else self._budget - (now - self._start),
        )

    def _eta_text(self) -> str:
        eta = self.eta
        if eta is None:
            return "eta -"
        return f"eta {format_seconds(eta.seconds)}" + (" (the time budget ends the study)" if eta.budget_ends else "")

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
            self._eta_text(),
        )
        best = tally.best
        best_line = (
            Text(f"Pareto front: {len(tally.front)} trials")
            if len(tally.modes) > 1
            else Text("best: -")
            if best is None
            else Text(f"best {format_value(best.value)} (trial {best.number}): {format_params(best.params)}")
        )
        return Group(table, best_line)


@dataclass(frozen=True)
class Eta:
    seconds: float
    budget_ends: bool  # the time budget, not the trials left, ends the study


def estimate_eta(*, mean_s: float, running_for: list[float], to_start: int, concurrency: int, budget_left_s: float | None = None) -> Eta:
    """When the last trial ends, if each takes ``mean_s`` seconds and ``concurrency`` run
    at a time: each running trial ends ``mean_s`` after it started (or now, if it is
    overdue), and each of the ``to_start`` trials starts in the first slot to free up.
    With ``budget_left_s``, no trial starts once the budget is spent, and the estimate
    never passes the budget's end: it is then the budget that ends the study.

    The mean is over complete and pruned trials alike: pruned trials take fewer epochs, and
    future trials will be pruned about as often as past ones were.
    """
    slots = [max(0.0, mean_s - age) for age in running_for]
    slots += [0.0] * max(0, concurrency - len(slots))  # idle slots: a trial starts there now
    heapq.heapify(slots)
    for _ in range(to_start):
        free = heapq.heappop(slots)
        if budget_left_s is not None and free >= budget_left_s:
            heapq.heappush(slots, free)
            return Eta(max(0.0, budget_left_s), True)
        heapq.heappush(slots, free + mean_s)
    end = max(slots, default=0.0)
    if budget_left_s is not None and end > budget_left_s:
        return Eta(max(0.0, budget_left_s), True)
    return Eta(end, False)

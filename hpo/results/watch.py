"""``hpo status --watch``: follow a study from its database until it ends.

The study has ended when it has its trials, or when no driver is left to run it
(hpo.study.records.live_drivers): a run that finished, spent its time budget, was
stopped, or died. The last case matters most: its RUNNING trials stay RUNNING in the
database until the next run recovers them, and a watch waiting for them would never end.
RUNNING trials that no driver names (a study written by plain Optuna) say nothing about
whether anyone still runs them, so they do not keep the watch going.

In a terminal the status refreshes in place (rich Live); elsewhere one line is printed
per change, then the full status at the end.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass

from rich.console import Console
from rich.live import Live

from hpo.results.table import print_status, status_view, study_target
from hpo.study.locate import Located
from hpo.study.records import live_drivers
from hpo.study.summary import Tally, study_modes

POLL_S = 2.0  # a database read per poll: light for SQLite and PostgreSQL alike


def watch(located: Located, console: Console, *, interval: float = POLL_S, sleep: Callable[[float], None] = time.sleep) -> None:
    """Show the study's status until it ends (at once for a study that has)."""
    study = located.study
    state = _state(located)
    live_shown = console.is_terminal and not state.ended
    if live_shown:
        with Live(status_view(study), console=console, auto_refresh=False) as live:
            while not state.ended:
                sleep(interval)
                state = _state(located)
                live.update(status_view(study), refresh=True)
    elif not state.ended:
        console.print(state.summary)
        while not state.ended:
            sleep(interval)
            last, state = state.summary, _state(located)
            if state.summary != last:
                console.print(state.summary)
    if not live_shown:  # else its last refresh stays on the screen
        print_status(study, console)
    if state.note:
        console.print(state.note)


@dataclass(frozen=True)
class _State:
    ended: bool
    summary: str  # the line of `hpo status`
    note: str | None = None  # why a study that lacks trials has ended


def _state(located: Located) -> _State:
    study = located.study
    trials = study.get_trials(deepcopy=False)
    tally = Tally.from_trials(trials, study_target(study), study_modes(study))
    summary = f"study {study.study_name}: {tally.summary()}"
    if tally.finished >= tally.target:
        return _State(True, summary)
    study_id = located.storage.get_study_id_from_name(study.study_name)
    if live_drivers(located.storage, study_id, trials):
        return _State(False, summary)
    gone = f"no driver runs study {study.study_name}"
    if tally.running:
        left = f"its {len(tally.running)} running trial(s) were left by a driver that is gone; `hpo run` of its spec runs them again"
        return _State(True, summary, f"{gone}: {left}")
    return _State(True, summary, f"{gone}: it has {tally.finished} of its {tally.target} trials; `hpo run` of its spec continues it")

"""``hpo confirm``'s runs through Ray: each (trial, seed) is one Ray Tune trial.

The runs go through Ray Tune as the study's trials do, not as bare Ray tasks, so that each
is the very thing a trial was: the same trainable (:func:`hpo.engine.trainable.run_trial`:
the trainer called as ``train(config, report)``, its output in a log of its own, its
exception a recorded reason), the study's resources per trial and ``max_concurrent``, its
``trial_timeout`` and ``retries``. No searcher samples and nothing prunes: a
:class:`ConfirmSearcher` hands out the planned runs, a FIFO scheduler runs each to its
last epoch, and each run's value is taken from its epochs as the study takes a trial's
(``study.objective``: the best or the last epoch's metric), on the validation split the
search judged. Each run is recorded in the study the moment it ends (hpo.study.confirm):
one that failed with its reason, while the others go on.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import optuna
from rich.console import Console
from rich.live import Live
from rich.text import Text

from hpo.engine.progress import estimate_eta
from hpo.engine.runner import check_head_reachable, max_concurrent, quiet_optuna, ray_session
from hpo.format import format_seconds, format_value
from hpo.spec.sections import Spec
from hpo.study.confirm import ConfirmRun, PlannedRun
from hpo.study.storage import STUDIES_DIR

CONFIRM_RUN = "confirm"  # Ray Tune's name of the run, under studies/<study>/ray/


@dataclass
class ConfirmOutcome:
    """How many runs ended (``failed`` of them without a value), and whether Ctrl-C ended the rest."""

    done: int = 0
    failed: int = 0
    interrupted: bool = False


def run_confirm(spec: Spec, study: optuna.Study, runs: list[PlannedRun], *, address: str | None, console: Console) -> ConfirmOutcome:
    """Run ``runs`` in parallel, as many at once as the study's resources allow, recording
    each in ``study`` as it ends; Ctrl-C ends them, and what ended is kept."""
    address = address or os.environ.get("RAY_ADDRESS") or "local"
    if address != "local":
        check_head_reachable(address)
    quiet_optuna()
    outcome = ConfirmOutcome()
    with ray_session(address, STUDIES_DIR / study.study_name):  # sets Ray's environment, then imports it
        from ray import tune

        from hpo.engine.callbacks import TrialErrorCallback, TrialTimeoutWatchdog
        from hpo.engine.confirm_searcher import ConfirmSearcher
        from hpo.engine.trainable import run_trial

        concurrency = max_concurrent(spec)
        with ConfirmProgress(len(runs), concurrency, console) as progress:
            searcher = ConfirmSearcher(study, runs, spec, progress, outcome)
            errors = TrialErrorCallback(searcher)
            timeout = spec.study.trial_timeout
            resources = spec.resources
            tuner = tune.Tuner(
                tune.with_resources(run_trial, {"cpu": resources.cpus_per_trial, "gpu": resources.gpus_per_trial}),
                param_space={"trainer": spec.trainer, "trial_timeout_s": timeout, "workdir": os.getcwd()},
                tune_config=tune.TuneConfig(
                    search_alg=searcher,
                    num_samples=-1,  # the searcher says when every run has started
                    max_concurrent_trials=concurrency,
                    reuse_actors=True,
                ),
                run_config=tune.RunConfig(
                    name=CONFIRM_RUN,
                    storage_path=str((STUDIES_DIR / study.study_name / "ray").resolve()),
                    verbose=0,
                    callbacks=[errors] + ([TrialTimeoutWatchdog(errors, timeout)] if timeout else []),
                    failure_config=tune.FailureConfig(max_failures=spec.study.retries),
                ),
            )
            try:
                tuner.fit()
            except KeyboardInterrupt:
                outcome.interrupted = True
    return outcome


class ConfirmProgress:
    """Runs done, running and failed, elapsed time and ETA: a live line in a terminal,
    else one line per run that ends (as ``hpo run`` shows its trials). As for a study's
    trials (hpo.engine.progress), the ETA leaves out the first run of each worker, which
    also waited for the worker to start, once later runs have ended."""

    def __init__(self, total: int, concurrency: int, console: Console, clock: Callable[[], float] = time.monotonic) -> None:
        self._total = total
        self._concurrency = concurrency
        self._console = console
        self._clock = clock
        self._start = clock()
        self._running: dict[tuple[int, int], float] = {}
        self._durations: list[tuple[tuple[int, int], float]] = []  # (trial, seed), seconds of the runs that ended
        self._first_wave: set[tuple[int, int]] = set()
        self._done = self._failed = 0
        self._live: Live | None = None

    def __enter__(self) -> ConfirmProgress:
        if self._console.is_terminal:
            self._live = Live(get_renderable=self._line, console=self._console, refresh_per_second=2)
            self._live.__enter__()
        else:
            self._console.print(self._line(), highlight=False)
        return self

    def __exit__(self, *exc: Any) -> None:
        if self._live is not None:
            self._live.__exit__(*exc)

    def started(self, run: PlannedRun) -> None:
        self._running[(run.trial, run.seed)] = self._clock()
        if len(self._first_wave) < self._concurrency and not self._durations:
            self._first_wave.add((run.trial, run.seed))

    def finished(self, planned: PlannedRun, run: ConfirmRun, metric: str) -> None:
        key = (planned.trial, planned.seed)
        started = self._running.pop(key, self._clock())
        self._done += 1
        self._failed += run.failed
        if not run.failed:  # a failure says little of how long runs take
            self._durations.append((key, self._clock() - started))
        outcome = f"failed: {run.reason()}" if run.failed else f"{metric} {format_value(run.value)}"
        line = f"trial {planned.trial} seed {planned.seed}: {outcome}"
        if self._live is not None:
            self._live.console.print(line, highlight=False, soft_wrap=True)
        else:
            self._console.print(f"{line} | {self._line()}", highlight=False, soft_wrap=True)

    def _line(self) -> Text:
        elapsed = self._clock() - self._start
        return Text(
            f"confirm: {self._done}/{self._total} runs done, {len(self._running)} running, {self._failed} failed | "
            f"elapsed {format_seconds(elapsed)} eta {self._eta()}"
        )

    def _eta(self) -> str:
        if not self._durations:
            return "-"
        durations = [s for key, s in self._durations if key not in self._first_wave] or [s for _, s in self._durations]
        now = self._clock()
        eta = estimate_eta(
            mean_s=sum(durations) / len(durations),
            running_for=[now - started for started in self._running.values()],
            to_start=max(0, self._total - self._done - len(self._running)),
            concurrency=self._concurrency,
        )
        return format_seconds(eta.seconds)

"""The searcher of ``hpo confirm`` (hpo.engine.confirm): it hands Ray Tune the planned runs
and records each in the study as it ends, with its value taken as the study takes a trial's.

Imported once Ray's environment is set (hpo.engine.runner.set_ray_environment), as the
study's own searcher is.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import optuna
from ray.tune.search import Searcher

from hpo.engine.trainable import ERROR_KEY, ERROR_TYPE_KEY
from hpo.spec.sections import Spec
from hpo.study.confirm import ConfirmRun, PlannedRun, record_run
from hpo.study.storage import confirm_log_path
from hpo.study.summary import best_of

if TYPE_CHECKING:
    from hpo.engine.confirm import ConfirmOutcome, ConfirmProgress


@dataclass
class _Live:
    run: PlannedRun
    started: float = field(default_factory=time.monotonic)
    values: dict[int, float] = field(default_factory=dict)  # epoch -> finite metric


class ConfirmSearcher(Searcher):
    """Hands Ray Tune the planned runs one by one and records each as it ends."""

    def __init__(self, study: optuna.Study, runs: list[PlannedRun], spec: Spec, progress: ConfirmProgress, outcome: ConfirmOutcome) -> None:
        super().__init__(metric=spec.metric, mode=spec.mode)
        self._study = study
        self._queue = list(runs)
        self._objective = spec.study.objective
        self._progress = progress
        self._outcome = outcome
        self._live: dict[str, _Live] = {}
        self._errored: dict[str, _Live] = {}

    def __getstate__(self) -> dict[str, Any]:
        """Ray pickles the Tuner for a restore hpo never uses: no database handle in it."""
        return {**self.__dict__, "_study": None, "_progress": None, "_live": {}, "_errored": {}}

    def set_search_properties(self, metric: str | None, mode: str | None, config: dict, **spec: Any) -> bool:
        return True  # metric and mode come from the study's spec

    def suggest(self, trial_id: str) -> dict[str, Any] | str | None:  # type: ignore[override]
        if not self._queue:
            return Searcher.FINISHED
        run = self._queue.pop(0)
        self._live[trial_id] = _Live(run)
        self._progress.started(run)
        log = confirm_log_path(self._study.study_name, run.trial, run.seed).absolute()
        return {"config": run.config, "trial_number": run.trial, "log_file": str(log)}

    def on_trial_result(self, trial_id: str, result: dict[str, Any]) -> None:
        live = self._live.get(trial_id)
        if live is not None:
            self._keep_value(live, result)

    def on_trial_complete(self, trial_id: str, result: dict[str, Any] | None = None, error: bool = False) -> None:
        live = self._live.pop(trial_id, None)
        if live is None:
            return
        if result:
            self._keep_value(live, result)
        if error:  # TrialErrorCallback brings the reason right after (record_error)
            self._errored[trial_id] = live
        elif result and result.get(ERROR_TYPE_KEY):
            self._finish(live, None, str(result[ERROR_TYPE_KEY]), str(result.get(ERROR_KEY, "")))
        elif not live.values:
            self._finish(live, None, "NoFiniteValue", f"no finite {self.metric} was reported")
        elif self._objective == "last":
            self._finish(live, live.values[max(live.values)])
        else:
            self._finish(live, best_of(live.values.values(), str(self.mode)))

    def record_error(self, trial_id: str, error_type: str, message: str) -> None:
        """A run whose worker failed, with the reason Ray's error callback found."""
        live = self._errored.pop(trial_id, None)
        if live is not None:
            self._finish(live, None, error_type, message)

    def _keep_value(self, live: _Live, result: dict[str, Any]) -> None:
        value = result.get(self.metric)
        if isinstance(value, (int, float)) and math.isfinite(value):
            live.values[int(result.get("epoch", result.get("training_iteration", len(live.values) + 1)))] = float(value)

    def _finish(self, live: _Live, value: float | None, error_type: str | None = None, error: str | None = None) -> None:
        seconds = round(time.monotonic() - live.started, 3)
        run = ConfirmRun(live.run.seed, value, len(live.values), seconds, error_type, error)
        record_run(self._study, live.run.trial, run)
        self._outcome.done += 1
        self._outcome.failed += run.failed
        self._progress.finished(live.run, run, str(self.metric))

"""A study in numbers and words: counts by state, the best trial, durations and parameters
as printed by the live panel, ``hpo status``, the report and the exports."""

from __future__ import annotations

from dataclasses import dataclass, field

from optuna.trial import FrozenTrial, TrialState

from hpo.study.records import state_counts


@dataclass
class Tally:
    """Counts and best trial of a study, updated as trials end."""

    target: int
    mode: str
    complete: int = 0
    pruned: int = 0
    failed: int = 0
    running: set[int] = field(default_factory=set)
    best: FrozenTrial | None = None

    @classmethod
    def from_trials(cls, trials: list[FrozenTrial], target: int, mode: str) -> Tally:
        tally = cls(target=target, mode=mode)
        counts = state_counts(trials)
        tally.complete, tally.pruned, tally.failed = counts["COMPLETE"], counts["PRUNED"], counts["FAIL"]
        tally.running = {t.number for t in trials if t.state == TrialState.RUNNING}
        for trial in trials:
            tally._consider(trial)
        return tally

    @property
    def finished(self) -> int:
        return self.complete + self.pruned

    def add(self, trial: FrozenTrial) -> None:
        self.running.discard(trial.number)
        if trial.state == TrialState.COMPLETE:
            self.complete += 1
        elif trial.state == TrialState.PRUNED:
            self.pruned += 1
        elif trial.state == TrialState.FAIL:
            self.failed += 1
        self._consider(trial)

    def _consider(self, trial: FrozenTrial) -> None:
        if trial.state != TrialState.COMPLETE or trial.value is None:
            return
        if self.best is None or (trial.value > self.best.value if self.mode == "max" else trial.value < self.best.value):
            self.best = trial

    def summary(self) -> str:
        line = (
            f"{self.finished}/{self.target} finished ({self.complete} complete, {self.pruned} pruned), "
            f"{len(self.running)} running, {self.failed} failed"
        )
        if self.best is not None:
            line += f"; best {self.best.value:.4f} (trial {self.best.number})"
        return line


def format_seconds(seconds: float | None) -> str:
    if seconds is None:
        return "-"
    seconds = int(round(seconds))
    hours, rest = divmod(seconds, 3600)
    minutes, secs = divmod(rest, 60)
    return f"{hours}:{minutes:02d}:{secs:02d}" if hours else f"{minutes}:{secs:02d}"


def format_params(params: dict) -> str:
    return ", ".join(f"{k}={_short(v)}" for k, v in params.items())


def _short(value: object) -> str:
    return f"{value:.4g}" if isinstance(value, float) else str(value)

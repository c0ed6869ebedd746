"""Winners confirmed over seeds: the top trials' configs trained again, once per seed.

A search picks its winner on one seed each: the best of many noisy values is, more often
than not, a trial that was lucky. ``hpo confirm`` trains each top trial's config again
with other seeds and this module keeps those runs and ranks the trials by them.

Records. One study user attribute per run, ``confirm:<trial>:<seed>``
(:data:`~hpo.study.keys.CONFIRM_PREFIX`), holding :class:`ConfirmRun`. They live in the
study itself: Optuna's public API cannot change a finished trial's attributes, and a
companion study would show in ``hpo list`` and the dashboard as a study of its own, with
trials no sampler proposed. One key per run: a run is one write that never touches
another's, so a confirm killed half-way keeps every run that ended, and two confirms of
one study cannot overwrite each other's runs.

Ranking. Per trial, over the runs that gave a value: the mean, the sample standard
deviation, and the lower bound of a one-sided :data:`CONFIDENCE` confidence interval of
the mean, ``mean - t * std / sqrt(n)`` with Student's t at ``n - 1`` degrees of freedom
(for a study that minimises, the upper bound ``mean + t * std / sqrt(n)``). The bound is
what the winner is chosen by: a mean over a few seeds is itself noisy, and of two configs
with the same mean the one whose seeds agree is the safer bet. A trial with a failed run,
or fewer than two values, has no bound: it ranks after every trial that has one.
"""

from __future__ import annotations

import math
import statistics
from collections.abc import Iterable, Mapping
from dataclasses import asdict, dataclass
from typing import Any

import optuna
from optuna.trial import FrozenTrial, TrialState

from hpo.study.keys import CONFIRM_PREFIX
from hpo.study.summary import ranked, score, study_mode

CONFIDENCE = 0.95  # one-sided: the bound is below the true mean 95 times in 100 (above it, for min)


@dataclass(frozen=True)
class PlannedRun:
    """A run to do: trial ``trial``'s training config with its ``seed`` set."""

    trial: int
    seed: int
    config: dict[str, Any]


@dataclass(frozen=True)
class ConfirmRun:
    """One run's record. ``value`` is the study's metric, taken from the epochs as the
    study takes a trial's (``study.objective``: best or last epoch); None when it failed,
    and then ``error_type`` and ``error`` say why."""

    seed: int
    value: float | None
    epochs: int = 0
    seconds: float | None = None
    error_type: str | None = None
    error: str | None = None

    @property
    def failed(self) -> bool:
        return self.value is None

    def reason(self) -> str:
        return f"{self.error_type}: {self.error}"


def confirm_key(trial: int, seed: int) -> str:
    return f"{CONFIRM_PREFIX}{trial}:{seed}"


def record_run(study: optuna.Study, trial: int, run: ConfirmRun) -> None:
    """Store one run (see module doc); the message of a failure is cut at 2000 characters."""
    attr = {key: value for key, value in asdict(run).items() if value is not None}
    if run.error is not None:
        attr["error"] = run.error[:2000]
    study.set_user_attr(confirm_key(trial, run.seed), attr)


def confirm_records(attrs: Mapping[str, Any]) -> dict[int, dict[int, ConfirmRun]]:
    """The runs stored in a study's user attributes: trial -> seed -> run, in order. A key
    that does not parse is someone else's attribute, not a run."""
    found: dict[int, dict[int, ConfirmRun]] = {}
    for key, value in attrs.items():
        trial, _, seed = key.removeprefix(CONFIRM_PREFIX).partition(":")
        if not key.startswith(CONFIRM_PREFIX) or not _is_int(trial) or not _is_int(seed) or not isinstance(value, Mapping):
            continue
        number = value.get("value")
        run = ConfirmRun(
            seed=int(seed),
            value=float(number) if isinstance(number, (int, float)) and not isinstance(number, bool) else None,
            epochs=int(value.get("epochs") or 0),
            seconds=value.get("seconds"),
            error_type=value.get("error_type"),
            error=value.get("error"),
        )
        found.setdefault(int(trial), {})[int(seed)] = run
    return {trial: dict(sorted(runs.items())) for trial, runs in sorted(found.items())}


def _is_int(text: str) -> bool:
    return text.removeprefix("-").isdigit()


def spread_bound(values: list[float], mode: str) -> float | None:
    """The confidence bound of the mean of ``values`` (see module doc): the lower one for
    ``max``, the upper one for ``min``; None for fewer than two values."""
    if len(values) < 2:
        return None
    from scipy.stats import t

    margin = float(t.ppf(CONFIDENCE, len(values) - 1)) * statistics.stdev(values) / math.sqrt(len(values))
    mean = statistics.fmean(values)
    return mean - margin if mode == "max" else mean + margin


@dataclass(frozen=True)
class Confirmed:
    """A confirmed trial: its search value, its runs, and its ranks among the confirmed
    trials (1 is best) by the search's value, by the mean and by the bound."""

    trial: FrozenTrial
    runs: list[ConfirmRun]
    mean: float | None
    std: float | None
    bound: float | None
    search_rank: int
    mean_rank: int
    bound_rank: int

    @property
    def values(self) -> list[float]:
        return [run.value for run in self.runs if run.value is not None]

    @property
    def failures(self) -> list[ConfirmRun]:
        return [run for run in self.runs if run.failed]


def rank_confirmed(trials: Iterable[FrozenTrial], records: Mapping[int, Mapping[int, ConfirmRun]], mode: str) -> list[Confirmed]:
    """The trials that have runs in ``records``, best by the bound first (module doc).

    Ties, and trials without a mean or a bound, keep the search's order."""
    searched = ranked((t for t in trials if t.number in records), mode)
    runs = [list(records[trial.number].values()) for trial in searched]
    values = [[run.value for run in trial_runs if run.value is not None] for trial_runs in runs]
    means = [statistics.fmean(v) if v else None for v in values]
    bounds = [None if any(run.failed for run in r) else spread_bound(v, mode) for r, v in zip(runs, values)]
    by_mean, by_bound = _ranks(means, mode), _ranks(bounds, mode)
    stds = [statistics.stdev(v) if len(v) > 1 else None for v in values]
    rows = [Confirmed(trial, runs[i], means[i], stds[i], bounds[i], i + 1, by_mean[i], by_bound[i]) for i, trial in enumerate(searched)]
    return sorted(rows, key=lambda row: row.bound_rank)


def _ranks(values: list[float | None], mode: str) -> list[int]:
    """The rank of each of ``values`` (1 is best), given in the search's order: a tie, or a
    missing value, keeps that order, missing values last."""
    order = sorted(range(len(values)), key=lambda i: (values[i] is None, -score(values[i], mode), i))
    ranks = [0] * len(values)
    for rank, i in enumerate(order, start=1):
        ranks[i] = rank
    return ranks


def confirmed_trials(study: optuna.Study) -> list[Confirmed]:
    """The study's confirmed trials, best by the bound first; [] without confirm records."""
    records = confirm_records(study.user_attrs)
    if not records:
        return []
    return rank_confirmed(study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,)), records, study_mode(study))

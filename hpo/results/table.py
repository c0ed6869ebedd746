"""Trials as a pandas DataFrame: the one table layer behind ``hpo status``, export and report."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import optuna
import pandas as pd
from optuna.trial import FrozenTrial, TrialState
from rich.console import Console, Group, RenderableType
from rich.table import Table
from rich.text import Text

from hpo.errors import HpoError
from hpo.format import format_number, format_params, format_seconds, format_value
from hpo.results.rungs import MIN_SHARED, shared_rung
from hpo.study.keys import LOG_ATTR, SEARCH_ATTR, SECONDS_ATTR, SPEC_TEXT_ATTR, STOP_REASON_ATTR, WORKER_KEYS
from hpo.study.records import FINISHED_STATES, epochs_of, error_of, is_warm_start, worker_of
from hpo.study.summary import Tally, ranked, study_mode, versus_baseline
from hpo.study.warmstart import warm_start_line

TOP = 10
TABLE_FORMATS = (".csv", ".parquet")


def trials_frame(study: optuna.Study) -> pd.DataFrame:
    """One row per trial: number, state, value, epochs, seconds, where and when it ran, error, params."""
    rows = []
    for t in study.get_trials(deepcopy=False):
        rows.append(
            {
                "number": t.number,
                "state": t.state.name,
                "value": t.value,
                "epochs": epochs_of(t),
                "seconds": t.user_attrs.get(SECONDS_ATTR),
                "datetime_start": t.datetime_start,
                "datetime_complete": t.datetime_complete,
                **{key: worker_of(t).get(key) for key in WORKER_KEYS},
                "error": error_of(t),
                **{f"params.{k}": v for k, v in t.params.items()},
            }
        )
    return pd.DataFrame(rows)


def param_columns(frame: pd.DataFrame) -> list[str]:
    return [c for c in frame.columns if c.startswith("params.")]


def study_metric(study: optuna.Study) -> str:
    """The metric the study optimises, as its spec names it (``value`` if unknown)."""
    return study.user_attrs.get(SEARCH_ATTR, {}).get("metric", "value")


def ranked_trials(study: optuna.Study) -> list[FrozenTrial]:
    """COMPLETE trials, best first (a pruned trial's value comes from fewer epochs)."""
    return ranked(study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,)), study_mode(study))


def check_table_path(path: Path) -> None:
    """Refuse a table file hpo cannot write, before anything else is written."""
    suffix = path.suffix.lower()
    if suffix not in TABLE_FORMATS:
        raise HpoError(f"--table {path}: expected a file ending in {' or '.join(TABLE_FORMATS)}, got {suffix or 'no extension'!r}")
    if suffix == ".parquet" and importlib.util.find_spec("pyarrow") is None:
        raise HpoError(
            f"--table {path}: writing Parquet needs pyarrow, which is not installed; "
            "run `pip install pyarrow`, or write a .csv table instead"
        )


def write_table(frame: pd.DataFrame, path: Path) -> None:
    """Write the trials table as CSV or Parquet, chosen by the file's extension."""
    check_table_path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    if path.suffix.lower() == ".csv":
        frame.to_csv(path, index=False)
        return
    # a choice's labels may mix types (e.g. numbers and None): Parquet wants one type per column
    mixed = [c for c in frame.columns if frame[c].dtype == object and frame[c].dropna().map(type).nunique() > 1]
    frame.astype({c: "string" for c in mixed}).to_parquet(path, index=False)


def print_status(study: optuna.Study, console: Console) -> None:
    """Summary (done/running/pruned/failed, best) and the top trials."""
    console.print(status_view(study))


def status_view(study: optuna.Study) -> Group:
    """What ``hpo status`` shows: the summary, the top trials and why trials failed."""
    trials = study.get_trials(deepcopy=False)
    mode = study_mode(study)
    tally = Tally.from_trials(trials, study_target(study), mode)
    lines: list[RenderableType] = [Text(f"study {study.study_name}: {tally.summary()}")]
    reason = study.user_attrs.get(STOP_REASON_ATTR)
    if reason:
        lines.append(Text(f"last run ended: {reason}"))
    versus = versus_baseline(tally.best, trials)
    if versus:
        lines.append(Text(versus))
    warm = warm_start_line(trials)
    if warm:
        lines.append(Text(warm))
    if tally.best is not None:
        lines.append(Text(f"best params: {format_params(tally.best.params)}"))
    frame = trials_frame(study)
    if frame.empty:
        return Group(*lines)
    best = [t.number for t in ranked((t for t in trials if t.state in FINISHED_STATES), mode)[:TOP]]
    top = frame.set_index("number").loc[best].reset_index()
    table = Table(title=f"top {len(top)} trials")
    params = param_columns(frame)
    for column in ["number", "state", "value", "epochs", "seconds", *params]:
        table.add_column(column.removeprefix("params."))
    copied = {t.number for t in trials if is_warm_start(t)}
    for _, row in top.iterrows():
        state = f"{row.state} (warm start)" if row.number in copied else row.state
        cells = [str(row.number), state, format_value(row.value), format_number(row.epochs), format_seconds(row.seconds)]
        cells += ["" if pd.isna(row[c]) else format_number(row[c]) for c in params]
        table.add_row(*cells)
    lines.append(table)
    for trial in trials:
        if trial.state == TrialState.FAIL:
            log = trial.user_attrs.get(LOG_ATTR)
            lines.append(Text(f"trial {trial.number} FAIL: {error_of(trial)}" + (f" (log: {log})" if log else "")))
    rung = _rung_table(study, trials)
    if rung is not None:
        lines.append(rung)
    return Group(*lines)


def _rung_table(study: optuna.Study, trials: list[FrozenTrial]) -> Table | None:
    """While fewer than MIN_SHARED trials are complete, the finished trials ranked at the
    deepest epoch enough of them reached (hpo.results.rungs). The top table ranks a pruned
    trial by its value at the epoch it was stopped, so with few complete trials it compares
    values of different epochs; this table compares them at one. No flag asks for it: once
    enough trials are complete, the top table already ranks them."""
    if sum(t.state == TrialState.COMPLETE for t in trials) >= MIN_SHARED:
        return None
    rung = shared_rung(trials, study_mode(study))
    if rung is None or not rung.count(TrialState.PRUNED):
        return None
    metric = study_metric(study)
    params = list(dict.fromkeys(name for t in rung.trials for name in t.trial.params))
    table = Table(title=f"ranked at one epoch: {rung.describe(metric)}; the top {min(TOP, len(rung.trials))}")
    for column in ["number", "state", f"{metric} at epoch {rung.step}", f"final {metric}", "epochs", *params]:
        table.add_column(column)
    for entry in rung.trials[:TOP]:
        trial = entry.trial
        cells = [str(trial.number), trial.state.name, format_value(entry.value), format_value(entry.final), format_number(epochs_of(trial))]
        table.add_row(*cells, *(format_number(trial.params[p]) if p in trial.params else "" for p in params))
    return table


def study_target(study: optuna.Study) -> int:
    """The trials the study's spec asks for; of a study without a spec, the trials it has."""
    import yaml

    text = study.user_attrs.get(SPEC_TEXT_ATTR)
    if text:
        return int(yaml.safe_load(text).get("study", {}).get("trials", 0))
    return len(study.trials)

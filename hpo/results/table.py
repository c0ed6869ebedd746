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
from hpo.results.confirm_view import confirm_view
from hpo.results.perturbations import exploit_lines
from hpo.results.rungs import MIN_SHARED, shared_rung
from hpo.study.confirm import confirmed_trials
from hpo.study.keys import LOG_ATTR, SEARCH_ATTR, SECONDS_ATTR, SPEC_TEXT_ATTR, STOP_REASON_ATTR, WORKER_KEYS
from hpo.study.records import FINISHED_STATES, epochs_of, error_of, is_warm_start, paused_line, worker_of
from hpo.study.summary import (
    Tally,
    best_trials,
    broken_constraints,
    feasible,
    first_value,
    ranked,
    study_mode,
    study_modes,
    versus_baseline,
)
from hpo.study.warmstart import warm_start_line

TOP = 10
TABLE_FORMATS = (".csv", ".parquet")


def trials_frame(study: optuna.Study) -> pd.DataFrame:
    """One row per trial: number, state, value, epochs, seconds, where and when it ran, error, params.

    ``value`` is the (first) objective's; a study of several objectives also has a column per
    objective, named by its metric (``values.params``), and a study with constraints a
    ``feasible`` column (True, False, or None for a trial not judged)."""
    metrics = study_metrics(study)
    several = len(study.directions) > 1
    constrained = bool(study.user_attrs.get(SEARCH_ATTR, {}).get("constraints"))
    rows = []
    for t in study.get_trials(deepcopy=False):
        objectives = {}
        if several:
            values = t.values if t.state == TrialState.COMPLETE and t.values else [None] * len(metrics)
            objectives = {f"values.{metric}": value for metric, value in zip(metrics, values)}
        judged = {"feasible": feasible(t) if t.constraints else None} if constrained else {}
        rows.append(
            {
                "number": t.number,
                "state": t.state.name,
                "value": first_value(t),
                **objectives,
                **judged,
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
    """The metric the study optimises (the first of several), as its spec names it (``value`` if unknown)."""
    return study_metrics(study)[0]


def study_metrics(study: optuna.Study) -> list[str]:
    """Every objective's metric, as the spec names them (``value``, ``value_1``, ... if unknown)."""
    named = study.user_attrs.get(SEARCH_ATTR, {}).get("metric", "value")
    metrics = named if isinstance(named, list) else [named]
    if len(metrics) != len(study.directions):
        return ["value"] + [f"value_{i}" for i in range(1, len(study.directions))]
    return [str(metric) for metric in metrics]


def ranked_trials(study: optuna.Study) -> list[FrozenTrial]:
    """What the study found, best first: its feasible COMPLETE trials (a pruned trial's value
    comes from fewer epochs), or with several objectives its Pareto front (hpo.study.summary)."""
    return best_trials(study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,)), study_modes(study))


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
    tally = Tally.from_trials(trials, study_target(study), study_modes(study))
    lines: list[RenderableType] = [Text(f"study {study.study_name}: {tally.summary()}")]
    reason = study.user_attrs.get(STOP_REASON_ATTR)
    if reason:
        lines.append(Text(f"last run ended: {reason}"))
    versus = versus_baseline(tally.best, trials)
    if versus:
        lines.append(Text(versus))
    for note in (warm_start_line(trials), paused_line(trials)):
        if note:
            lines.append(Text(note))
    if tally.best is not None:
        lines.append(Text(f"best params: {format_params(tally.best.params)}"))
    frame = trials_frame(study)
    if frame.empty:
        return Group(*lines)
    front = front_table(study, frame, tally.front)
    if front is not None:
        lines.append(front)
    best = [t.number for t in ranked((t for t in trials if t.state in FINISHED_STATES), mode)[:TOP]]
    top = frame.set_index("number").loc[best].reset_index()
    table = Table(title=f"top {len(top)} trials" + (f" by {study_metric(study)}" if len(tally.modes) > 1 else ""))
    params = param_columns(frame)
    judged = ["feasible"] if "feasible" in frame.columns else []
    for column in ["number", "state", "value", *judged, "epochs", "seconds", *params]:
        table.add_column(column.removeprefix("params."))
    copied = {t.number for t in trials if is_warm_start(t)}
    for _, row in top.iterrows():
        state = f"{row.state} (warm start)" if row.number in copied else row.state
        cells = [str(row.number), state, format_value(row.value), *(_feasible_cell(row.feasible) for _ in judged)]
        cells += [format_number(row.epochs), format_seconds(row.seconds)]
        cells += ["" if pd.isna(row[c]) else format_number(row[c]) for c in params]
        table.add_row(*cells)
    lines.append(table)
    for trial in trials:
        broken = broken_constraints(trial)
        if broken:
            lines.append(Text(f"trial {trial.number} infeasible: breaks {', '.join(broken)}"))
    for trial in trials:
        if trial.state == TrialState.FAIL:
            log = trial.user_attrs.get(LOG_ATTR)
            lines.append(Text(f"trial {trial.number} FAIL: {error_of(trial)}" + (f" (log: {log})" if log else "")))
    lines += [Text(line) for line in exploit_lines(trials)]
    rung = _rung_table(study, trials)
    if rung is not None:
        lines.append(rung)
    confirmed = confirmed_trials(study)
    if confirmed:
        lines.append(confirm_view(confirmed, study_metric(study), mode))
    return Group(*lines)


def front_table(study: optuna.Study, frame: pd.DataFrame, front: list[FrozenTrial]) -> Table | None:
    """The Pareto front of a study of several objectives, ranked by the first: each trial's
    value of every objective and its parameters. None for a single objective."""
    if len(study.directions) < 2:
        return None
    metrics = study_metrics(study)
    table = Table(title=f"Pareto front: {len(front)} trials ({', '.join(f'{m} {d}' for m, d in zip(metrics, study_modes(study)))})")
    if not front:
        return table
    rows = frame.set_index("number").loc[[t.number for t in front]].reset_index()
    params = param_columns(frame)
    for column in ["number", *metrics, "epochs", *params]:
        table.add_column(column.removeprefix("params."))
    for _, row in rows.iterrows():
        values = [format_value(row[f"values.{m}"]) if i == 0 else format_number(row[f"values.{m}"]) for i, m in enumerate(metrics)]
        cells = [str(row.number), *values, format_number(row.epochs)]
        table.add_row(*cells, *("" if pd.isna(row[c]) else format_number(row[c]) for c in params))
    return table


def _feasible_cell(value: object) -> str:
    return "-" if value is None or (isinstance(value, float) and pd.isna(value)) else "yes" if value else "NO"


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

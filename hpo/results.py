"""Trials as a pandas DataFrame: the one table layer behind ``hpo status`` and export."""

from __future__ import annotations

import optuna
import pandas as pd
from rich.console import Console
from rich.table import Table

from hpo.progress import Tally, format_params, format_seconds
from hpo.versions import SPEC_TEXT_ATTR

TOP = 10


def trials_frame(study: optuna.Study) -> pd.DataFrame:
    """One row per trial: number, state, value, params, epochs, seconds, node, error."""
    rows = []
    for t in study.get_trials(deepcopy=False):
        rows.append(
            {
                "number": t.number,
                "state": t.state.name,
                "value": t.value,
                "epochs": t.user_attrs.get("epochs"),
                "seconds": t.user_attrs.get("seconds"),
                "node_id": t.user_attrs.get("node_id"),
                "device": t.user_attrs.get("device"),
                "error": _error(t),
                **{f"params.{k}": v for k, v in t.params.items()},
            }
        )
    return pd.DataFrame(rows)


def _error(trial: optuna.trial.FrozenTrial) -> str | None:
    if "error_type" not in trial.user_attrs:
        return None
    return f"{trial.user_attrs['error_type']}: {trial.user_attrs.get('error', '')}"


def print_status(study: optuna.Study, console: Console) -> None:
    """Summary (done/running/pruned/failed, best) and the top trials."""
    trials = study.get_trials(deepcopy=False)
    mode = "max" if study.direction == optuna.study.StudyDirection.MAXIMIZE else "min"
    target = _target(study)
    tally = Tally.from_trials(trials, target, mode)
    console.print(f"study {study.study_name}: {tally.summary()}")
    if tally.best is not None:
        console.print(f"best params: {format_params(tally.best.params)}")
    frame = trials_frame(study)
    if frame.empty:
        return
    ranked = frame[frame.state.isin(["COMPLETE", "PRUNED"])].sort_values("value", ascending=mode == "min").head(TOP)
    table = Table(title=f"top {min(TOP, len(ranked))} trials")
    param_columns = [c for c in frame.columns if c.startswith("params.")]
    for column in ["number", "state", "value", "epochs", "seconds", *param_columns]:
        table.add_column(column.removeprefix("params."))
    for _, row in ranked.iterrows():
        cells = [str(row.number), row.state, f"{row.value:.4f}", str(row.epochs), format_seconds(row.seconds)]
        cells += ["" if pd.isna(row[c]) else _cell(row[c]) for c in param_columns]
        table.add_row(*cells)
    console.print(table)
    failed = frame[frame.state == "FAIL"]
    for _, row in failed.iterrows():
        console.print(f"trial {row.number} FAIL: {row.error}")


def _target(study: optuna.Study) -> int:
    import yaml

    text = study.user_attrs.get(SPEC_TEXT_ATTR)
    if text:
        return int(yaml.safe_load(text).get("study", {}).get("trials", 0))
    return len(study.trials)


def _cell(value: object) -> str:
    return f"{value:.4g}" if isinstance(value, float) else str(value)

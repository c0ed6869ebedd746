"""The figures of ``hpo report``, each drawn from the study (or a retrained run's summary)
alone, so a notebook can draw one without the page.

Trial states keep one colour in every figure (:data:`STATE_COLORS`). A figure that
cannot be drawn raises :class:`CannotPlot` with the reason, which the page shows in
its place.
"""

from __future__ import annotations

import datetime as dt
import html
import warnings
from pathlib import Path
from typing import Any

import numpy as np
import optuna
import pandas as pd
import plotly.express as px
import plotly.graph_objects as go
from optuna.trial import FrozenTrial, TrialState

from hpo.format import format_number, format_value
from hpo.results.table import ranked_trials, study_metric
from hpo.study.keys import DEVICE, HOSTNAME, NODE_ID, PID
from hpo.study.records import epochs_of, worker_of
from hpo.study.summary import better, study_mode

MIN_TRIALS_FOR_IMPORTANCE = 4  # fewer complete trials say nothing about which parameter matters
TSNE_POINTS = 500  # at most this many feature vectors go into t-SNE: enough for a map, and the report stays quick
STATE_COLORS = {"COMPLETE": "#1f77b4", "PRUNED": "#ff7f0e", "FAIL": "#d62728", "RUNNING": "#2ca02c", "WAITING": "#7f7f7f"}


class CannotPlot(Exception):
    """Why a plot is left out of the page (said in its place)."""


def history_figure(study: optuna.Study, trials: list[FrozenTrial]) -> go.Figure:
    """Each finished trial's value by trial number, and the best COMPLETE value so far."""
    metric, mode = study_metric(study), study_mode(study)
    fig = go.Figure()
    for state in ("COMPLETE", "PRUNED"):
        chosen = [t for t in trials if t.state.name == state and t.value is not None]
        fig.add_trace(
            go.Scatter(
                x=[t.number for t in chosen],
                y=[t.value for t in chosen],
                mode="markers",
                name=state.lower(),
                marker={"color": STATE_COLORS[state], "symbol": "circle" if state == "COMPLETE" else "x"},
                text=[_hover(t) for t in chosen],
                hoverinfo="text",
            )
        )
    best_x, best_y, best = [], [], None
    for t in sorted(trials, key=lambda t: t.number):
        if t.state == TrialState.COMPLETE and t.value is not None:
            if better(t.value, best, mode):
                best = t.value
        if best is not None:
            best_x.append(t.number)
            best_y.append(best)
    fig.add_trace(go.Scatter(x=best_x, y=best_y, mode="lines", name="best so far", line={"shape": "hv", "color": "#444"}))
    fig.update_layout(title=f"{metric} per trial (pruned: value at the epoch it was stopped)", xaxis_title="trial", yaxis_title=metric)
    return _whole_ticks(fig, max(t.number for t in trials))


def learning_curves_figure(study: optuna.Study, trials: list[FrozenTrial]) -> go.Figure:
    """The metric per epoch of every trial, one trace per state (trials split by gaps).

    Complete trials are solid, pruned ones dashed and ending in an x where ASHA stopped
    them, failed and running ones dotted.
    """
    fig = go.Figure()
    styles = {"COMPLETE": "solid", "PRUNED": "dash", "FAIL": "dot", "RUNNING": "dot"}
    for state, dash in styles.items():
        chosen = [t for t in trials if t.state.name == state and t.intermediate_values]
        if not chosen:
            continue
        xs: list[Any] = []
        ys: list[Any] = []
        texts: list[Any] = []
        for t in chosen:
            steps = sorted(t.intermediate_values)
            xs += [*steps, None]
            ys += [t.intermediate_values[s] for s in steps] + [None]
            texts += [_hover(t)] * len(steps) + [None]
        fig.add_trace(
            go.Scatter(
                x=xs,
                y=ys,
                mode="lines",
                name=state.lower(),
                text=texts,
                hoverinfo="text+x+y",
                line={"color": STATE_COLORS[state], "dash": dash, "width": 1.5},
                connectgaps=False,
            )
        )
        if state == "PRUNED":
            ends = [(max(t.intermediate_values), t) for t in chosen]
            fig.add_trace(
                go.Scatter(
                    x=[step for step, _ in ends],
                    y=[t.intermediate_values[step] for step, t in ends],
                    mode="markers",
                    name="pruned here",
                    marker={"symbol": "x", "size": 9, "color": STATE_COLORS[state]},
                    text=[_hover(t) for _, t in ends],
                    hoverinfo="text",
                )
            )
    metric = study_metric(study)
    fig.update_layout(title=f"{metric} per epoch", xaxis_title="epoch", yaxis_title=metric)
    if not fig.data:
        return _say(fig, "no trial has reported an epoch yet")
    return _whole_ticks(fig, max(max(t.intermediate_values, default=1) for t in trials))


def param_importances(study: optuna.Study) -> tuple[dict[str, float], list[str]]:
    """PED-ANOVA importances of the complete trials and Optuna's caveats about them.

    Raises :class:`CannotPlot` (with the reason) when they cannot be computed or would
    be meaningless: too few complete trials, or Optuna falling back to equal importances.
    """
    complete = ranked_trials(study)
    if len(complete) < MIN_TRIALS_FOR_IMPORTANCE:
        raise CannotPlot(f"Importances need at least {MIN_TRIALS_FOR_IMPORTANCE} complete trials; the study has {len(complete)}.")
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            importances = optuna.importance.get_param_importances(study)
        except (RuntimeError, ValueError) as exc:
            raise CannotPlot(f"Importances cannot be computed for this study: {exc}") from None
    caveats = [str(w.message) for w in caught if issubclass(w.category, UserWarning)]
    equal = [c for c in caveats if "will be equal" in c]
    if equal:
        raise CannotPlot(f"Importances cannot be computed from these {len(complete)} complete trials: {equal[0]}")
    if not importances:
        raise CannotPlot("The study has no searched parameter.")
    return importances, caveats


def importance_figure(importances: dict[str, float], conditional: set[str]) -> go.Figure:
    names = list(importances)[::-1]
    fig = go.Figure(go.Bar(x=[importances[n] for n in names], y=names, orientation="h", marker_color=STATE_COLORS["COMPLETE"]))
    title = "PED-ANOVA importance (how much each parameter sets the best trials apart)"
    if conditional:
        title += f"<br><sub>conditional, measured on the trials that sampled them: {', '.join(sorted(conditional))}</sub>"
    fig.update_layout(title=title, xaxis_title="importance", height=max(250, 80 + 35 * len(names)))
    return fig


def timeline_figure(trials: list[FrozenTrial]) -> go.Figure:
    """One bar per trial, from start to end, on the row of the worker that ran it."""
    now = dt.datetime.now()
    rows = []
    for t in trials:
        if t.datetime_start is None:
            continue
        rows.append(
            {
                "worker": _worker(t),
                "start": t.datetime_start,
                "end": t.datetime_complete or now,
                "state": t.state.name,
                "trial": f"trial {t.number}",
                "epochs": epochs_of(t),
            }
        )
    if not rows:
        return _say(go.Figure(), "no trial has started yet")
    frame = pd.DataFrame(rows)
    fig = px.timeline(
        frame,
        x_start="start",
        x_end="end",
        y="worker",
        color="state",
        color_discrete_map=STATE_COLORS,
        hover_name="trial",
        hover_data={"epochs": True, "start": True, "end": True, "worker": False},
    )
    fig.update_yaxes(autorange="reversed", title="worker (host, process, device)")
    fig.update_layout(title="trials over time", height=max(250, 80 + 40 * frame.worker.nunique()))
    return fig


def _whole_ticks(fig: go.Figure, largest: int) -> go.Figure:
    """Trial numbers and epochs are whole: no tick at 1.5 on a short axis."""
    if largest <= 20:
        fig.update_xaxes(tick0=0, dtick=1)
    return fig


def _say(fig: go.Figure, text: str) -> go.Figure:
    """An empty figure that says why it is empty."""
    fig.add_annotation(text=text, showarrow=False, xref="paper", yref="paper", x=0.5, y=0.5)
    return fig


def _worker(trial: FrozenTrial) -> str:
    attrs = worker_of(trial)
    host = attrs.get(HOSTNAME) or (attrs.get(NODE_ID) or "")[:8] or "?"
    where = f"{host} pid {attrs[PID]}" if PID in attrs else host
    return f"{where} ({attrs[DEVICE]})" if attrs.get(DEVICE) else where


def _hover(trial: FrozenTrial) -> str:
    params = "<br>".join(f"{k}={format_number(v)}" for k, v in trial.params.items())
    return f"trial {trial.number} ({trial.state.name.lower()}, {format_value(trial.value)})<br>{html.escape(params, quote=False)}"


def per_class_figure(summary: dict[str, Any]) -> go.Figure:
    classes = [str(c) for c in summary["classes"]]
    fig = go.Figure(
        go.Bar(
            x=classes,
            y=summary["per_class_acc_mean"],
            error_y={"type": "data", "array": summary["per_class_acc_std"]},
            marker_color=STATE_COLORS["COMPLETE"],
        )
    )
    fig.update_layout(
        title=f"per-class {summary['split']} accuracy (mean ± std over {len(summary['seeds'])} seeds)",
        xaxis_title="class",
        yaxis_title="accuracy",
        xaxis_type="category",
        yaxis_range=[0, 1.05],
    )
    return fig


def confusion_figure(summary: dict[str, Any]) -> go.Figure:
    classes = [str(c) for c in summary["classes"]]
    fig = px.imshow(
        np.array(summary["confusion"]),
        x=classes,
        y=classes,
        text_auto=True,
        color_continuous_scale="Blues",
        labels={"x": "predicted", "y": "true", "color": "images"},
    )
    fig.update_layout(title=f"{summary['split']} confusion matrix, summed over seeds", height=max(400, 30 * len(classes) + 150))
    fig.update_xaxes(type="category", side="bottom")
    fig.update_yaxes(type="category")
    return fig


def tsne_figure(run_dir: Path, summary: dict[str, Any]) -> go.Figure:
    """t-SNE of the first seed's penultimate-layer features, coloured by true class."""
    from sklearn.manifold import TSNE
    from threadpoolctl import threadpool_limits

    seed = summary["seeds"][0]
    path = run_dir / f"seed{seed}" / "features.npz"
    if not path.is_file():
        raise CannotPlot(f"No features to map: {path} is missing.")
    with np.load(path) as saved:
        features, labels = saved["features"], saved["labels"]
    if len(features) > TSNE_POINTS:
        keep = np.random.default_rng(0).choice(len(features), TSNE_POINTS, replace=False)
        features, labels = features[keep], labels[keep]
    if len(features) < 5:
        raise CannotPlot(f"Too few feature vectors in {path} for t-SNE ({len(features)}).")
    perplexity = min(30.0, (len(features) - 1) / 3)
    tsne = TSNE(n_components=2, perplexity=perplexity, init="pca", random_state=0)
    # one OpenMP thread: on a machine that trains at the same time, more spin against each other
    with threadpool_limits(limits=1, user_api="openmp"):
        points = tsne.fit_transform(features.reshape(len(features), -1))
    classes = [str(c) for c in summary["classes"]]
    names = [classes[int(label)] if int(label) < len(classes) else str(label) for label in labels]
    fig = px.scatter(
        x=points[:, 0],
        y=points[:, 1],
        color=names,
        category_orders={"color": classes},
        labels={"x": "t-SNE 1", "y": "t-SNE 2", "color": "class"},
    )
    fig.update_traces(marker={"size": 5, "opacity": 0.8})
    fig.update_layout(title=f"t-SNE of penultimate-layer features ({summary['split']} images, seed {seed})", height=550)
    return fig

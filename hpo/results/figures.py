"""The figures of ``hpo report``, each drawn from the study (or a retrained run's summary)
alone, so a notebook can draw one without the page.

Trial states keep one colour in every figure (:data:`STATE_COLORS`). A figure that
cannot be drawn raises :class:`CannotPlot` with the reason, which the page shows in
its place.
"""

from __future__ import annotations

import datetime as dt
import html
import math
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import optuna
import pandas as pd
import plotly.express as px
import plotly.graph_objects as go
from optuna.distributions import BaseDistribution, CategoricalDistribution, FloatDistribution, IntDistribution
from optuna.trial import FrozenTrial, TrialState

from hpo.format import format_number, format_value
from hpo.results.rungs import Rung, RungTrial, rung_study
from hpo.results.table import study_metric
from hpo.spec.fidelity import FIDELITIES, cost_in_epochs, epoch_costs, fidelity_of
from hpo.study.keys import DEVICE, HOSTNAME, NODE_ID, PID, SEARCH_ATTR
from hpo.study.records import epochs_of, is_warm_start, worker_of
from hpo.study.summary import better, feasible, first_value, study_mode

MIN_TRIALS_FOR_IMPORTANCE = 4  # fewer trials at one epoch say nothing about which parameter matters
TSNE_POINTS = 500  # at most this many feature vectors go into t-SNE: enough for a map, and the report stays quick
STATE_COLORS = {"COMPLETE": "#1f77b4", "PRUNED": "#ff7f0e", "FAIL": "#d62728", "RUNNING": "#2ca02c", "WAITING": "#7f7f7f"}


class CannotPlot(Exception):
    """Why a plot is left out of the page (said in its place)."""


def history_figure(study: optuna.Study, trials: list[FrozenTrial]) -> go.Figure:
    """Each finished trial's value by trial number, and the best COMPLETE value so far."""
    metric, mode = study_metric(study), study_mode(study)
    fig = go.Figure()
    for state in ("COMPLETE", "PRUNED"):
        chosen = [t for t in trials if t.state.name == state and first_value(t) is not None]
        fig.add_trace(
            go.Scatter(
                x=[t.number for t in chosen],
                y=[first_value(t) for t in chosen],
                mode="markers",
                name=state.lower(),
                marker={"color": STATE_COLORS[state], "symbol": "circle" if state == "COMPLETE" else "x"},
                text=[_hover(t) for t in chosen],
                hoverinfo="text",
            )
        )
    best_x, best_y, best = [], [], None
    for t in sorted(trials, key=lambda t: t.number):
        value = first_value(t)
        if t.state == TrialState.COMPLETE and value is not None and feasible(t):
            if better(value, best, mode):
                best = value
        if best is not None:
            best_x.append(t.number)
            best_y.append(best)
    fig.add_trace(go.Scatter(x=best_x, y=best_y, mode="lines", name="best so far", line={"shape": "hv", "color": "#444"}))
    fig.update_layout(title=f"{metric} per trial (pruned: value at the epoch it was stopped)", xaxis_title="trial", yaxis_title=metric)
    return _whole_ticks(fig, max(t.number for t in trials))


def learning_curves_figure(study: optuna.Study, trials: list[FrozenTrial]) -> go.Figure:
    """The metric per epoch of every trial, one trace per state (trials split by gaps).

    Complete trials are solid, pruned ones dashed and ending in an x where ASHA stopped
    them, failed and running ones dotted. In a study whose epochs trained on shares of the
    data or at a lower resolution (``fidelity: data_fraction``, ``resolution``), against
    what the epochs up to each one cost in full epochs, so that a curve shows what its
    values cost.
    """
    definition = study.user_attrs.get(SEARCH_ATTR, {})
    costs = epoch_costs(definition)
    x_of: Callable[[int], float] = (lambda step: step) if costs is None else (lambda step: round(cost_in_epochs(costs, step), 4))
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
            xs += [*map(x_of, steps), None]
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
                    x=[x_of(step) for step, _ in ends],
                    y=[t.intermediate_values[step] for step, t in ends],
                    mode="markers",
                    name="pruned here",
                    marker={"symbol": "x", "size": 9, "color": STATE_COLORS[state]},
                    text=[_hover(t) for _, t in ends],
                    hoverinfo="text",
                )
            )
    metric = study_metric(study)
    fidelity = fidelity_of(definition)
    along = "epoch" if fidelity is None else FIDELITIES[fidelity].axis
    fig.update_layout(title=f"{metric} per epoch", xaxis_title=along, yaxis_title=metric)
    if not fig.data:
        return _say(fig, "no trial has reported an epoch yet")
    return _whole_ticks(fig, max(max(t.intermediate_values, default=1) for t in trials)) if costs is None else fig


def param_importances(rung: Rung) -> tuple[dict[str, float], list[str]]:
    """PED-ANOVA importances of the trials at ``rung``, valued at its epoch, and Optuna's
    caveats about them.

    Optuna's importances read only COMPLETE trials, so they are computed on a copy of the
    rung's trials as COMPLETE ones (:func:`hpo.results.rungs.rung_study`). Raises
    :class:`CannotPlot` (with the reason) when they cannot be computed or would be
    meaningless: too few trials, or Optuna falling back to equal importances.
    """
    n = len(rung.trials)
    if n < MIN_TRIALS_FOR_IMPORTANCE:
        raise CannotPlot(
            f"Importances need at least {MIN_TRIALS_FOR_IMPORTANCE} trials at one epoch; "
            f"at most {n} finished trial{'' if n == 1 else 's'} reached the same epoch (epoch {rung.step})."
        )
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            importances = optuna.importance.get_param_importances(rung_study(rung))
        except (RuntimeError, ValueError) as exc:
            raise CannotPlot(f"Importances cannot be computed at epoch {rung.step}: {exc}") from None
    caveats = [str(w.message) for w in caught if issubclass(w.category, UserWarning)]
    equal = [c for c in caveats if "will be equal" in c]
    if equal:
        raise CannotPlot(f"Importances cannot be computed from these {n} trials at epoch {rung.step}: {equal[0]}")
    if not importances:
        raise CannotPlot("The study has no searched parameter.")
    return importances, caveats


def importance_figure(importances: dict[str, float], conditional: set[str], step: int) -> go.Figure:
    names = list(importances)[::-1]
    fig = go.Figure(go.Bar(x=[importances[n] for n in names], y=names, orientation="h", marker_color=STATE_COLORS["COMPLETE"]))
    title = f"PED-ANOVA importance at epoch {step} (how much each parameter sets the best trials apart)"
    if conditional:
        title += f"<br><sub>conditional, measured on the trials that sampled them: {', '.join(sorted(conditional))}</sub>"
    fig.update_layout(title=title, xaxis_title="importance", height=max(250, 80 + 35 * len(names)))
    return fig


# ----------------------------------------------------------------------------- trials compared at a rung

_RUNG_STATES = ("PRUNED", "COMPLETE")  # in drawing order: the few complete trials on top
_NOT_SAMPLED = -0.12  # where a parameter a trial did not sample (a conditional one) sits, below its axis


def rung_parallel_figure(rung: Rung, metric: str) -> go.Figure:
    """Parallel coordinates of the trials at ``rung``: the metric at its epoch, then one axis
    per parameter over its distribution's range (log where it is sampled in log); one line
    per trial, coloured by state. A complete trial's final value is a diamond on the first
    axis; a parameter a trial did not sample sits at "not sampled" below its axis."""
    if len(rung.trials) < 2:
        raise CannotPlot(f"Parallel coordinates need at least 2 trials at one epoch; {rung.describe(metric)}.")
    names = sorted(set().union(*(t.trial.params for t in rung.trials)))
    values = [t.value for t in rung.trials] + [t.final for t in rung.trials if t.final is not None]
    metric_axis = FloatDistribution(min(values), max(values))
    axes = [metric_axis, *(_distribution(rung, name) for name in names)]

    def positions(entry: RungTrial) -> list[float]:
        params = entry.trial.params
        return [_position(metric_axis, entry.value)] + [
            _position(axis, params[name]) if name in params else _NOT_SAMPLED for axis, name in zip(axes[1:], names)
        ]

    fig = go.Figure()
    for state in _RUNG_STATES:
        chosen = [t for t in rung.trials if t.trial.state.name == state]
        xs: list[Any] = []
        ys: list[Any] = []
        texts: list[Any] = []
        for entry in chosen:
            xs += [*range(len(axes)), None]
            ys += [*positions(entry), None]
            texts += [_rung_hover(entry, metric, rung.step)] * len(axes) + [None]
        fig.add_trace(
            go.Scatter(
                x=xs,
                y=ys,
                text=texts,
                hoverinfo="text",
                mode="lines",
                name=state.lower(),
                line={"color": STATE_COLORS[state], "width": 1.5},
                opacity=0.7,
            )
        )
    complete = [t for t in rung.trials if t.final is not None]
    fig.add_trace(
        go.Scatter(
            x=[0] * len(complete),
            y=[_position(metric_axis, t.final) for t in complete],
            mode="markers",
            name=f"complete: final {metric}",
            marker={"symbol": "diamond-open", "size": 10, "color": STATE_COLORS["COMPLETE"]},
            text=[_rung_hover(t, metric, rung.step) for t in complete],
            hoverinfo="text",
        )
    )
    ticks = [(0, p, label) for p, label in _ticks(metric_axis, format_value)]
    for x, (axis, name) in enumerate(zip(axes[1:], names), start=1):
        ticks += [(x, p, label) for p, label in _ticks(axis, format_number)]
        if any(name not in t.trial.params for t in rung.trials):
            ticks.append((x, _NOT_SAMPLED, "not sampled"))
    fig.update_layout(
        title=f"{rung.describe(metric)}, one line per trial",
        height=450,
        xaxis={"tickvals": list(range(len(axes))), "ticktext": [f"{metric}<br>at epoch {rung.step}", *names], "showgrid": False},
        yaxis={"range": [_NOT_SAMPLED - 0.06, 1.06], "visible": False, "fixedrange": True},
        shapes=[_axis_line(x) for x in range(len(axes))],
        annotations=[
            {"x": x, "y": p, "text": html.escape(label), "showarrow": False, "xanchor": "right", "xshift": -4, "font": {"size": 10}}
            for x, p, label in ticks
        ],
    )
    return fig


def rung_slice_figure(rung: Rung, metric: str, name: str) -> go.Figure:
    """The metric at ``rung``'s epoch against one parameter, a point per trial that sampled
    it, coloured by state; a complete trial's final value is a diamond above or below."""
    distribution = _distribution(rung, name)
    chosen = [t for t in rung.trials if name in t.trial.params]
    categorical = isinstance(distribution, CategoricalDistribution)

    def x(entry: RungTrial) -> Any:
        value = entry.trial.params[name]
        return format_number(value) if categorical else value

    def points(entries: list[RungTrial], y: list[float | None], name: str, marker: dict[str, Any]) -> go.Scatter:
        hover = [_rung_hover(t, metric, rung.step) for t in entries]
        return go.Scatter(x=[x(t) for t in entries], y=y, mode="markers", name=name, marker=marker, text=hover, hoverinfo="text")

    fig = go.Figure()
    for state in _RUNG_STATES:
        at_rung = [t for t in chosen if t.trial.state.name == state]
        marker = {"color": STATE_COLORS[state], "size": 8, "symbol": "circle" if state == "COMPLETE" else "x"}
        fig.add_trace(points(at_rung, [t.value for t in at_rung], f"{state.lower()}, at epoch {rung.step}", marker))
    complete = [t for t in chosen if t.final is not None]
    marker = {"symbol": "diamond-open", "size": 10, "color": STATE_COLORS["COMPLETE"]}
    fig.add_trace(points(complete, [t.final for t in complete], f"complete: final {metric}", marker))
    if isinstance(distribution, CategoricalDistribution):
        fig.update_xaxes(type="category", categoryorder="array", categoryarray=[format_number(c) for c in distribution.choices])
    elif isinstance(distribution, (FloatDistribution, IntDistribution)) and distribution.log:
        fig.update_xaxes(type="log")
    fig.update_layout(title=f"{name}<br><sub>{rung.describe(metric)}</sub>", height=350, xaxis_title=name, yaxis_title=metric)
    return fig


def _axis_line(x: int) -> dict[str, Any]:
    return {"type": "line", "x0": x, "x1": x, "y0": 0, "y1": 1, "line": {"color": "#888", "width": 1}, "layer": "below"}


def _distribution(rung: Rung, name: str) -> BaseDistribution:
    """The distribution ``name`` was sampled from (the same in every trial: the search hash holds the space)."""
    return next(t.trial.distributions[name] for t in rung.trials if name in t.trial.distributions)


def _position(axis: BaseDistribution, value: Any) -> float:
    """Where ``value`` sits on ``axis``, from 0 (low, first choice) to 1 (high, last choice)."""
    if isinstance(axis, CategoricalDistribution):
        return axis.choices.index(value) / (len(axis.choices) - 1) if len(axis.choices) > 1 else 0.5
    assert isinstance(axis, (FloatDistribution, IntDistribution))
    scale = math.log10 if axis.log else float
    low, high = scale(axis.low), scale(axis.high)
    return (scale(value) - low) / (high - low) if high > low else 0.5


def _ticks(axis: BaseDistribution, show: Callable[[Any], str]) -> list[tuple[float, str]]:
    """An axis's labels: every choice, or its low, middle (geometric, on a log axis) and high."""
    if isinstance(axis, CategoricalDistribution):
        return [(_position(axis, c), show(c)) for c in axis.choices]
    assert isinstance(axis, (FloatDistribution, IntDistribution))
    if axis.low == axis.high:
        return [(0.5, show(axis.low))]
    middle = math.sqrt(axis.low * axis.high) if axis.log else (axis.low + axis.high) / 2
    return [(_position(axis, v), show(v)) for v in (axis.low, middle, axis.high)]


def _rung_hover(entry: RungTrial, metric: str, step: int) -> str:
    trial = entry.trial
    lines = [
        f"trial {trial.number} ({trial.state.name.lower()}, {epochs_of(trial)} epochs)",
        f"{metric} at epoch {step}: {format_value(entry.value)}",
    ]
    if entry.final is not None:
        lines.append(f"final {metric}: {format_value(entry.final)}")
    lines += [f"{k}={format_number(v)}" for k, v in trial.params.items()]
    return html.escape("\n".join(lines), quote=False).replace("\n", "<br>")


def timeline_figure(trials: list[FrozenTrial]) -> go.Figure:
    """One bar per trial, from start to end, on the row of the worker that ran it (a warm
    start's trials ran in an earlier version: not here)."""
    now = dt.datetime.now()
    rows = []
    for t in trials:
        if t.datetime_start is None or is_warm_start(t):
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
    return f"trial {trial.number} ({trial.state.name.lower()}, {format_value(first_value(trial))})<br>{html.escape(params, quote=False)}"


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

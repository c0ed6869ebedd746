"""``hpo report``: one self-contained HTML page about a study, readable offline.

Everything comes from the Optuna study (running or finished) and, for models retrained
with ``hpo train``, from ``studies/<study>/retrain/``. The page holds, top to bottom:

- the study: metric, direction, trial counts, best trial, the spec it searched;
- optimization history with the best value so far;
- learning curves of every trial (the metric per epoch); pruned trials dashed, ending in x;
- parallel coordinates, hyperparameter importances and one slice plot per parameter;
- a timeline of trials per worker (host and process) and the top trials as a table;
- per retrained run: accuracy per seed, per-class accuracy, the confusion matrix summed
  over seeds and a t-SNE map of the penultimate-layer features.

plotly.js is embedded once, with the first figure; every other figure reuses it. Where a
plot cannot be drawn (too few trials for importances, no retrained model), the page says
so in its place.
"""

from __future__ import annotations

import datetime as dt
import html
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import optuna
import pandas as pd
import plotly.express as px
import plotly.graph_objects as go
from optuna.trial import FrozenTrial, TrialState

from hpo.results.retrain import load_summaries
from hpo.results.table import param_columns, ranked_trials, study_metric, study_mode, trials_frame
from hpo.study.records import worker_of
from hpo.study.summary import Tally, format_params, format_seconds
from hpo.study.versions import SEARCH_HASH_ATTR, SPEC_SOURCE_ATTR, SPEC_TEXT_ATTR

TOP = 10  # trials in the table of the best
MIN_TRIALS_FOR_IMPORTANCE = 4  # fewer complete trials say nothing about which parameter matters
TSNE_POINTS = 500  # at most this many feature vectors go into t-SNE: a few seconds on one core
STATE_COLORS = {"COMPLETE": "#1f77b4", "PRUNED": "#ff7f0e", "FAIL": "#d62728", "RUNNING": "#2ca02c", "WAITING": "#7f7f7f"}
_PLOT_CONFIG = {"displaylogo": False, "responsive": True}


def write_report(study: optuna.Study, output: Path, retrain_dir: Path | None = None) -> Path:
    """Write the report of ``study`` to ``output`` (HTML); returns the path."""
    output.parent.mkdir(parents=True, exist_ok=True)
    output.write_text(build_report(study, retrain_dir), encoding="utf-8")
    return output


def build_report(study: optuna.Study, retrain_dir: Path | None = None) -> str:
    """The report as one HTML document (see module doc)."""
    page = _Page(f"hpo report: {study.study_name}")
    trials = study.get_trials(deepcopy=False)
    page.section("Study", _overview(study, trials))
    if not trials:
        page.note("The study has no trials yet.")
    else:
        page.section("Optimization history", page.figure(history_figure(study, trials)))
        page.section("Learning curves", page.figure(learning_curves_figure(study, trials)))
        page.section("Parallel coordinates", _optional(page, lambda: _parallel_coordinates(study)))
        page.section("Hyperparameter importances", _optional(page, lambda: _importances(page, study)))
        page.section("Slices", _optional(page, lambda: _slices(page, study)))
        page.section("Timeline of trials per worker", page.figure(timeline_figure(trials)))
        page.section(f"Top {TOP} trials", _top_table(study))
    runs = load_summaries(study.study_name, retrain_dir)
    if not runs:
        where = retrain_dir or f"studies/{study.study_name}/retrain/"
        page.section("Retrained models", page.note_html(f"No retrained model in {where} (run `hpo export` then `hpo train`)."))
    for run_dir, summary in runs:
        page.section(f"Retrained: {run_dir.name}", _retrained(page, run_dir, summary))
    return page.render()


# ----------------------------------------------------------------------------- the page


class _Page:
    """HTML sections; plotly.js goes in with the first figure only."""

    def __init__(self, title: str) -> None:
        self.title = title
        self.parts: list[str] = []
        self._figures = 0

    def figure(self, fig: go.Figure) -> str:
        fig.update_layout(template="plotly_white", margin={"l": 60, "r": 30, "t": 50, "b": 50})
        self._figures += 1
        return fig.to_html(
            full_html=False,
            include_plotlyjs=self._figures == 1,
            config=_PLOT_CONFIG,
            div_id=f"plot-{self._figures}",
        )

    def note_html(self, text: str) -> str:
        return f'<p class="note">{html.escape(text)}</p>'

    def note(self, text: str) -> None:
        self.parts.append(self.note_html(text))

    def section(self, heading: str, body: str) -> None:
        self.parts.append(f"<section><h2>{html.escape(heading)}</h2>\n{body}\n</section>")

    def render(self) -> str:
        generated = dt.datetime.now().isoformat(sep=" ", timespec="seconds")
        return _TEMPLATE.format(title=html.escape(self.title), generated=generated, body="\n".join(self.parts))


_TEMPLATE = """<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<title>{title}</title>
<style>
body {{ font-family: system-ui, sans-serif; margin: 2em auto; max-width: 1200px; color: #222; }}
h1 {{ font-size: 1.6em; }} h2 {{ font-size: 1.25em; border-bottom: 1px solid #ddd; padding-bottom: .2em; }}
table {{ border-collapse: collapse; margin: .5em 0; font-size: .9em; }}
td, th {{ border: 1px solid #ddd; padding: .25em .6em; text-align: right; }}
th {{ background: #f4f4f4; }} td:first-child, th:first-child {{ text-align: left; }}
pre {{ background: #f8f8f8; padding: 1em; overflow-x: auto; }}
.note {{ color: #8a6d3b; background: #fcf8e3; padding: .5em 1em; }}
</style>
</head>
<body>
<h1>{title}</h1>
<p>Generated {generated} by hpo.</p>
{body}
</body>
</html>
"""


def _optional(page: _Page, make: Callable[[], go.Figure | str]) -> str:
    """A figure, or the reason it cannot be drawn (a :class:`CannotPlot`)."""
    try:
        made = make()
    except CannotPlot as exc:
        return page.note_html(str(exc))
    return made if isinstance(made, str) else page.figure(made)


class CannotPlot(Exception):
    """Why a plot is left out of the page (said in its place)."""


# ----------------------------------------------------------------------------- the study


def _overview(study: optuna.Study, trials: list[FrozenTrial]) -> str:
    mode = study_mode(study)
    tally = Tally.from_trials(trials, len(trials), mode)
    rows = [
        ("study", study.study_name),
        ("metric", f"{study_metric(study)} ({mode})"),
        ("trials", tally.summary()),
        ("search hash", study.user_attrs.get(SEARCH_HASH_ATTR, "-")),
        ("spec file", study.user_attrs.get(SPEC_SOURCE_ATTR, "-")),
    ]
    if tally.best is not None:
        rows.append(("best params", format_params(tally.best.params)))
    table = "".join(f"<tr><th>{html.escape(k)}</th><td>{html.escape(str(v))}</td></tr>" for k, v in rows)
    spec = study.user_attrs.get(SPEC_TEXT_ATTR)
    spec_html = f"<details><summary>spec</summary><pre>{html.escape(spec)}</pre></details>" if spec else ""
    return f'<table class="overview">{table}</table>{spec_html}'


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
            if best is None or (t.value > best if mode == "max" else t.value < best):
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


def _parallel_coordinates(study: optuna.Study) -> go.Figure:
    if len(ranked_trials(study)) < 2:
        raise CannotPlot("Parallel coordinates need at least 2 complete trials.")
    return optuna.visualization.plot_parallel_coordinate(study)


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


def _importances(page: _Page, study: optuna.Study) -> str:
    importances, caveats = param_importances(study)
    figure = page.figure(importance_figure(importances, _conditional_params(ranked_trials(study))))
    return figure + "".join(page.note_html(f"Optuna: {c}") for c in dict.fromkeys(caveats))


def _conditional_params(trials: list[FrozenTrial]) -> set[str]:
    names = [set(t.params) for t in trials]
    return set.union(*names) - set.intersection(*names) if names else set()


def _slices(page: _Page, study: optuna.Study) -> str:
    complete = ranked_trials(study)
    if not complete:
        raise CannotPlot("Slice plots need at least one complete trial.")
    names = sorted(set().union(*(t.params for t in complete)))
    figures = []
    for name in names:
        fig = optuna.visualization.plot_slice(study, params=[name])
        fig.update_layout(title=name, height=350, yaxis_title=study_metric(study))
        figures.append(page.figure(fig))
    return "\n".join(figures)


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
                "epochs": t.user_attrs.get("epochs", len(t.intermediate_values)),
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
    fig.update_yaxes(autorange="reversed", title="worker (host, process)")
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
    host = attrs.get("hostname") or (attrs.get("node_id") or "")[:8] or "?"
    where = f"{host} pid {attrs['pid']}" if "pid" in attrs else host
    return f"{where} ({attrs['device']})" if attrs.get("device") else where


def _top_table(study: optuna.Study) -> str:
    frame = trials_frame(study)
    ranked = [t.number for t in ranked_trials(study)][:TOP]
    if not ranked:
        return '<p class="note">No complete trial yet.</p>'
    top = frame.set_index("number").loc[ranked].reset_index()
    params = param_columns(top)
    shown = top[["number", "value", "epochs", "seconds", *params]].copy()
    shown["seconds"] = shown["seconds"].map(lambda s: format_seconds(None if pd.isna(s) else s))
    shown.columns = [c.removeprefix("params.") for c in shown.columns]
    return shown.to_html(index=False, na_rep="", float_format=lambda v: f"{v:.4g}", border=0)


def _hover(trial: FrozenTrial) -> str:
    value = f"{trial.value:.4f}" if trial.value is not None else "-"
    params = "<br>".join(f"{k}={_short(v)}" for k, v in trial.params.items())
    return f"trial {trial.number} ({trial.state.name.lower()}, {value})<br>{html.escape(params, quote=False)}"


def _short(value: object) -> str:
    return f"{value:.4g}" if isinstance(value, float) else str(value)


# ----------------------------------------------------------------------------- retrained models


def _retrained(page: _Page, run_dir: Path, summary: dict[str, Any]) -> str:
    """The metric per seed; for an accuracy summary (hpo.results.retrain) also the per-class,
    confusion and feature figures."""
    split = summary["split"]
    values = summary.get("values") or summary["acc"]
    seeds = "".join(f"<tr><td>{s}</td><td>{a:.4f}</td></tr>" for s, a in zip(summary["seeds"], values))
    table = (
        f"<p>{html.escape(summary.get('config_file', ''))} retrained in {html.escape(str(run_dir))}, "
        f"evaluated on the {split} split.</p>"
        f"<table><tr><th>seed</th><th>{html.escape(summary.get('metric') or split + '_acc')}</th></tr>{seeds}"
        f"<tr><th>mean ± std</th><th>{summary['mean']:.4f} ± {summary['std']:.4f}</th></tr></table>"
    )
    if "confusion" not in summary:
        return table
    parts = [table, page.figure(per_class_figure(summary)), page.figure(confusion_figure(summary))]
    parts.append(_optional(page, lambda: tsne_figure(run_dir, summary)))
    return "\n".join(parts)


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
    # one OpenMP thread: on a busy machine its threads spin against each other (20x slower)
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

"""``hpo report``: one self-contained HTML page about a study, readable offline.

Everything comes from the Optuna study (running or finished) and, for models retrained
with ``hpo train``, from ``studies/<study>/retrain/``. The page holds, top to bottom:

- the study: metric, direction, trial counts, best trial, the spec it searched;
- its cost: epochs, wall time, CPU/GPU hours, and the epochs pruning saved (hpo.results.cost);
- a gallery of training images under each augmentation searched (:mod:`hpo.results.gallery`);
- optimization history with the best value so far;
- learning curves of every trial (the metric per epoch); pruned trials dashed, ending in x;
- parallel coordinates, hyperparameter importances and one slice plot per parameter, of
  every finished trial at the deepest epoch enough of them reached, pruned trials included
  (hpo.results.rungs);
- under Population Based Training, each trial's exploits: when, from which trial, and the
  parameters that changed (hpo.results.perturbations);
- a timeline of trials per worker (host, process, device) and the top trials as a table;
- the top trials confirmed over seeds by ``hpo confirm``, when it has run (hpo.results.confirm_view);
  with several objectives, the Pareto front instead (:mod:`hpo.results.pareto`), drawn and
  as a table, trials that break a constraint greyed;
- per retrained run: accuracy per seed, per-class accuracy, the confusion matrix summed
  over seeds, a t-SNE map of the penultimate-layer features and misclassified images.

The figures are drawn by :mod:`hpo.results.figures`; this module puts them on the page.
plotly.js is embedded once, with the first figure; every other figure reuses it. Where a
plot cannot be drawn (too few trials for importances, no retrained model), the page says
so in its place.
"""

from __future__ import annotations

import datetime as dt
import html
from collections.abc import Callable
from pathlib import Path
from typing import Any

import optuna
import pandas as pd
import plotly.graph_objects as go
from optuna.trial import FrozenTrial

from hpo.format import format_number, format_params, format_percent, format_seconds, format_spread, format_value
from hpo.results.confirm_view import confirm_html
from hpo.results.cost import study_cost
from hpo.results.figures import (
    CannotPlot,
    confusion_figure,
    history_figure,
    importance_figure,
    learning_curves_figure,
    param_importances,
    per_class_figure,
    rung_parallel_figure,
    rung_slice_figure,
    timeline_figure,
    tsne_figure,
)
from hpo.results.gallery import gallery_html
from hpo.results.misclassified import misclassified_html
from hpo.results.pareto import pareto_figure
from hpo.results.perturbations import exploit_lines
from hpo.results.retrain import load_summaries
from hpo.results.rungs import MIN_SHARED, Rung, shared_rung
from hpo.results.table import param_columns, ranked_trials, study_metric, study_metrics, trials_frame
from hpo.study.confirm import confirmed_trials
from hpo.study.keys import SEARCH_HASH_ATTR, SPEC_SOURCE_ATTR, SPEC_TEXT_ATTR
from hpo.study.records import is_warm_start
from hpo.study.summary import Tally, study_mode, study_modes, versus_baseline
from hpo.study.warmstart import warm_start_line

TOP = 10  # trials in the table of the best
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
    page.section("Augmentation gallery", _optional(page, lambda: gallery_html(study)))
    if not trials:
        page.note("The study has no trials yet.")
    else:
        page.section("Cost", _cost(study))
        page.section("Optimization history", page.figure(history_figure(study, trials)))
        page.section("Learning curves", page.figure(learning_curves_figure(study, trials)))
        _compared_at_rung(page, study, trials)
        exploits = exploit_lines(trials)
        if exploits:
            page.section("Population Based Training", "<ul>" + "".join(f"<li>{html.escape(line)}</li>" for line in exploits) + "</ul>")
        page.section("Timeline of trials per worker", page.figure(timeline_figure(trials)))
        if len(study.directions) > 1:  # several objectives: what was found is the front
            page.section("Pareto front", _optional(page, lambda: pareto_figure(study)) + _top_table(study))
        else:
            page.section(f"Top {TOP} trials", _top_table(study))
    confirmed = confirmed_trials(study)
    if confirmed:
        page.section("Confirmed over seeds", confirm_html(confirmed, study_metric(study), study_mode(study)))
    runs = load_summaries(study.study_name, retrain_dir)
    if not runs:
        where = retrain_dir or f"studies/{study.study_name}/retrain/"
        page.section("Retrained models", page.note_html(f"No retrained model in {where} (run `hpo export` then `hpo train`)."))
    for run_dir, summary in runs:
        page.section(f"Retrained: {run_dir.name}", _retrained(page, run_dir, summary) + misclassified_html(run_dir, summary))
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


# ----------------------------------------------------------------------------- the study


def _overview(study: optuna.Study, trials: list[FrozenTrial]) -> str:
    tally = Tally.from_trials(trials, sum(not is_warm_start(t) for t in trials), study_modes(study))
    rows = [
        ("study", study.study_name),
        ("metric", ", ".join(f"{metric} ({mode})" for metric, mode in zip(study_metrics(study), study_modes(study)))),
        ("trials", tally.summary()),
        ("search hash", study.user_attrs.get(SEARCH_HASH_ATTR, "-")),
        ("spec file", study.user_attrs.get(SPEC_SOURCE_ATTR, "-")),
    ]
    if tally.best is not None:
        rows.append(("best params", format_params(tally.best.params)))
    versus = versus_baseline(tally.best, trials)
    if versus:
        rows.append(("baseline", versus))
    warm = warm_start_line(trials)
    if warm:
        rows.append(("warm start", warm))
    spec = study.user_attrs.get(SPEC_TEXT_ATTR)
    spec_html = f"<details><summary>spec</summary><pre>{html.escape(spec)}</pre></details>" if spec else ""
    return _rows_table(rows) + spec_html


def _rows_table(rows: list[tuple[str, Any]]) -> str:
    cells = "".join(f"<tr><th>{html.escape(k)}</th><td>{html.escape(str(v))}</td></tr>" for k, v in rows)
    return f'<table class="overview">{cells}</table>'


def _cost(study: optuna.Study) -> str:
    """Trials, epochs, time and CPU/GPU hours, and the epochs pruning saved (hpo.results.cost)."""
    cost = study_cost(study)
    unknown = "- (the study stores no spec)"
    rows: list[tuple[str, Any]] = [
        ("trials", f"{cost.trials} started"),
        ("epochs trained", f"{cost.epochs}, summed over every trial"),
        (
            "without pruning",
            unknown if cost.epochs_unpruned is None else f"{cost.epochs_unpruned} epochs: each pruned trial run to train.epochs",
        ),
        (
            "pruning saved",
            unknown if cost.epochs_saved is None else f"{cost.epochs_saved} epochs ({format_percent(cost.saved_fraction)})",
        ),
        ("wall time", f"{format_seconds(cost.wall_seconds)} while at least one trial ran"),
        ("trial time", f"{format_seconds(cost.trial_seconds)}, every trial's seconds summed"),
    ]
    for unit, per_trial, hours in (("CPU", cost.cpus_per_trial, cost.cpu_hours), ("GPU", cost.gpus_per_trial, cost.gpu_hours)):
        key = f"resources.{unit.lower()}s_per_trial"
        shown = unknown if per_trial is None else f"{format_number(hours)}: trial time × {key} ({format_number(per_trial)})"
        rows.append((f"{unit} hours", shown))
    return _rows_table(rows)


def _compared_at_rung(page: _Page, study: optuna.Study, trials: list[FrozenTrial]) -> None:
    """Parallel coordinates, importances and slices of the finished trials at the deepest
    epoch enough of them reached (hpo.results.rungs): pruned trials count, at one epoch."""
    headings = ("Parallel coordinates", "Hyperparameter importances", "Slices")
    rung = shared_rung(trials, study_mode(study))
    if rung is None:
        for heading in headings:
            page.section(heading, page.note_html("No finished trial has reported an epoch yet."))
        return
    metric = study_metric(study)
    which = (
        f"the deepest epoch at least {rung.needed} finished trials (a third, and at least {MIN_SHARED}) reached"
        if len(rung.trials) >= rung.needed
        else "the epoch most reached"
    )
    intro = (
        f"<p>Compared at epoch {rung.step}, {which}: {html.escape(rung.describe(metric))}. A pruned trial counts here "
        f"if it reached that epoch. Lines and points are coloured by state; diamonds are the complete trials' final "
        f"{html.escape(metric)}.</p>"
    )
    names = sorted(set().union(*(t.trial.params for t in rung.trials)))
    page.section(headings[0], intro + _optional(page, lambda: rung_parallel_figure(rung, metric)))
    page.section(headings[1], _optional(page, lambda: _importances(page, rung)))
    page.section(headings[2], "\n".join(page.figure(rung_slice_figure(rung, metric, name)) for name in names))


def _importances(page: _Page, rung: Rung) -> str:
    importances, caveats = param_importances(rung)
    text = f"<p>Importances at epoch {rung.step}, from the {len(rung.trials)} trials that reached it.</p>"
    figure = page.figure(importance_figure(importances, _conditional_params([t.trial for t in rung.trials]), rung.step))
    return text + figure + "".join(page.note_html(f"Optuna: {c}") for c in dict.fromkeys(caveats))


def _conditional_params(trials: list[FrozenTrial]) -> set[str]:
    names = [set(t.params) for t in trials]
    return set().union(*names) - names[0].intersection(*names[1:]) if names else set()


def _top_table(study: optuna.Study) -> str:
    """The best feasible complete trials; with several objectives, the whole Pareto front,
    a column per objective."""
    frame = trials_frame(study)
    several = len(study.directions) > 1
    ranked = [t.number for t in ranked_trials(study)][: None if several else TOP]
    if not ranked:
        return '<p class="note">No complete trial that meets every constraint yet.</p>'
    top = frame.set_index("number").loc[ranked].reset_index()
    params = param_columns(top)
    values = [c for c in top.columns if c.startswith("values.")] or ["value"]
    shown = top[["number", *values, "epochs", "seconds", *params]].copy()
    formats = {"value": format_value, "seconds": format_seconds}
    for column in shown.columns:
        show = formats.get(column, format_number)
        shown[column] = [("" if pd.isna(v) else show(v)) for v in shown[column]]
    shown.columns = [c.removeprefix("params.").removeprefix("values.") for c in shown.columns]
    return shown.to_html(index=False, border=0)


# ----------------------------------------------------------------------------- retrained models


def _retrained(page: _Page, run_dir: Path, summary: dict[str, Any]) -> str:
    """The metric per seed; for an accuracy summary (hpo.results.retrain) also the per-class,
    confusion and feature figures."""
    split = summary["split"]
    values = summary.get("values") or summary["acc"]
    seeds = "".join(f"<tr><td>{s}</td><td>{format_value(a)}</td></tr>" for s, a in zip(summary["seeds"], values))
    table = (
        f"<p>{html.escape(summary.get('config_file', ''))} retrained in {html.escape(str(run_dir))}, "
        f"evaluated on the {split} split.</p>"
        f"<table><tr><th>seed</th><th>{html.escape(summary.get('metric') or split + '_acc')}</th></tr>{seeds}"
        + (f"<tr><th>mean ± std</th><th>{format_spread(summary['mean'], summary['std'], len(values))}</th></tr>" if len(values) > 1 else "")
        + "</table>"
    )
    if "confusion" not in summary:
        return table
    parts = [table, page.figure(per_class_figure(summary)), page.figure(confusion_figure(summary))]
    parts.append(_optional(page, lambda: tsne_figure(run_dir, summary)))
    return "\n".join(parts)

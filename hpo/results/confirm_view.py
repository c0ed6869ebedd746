"""The table of ``hpo confirm``: the search's ranking of its top trials against their
ranking over seeds, as ``hpo confirm``, ``hpo status`` and the report show it.

One row per confirmed trial, best by the bound first (hpo.study.confirm): its value in the
search (one seed), its mean ± std over the seeds, the confidence bound, and its rank by
each. Where the bound's rank differs from the search's, the row says so (``#1 → #3``) and
the verdict above the table names the winner that changed.
"""

from __future__ import annotations

import html

from rich.console import Group, RenderableType
from rich.table import Table
from rich.text import Text

from hpo.format import format_percent, format_spread, format_value
from hpo.study.confirm import CONFIDENCE, Confirmed

COLUMNS = ("trial", "search value", "mean ± std", "seeds", "bound", "rank: search", "by mean", "by bound", "change")


def bound_name(mode: str) -> str:
    """``lower bound (95%)``, or the upper one when the study minimises."""
    return f"{'lower' if mode == 'max' else 'upper'} bound ({format_percent(CONFIDENCE)})"


def cells(rows: list[Confirmed]) -> list[list[str]]:
    """The table's cells, one list per row, as COLUMNS names them."""
    table = []
    for row in rows:
        seeds = f"{len(row.values)}" + (f" ({len(row.failures)} failed)" if row.failures else "")
        change = "" if row.bound_rank == row.search_rank else f"#{row.search_rank} → #{row.bound_rank}"
        table.append(
            [
                str(row.trial.number),
                format_value(row.trial.value),
                "-" if row.mean is None else format_spread(row.mean, row.std, len(row.values)),
                seeds,
                format_value(row.bound),
                str(row.search_rank),
                str(row.mean_rank),
                str(row.bound_rank),
                change,
            ]
        )
    return table


def verdict(rows: list[Confirmed]) -> list[str]:
    """What changed, in words: where the search's #1 stands by the bound, the winner by the
    mean when it is another trial, and every failed run with its reason."""
    if not rows:
        return []
    first = next(row for row in rows if row.search_rank == 1)
    winner = rows[0]
    over = f"over its {len(first.runs)} seeds"
    if winner is first:
        lines = [f"the search's #1, trial {first.trial.number}, stays #1 by the bound {over}"]
    else:
        lines = [
            f"the search's #1, trial {first.trial.number}, is #{first.bound_rank} by the bound {over}: the confirmed winner "
            f"is trial {winner.trial.number} (the search's #{winner.search_rank})"
        ]
    by_mean = next(row for row in rows if row.mean_rank == 1)
    if by_mean is not winner:
        lines.append(f"by the mean alone, trial {by_mean.trial.number} leads; the winner is chosen by the bound")
    for row in rows:
        lines += [f"trial {row.trial.number} seed {run.seed} failed: {run.reason()}" for run in row.failures]
    return lines


def confirm_view(rows: list[Confirmed], metric: str, mode: str) -> Group:
    """The verdict and the table, for the terminal."""
    table = Table(title=f"{metric} confirmed over seeds: mean ± std and the {bound_name(mode)} of the mean")
    for column in COLUMNS:
        table.add_column(column, justify="left" if column in ("trial", "change") else "right")
    for row, row_cells in zip(rows, cells(rows)):
        table.add_row(*row_cells, style="bold" if row.bound_rank != row.search_rank else None)
    parts: list[RenderableType] = [Text(line) for line in verdict(rows)]
    return Group(*parts, table)


def confirm_html(rows: list[Confirmed], metric: str, mode: str) -> str:
    """The verdict and the table, for the report."""
    head = "".join(f"<th>{html.escape(column)}</th>" for column in COLUMNS)
    body = "".join("<tr>" + "".join(f"<td>{html.escape(cell)}</td>" for cell in row) + "</tr>" for row in cells(rows))
    lines = "".join(f"<p>{html.escape(line)}</p>" for line in verdict(rows))
    intro = (
        f"<p>{html.escape(metric)} of the top trials trained again over seeds; bound: the {html.escape(bound_name(mode))} of the mean.</p>"
    )
    return f"{intro}{lines}<table><tr>{head}</tr>{body}</table>"

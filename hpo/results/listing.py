"""``hpo list``: the table of every study in a storage (hpo.study.catalog)."""

from __future__ import annotations

from rich.console import Console
from rich.table import Table

from hpo.errors import HpoError
from hpo.format import format_datetime, format_value
from hpo.study.catalog import StudyEntry, default_storages, list_studies
from hpo.study.storage import STUDIES_DIR


def print_studies(storage: str | None, console: Console, err_console: Console) -> None:
    """The studies of ``storage``, else of every database under studies/. A named storage
    that cannot be read is an error; one database of studies/ that cannot be read is named
    on stderr and the others are listed."""
    if storage is not None:
        entries = list_studies(storage)
        where = storage
    else:
        entries = []
        for url in default_storages():
            try:
                entries += list_studies(url)
            except HpoError as exc:
                err_console.print(f"skipped: {exc}")
        where = f"{STUDIES_DIR}/"
    if not entries:
        console.print(f"no study in {where}")
        return
    console.print(studies_table(entries, where))


def studies_table(entries: list[StudyEntry], where: str) -> Table:
    table = Table(title=f"studies in {where}")
    for column in ("study", "complete", "pruned", "failed", "running", "best", "last activity", "storage"):
        table.add_column(column, justify="right" if column in ("complete", "pruned", "failed", "running", "best") else "left")
    for entry in entries:
        tally = entry.tally
        best = "-" if tally.best is None else f"{format_value(tally.best.value)} (trial {tally.best.number})"
        if len(tally.modes) > 1:
            best = f"Pareto front: {len(tally.front)}"
        table.add_row(
            entry.name,
            str(tally.complete),
            str(tally.pruned),
            str(tally.failed),
            str(len(tally.running)),
            best,
            format_datetime(entry.last_activity),
            entry.storage,
        )
    return table

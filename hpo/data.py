"""``hpo data list``: the built-in trainer's data sets and which of them are on disk.

The trainer knows its data sets (``trainers.data``); this module only shows them, so that
a user sees before a run what ``hpo run`` would find under a ``data.root``, what
``--download`` would fetch, and from where. It looks (stat calls), never reads or fetches.
"""

from __future__ import annotations

import os
from pathlib import Path

from rich.table import Table

from hpo.format import format_bytes

__all__ = ["datasets_table", "download_source"]


def datasets_table(root: Path | None = None) -> Table:
    """One row per registered data set: on disk under ``root`` or not, size, classes, image shape."""
    from trainers.data import DEFAULT_ROOT, datasets_on_disk

    where = str(root) if root is not None else DEFAULT_ROOT
    table = Table(title=f"data sets of the built-in trainer under {where}/")
    for column in ("data set", "on disk", "size", "classes", "image (C x H x W)", "folder"):
        table.add_column(column, overflow="fold")
    for found in datasets_on_disk(where):
        if found.folder is None:
            state, size, folder = "[green]needs no files[/green]", "-", "-"
        elif found.missing == 0:
            state, size, folder = "[green]yes[/green]", format_bytes(found.size), found.folder
        elif found.missing == found.needed:
            state, size, folder = "[red]no[/red]", "-", found.folder
        else:
            state, size, folder = (
                f"[yellow]incomplete: {found.missing} of {found.needed} files missing[/yellow]",
                format_bytes(found.size),
                found.folder,
            )
        shape = found.shape
        classes = str(shape[3]) if shape else "set by the config"
        image = " x ".join(map(str, shape[:3])) if shape else "set by the config"
        table.add_row(found.name, state, size, classes, image, folder)
    return table


def download_source() -> str:
    """Where ``--download`` fetches from: the mirror ``HPO_DATA_MIRROR`` names, or the publishers."""
    from trainers.download import MIRROR_ENV

    mirror = os.environ.get(MIRROR_ENV, "").strip()
    if mirror:
        return f"--download fetches from the mirror {MIRROR_ENV}={mirror} (<mirror>/<data set>/<file>)"
    return f"--download fetches from the publishers' servers (set {MIRROR_ENV} to use a mirror of your own)"

"""A trainer's state on disk: written so that a kill never leaves a file that loads wrongly.

The state is what a trainer hands ``report`` (hpo.contract): a mapping that ``torch.save``
writes, read back with ``torch.load(weights_only=True)``, so loading a checkpoint runs no
code from the file. Each write goes to a temporary file beside the target, is flushed to
the disk and then renamed over it: a reader sees the old file or the new one, never half
of one.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Mapping
from pathlib import Path
from typing import Any

__all__ = ["load_state", "save_state"]


def save_state(state: Mapping[str, Any], path: str | Path) -> None:
    """Write ``state`` to ``path`` atomically (a temporary file in the same directory,
    fsync, ``os.replace``)."""
    import torch

    path = Path(path)
    descriptor, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(descriptor, "wb") as file:
            torch.save(dict(state), file)
            file.flush()
            os.fsync(file.fileno())
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise


def load_state(path: str | Path) -> dict[str, Any]:
    """The state :func:`save_state` wrote, tensors on the CPU; only plain data and tensors
    are read (``weights_only``)."""
    import torch

    return torch.load(Path(path), map_location="cpu", weights_only=True)

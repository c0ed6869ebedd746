"""A trainer's state on disk: written whole or not at all, read back as data only.

    save_state(state, path)   # torch.save, checked, to a temporary file beside path, fsync, os.replace
    state = load_state(path)  # torch.load(weights_only=True), tensors on the CPU

A state is what a trainer hands with ``report(metrics, state=...)`` (hpo.contract). A
process killed while writing leaves the previous file at ``path`` untouched (or none) and
at most a temporary ``.<name>.*.tmp`` beside it, never a file that loads wrongly. The
state is checked before it replaces the old one: torch would write a numpy array or any
object, but ``weights_only`` refuses to read it, and a trial must not learn that only when
it resumes. Reading with ``weights_only=True`` runs no code from the file.

The data are synced before the rename, so after a crash of the machine the file holds the
new state or the previous one, both whole; ``sync=False`` leaves that out, for a file
another copy is made of at once (a Ray checkpoint: hpo.engine.trainable). The folder is not synced after it: that would
only make the new one sure to survive, at the price of a second sync per save, and a
state names its own epoch, so a trial that finds the previous one resumes after that.

torch is imported inside the functions, so ``import hpo`` stays light.
"""

from __future__ import annotations

import io
import os
import tempfile
from collections.abc import Mapping
from pathlib import Path
from typing import Any

__all__ = ["StateError", "load_state", "save_state"]


class StateError(TypeError):
    """A state that ``torch.load(weights_only=True)`` could not read back."""


def save_state(state: Mapping[str, Any], path: str | os.PathLike[str], *, sync: bool = True) -> None:
    """Write ``state`` to ``path`` atomically; the folder must exist.

    Args:
        sync: Sync the data to the disk before the rename, so the file survives a crash of
            the machine whole. A file only copied at once by the process that wrote it (a
            checkpoint Ray copies into its storage) needs no sync: a kill never leaves it
            partial either way.

    Raises:
        StateError: the state holds objects other than tensors, numbers, strings, bools,
            None, lists, tuples and dicts (the file at ``path`` is left as it was).
    """
    import torch
    from torch.serialization import get_unsafe_globals_in_checkpoint

    # serialized in memory, checked there, then written in one call: torch.save to a file
    # writes each tensor's record as a small write of its own, and reading the file back
    # for the check costs more than the check (the price: the state's bytes held once)
    buffer = io.BytesIO()
    torch.save(dict(state), buffer)
    buffer.seek(0)
    unsafe = get_unsafe_globals_in_checkpoint(buffer)
    if unsafe:
        raise StateError(
            f"a trainer's state must hold only tensors, numbers, strings, bools, None, lists, tuples and dicts "
            f"(torch.load(weights_only=True) reads nothing else), but it holds {', '.join(sorted(unsafe))}: "
            "hand numpy arrays as torch.from_numpy(a) or a.tolist(), objects as their state_dict()"
        )
    target = Path(path)
    handle, temporary = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.", suffix=".tmp")
    try:
        with os.fdopen(handle, "wb") as file:
            file.write(buffer.getbuffer())
            file.flush()
            if sync:
                os.fsync(file.fileno())  # the data on disk before the name points at them
        os.replace(temporary, target)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise


def load_state(path: str | os.PathLike[str]) -> dict[str, Any]:
    """The state saved at ``path``, its tensors on the CPU (a trial may resume on another
    device or machine; ``load_state_dict`` copies them where the model is)."""
    import torch

    return torch.load(path, map_location="cpu", weights_only=True)

"""What Population Based Training did to each trial, as ``hpo status`` and ``hpo report`` show it.

A trial's ``perturbations`` attribute (hpo.engine.searcher) lists its exploits; each line
says after which epoch it was copied, from which trial and epoch, and the parameters that
changed from those it ran before (the other trial's that differ, and the perturbed ones).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from optuna.trial import FrozenTrial

from hpo.format import format_number
from hpo.study.keys import PERTURBATIONS_ATTR

__all__ = ["exploit_lines"]


def exploit_lines(trials: Iterable[FrozenTrial]) -> list[str]:
    """One line per exploit of every trial, in trial order: ``trial 3 at epoch 2: copied
    trial 0 (its epoch 2); optimizer.lr 0.0001 -> 0.0012``."""
    lines = []
    for trial in trials:
        before: Mapping[str, Any] = trial.params
        for exploit in trial.user_attrs.get(PERTURBATIONS_ATTR) or []:
            params = exploit.get("params") or {}
            changed = [f"{key} {_shown(before.get(key))} -> {_shown(value)}" for key, value in params.items() if before.get(key) != value]
            head = f"trial {trial.number} at epoch {exploit.get('epoch')}: copied trial {exploit.get('cloned_from')}"
            head += f" (its epoch {exploit.get('from_epoch')})"
            lines.append(head + (f"; {', '.join(changed)}" if changed else ""))
            before = params
    return lines


def _shown(value: Any) -> str:
    return "-" if value is None else format_number(value)

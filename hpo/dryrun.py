"""``hpo validate``'s dry run: build the model at the corners of the space, before any trial.

Every parameter is put at each of its extremes (choices: every option), under the
options it depends on, plus the all-lowest and all-highest corners. Corners that give
the same model, input and batch are probed once: one forward and backward pass on a
random batch of the data set's shape, on the CPU, with no data on disk. A corner that
fails (a kernel larger than its feature map, a shape mismatch) is reported with the
exact parameter values that make it fail.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from typing import Any

from hpo.space import fill_partial, variants
from hpo.spec import Spec

PROBE_BATCH = 2  # probe with a tiny batch and scale: a CPU pass at batch 128 x 224px is slow
_SHAPE_KEYS = ("data", "model", "augment", "batch_size")  # what changes shapes and memory


@dataclass
class CornerResult:
    params: dict[str, Any]
    parameters: int | None = None
    output_shape: tuple | None = None
    memory_bytes: int | None = None
    fits: str = "-"
    error: str | None = None


def dry_run(spec: Spec) -> list[CornerResult]:
    from trainers.probe import probe

    budget = _memory_budget(spec)
    results: list[CornerResult] = []
    seen: set[str] = set()
    for assignment in variants(spec.space) or [{}]:
        config = fill_partial(spec.space, spec.train, assignment)
        key = json.dumps({k: config.get(k) for k in _SHAPE_KEYS}, sort_keys=True, default=str)
        if key in seen:
            continue
        seen.add(key)
        result = CornerResult(params=assignment)
        try:
            found = probe(config, batch_size=PROBE_BATCH)
        except Exception as exc:  # any failure of a corner is the finding, reported per corner
            result.error = f"{type(exc).__name__}: {exc}"
        else:
            batch = int(config.get("batch_size", PROBE_BATCH))
            result.parameters = int(found["parameters"])
            result.output_shape = tuple(found["output_shape"])
            # weights + gradients + two optimizer moments, plus activations for a full batch
            result.memory_bytes = 4 * 4 * result.parameters + found["activation_bytes"] * batch // PROBE_BATCH
            result.fits = _fits(result.memory_bytes, budget)
        results.append(result)
    return results


def _memory_budget(spec: Spec) -> tuple[str, int | None]:
    """(where the trial's memory lives, its bytes per trial, None when unknown here)."""
    resources = spec.resources
    if resources.gpus_per_trial > 0:
        import torch

        if not torch.cuda.is_available():
            return "gpu", None
        total = torch.cuda.get_device_properties(0).total_memory
        return "gpu", int(total * min(resources.gpus_per_trial, 1.0))
    total = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    concurrent = resources.max_concurrent or max(1, int((os.cpu_count() or 1) / resources.cpus_per_trial))
    return "cpu", total // concurrent


def _fits(needed: int, budget: tuple[str, int | None]) -> str:
    device, available = budget
    if available is None:
        return f"unknown (no {device.upper()} here)"
    return f"yes ({needed / available:.0%} of {format_bytes(available)} {device})" if needed <= available else f"NO (needs {format_bytes(needed)}, has {format_bytes(available)} {device})"


def format_bytes(count: int) -> str:
    value = float(count)
    for unit in ("B", "KiB", "MiB"):
        if value < 1024:
            return f"{value:.0f} {unit}" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1024
    return f"{value:.1f} GiB"

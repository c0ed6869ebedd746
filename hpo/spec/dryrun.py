"""``hpo validate``'s dry run: build the model at the corners of the space, before any trial.

It runs for a trainer that declares a ``probe`` (:mod:`hpo.contract`); the built-in one
does. Every parameter is put at each of its extremes (choices: every option), under the
options it depends on, plus the all-lowest and all-highest corners. Corners that give
the same model, input and batch are probed once: one forward and backward pass on a
random batch of the data set's shape, on the CPU, with no data on disk. A corner that
fails (a kernel larger than its feature map, a shape mismatch) is reported with the
exact parameter values that make it fail. Under ``scheduler.fidelity: resolution`` a probe
that takes the keyword ``resolution`` is run again at the schedule's smallest side scale,
so that a model sized for the full image fails its corner, naming the fidelity.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from hpo.contract import RESOLUTION, takes_resolution
from hpo.format import format_bytes
from hpo.spec.preflight import smallest_scale
from hpo.spec.sections import Spec
from hpo.spec.space import fill_partial, variants

PROBE_BATCH = 2  # probe with a tiny batch and scale: a CPU pass at batch 128 x 224px is slow
# what changes shapes and memory in the built-in trainer's configs; a config with none of
# them is probed whole, once per distinct config
_SHAPE_KEYS = ("data", "model", "augment", "batch_size")


@dataclass
class CornerResult:
    """One probed corner; ``params`` are the searched values that shape it."""

    params: dict[str, Any]
    parameters: int | None = None
    trainable: int | None = None  # of ``parameters``; None when the probe does not say
    output_shape: tuple | None = None
    memory_bytes: int | None = None
    fits: str = "-"
    error: str | None = None


def dry_run(spec: Spec) -> list[CornerResult]:
    """Probe each corner that gives a distinct model, input and batch (see module doc);
    nothing for a trainer that declares no probe.

    Pretrained weights are not loaded: shapes do not depend on them, and a dry run
    needs no file on disk (see :func:`missing_weights`).
    """
    probe = spec.contract.probe
    if probe is None:
        return []
    budget = _memory_budget(spec)
    smallest = smallest_scale(spec) if takes_resolution(probe) else None
    results: dict[str, CornerResult] = {}
    for assignment in variants(spec.space) or [{}]:
        config = fill_partial(spec.space, spec.train, assignment)
        if isinstance(config.get("model"), dict):
            config["model"] = {k: v for k, v in config["model"].items() if k != "pretrained"}
        key, shaping = _shape_of(config, assignment)
        if key in results:
            if not results[key].params:  # name the corner by a searched value when one shapes it
                results[key].params = shaping
            continue
        result = results[key] = CornerResult(params=shaping)
        try:
            found = probe(config, PROBE_BATCH)
        except Exception as exc:  # any failure of a corner is the finding, reported per corner
            result.error = f"{type(exc).__name__}: {exc}"
        else:
            batch = int(config.get("batch_size", PROBE_BATCH))
            result.parameters = int(found["parameters"])
            trainable = found.get("trainable_parameters")
            result.trainable = None if trainable is None else int(trainable)
            result.output_shape = tuple(found["output_shape"])
            # weights, then gradients and two optimizer moments of those that train, plus activations for a full batch
            training = result.parameters if result.trainable is None else result.trainable
            result.memory_bytes = 4 * (result.parameters + 3 * training) + found["activation_bytes"] * batch // PROBE_BATCH
            result.fits = _fits(result.memory_bytes, budget)
            if smallest is not None:
                result.error = _smaller_images_error(probe, config, smallest)
    return list(results.values())


def _smaller_images_error(probe: Callable[..., Any], config: dict[str, Any], scale: float) -> str | None:
    """Under ``fidelity: resolution``, what probing ``config`` again at the schedule's
    smallest side scale raised (a model sized for the full image, feature maps pooled
    away), naming the fidelity; None when it passed."""
    try:
        probe(config, PROBE_BATCH, **{RESOLUTION: scale})
    except Exception as exc:  # as for a corner: the finding
        return f"at {scale:.3g} of the image's side (scheduler.fidelity: resolution): {type(exc).__name__}: {exc}"
    return None


def _shape_of(config: dict[str, Any], assignment: dict[str, Any]) -> tuple[str, dict[str, Any]]:
    """(what makes two corners one probe, the searched values that shape it)."""
    keys = [k for k in _SHAPE_KEYS if k in config] or list(config)
    key = json.dumps({k: config.get(k) for k in keys}, sort_keys=True, default=str)
    return key, {k: v for k, v in assignment.items() if k.split(".")[0] in keys}


def missing_weights(spec: Spec) -> list[str]:
    """Pretrained-weight files the spec names that are not on disk (a trial would fail)."""
    paths = {str(p) for p in _pretrained_paths(spec.train)}
    return sorted(p for p in paths if not os.path.isfile(p))


def _pretrained_paths(train: dict[str, Any]) -> list[str]:
    model = train.get("model")
    path = model.get("pretrained") if isinstance(model, dict) else None
    return [path] if isinstance(path, str) and path else []


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
    return (
        f"yes ({needed / available:.0%} of {format_bytes(available)} {device})"
        if needed <= available
        else f"NO (needs {format_bytes(needed)}, has {format_bytes(available)} {device})"
    )

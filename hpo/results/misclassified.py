"""Misclassified images of a retrained model: kept by ``hpo train``, shown by ``hpo report``.

A trainer's result may hold ``misclassified`` (hpo.contract): evaluated images it got
wrong, with the class it predicted and the true one. ``hpo train`` keeps the first seed's
beside its summary, in ``misclassified.npz``, and the summary says so; the report shows
them as a grid captioned ``pred X / true Y``, with the data set's class names. A trainer
that returns none gets no grid.
"""

from __future__ import annotations

import html
import zipfile
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np

from hpo.format import format_value
from hpo.results.images import as_images, captioned

MISCLASSIFIED = "misclassified"  # the key in a trainer's result and in the summary
MISCLASSIFIED_FILE = "misclassified.npz"
OPTIONAL = ("index", "confidence")  # kept when the trainer gives them; shown on hover


def save_misclassified(root: Path, record: Any, seed: int) -> dict[str, Any]:
    """Write a trainer's ``misclassified`` record to ``root/misclassified.npz``; returns what
    the summary says of it. ValueError naming what is wrong with a malformed record."""
    if not isinstance(record, Mapping) or not {"images", "predicted", "true"} <= set(record):
        raise ValueError("it must be a mapping with images, predicted and true")
    arrays: dict[str, Any] = {"images": as_images(record["images"])}
    for key in ("predicted", "true", *OPTIONAL):
        if key in record:
            arrays[key] = np.asarray(record[key], dtype=np.float64 if key == "confidence" else np.int64)
            if arrays[key].shape != (len(arrays["images"]),):
                raise ValueError(f"{key} must hold one value per image ({len(arrays['images'])}), got shape {list(arrays[key].shape)}")
    np.savez_compressed(root / MISCLASSIFIED_FILE, **arrays)
    return {"file": MISCLASSIFIED_FILE, "seed": seed, "count": len(arrays["images"])}


def misclassified_html(run_dir: Path, summary: Mapping[str, Any]) -> str:
    """The grid of a retrained run's misclassified images; empty when it kept none."""
    kept = summary.get(MISCLASSIFIED)
    if not isinstance(kept, Mapping):
        return ""
    path = run_dir / str(kept.get("file", MISCLASSIFIED_FILE))
    try:
        with np.load(path) as saved:
            arrays = {key: saved[key] for key in saved.files}
    except (OSError, ValueError, zipfile.BadZipFile) as exc:
        return f'<p class="note">{html.escape(f"Misclassified images: {path} cannot be read ({exc}).")}</p>'
    classes = [str(c) for c in summary.get("classes") or ()]

    def name(label: int) -> str:
        return classes[label] if 0 <= label < len(classes) else str(label)

    split = summary.get("split", "evaluated")
    cells = []
    for i, image in enumerate(arrays["images"]):
        hover = [f"{split} image {arrays['index'][i]}" if "index" in arrays else ""]
        hover += [f"confidence {format_value(float(arrays['confidence'][i]))}" if "confidence" in arrays else ""]
        caption = f"pred {name(int(arrays['predicted'][i]))} / true {name(int(arrays['true'][i]))}"
        cells.append(captioned(image, caption, ", ".join(h for h in hover if h)))
    heading = f"{len(cells)} misclassified {split} images of seed {kept.get('seed')}, as the trainer returned them"
    if "confidence" in arrays:
        heading += " (the predicted class's probability on hover)"
    return f'<h3>Misclassified</h3>\n<p>{html.escape(heading)}.</p>\n<div class="misclassified">{"".join(cells)}</div>'

"""The augmentation gallery of ``hpo report``: a few training images as the study's trials
trained on them, one row per augmentation the space searched.

The images are drawn by the trainer's own ``preview`` (hpo.contract), so what is shown is
what its training code makes of them, and hpo needs to know nothing of how a trainer
augments. hpo fills the stored spec's ``train:`` block with each extreme of each searched
parameter (every option of a choice, both ends of a range; a parameter under a ``when:``
with the options it lives under) and asks the trainer for a preview of each. A parameter
whose values give different images gets one row per value; the others (learning rate,
model...) give none. When no searched parameter changes the images, the one row is the
``train:`` block as written: what every trial trained on.
"""

from __future__ import annotations

import html
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
import optuna

from hpo.errors import HpoError
from hpo.format import format_params
from hpo.results.export import study_trainer
from hpo.results.figures import CannotPlot
from hpo.results.images import as_images, img_tag
from hpo.spec.params import walk
from hpo.spec.sections import Spec, spec_from_text
from hpo.spec.space import fill_partial
from hpo.study.keys import SPEC_SOURCE_ATTR, SPEC_TEXT_ATTR

PREVIEW_COUNT = 8  # images per row: enough to see what an augmentation does, cheap to draw
AS_WRITTEN = "train: as written"  # the label of the one row when no searched parameter changes the images


@dataclass(frozen=True)
class Row:
    """One row of the gallery: the searched values that made it, and the trainer's preview."""

    label: str
    images: np.ndarray  # uint8 [N, H, W, C]
    names: tuple[str, ...]  # each image's class, as the preview named it (may be empty)


def gallery_html(study: optuna.Study) -> str:
    """The gallery of ``study``; :class:`CannotPlot` saying why when it cannot be drawn (no
    stored spec, a trainer that cannot be imported here or declares no preview, a preview
    that fails: the data not on this machine, for one)."""
    text = study.user_attrs.get(SPEC_TEXT_ATTR)
    if not text:
        raise CannotPlot("No augmentation gallery: the study stores no spec to draw it from.")
    reference = study_trainer(study)
    try:
        spec = spec_from_text(text, study.user_attrs.get(SPEC_SOURCE_ATTR, "stored spec"), reference)
    except HpoError as exc:
        raise CannotPlot(f"No augmentation gallery: {exc}") from None
    rows = gallery_rows(spec)
    return _intro(rows, reference) + _table(rows)


def gallery_rows(spec: Spec, count: int = PREVIEW_COUNT) -> list[Row]:
    """The rows (see module doc); CannotPlot when the trainer declares no preview, or its
    preview fails or returns no images."""
    preview = spec.contract.preview
    if preview is None:
        raise CannotPlot(f"No augmentation gallery: {spec.trainer} declares no preview (docs/trainer-contract.md).")
    as_written = _row(spec, preview, {}, count)  # first: a failure here is the trainer's or the data's, not a searched value's
    rows: list[Row] = []
    for param, chain in walk(spec.space, ()):
        context = {p.path: label for p, label in chain}
        shown = [_row(spec, preview, {**context, param.path: value}, count) for value in param.extremes()]
        if any(not np.array_equal(shown[0].images, row.images) for row in shown[1:]):
            rows += shown
    return rows or [as_written]


def _row(spec: Spec, preview: Callable[[dict[str, Any], int], Any], assignment: dict[str, Any], count: int) -> Row:
    config = fill_partial(spec.space, spec.train, assignment, create=spec.contract.schema is not None)
    try:
        made = preview(config, count)
        if not isinstance(made, Mapping) or "images" not in made:
            raise TypeError(f"it returned {type(made).__name__}, not a mapping holding images")
        images = as_images(made["images"])
    except Exception as exc:  # the trainer's own code, whatever it raised: its reason in the gallery's place
        where = f" with {format_params(assignment)}" if assignment else ""
        raise CannotPlot(f"No augmentation gallery: {spec.trainer}'s preview failed{where}: {type(exc).__name__}: {exc}") from None
    if not len(images):
        raise CannotPlot(f"No augmentation gallery: {spec.trainer}'s preview returned no images.")
    return Row(format_params(assignment) or AS_WRITTEN, images, tuple(str(n) for n in made.get("labels") or ()))


def _intro(rows: list[Row], reference: str) -> str:
    count = len(rows[0].images)
    made = f"The same {count} training images through the augmentations the trials trained with, drawn by {reference}'s preview "
    made += "(its own training transform, with a fixed seed)."
    if len(rows) == 1 and rows[0].label == AS_WRITTEN:
        which = "No searched parameter changes them: every trial saw them as the spec's train: block makes them."
    else:
        which = "One row per value of each searched parameter that changes them (both ends of a range); "
        which += "the other parameters keep their train: values."
    return f"<p>{html.escape(made)} {html.escape(which)}</p>"


def _table(rows: list[Row]) -> str:
    names = rows[0].names
    shared = all(row.names == names for row in rows) and len(names) == len(rows[0].images)
    header = "<tr><th></th>" + "".join(f"<th>{html.escape(n)}</th>" for n in names) + "</tr>" if shared else ""
    body = ""
    for row in rows:
        titles = row.names if len(row.names) == len(row.images) else ("",) * len(row.images)
        cells = "".join(f'<td style="padding: 2px">{img_tag(image, title)}</td>' for image, title in zip(row.images, titles))
        body += f"<tr><th>{html.escape(row.label)}</th>{cells}</tr>"
    return f'<table class="gallery">{header}{body}</table>'

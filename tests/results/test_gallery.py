"""The report's augmentation gallery (hpo/results/gallery.py) and its images (images.py)."""

from __future__ import annotations

import base64
import io
import re

import numpy as np
import optuna
import pytest
from PIL import Image

from hpo.results.figures import CannotPlot
from hpo.results.gallery import AS_WRITTEN, PREVIEW_COUNT, gallery_html, gallery_rows
from hpo.results.images import as_images, img_tag, png_uri
from hpo.results.report import build_report
from hpo.spec.sections import spec_from_text
from hpo.study.keys import SPEC_TEXT_ATTR, TRAINER_ATTR
from trainers.preview import preview

SHIFTED = "tests.results.image_trainers:shifted"

SHIFT_SPEC = f"""\
trainer: {SHIFTED}
study: {{name: shift, trials: 4}}
train: {{epochs: 2, lr: 0.1, mode: plain, shift: 0}}
space:
  lr: {{float: [0.01, 0.1], log: true}}
  mode:
    choice: [plain, shifted]
    when: {{shifted: {{shift: {{int: [2, 6]}}}}}}
"""

DIGITS_SPEC = """\
study: {name: digits_aug, trials: 4}
train:
  data: {name: digits}
  model: {name: cnn, channels: [8], kernel_sizes: [3], hidden: [16]}
  augment: flip
  epochs: 2
space:
  optimizer.lr: {float: [1.0e-3, 1.0e-1], log: true}
  batch_size: {choice: [32, 64]}
AUGMENT
"""
SEARCHED = "  augment: {choice: [none, basic, strong]}"


def study_of(text: str | None, trainer: str | None = None) -> optuna.Study:
    """An in-memory study holding a spec, as `hpo run` stores it."""
    study = optuna.create_study()
    if text is not None:
        study.set_user_attr(SPEC_TEXT_ATTR, text)
    if trainer is not None:
        study.set_user_attr(TRAINER_ATTR, trainer)
    return study


def column_lit(images: np.ndarray) -> set[int]:
    return {int(c) for c in np.nonzero(images[0, 0, :, 0])[0]}


def test_a_row_per_value_of_each_parameter_that_changes_the_images():
    """Only `shift` changes the preview: its two ends under the option it lives under; lr and mode give no row."""
    rows = gallery_rows(spec_from_text(SHIFT_SPEC, "shift.yaml"))
    assert [row.label for row in rows] == ["mode=shifted, shift=2", "mode=shifted, shift=6"]
    assert [column_lit(row.images) for row in rows] == [{2}, {6}]
    assert rows[0].images.shape == (PREVIEW_COUNT, 8, 8, 1) and rows[0].names == tuple(f"img{i}" for i in range(PREVIEW_COUNT))


def test_without_a_searched_parameter_that_changes_them_one_row_as_train_makes_them():
    spec = spec_from_text(SHIFT_SPEC.replace("    when: {shifted: {shift: {int: [2, 6]}}}\n", ""), "shift.yaml")
    (row,) = gallery_rows(spec)
    assert row.label == AS_WRITTEN and column_lit(row.images) == {0}


def test_the_built_in_trainer_shows_each_searched_policy_as_it_trains_on_it():
    spec = spec_from_text(DIGITS_SPEC.replace("AUGMENT", SEARCHED), "digits.yaml")
    rows = gallery_rows(spec, count=4)
    assert [row.label for row in rows] == ["augment=none", "augment=basic", "augment=strong"]
    for row, policy in zip(rows, ("none", "basic", "strong")):
        assert np.array_equal(row.images, preview({**spec.train, "augment": policy}, 4)["images"])
    (alone,) = gallery_rows(spec_from_text(DIGITS_SPEC.replace("AUGMENT", ""), "digits.yaml"), count=4)
    assert alone.label == AS_WRITTEN and np.array_equal(alone.images, preview(spec.train, 4)["images"])


@pytest.mark.parametrize(
    ("text", "trainer", "words"),
    [
        (None, None, "the study stores no spec"),
        (SHIFT_SPEC.replace(SHIFTED, "tests.spec.contract_trainers:declared"), None, "declares no preview"),
        (SHIFT_SPEC, "no.such.module:train", "cannot import no.such.module:train"),
        (SHIFT_SPEC.replace(SHIFTED, "tests.results.image_trainers:float_images"), None, "images must be uint8"),
        (SHIFT_SPEC.replace(SHIFTED, "tests.results.image_trainers:bare_array"), None, "it returned ndarray, not a mapping holding images"),
        (
            DIGITS_SPEC.replace("name: digits}", "name: cifar10, root: /nonexistent}").replace("AUGMENT", ""),
            None,
            "preview failed: DatasetNotFoundError: data set 'cifar10' not found",
        ),
    ],
    ids=["no-spec", "no-preview", "trainer-not-importable", "float-images", "not-a-mapping", "data-not-on-disk"],
)
def test_the_gallery_says_why_it_is_absent(text, trainer, words):
    with pytest.raises(CannotPlot, match="No augmentation gallery") as caught:
        gallery_html(study_of(text, trainer))
    assert words in str(caught.value)


def test_the_report_holds_the_gallery_as_images_in_the_page():
    page = build_report(study_of(DIGITS_SPEC.replace("AUGMENT", SEARCHED)))
    section = page.split("<h2>Augmentation gallery</h2>")[1].split("</section>")[0]
    assert section.count('<img src="data:image/png;base64,') == 3 * PREVIEW_COUNT
    assert "<th>augment=basic</th>" in section and "trainers.loop:train" in section
    absent = build_report(study_of(None))
    assert "the study stores no spec" in absent.split("<h2>Augmentation gallery</h2>")[1].split("</section>")[0]


# ----------------------------------------------------------------------------- images


@pytest.mark.parametrize(
    ("shape", "dtype", "expected"),
    [((2, 5, 4, 3), np.uint8, (2, 5, 4, 3)), ((2, 5, 4, 1), np.uint8, (2, 5, 4, 1)), ((2, 5, 4), np.uint8, (2, 5, 4, 1))],
)
def test_images_come_as_n_h_w_c(shape, dtype, expected):
    assert as_images(np.zeros(shape, dtype)).shape == expected


@pytest.mark.parametrize(
    ("shape", "dtype", "words"),
    [
        ((2, 5, 4, 3), np.float32, "must be uint8"),
        ((2, 3, 5, 4), np.uint8, "[N, H, W, C] with C 1 or 3"),
        ((5, 4), np.uint8, "got shape [5, 4]"),
    ],
)
def test_other_arrays_are_refused_saying_what_they_are(shape, dtype, words):
    with pytest.raises(ValueError, match=re.escape(words)):
        as_images(np.zeros(shape, dtype))


@pytest.mark.parametrize("channels", [1, 3])
def test_png_uri_holds_the_image_pixel_for_pixel(channels):
    image = np.random.default_rng(0).integers(0, 256, (5, 7, channels), dtype=np.uint8)
    uri = png_uri(image)
    decoded = np.asarray(Image.open(io.BytesIO(base64.b64decode(uri.removeprefix("data:image/png;base64,")))))
    assert np.array_equal(decoded.reshape(image.shape), image)


def test_small_images_are_drawn_larger_by_a_whole_factor():
    assert 'width="64" height="64"' in img_tag(np.zeros((8, 8, 1), np.uint8))
    assert 'width="96" height="64"' in img_tag(np.zeros((32, 48, 3), np.uint8), "a <b>")
    assert 'title="a &lt;b&gt;"' in img_tag(np.zeros((8, 8, 1), np.uint8), "a <b>")

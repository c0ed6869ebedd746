"""Misclassified images: kept by `hpo train` beside its summary, shown by the report
(hpo/results/misclassified.py). The built-in trainer's record is tested in
tests/trainers/test_loop.py and, retrained, in test_retrain.py."""

from __future__ import annotations

import json
import re
from pathlib import Path

import numpy as np
import optuna
import pytest
import yaml

from hpo.results.misclassified import MISCLASSIFIED, MISCLASSIFIED_FILE, misclassified_html, save_misclassified
from hpo.results.report import build_report
from tests.results.conftest import cli
from tests.results.image_trainers import CLASSES
from tests.results.test_report import fake_retrain

MISTAKEN = "tests.results.image_trainers:mistaken"


def record(count: int = 3) -> dict:
    return {
        "images": np.arange(count * 4 * 4 * 3, dtype=np.uint8).reshape(count, 4, 4, 3),
        "predicted": [1, 2, 0][:count],
        "true": [0, 0, 5][:count],
        "index": [17, 4, 9][:count],
        "confidence": [0.9, 0.75, 0.5][:count],
    }


def captions(page: str) -> list[str]:
    return re.findall(r"<figcaption>(.*?)</figcaption>", page)


def test_kept_and_shown_with_class_names_and_hover(tmp_path):
    kept = save_misclassified(tmp_path, record(), seed=2)
    assert kept == {"file": MISCLASSIFIED_FILE, "seed": 2, "count": 3}
    with np.load(tmp_path / MISCLASSIFIED_FILE) as saved:
        assert np.array_equal(saved["images"], record()["images"]) and saved["index"].tolist() == [17, 4, 9]
    page = misclassified_html(tmp_path, {MISCLASSIFIED: kept, "classes": ["cat", "dog", "frog"], "split": "test"})
    assert captions(page) == ["pred dog / true cat", "pred frog / true cat", "pred cat / true 5"]  # 5: no such class, its index
    assert page.count('<img src="data:image/png;base64,') == 3
    assert 'title="test image 17, confidence 0.9000"' in page and "of seed 2" in page


def test_nothing_kept_no_grid_and_a_damaged_file_is_said(tmp_path):
    assert misclassified_html(tmp_path, {"classes": ["a"], "split": "test"}) == ""
    (tmp_path / MISCLASSIFIED_FILE).write_bytes(b"not a zip")
    said = misclassified_html(tmp_path, {MISCLASSIFIED: {"file": MISCLASSIFIED_FILE, "seed": 0}, "split": "test"})
    assert "cannot be read" in said and "<img" not in said


@pytest.mark.parametrize(
    ("changed", "words"),
    [
        ({"predicted": None}, "a mapping with images, predicted and true"),
        ({"images": np.zeros((3, 4, 4, 3), np.float32)}, "images must be uint8"),
        ({"true": [0, 1]}, "true must hold one value per image (3), got shape [2]"),
        ({"confidence": [[0.5]] * 3}, "confidence must hold one value per image (3), got shape [3, 1]"),
    ],
)
def test_a_malformed_record_is_refused_saying_what_is_wrong(tmp_path, changed, words):
    bad = {k: v for k, v in {**record(), **changed}.items() if v is not None}
    with pytest.raises(ValueError, match=re.escape(words)):
        save_misclassified(tmp_path, bad, seed=0)
    assert not (tmp_path / MISCLASSIFIED_FILE).exists()


def test_the_report_shows_them_in_the_retrained_run(tmp_path):
    root = fake_retrain(tmp_path / "retrain", classes=3)
    run = root / "best-final"
    for features in run.glob("seed*/features.npz"):
        features.unlink()  # no t-SNE map: the slowest part of the page, not this test's
    summary = json.loads((run / "summary.json").read_text())
    summary[MISCLASSIFIED] = save_misclassified(run, record(2), seed=0)
    (run / "summary.json").write_text(json.dumps(summary))
    page = build_report(optuna.create_study(), root)
    retrained = page.split("<h2>Retrained: best-final</h2>")[1]
    assert "<h3>Misclassified</h3>" in retrained and captions(retrained) == ["pred c1 / true c0", "pred c2 / true c0"]


def test_hpo_train_keeps_the_first_seeds_beside_the_summary(tmp_path, capsys, monkeypatch):
    """A trainer of one's own with run options returns a record per seed; the first seed's is kept."""
    monkeypatch.chdir(tmp_path)
    Path("c.yaml").write_text(f"# study: own\n# trainer: {MISTAKEN}\n" + yaml.safe_dump({"epochs": 1}))
    assert cli(capsys, monkeypatch, "train", "c.yaml", "--seeds", "3", "4", "--final").code == 0
    root = Path("studies/own/retrain/c-final")
    summary = json.loads((root / "summary.json").read_text())
    assert summary[MISCLASSIFIED] == {"file": MISCLASSIFIED_FILE, "seed": 3, "count": 2}
    with np.load(root / MISCLASSIFIED_FILE) as saved:
        assert saved["images"][0].max() == 4  # seed 3's
    assert captions(misclassified_html(root, summary)) == [
        f"pred {CLASSES[0]} / true {CLASSES[1]}",
        f"pred {CLASSES[1]} / true {CLASSES[2]}",
    ]

    Path("c.yaml").write_text(f"# study: own\n# trainer: {MISTAKEN}\n" + yaml.safe_dump({"epochs": 1, "broken": True}))
    broken = cli(capsys, monkeypatch, "train", "c.yaml", "--final")
    assert broken.code == 0 and "misclassified images of seed 0 not kept: images must be uint8" in broken.out
    summary = json.loads((root / "summary.json").read_text())
    assert MISCLASSIFIED not in summary and not (root / MISCLASSIFIED_FILE).exists()  # the earlier run's is gone too
    assert summary["seeds"] == [0]  # the results are kept

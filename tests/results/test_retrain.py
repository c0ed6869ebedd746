"""hpo train: one config over several seeds, accuracy mean ± std, per class, confusion."""

from __future__ import annotations

import json
import re
from pathlib import Path

import numpy as np
import pytest
import torch
import yaml

from hpo.cli import expand_seeds
from hpo.errors import HpoError
from hpo.results.header import read_header
from hpo.results.misclassified import MISCLASSIFIED, MISCLASSIFIED_FILE
from hpo.results.retrain import (
    _plain_text,
    check_seeds,
    default_output_dir,
    load_summaries,
    origin_of,
    summarize,
    summary_tables,
    takes_run_options,
)
from tests.results.conftest import ONE_THREAD, STUDY, cli
from trainers.config import validate_train_config

TINY = {
    "seed": 0,
    "data": {"name": "digits", "val_fraction": 0.2},
    "model": {"name": "cnn", "channels": [8], "kernel_sizes": [3], "hidden": [16]},
    "optimizer": {"name": "adam", "lr": 3.0e-3},
    "batch_size": 128,
    "epochs": 1,
    "device": "cpu",
}


@pytest.mark.parametrize(
    ("argv", "expected"),
    [
        ("train c.yaml --seeds 0 1 2 --final", "train c.yaml --seeds 0 --seeds 1 --seeds 2 --final"),
        ("train --seeds 0 1 c.yaml", "train --seeds 0 --seeds 1 c.yaml"),
        ("train c.yaml --seeds 3", "train c.yaml --seeds 3"),
        ("train c.yaml --seeds -1 7", "train c.yaml --seeds -1 --seeds 7"),
        ("train c.yaml --seeds 1 --seeds 2 3", "train c.yaml --seeds 1 --seeds 2 --seeds 3"),
        ("train c.yaml --seeds --final", "train c.yaml --seeds --final"),  # click then says: needs a value
        ("train c.yaml --seeds", "train c.yaml --seeds"),
        ("train c.yaml --final 0 1", "train c.yaml --final 0 1"),  # integers elsewhere are left alone
        ("status 12", "status 12"),
    ],
)
def test_seeds_are_taken_as_written(argv, expected):
    assert expand_seeds(argv.split()) == expected.split()


def test_a_seed_given_twice_is_refused():
    with pytest.raises(HpoError, match="seed 1 is given twice"):
        check_seeds([0, 1, 1])


def test_summary_mean_std_per_class_and_summed_confusion():
    runs = [
        {"seed": 0, "val_acc": 0.8, "epoch": 3, "per_class_acc": [1.0, 0.6], "confusion": [[5, 0], [2, 3]], "classes": ["a", "b"]},
        {"seed": 1, "val_acc": 0.9, "epoch": 3, "per_class_acc": [1.0, 0.8], "confusion": [[5, 0], [1, 4]], "classes": ["a", "b"]},
    ]
    summary = summarize(runs, "test")
    assert summary["acc"] == [0.8, 0.9]
    assert summary["mean"] == pytest.approx(0.85)
    assert summary["std"] == pytest.approx(0.0707107, rel=1e-5)  # sample std (n - 1)
    assert summary["per_class_acc_mean"] == pytest.approx([1.0, 0.7])
    assert summary["per_class_acc_std"] == pytest.approx([0.0, 0.1414214], rel=1e-5)
    assert summary["confusion"] == [[10, 0], [3, 7]]
    assert summarize(runs[:1], "val")["std"] == 0.0


def test_default_output_dir_follows_the_export_header(tmp_path):
    exported = tmp_path / "best-2.yaml"
    exported.write_text("# study: cifar10_cnn\n# trial: 4\n\nseed: 0\n")
    plain = tmp_path / "mine.yaml"
    plain.write_text("seed: 0\n")
    spec = tmp_path / "search.yaml"
    spec.write_text("# a spec\nstudy: {name: digits_cnn}\ntrain: {seed: 0}\nspace: {}\n")
    assert default_output_dir(exported, final=True) == Path("studies/cifar10_cnn/retrain/best-2-final")
    assert default_output_dir(plain, final=False) == Path("studies/mine/retrain/mine")
    assert default_output_dir(spec, final=False) == Path("studies/digits_cnn/retrain/search")


def test_train_saves_weights_configs_and_tables(tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    for key, value in ONE_THREAD.items():
        monkeypatch.setenv(key, value)
    Path("tiny.yaml").write_text("# study: demo\n" + yaml.safe_dump(TINY))
    result = cli(capsys, monkeypatch, "train", "tiny.yaml", "--seeds", "0", "1")
    assert result.code == 0, result.err
    root = Path("studies/demo/retrain/tiny")
    assert "mean ± std" in result.out and "per-class val accuracy" in result.out and "confusion matrix" in result.out
    summary = json.loads((root / "summary.json").read_text())
    assert summary["split"] == "val" and summary["seeds"] == [0, 1] and len(summary["confusion"]) == 10
    assert "mean ± std" in (root / "summary.txt").read_text()
    assert (root / "config.yaml").read_text() == Path("tiny.yaml").read_text()
    for seed in (0, 1):
        run = root / f"seed{seed}"
        weights = torch.load(run / "model.pt", weights_only=True)
        assert all(isinstance(v, torch.Tensor) for v in weights.values())
        assert yaml.safe_load((run / "config.yaml").read_text())["seed"] == seed
        assert {"features.npz", "metrics.json"} <= {p.name for p in run.iterdir()}
    assert [d.name for d, _ in load_summaries("demo")] == ["tiny"]
    # the first seed's misclassified validation images, beside the summary
    seed0 = json.loads((root / "seed0" / "metrics.json").read_text())
    count = min(32, np.sum(seed0["confusion"]) - np.trace(seed0["confusion"]))
    assert summary[MISCLASSIFIED] == {"file": MISCLASSIFIED_FILE, "seed": 0, "count": count}
    recorded = seed0[MISCLASSIFIED]
    with np.load(root / MISCLASSIFIED_FILE) as kept:
        assert kept["images"].shape == (count, 8, 8, 1) and kept["index"].tolist() == recorded["index"]
        assert (kept["predicted"] != kept["true"]).all() and kept["true"].tolist() == recorded["true"]


def test_train_refuses_a_repeated_seed_and_a_bad_config(tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    Path("tiny.yaml").write_text(yaml.safe_dump(TINY))
    repeated = cli(capsys, monkeypatch, "train", "tiny.yaml", "--seeds", "0", "0")
    assert repeated.code == 2 and "seed 0 is given twice" in repeated.err
    Path("bad.yaml").write_text(yaml.safe_dump({**TINY, "epochs": 0}))
    bad = cli(capsys, monkeypatch, "train", "bad.yaml")
    assert bad.code == 2 and "bad.yaml: epochs" in bad.err and "Traceback" not in bad.err


SKLEARN = "examples.sklearn_trainer:train"
SGD = {"seed": 0, "epochs": 2, "loss": "hinge", "alpha": 1.0e-3, "learning_rate": "optimal"}


def test_the_trainers_signature_says_whether_it_takes_final_and_output_dir():
    from examples.sklearn_trainer import train as plain
    from trainers.loop import train as built_in

    assert takes_run_options(built_in) and not takes_run_options(plain)
    assert not takes_run_options(lambda config, report, **kwargs: None)  # named, not swallowed


def test_a_plain_trainer_retrains_over_seeds_to_its_metrics_mean_and_std(tmp_path, capsys, monkeypatch):
    """The exported config's header names the trainer and the metric; train returns its last report."""
    monkeypatch.chdir(tmp_path)
    header = f"# study: digits_sgd\n# trainer: {SKLEARN}\n# val_acc: 0.95 (max)\n"
    Path("best.yaml").write_text(header + yaml.safe_dump(SGD))
    result = cli(capsys, monkeypatch, "train", "best.yaml", "--seeds", "0", "1", "2")
    assert result.code == 0, result.err
    root = Path("studies/digits_sgd/retrain/best")
    summary = json.loads((root / "summary.json").read_text())
    assert summary["metric"] == "val_acc" and summary["trainer"] == SKLEARN and summary["seeds"] == [0, 1, 2]
    assert all(0.5 < v <= 1.0 for v in summary["values"]) and summary["epochs"] == [2, 2, 2]
    assert MISCLASSIFIED not in summary and not (root / MISCLASSIFIED_FILE).exists()  # it returns none: no record, no error
    assert summary["mean"] == pytest.approx(sum(summary["values"]) / 3)
    assert f"{summary['mean']:.4f} ± {summary['std']:.4f}" in result.out and "confusion" not in result.out
    for seed in (0, 1, 2):
        saved = json.loads((root / f"seed{seed}" / "metrics.json").read_text())
        assert saved["val_acc"] == summary["values"][seed] and len(saved["history"]) == 2
        assert yaml.safe_load((root / f"seed{seed}" / "config.yaml").read_text())["seed"] == seed


def test_a_plain_trainers_metric_comes_from_its_last_report_when_it_returns_nothing(tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    Path("c.yaml").write_text("# trainer: tests.spec.contract_trainers:plain\n# score: 0.5 (max)\nepochs: 1\n")
    result = cli(capsys, monkeypatch, "train", "c.yaml")
    assert result.code == 0, result.err
    assert json.loads(Path("studies/c/retrain/c/summary.json").read_text())["values"] == [0.5]


@pytest.mark.parametrize(
    ("header", "args", "words"),
    [
        (f"# trainer: {SKLEARN}\n", ["--final"], "does not take the keywords final and output_dir"),
        ("# trainer: tests.spec.contract_trainers:plain\n", [], "no metric to summarise"),
        ("", ["--trainer", SKLEARN, "--seeds", "0"], "c.yaml: batch_size: unknown key 'batch_size'"),
        ("# trainer: no.such.module:train\n", [], "c.yaml: trainer: cannot import no.such.module:train"),
    ],
    ids=["final-without-run-options", "no-metric", "trainer-override-validates", "trainer-does-not-import"],
)
def test_hpo_train_refuses_what_its_trainer_cannot_do_before_training(tmp_path, capsys, monkeypatch, header, args, words):
    monkeypatch.chdir(tmp_path)
    config = TINY if not header else {"epochs": 1}
    Path("c.yaml").write_text(header + yaml.safe_dump(config))
    result = cli(capsys, monkeypatch, "train", "c.yaml", *args)
    assert result.code == 2 and words in result.err and "Traceback" not in result.err
    assert not Path("studies").exists()


@pytest.mark.slow
def test_exported_config_retrains_unchanged_over_three_seeds_on_test(retrained):
    """`hpo export` then `hpo train best.yaml --seeds 0 1 2 --final`, exactly as a user types it."""
    assert "retrain: hpo train best.yaml --seeds 0 1 2 --final" in retrained.export.stdout
    out = retrained.train.stdout
    assert "test accuracy over 3 seed(s)" in out and "mean ± std" in out
    summary = json.loads((retrained.output / "summary.json").read_text())
    assert summary["split"] == "test" and summary["seeds"] == [0, 1, 2]
    assert f"{summary['mean']:.4f} ± {summary['std']:.4f}" in out
    assert 0.5 < summary["mean"] <= 1.0
    assert sum(map(sum, summary["confusion"])) == 3 * 360  # digits' test split, three times
    with np.load(retrained.output / MISCLASSIFIED_FILE) as kept:  # seed 0's most confident mistakes on test
        count = summary[MISCLASSIFIED]["count"]
        assert 0 < count <= 32 and kept["images"].shape == (count, 8, 8, 1)
        assert kept["index"].max() < 360 and (kept["predicted"] != kept["true"]).all()
        assert (np.diff(kept["confidence"]) <= 0).all()
    for seed in (0, 1, 2):
        torch.load(retrained.output / f"seed{seed}" / "model.pt", weights_only=True)
    trained = yaml.safe_load((retrained.output / "seed2" / "config.yaml").read_text())
    exported = yaml.safe_load(retrained.config.read_text())
    assert trained == validate_train_config({**exported, "seed": 2}).model_dump(mode="json")  # defaults filled in
    assert retrained.output.parent.parent.name == STUDY


def test_the_study_of_a_config_is_read_from_its_header_only(tmp_path):
    exported = tmp_path / "a.yaml"
    exported.write_text("# study: cifar10_cnn-v2\n# trial: 3\n\nseed: 0\n")
    plain = tmp_path / "b.yaml"
    plain.write_text("seed: 0\n# study: not-a-header\n")
    assert origin_of(exported).study == "cifar10_cnn-v2"
    assert origin_of(plain).study is None
    assert read_header(tmp_path / "missing.yaml") == {}


def test_one_seed_prints_its_value_not_a_spread(tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    header = f"# study: digits_sgd\n# trainer: {SKLEARN}\n# val_acc: 0.95 (max)\n"
    Path("best.yaml").write_text(header + yaml.safe_dump(SGD))
    result = cli(capsys, monkeypatch, "train", "best.yaml", "--seeds", "0")
    assert result.code == 0, result.err
    summary = json.loads(Path("studies/digits_sgd/retrain/best/summary.json").read_text())
    table = Path("studies/digits_sgd/retrain/best/summary.txt").read_text()
    for text in (result.out, table):
        assert f"{summary['values'][0]:.4f}" in text and "±" not in text and "mean" not in text


def test_one_seeds_accuracy_tables_show_values_and_whole_epochs():
    run = {"seed": 0, "val_acc": 0.75, "epoch": 8.0, "per_class_acc": [1.0, 0.5], "confusion": [[5, 0], [2, 2]], "classes": ["a", "b"]}
    text = _plain_text(summary_tables(summarize([run], "test")))
    assert "±" not in text and "mean" not in text and "8.0" not in text
    assert re.search(r"│ 0\s+│\s+0\.7500 │\s+8 │", text) and re.search(r"│ b\s+│\s+0\.5000 │", text)

"""trainers/loop.py: the train(config, report) contract."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
import yaml
from conftest import TIMING, Recorder, synthetic_data, tiny_config

from trainers.config import validate_train_config
from trainers.data import DatasetNotFoundError
from trainers.loop import MISCLASSIFIED, NonFiniteLossError, check, most_confident_mistakes, train
from trainers.models import PretrainedWeightsError

REPORT_KEYS = {"epoch", "train_loss", "train_acc", "val_loss", "val_acc", "lr", "seconds", "images_per_second", "finished"}


def test_digits_learns(recorder):
    result = train(tiny_config(epochs=5, model={"name": "cnn"}, optimizer={"name": "adam", "lr": 1e-3}), recorder)
    assert result["val_acc"] > 0.9
    assert recorder.reports[-1]["train_loss"] < recorder.reports[0]["train_loss"]


def test_synthetic_data_is_learnable(recorder):
    config = tiny_config(data=synthetic_data((3, 12, 12), num_classes=5, size=300), epochs=4)
    assert train(config, recorder)["val_acc"] > 0.8


def test_reports_every_epoch_with_the_contract_keys(recorder):
    result = train(tiny_config(epochs=3), recorder)
    assert [r["epoch"] for r in recorder.reports] == [1, 2, 3]
    for i, r in enumerate(recorder.reports):
        assert REPORT_KEYS <= set(r)
        assert r["best_val_acc"] == max(q["val_acc"] for q in recorder.reports[: i + 1])
        assert r["seconds"] > 0 and r["images_per_second"] > 0 and 0 <= r["val_acc"] <= 1
    assert {k: result[k] for k in recorder.reports[-1]} == recorder.reports[-1]  # the last report, returned


def test_finished_only_on_the_last_report_when_all_epochs_run(recorder):
    train(tiny_config(epochs=4), recorder)
    assert recorder.finished == [False, False, False, True]


@pytest.mark.parametrize("patience, min_epochs, expected_epochs", [(1, 0, 2), (2, 0, 3), (1, 4, 4)])
def test_finished_when_early_stopping_ends_training(patience, min_epochs, expected_epochs, recorder):
    # min_delta 1.0: no epoch after the first can count as an improvement
    stopping = {"patience": patience, "min_delta": 1.0, "min_epochs": min_epochs}
    result = train(tiny_config(epochs=10, early_stopping=stopping), recorder)
    assert recorder.finished == [False] * (expected_epochs - 1) + [True]
    assert result["finished"] is True and result["epoch"] == expected_epochs


def test_early_stopping_that_never_triggers(recorder):
    train(tiny_config(epochs=3, early_stopping={"patience": 5}), recorder)
    assert recorder.finished == [False, False, True]


def test_non_finite_loss_raises_naming_epoch_and_step(recorder):
    config = tiny_config(optimizer={"name": "sgd", "lr": 1e6}, schedule={"name": "none"}, epochs=3)
    with pytest.raises(NonFiniteLossError, match=r"at epoch 1, step \d+ of \d+") as info:
        train(config, recorder)
    assert isinstance(info.value, FloatingPointError)
    assert recorder.reports == []  # the broken epoch is not reported


def strip_timing(reports):
    return [{k: v for k, v in r.items() if k not in TIMING} for r in reports]


def test_same_seed_same_metrics_other_seed_differs():
    config = tiny_config(augment=[{"random_crop": {"padding": 1}}, "hflip", {"color_jitter": {}}], epochs=2)
    a, b, c = Recorder(), Recorder(), Recorder()
    train(config, a)
    train(config, b)
    train({**config, "seed": 1}, c)
    assert strip_timing(a.reports) == strip_timing(b.reports)
    assert strip_timing(a.reports) != strip_timing(c.reports)


def test_per_class_accuracy_and_confusion(recorder):
    result = train(tiny_config(epochs=2), recorder)
    confusion = np.array(result["confusion"])
    assert confusion.shape == (10, 10) and confusion.sum() == 144  # digits' validation split
    assert np.trace(confusion) / confusion.sum() == pytest.approx(result["val_acc"])
    assert len(result["per_class_acc"]) == 10 and result["classes"] == [str(i) for i in range(10)]
    assert result["per_class_acc"][3] == pytest.approx(confusion[3, 3] / confusion[3].sum())


def test_final_trains_on_train_and_val_and_evaluates_on_test(tmp_path, recorder):
    config = tiny_config(epochs=2, early_stopping={"patience": 1, "min_delta": 1.0})
    result = train(config, recorder, final=True, output_dir=str(tmp_path))
    assert recorder.finished == [False, True]  # no early stopping without a validation split
    assert result["test_acc"] == result["val_acc"] and result["test_loss"] == result["val_loss"]
    assert np.array(result["confusion"]).sum() == 360  # digits' test split
    assert recorder.reports[0]["images_per_second"] > 0

    state = torch.load(tmp_path / "model.pt", weights_only=True)
    assert all(isinstance(v, torch.Tensor) for v in state.values())
    saved = yaml.safe_load((tmp_path / "config.yaml").read_text())
    assert validate_train_config(saved) == validate_train_config(config)
    metrics = json.loads((tmp_path / "metrics.json").read_text())
    assert metrics["test_acc"] == result["test_acc"] and len(metrics["history"]) == 2
    wrong = result["misclassified"]
    assert len(wrong["index"]) == min(MISCLASSIFIED, 360 - np.trace(result["confusion"]))
    assert wrong["images"].shape == (len(wrong["index"]), 8, 8, 1) and wrong["images"].dtype == np.uint8
    assert metrics["misclassified"] == {k: v for k, v in wrong.items() if k != "images"}  # the images stay out of the JSON
    feats = np.load(tmp_path / "features.npz")
    assert feats["features"].shape == (360, 64) and feats["labels"].shape == (360,)


def test_saved_model_reloads_as_pretrained(tmp_path, recorder):
    train(tiny_config(epochs=1), recorder, output_dir=str(tmp_path / "a"))
    model = dict(tiny_config()["model"], pretrained=str(tmp_path / "a" / "model.pt"), freeze_until="body")
    result = train(tiny_config(epochs=1, model=model, data=synthetic_data((1, 8, 8), num_classes=3)), recorder)
    assert len(result["per_class_acc"]) == 3


def test_fine_tuning_moves_only_the_trainable_modules(tmp_path, recorder):
    """The middle conv block and the head train at their own rates; the first block, its batch
    norm statistics included, ends as it was loaded."""
    from trainers.models import create_model

    model = dict(tiny_config()["model"], channels=[8, 16, 16])
    start = create_model(validate_train_config({"model": model}).model, (1, 8, 8), 10).state_dict()
    torch.save(start, tmp_path / "start.pt")
    model.update(pretrained=str(tmp_path / "start.pt"), trainable=["body.1", "classifier.head"])
    optimizer = {"name": "sgd", "group_lr": {"body.1": 1e-3, "classifier": {"head": 1e-1}}}
    train(tiny_config(epochs=1, model=model, optimizer=optimizer), recorder, output_dir=str(tmp_path / "out"))
    end = torch.load(tmp_path / "out" / "model.pt", weights_only=True)
    moved = {k for k in start if not torch.equal(start[k], end[k])}
    assert moved and all(k.startswith(("body.1.", "classifier.head.")) for k in moved)
    assert {"body.1.1.running_mean", "classifier.head.weight"} <= moved


def test_omp_num_threads_sets_torch_threads(monkeypatch, recorder):
    torch.set_num_threads(2)
    monkeypatch.setenv("OMP_NUM_THREADS", "1")  # what Ray sets for a 1-CPU trial
    train(tiny_config(epochs=1), recorder)
    assert torch.get_num_threads() == 1


def test_invalid_config_raises_before_training(recorder):
    import pydantic

    with pytest.raises(pydantic.ValidationError):
        train(tiny_config(batch_sise=3), recorder)
    assert recorder.reports == []


def test_batch_larger_than_the_data_set(recorder):
    train(tiny_config(data=synthetic_data((1, 4, 4), num_classes=2, size=20), batch_size=512, epochs=1), recorder)
    assert recorder.reports[0]["train_acc"] >= 0


def test_check_passes_what_trains_and_refuses_what_cannot_start(tmp_path, recorder):
    check(tiny_config())
    with pytest.raises(DatasetNotFoundError, match="cifar-10-batches-py"):
        check(tiny_config(data={"name": "cifar10", "root": str(tmp_path)}))
    model = dict(tiny_config()["model"], pretrained=str(tmp_path / "missing.pt"))
    with pytest.raises(PretrainedWeightsError, match="not found") as info:
        check(tiny_config(model=model))
    assert info.value.key == "model.pretrained"
    assert recorder.reports == []


def test_the_most_confident_mistakes_come_first_and_are_bounded():
    x = torch.arange(6, dtype=torch.uint8).view(6, 1, 1, 1).expand(6, 1, 2, 3)
    y = torch.tensor([0, 1, 2, 0, 1, 2])
    preds = torch.tensor([0, 2, 0, 1, 1, 0])  # wrong: 1, 2, 3, 5
    confidence = torch.tensor([0.99, 0.4, 0.9, 0.6, 0.8, 0.9])
    found = most_confident_mistakes(x, y, preds, confidence, 3)
    assert found["index"] == [2, 5, 3]  # 0.9, 0.9 (ties keep their order), 0.6; 0.4 left out
    assert found["predicted"] == [0, 0, 1] and found["true"] == [2, 2, 0]
    assert found["confidence"] == pytest.approx([0.9, 0.9, 0.6])
    assert found["images"].shape == (3, 2, 3, 1) and found["images"][:, 0, 0, 0].tolist() == [2, 5, 3]
    assert most_confident_mistakes(x, y, y, confidence, 3)["index"] == []

"""hpo evaluate: saved weights scored on test or val without training, as training scored them."""

from __future__ import annotations

import json
import pathlib
from pathlib import Path

import pytest
import torch
import yaml

from hpo.format import format_value
from tests.results.conftest import ONE_THREAD, cli
from tests.results.test_retrain import SGD, SKLEARN, TINY
from trainers.loop import train


@pytest.fixture(scope="module")
def trained(tmp_path_factory: pytest.TempPathFactory) -> dict[str, tuple[Path, dict]]:
    """TINY trained one epoch on train (scored on val) and on train+val (scored on test):
    split -> (its model.pt, what train returned)."""
    root = tmp_path_factory.mktemp("trained")
    runs = {}
    with pytest.MonkeyPatch.context() as patch:
        for key, value in ONE_THREAD.items():
            patch.setenv(key, value)
        for split, final in (("val", False), ("test", True)):
            result = train(dict(TINY), lambda metrics, state=None: None, final=final, output_dir=str(root / split))
            runs[split] = (root / split / "model.pt", result)
    return runs


@pytest.fixture
def workdir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.chdir(tmp_path)
    for key, value in ONE_THREAD.items():
        monkeypatch.setenv(key, value)
    Path("tiny.yaml").write_text("# study: demo\n" + yaml.safe_dump(TINY))
    return tmp_path


@pytest.mark.parametrize("split", ["test", "val"])
def test_saved_weights_score_exactly_what_training_reported(trained, workdir, capsys, monkeypatch, split):
    weights, result = trained[split]
    args = ["--split", split] if split == "val" else []  # test is the default
    run = cli(capsys, monkeypatch, "evaluate", "tiny.yaml", "--weights", str(weights), *args, "--json", "out/scores.json")
    assert run.code == 0, run.err
    scores = json.loads(Path("out/scores.json").read_text())
    assert scores[f"{split}_acc"] == result["val_acc"]  # the loop's last evaluation (test's when final)
    assert scores[f"{split}_loss"] == result["val_loss"]
    assert (scores["per_class_acc"], scores["confusion"], scores["classes"]) == (
        result["per_class_acc"],
        result["confusion"],
        result["classes"],
    )
    assert scores["split"] == split and scores["weights"] == str(weights) and scores["trainer"] == "trainers.loop:train"
    assert f"{split}_acc of {weights}: {format_value(result['val_acc'])} ({360 if split == 'test' else 287} images)" in run.out
    assert f"per-class {split} accuracy" in run.out and f"{split} confusion matrix (rows: true class" in run.out
    assert "summed over seeds" not in run.out and "±" not in run.out


def test_a_spec_with_pretrained_weights_not_on_disk_is_scored_from_its_train_block(trained, workdir, capsys, monkeypatch):
    """The weights replace the pretrained ones: that file is neither checked nor read."""
    weights, result = trained["test"]
    train_block = {**TINY, "model": {**TINY["model"], "pretrained": "nowhere/imagenet.pt"}}
    Path("spec.yaml").write_text(yaml.safe_dump({"study": {"name": "demo"}, "train": train_block, "space": {}}))
    run = cli(capsys, monkeypatch, "evaluate", "spec.yaml", "--weights", str(weights))
    assert run.code == 0, run.err
    assert f"test_acc of {weights}: {format_value(result['val_acc'])}" in run.out


def _file(content) -> str:
    torch.save(content, "weights.pt")
    return "weights.pt"


def _text(text: str) -> str:
    Path("weights.pt").write_text(text)
    return "weights.pt"


def _config(config: dict, header: str = "") -> None:
    Path("tiny.yaml").write_text(header + yaml.safe_dump(config))


WIDER = {"model": {**TINY["model"], "channels": [12], "hidden": [16, 8]}}


@pytest.mark.parametrize(
    ("weights", "config", "words"),
    [
        (lambda trained: "missing.pt", None, "error: missing.pt: no such file; --weights takes the model.pt"),
        (
            lambda trained: _text("not a torch file"),
            None,
            "tiny.yaml: refusing to load weights.pt: it is not a plain state_dict of tensors",
        ),
        (lambda trained: _file([1, 2, 3]), None, "tiny.yaml: weights.pt holds a list, not a state_dict"),
        (
            lambda trained: _file({"lr": 0.1}),
            None,
            "tiny.yaml: weights.pt holds a dict of other things than tensors (lr), not a state_dict",
        ),
        (
            lambda trained: str(trained["test"][0]),
            lambda: _config({**TINY, **WIDER}),
            "does not fit the model of this config (22 tensors): missing from the file: classifier.fc1.weight, classifier.fc1.bias, "
            "classifier.bn1.weight, classifier.bn1.bias, classifier.bn1.running_mean, and 2 more; of another shape: "
            "body.0.0.weight (8x1x3x3 in the file, 12x1x3x3 in the model)",
        ),
        (
            lambda trained: str(trained["test"][0]),
            lambda: _config(SGD, f"# trainer: {SKLEARN}\n"),
            f"tiny.yaml: {SKLEARN} declares no evaluate hook (hpo.contract.trainer(evaluate=...))",
        ),
        (
            lambda trained: str(trained["test"][0]),
            lambda: _config({**TINY, "data": {"name": "mnist", "root": "nodata"}}),
            "tiny.yaml: data set 'mnist' not found: nodata/MNIST/raw/ must hold",
        ),
    ],
    ids=["missing", "not-torch", "not-a-mapping", "not-tensors", "does-not-fit", "no-hook", "data-missing"],
)
def test_weights_that_cannot_be_scored_are_refused_in_one_paragraph(trained, workdir, capsys, monkeypatch, weights, config, words):
    if config is not None:
        config()
    run = cli(capsys, monkeypatch, "evaluate", "tiny.yaml", "--weights", weights(trained), "--json", "scores.json")
    assert run.code == 2 and words in run.err, run.err
    assert "Traceback" not in run.err and run.err.count("\n") == 1
    assert not Path("scores.json").exists()


def test_weights_that_hold_code_are_refused_without_running_it(workdir, capsys, monkeypatch):
    class Payload:
        def __reduce__(self):
            return (pathlib.Path.touch, (workdir / "code_ran",))

    run = cli(capsys, monkeypatch, "evaluate", "tiny.yaml", "--weights", _file({"weight": Payload()}))
    assert run.code == 2 and "refusing to load weights.pt" in run.err and "UnpicklingError: Unsupported global" in run.err
    assert not (workdir / "code_ran").exists()


def test_an_unknown_split_is_refused(trained, workdir, capsys, monkeypatch):
    run = cli(capsys, monkeypatch, "evaluate", "tiny.yaml", "--weights", str(trained["test"][0]), "--split", "train")
    assert run.code == 2 and "--split: expected test or val, got 'train'" in run.err

"""trainers/state.py and train(..., resume=state): a run killed after epoch k and resumed from
the state it reported then ends as the uninterrupted run does, to the last digit (on CPU).

Each state goes through hpo.checkpoint's save_state and load_state (torch.save, then
torch.load(weights_only=True)), as hpo keeps it between the two runs."""

from __future__ import annotations

import json
import random
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
import yaml
from conftest import TIMING, Recorder, tiny_config

from hpo.checkpoint import load_state, save_state
from hpo.contract import MODEL, takes_resume
from trainers.loop import train
from trainers.optim import Plateau, PlateauSchedule
from trainers.state import random_state, set_random_state

REPO = Path(__file__).resolve().parents[2]
QUICKSTART = REPO / "search_spaces" / "quickstart.yaml"


def quickstart(**overrides) -> dict:
    """The quickstart's train: block (digits, a CNN with batch norm and dropout, Adam, cosine)."""
    config = yaml.safe_load(QUICKSTART.read_text())["train"]
    return {**config, "device": "cpu", **overrides}


CONFIGS = {
    "quickstart": (quickstart(epochs=4), [1, 3]),
    "augmented, sgd momentum, onecycle": (
        quickstart(
            epochs=4,
            augment=[{"random_crop": {"padding": 1}}, "hflip", {"rotate": 10}, {"random_erasing": {"p": 0.5}}, {"color_jitter": {}}],
            optimizer={"name": "sgd", "lr": 0.05, "momentum": 0.9, "nesterov": True},
            schedule={"name": "onecycle", "warmup_epochs": 0.5},
            label_smoothing=0.1,
            grad_clip=1.0,
        ),
        [2],
    ),
}


def without_timing(reports: list[dict]) -> list[dict]:
    return [{k: v for k, v in r.items() if k not in TIMING} for r in reports]


def same_tensors(a: dict, b: dict) -> bool:
    return a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)


def kill_and_resume(config: dict, kills: list[int], folder: Path) -> tuple[Recorder, dict]:
    """Run `config` whole, then resumed from its state of each epoch in `kills`: each resumed
    run must end as the whole one. Returns the whole run's reports and states, and its result."""
    whole = Recorder(folder)
    expected = train(config, whole)
    for k in kills:
        (folder / f"resumed{k}").mkdir()
        resumed = Recorder(folder / f"resumed{k}")
        result = train(config, resumed, resume=whole.states[k - 1])
        assert [r["epoch"] for r in resumed.reports] == [r["epoch"] for r in whole.reports[k:]]
        assert without_timing(resumed.reports) == without_timing(whole.reports[k:])
        assert result["val_acc"] == expected["val_acc"]
        for key in ("per_class_acc", "confusion", "misclassified"):
            assert str(result[key]) == str(expected[key]), key
        history, expected_history = json.loads(resumed.states[-1]["history"]), json.loads(whole.states[-1]["history"])
        assert without_timing(history) == without_timing(expected_history)
        assert history[:k] == expected_history[:k]  # the first k epochs, timing and all: from the state
        assert same_tensors(resumed.states[-1][MODEL], whole.states[-1][MODEL])
    return whole, expected


@pytest.mark.parametrize(("config", "kills"), CONFIGS.values(), ids=CONFIGS.keys())
def test_a_resumed_run_ends_as_the_uninterrupted_one(config, kills, tmp_path):
    kill_and_resume(config, kills, tmp_path)


def test_a_run_resumed_between_a_plateau_and_early_stopping_stops_where_the_uninterrupted_one_does(tmp_path):
    """min_delta 0.02: epochs 3 and 4 do not count as better, so early stopping ends the run
    after epoch 4 of 8; the plateau schedule halves the rate after epoch 3, where it is killed."""
    config = tiny_config(
        epochs=8,
        early_stopping={"patience": 2, "min_delta": 0.02},
        schedule={"name": "plateau", "patience": 0, "factor": 0.5},
    )
    whole, expected = kill_and_resume(config, [3], tmp_path)
    assert [r["finished"] for r in whole.reports] == [False, False, False, True]
    assert whole.states[2]["schedule"]["scale"] == 0.5 and whole.states[2]["bad_epochs"] == 1

    after_the_end = Recorder()  # resumed from its finished report: nothing left to train or report
    result = train(config, after_the_end, resume=whole.states[-1])
    assert after_the_end.reports == []
    assert str({k: v for k, v in result.items() if k not in TIMING}) == str({k: v for k, v in expected.items() if k not in TIMING})


RESUMER = """\
import json, sys
from hpo.checkpoint import load_state
from trainers.loop import train
reports = []
result = train(json.loads(sys.argv[1]), lambda metrics, state=None: reports.append(metrics), resume=load_state(sys.argv[2]))
print(json.dumps({"reports": reports, "val_acc": result["val_acc"]}))
"""


def test_a_run_resumed_in_a_new_process_ends_as_the_uninterrupted_one(tmp_path):
    """As after a kill: nothing of the first process is left but the state's file."""
    config = tiny_config(
        epochs=3, augment=[{"random_crop": {"padding": 1}}, "hflip"], model={"name": "cnn", "channels": [8], "dropout": 0.2}
    )
    whole = Recorder(tmp_path)
    expected = train(config, whole)
    run = subprocess.run(
        [sys.executable, "-c", RESUMER, json.dumps(config), str(tmp_path / "epoch1.pt")], capture_output=True, text=True, cwd=REPO
    )
    assert run.returncode == 0, run.stderr
    resumed = json.loads(run.stdout.splitlines()[-1])
    assert without_timing(resumed["reports"]) == without_timing(whole.reports[1:])
    assert resumed["val_acc"] == expected["val_acc"]


def test_a_state_resumed_with_another_rate_and_momentum_trains_with_the_configs(tmp_path):
    """Population Based Training resumes another trial's state with a perturbed config: the
    optimizer keeps the state's moments but takes its rate and momentum from the config."""
    config = quickstart(epochs=2, optimizer={"name": "sgd", "lr": 0.05, "momentum": 0.9}, schedule={"name": "none"})
    whole = Recorder(tmp_path)
    train(config, whole)
    perturbed = {**config, "optimizer": {"name": "sgd", "lr": 0.06, "momentum": 0.5}}
    resumed = Recorder(tmp_path / "resumed")
    (tmp_path / "resumed").mkdir()
    train(perturbed, resumed, resume=whole.states[0])
    assert [r["epoch"] for r in resumed.reports] == [2]
    assert resumed.reports[0]["lr"] == 0.06 and whole.reports[1]["lr"] == 0.05
    groups = resumed.states[-1]["optimizer"]["param_groups"]
    assert {g["momentum"] for g in groups} == {0.5} and {g["base_lr"] for g in groups} == {0.06}
    assert resumed.states[-1]["optimizer"]["state"], "the moments came with the state"


def test_a_state_holds_the_weights_and_what_the_loop_carries(tmp_path):
    run = Recorder(tmp_path)
    train(tiny_config(epochs=2), run)
    state = run.states[0]
    assert state["epoch"] == 1 and [r["epoch"] for r in json.loads(state["history"])] == [1]
    assert set(state) == {"epoch", "best_acc", "stopping_best", "bad_epochs", "history", "model", "optimizer", "schedule", "random"}
    assert all(isinstance(v, torch.Tensor) for v in state[MODEL].values())
    assert takes_resume(train)


def test_every_generator_goes_back_to_where_it_was(tmp_path):
    """Also python's and numpy's, which the built-in loop itself never draws from."""
    pipeline = torch.Generator().manual_seed(5)
    random.seed(1)
    np.random.seed(2)
    torch.manual_seed(3)
    np.random.randn()  # numpy keeps half a Gaussian pair: part of its state

    def draws():
        return (torch.rand(3, generator=pipeline).tolist(), torch.rand(3).tolist(), random.random(), np.random.randn(3).tolist())

    save_state({"random": random_state(pipeline)}, tmp_path / "s.pt")
    first = draws()
    draws()
    set_random_state(load_state(tmp_path / "s.pt")["random"], pipeline)
    assert draws() == first


def test_reduce_on_plateau_goes_on_from_its_state():
    config = PlateauSchedule(patience=1, factor=0.5)
    schedule = Plateau(config, epochs=10)
    for acc in (0.5, 0.4, 0.4, 0.6, 0.5):
        schedule.end_of_epoch(acc)
    copy = Plateau(config, epochs=10)
    copy.load_state_dict(schedule.state_dict())
    for acc in (0.5, 0.5):
        schedule.end_of_epoch(acc)
        copy.end_of_epoch(acc)
    assert copy.state_dict() == schedule.state_dict() and schedule.factor(0) == 0.25

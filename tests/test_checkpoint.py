"""hpo/checkpoint.py: a state is written whole or not at all, and read back as data only."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import numpy as np
import pytest
import torch

from hpo.checkpoint import StateError, load_state, save_state

REPO = Path(__file__).resolve().parents[1]


def test_a_state_comes_back_as_it_was_with_its_tensors_on_the_cpu(tmp_path):
    model = torch.nn.Linear(3, 2)
    state = {
        "model": model.state_dict(),
        "epoch": 3,
        "history": [{"epoch": 1, "val_acc": 0.5, "finished": False, "device": "cpu", "note": None}],
        "random": {"python": (3, (1, 2, 3), None), "numpy": torch.arange(4)},
        "best": float("-inf"),
    }
    save_state(state, tmp_path / "state.pt")
    loaded = load_state(tmp_path / "state.pt")
    assert loaded.keys() == state.keys() and loaded["history"] == state["history"] and loaded["random"]["python"] == (3, (1, 2, 3), None)
    assert all(torch.equal(loaded["model"][k], v) and loaded["model"][k].device.type == "cpu" for k, v in model.state_dict().items())
    assert loaded["best"] == float("-inf")
    assert [p.name for p in tmp_path.iterdir()] == ["state.pt"]  # no temporary file left


def test_a_state_weights_only_cannot_read_is_refused_and_the_old_file_kept(tmp_path):
    path = tmp_path / "state.pt"
    save_state({"epoch": 1}, path)
    with pytest.raises(StateError, match=r"numpy.*torch.from_numpy") as info:
        save_state({"epoch": 2, "keys": np.arange(3)}, path)
    assert isinstance(info.value, TypeError)
    assert load_state(path) == {"epoch": 1}
    assert [p.name for p in tmp_path.iterdir()] == ["state.pt"]


WRITER = textwrap.dedent(
    """\
    import sys, torch
    from hpo.checkpoint import save_state
    # many small tensors: writing takes far longer than syncing, so a kill lands in a write
    states = [{"epoch": e, "weights": [torch.full((64,), float(e)) for _ in range(2000)]} for e in (1, 2)]
    sync = sys.argv[2] == "sync"
    save_state(states[0], sys.argv[1], sync=sync)
    print("saved", flush=True)
    while True:  # until killed, most likely in the middle of a write
        for state in states:
            save_state(state, sys.argv[1], sync=sync)
    """
)


@pytest.mark.parametrize("sync", ["sync", "no-sync"])  # unsynced (a staging file Ray copies) is just as atomic to a kill
def test_a_writer_killed_mid_write_leaves_a_whole_state(tmp_path, sync):
    path = tmp_path / "state.pt"
    writer = subprocess.Popen([sys.executable, "-c", WRITER, str(path), sync], stdout=subprocess.PIPE, text=True, cwd=REPO)
    try:
        assert writer.stdout is not None and writer.stdout.readline() == "saved\n"
        time.sleep(0.3)  # a few writes in
    finally:
        writer.send_signal(signal.SIGKILL)
        writer.wait()
    state = load_state(path)
    assert state["epoch"] in (1, 2) and len(state["weights"]) == 2000
    assert all(torch.equal(weights, torch.full((64,), float(state["epoch"]))) for weights in state["weights"])


def test_importing_it_imports_no_torch():
    code = "import sys, json, hpo.checkpoint; print(json.dumps('torch' in sys.modules))"
    run = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=REPO)
    assert json.loads(run.stdout) is False

"""Shared helpers for the trainers tests: tiny configs that train in well under a second."""

from __future__ import annotations

import copy
from pathlib import Path

import pytest

from hpo.checkpoint import load_state, save_state

TIMING = {"seconds", "images_per_second", "latency_ms"}  # measured, so never the same twice: the only numbers allowed to differ


def tiny_config(**overrides) -> dict:
    """digits (8x8x1, 10 classes) with a small CNN: one epoch takes ~0.1 s on a CPU core."""
    config = {
        "seed": 0,
        "data": {"name": "digits"},
        "model": {"name": "cnn", "channels": [16, 32], "hidden": [64]},
        "optimizer": {"name": "adam", "lr": 3e-3},
        "schedule": {"name": "cosine"},
        "batch_size": 64,
        "epochs": 2,
        "device": "cpu",
    }
    config.update(copy.deepcopy(overrides))
    return config


def synthetic_data(shape=(3, 16, 16), num_classes=4, size=64, **extra) -> dict:
    return {"name": "synthetic", "shape": list(shape), "num_classes": num_classes, "size": size, "test_size": 16, **extra}


class Recorder:
    """A `report` callback that keeps every epoch's metrics; given a folder, also every
    epoch's state, written and read back as hpo does (hpo.checkpoint)."""

    def __init__(self, states: Path | None = None):
        self.reports: list[dict] = []
        self.folder = states
        self.states: list[dict] = []

    def __call__(self, metrics: dict, state: dict | None = None) -> None:
        self.reports.append(metrics)
        if self.folder is not None and state is not None:
            path = self.folder / f"epoch{metrics['epoch']}.pt"
            save_state(state, path)
            self.states.append(load_state(path))

    @property
    def finished(self) -> list[bool]:
        return [r["finished"] for r in self.reports]


@pytest.fixture
def recorder() -> Recorder:
    return Recorder()


@pytest.fixture(autouse=True)
def one_thread(monkeypatch):
    """One torch thread per test: the tiny models here do not gain from more, and a second
    thread on a busy 2-core machine makes OpenMP spin (10x slower epochs)."""
    import torch

    threads = torch.get_num_threads()
    monkeypatch.setenv("OMP_NUM_THREADS", "1")  # train() reads it
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)

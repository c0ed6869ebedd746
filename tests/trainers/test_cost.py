"""trainers/cost.py: a model's parameters, multiply-adds and latency per image, measured
once per trial and reported with every epoch."""

from __future__ import annotations

import torch
from conftest import tiny_config

from trainers.config import METRICS
from trainers.cost import COST_METRICS, LATENCY_BATCH, model_cost
from trainers.loop import train


def test_a_linear_model_costs_its_weights_in_multiply_adds():
    model = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(64, 10))
    cost = model_cost(model, torch.rand(100, 1, 8, 8))
    assert cost["params"] == 64 * 10 + 10
    assert cost["macs"] == 64 * 10  # per image, whatever the batch timed
    assert cost["latency_ms"] > 0


def test_a_wider_model_costs_more():
    def cnn(width: int) -> torch.nn.Module:
        return torch.nn.Sequential(torch.nn.Conv2d(1, width, 3), torch.nn.ReLU(), torch.nn.Flatten(), torch.nn.Linear(width * 36, 10))

    images = torch.rand(LATENCY_BATCH, 1, 8, 8)
    narrow, wide = model_cost(cnn(4), images), model_cost(cnn(32), images)
    assert wide["params"] > narrow["params"] and wide["macs"] == 8 * narrow["macs"]


def test_the_cost_is_declared_and_reported_the_same_with_every_epoch(recorder):
    assert {name: METRICS[name] for name in COST_METRICS} == {"params": "min", "macs": "min", "latency_ms": "min"}
    train(tiny_config(epochs=2), recorder)
    first, last = recorder.reports
    assert {k: first[k] for k in COST_METRICS} == {k: last[k] for k in COST_METRICS}
    assert first["params"] > 0 and first["macs"] > 0 and first["latency_ms"] > 0


def test_measuring_draws_no_random_number():
    """A trial trains as it would without the measurement: the random stream is untouched
    (dropout is off in eval mode)."""
    model = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Dropout(0.5), torch.nn.Linear(64, 10))
    before = torch.get_rng_state()
    model_cost(model, torch.zeros(8, 1, 8, 8))
    assert torch.equal(before, torch.get_rng_state())


def test_a_slow_model_is_timed_on_fewer_passes(monkeypatch):
    import trainers.cost

    calls = []

    class Slow(torch.nn.Module):
        def forward(self, x):
            calls.append(len(x))
            return x.flatten(1)

    monkeypatch.setattr(trainers.cost, "BUDGET_S", 0.0)  # every pass is over the budget
    cost = model_cost(Slow(), torch.zeros(40, 1, 8, 8))
    assert calls == [1, LATENCY_BATCH]  # the counted pass of one image, then one timed pass
    assert cost["latency_ms"] > 0

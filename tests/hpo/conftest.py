"""Shared helpers for the search-side tests: a small valid spec to mutate."""

from __future__ import annotations

import textwrap

import pytest

VALID_SPEC = textwrap.dedent(
    """\
    study: {name: tiny, metric: val_acc, mode: max, trials: 4, seed: 0}
    sampler: {type: tpe, n_startup_trials: 2}
    scheduler: {type: asha, grace_period: 1, reduction_factor: 2}
    resources: {cpus_per_trial: 1, max_concurrent: 2}
    train:
      seed: 0
      data: {name: digits, val_fraction: 0.2}
      model: {name: cnn, channels: [8, 16], kernel_sizes: [3, 3], dropout: 0.1, hidden: [32]}
      optimizer: {name: adam, lr: 1.0e-3}
      batch_size: 64
      epochs: 3
    space:
      optimizer.lr: {float: [1.0e-4, 1.0e-1], log: true}
      batch_size: {choice: [32, 64]}
      model.kernel_sizes: {choice: {k33: [3, 3], k53: [5, 3]}}
      optimizer.name:
        choice: [sgd, adam]
        when:
          sgd: {optimizer.momentum: {float: [0.0, 0.9]}}
    """
)


@pytest.fixture
def write_spec(tmp_path):
    """Write spec text to a file and return its path."""

    def write(text: str, name: str = "spec.yaml"):
        path = tmp_path / name
        path.write_text(text)
        return path

    return write

"""`hpo validate`: the dry run builds each corner of the space before any trial runs."""

from __future__ import annotations

import subprocess
import sys

from tests.conftest import VALID_SPEC

DEEP_MODEL_SPACE = (
    VALID_SPEC.split("space:\n")[0]
    + """space:
  model:
    choice:
      shallow: {name: cnn, channels: [8, 16], kernel_sizes: [3, 3], pool: max, hidden: [32]}
      deep: {name: cnn, channels: [8, 16, 32, 64], kernel_sizes: [3, 3, 3, 3], pool: max, hidden: [32]}
  batch_size: {choice: [32, 64]}
"""
)


def validate(path):
    return subprocess.run([sys.executable, "-m", "hpo.cli", "validate", str(path)], capture_output=True, text=True, timeout=300)


def test_valid_spec_prints_a_table_per_corner(write_spec):
    result = validate(write_spec(VALID_SPEC))
    assert result.returncode == 0, result.stderr
    assert "valid" in result.stdout and "dry run" in result.stdout and "trainable" in result.stdout
    for corner in ("model.kernel_sizes=k53", "batch_size=32"):
        assert corner in result.stdout
    assert "2x10" in result.stdout  # output shape: the probe batch x 10 digit classes


def test_a_failing_corner_is_reported_with_its_exact_combination(write_spec):
    # four 2x2 max pools on 8x8 digits: the deep model runs out of feature map
    result = validate(write_spec(DEEP_MODEL_SPACE))
    assert result.returncode == 2
    assert "Traceback" not in result.stderr
    assert "corners of the space fail before any trial runs" in result.stderr
    assert "model=deep" in result.stderr
    assert "model=shallow" not in result.stderr


FINETUNE_SPACE = (
    VALID_SPEC.split("space:\n")[0]
    + """space:
  model.trainable: {choice: {head: [classifier.head], top: [body.1, classifier], all: null}}
  optimizer.lr: {float: [1.0e-4, 1.0e-1], log: true}
"""
)


def test_the_dry_run_counts_the_trainable_parameters_of_each_corner(write_spec):
    from hpo.spec.dryrun import dry_run
    from hpo.spec.sections import load_spec
    from trainers.config import validate_train_config
    from trainers.models import create_model

    spec = load_spec(write_spec(FINETUNE_SPACE))
    results = {r.params["model.trainable"]: r for r in dry_run(spec) if "model.trainable" in r.params}
    assert sorted(results) == ["all", "head", "top"]
    model = create_model(validate_train_config(spec.train).model, (1, 8, 8), 10)
    sizes = {name: sum(p.numel() for p in model.get_submodule(name).parameters()) for name in ("classifier", "classifier.head", "body.1")}
    total = sum(p.numel() for p in model.parameters())
    assert {r.parameters for r in results.values()} == {total}
    assert results["head"].trainable == sizes["classifier.head"]
    assert results["top"].trainable == sizes["body.1"] + sizes["classifier"]
    assert results["all"].trainable == total
    # gradients and optimizer moments only for what trains
    assert results["head"].memory_bytes < results["top"].memory_bytes < results["all"].memory_bytes

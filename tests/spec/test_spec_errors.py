"""Every bad spec ends with one message naming the file, the key path and what was
expected. One row per distinct bad input; the valid spec in conftest is the base that
each row breaks in one place."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from hpo.errors import SpecError
from hpo.spec.sections import load_spec
from tests.conftest import VALID_SPEC, spec_error


def replace(old: str, new: str) -> str:
    assert old in VALID_SPEC, old
    return VALID_SPEC.replace(old, new)


SPACE_HEAD = VALID_SPEC.split("space:\n")[0] + "space:\n"


def space(body: str) -> str:
    return SPACE_HEAD + body


# (case id, spec text, key path in the message, words the message must contain)
CASES = [
    ("yaml-syntax", "study: {name: x\ntrain: [", "", "line"),
    ("yaml-tab-indent", "study:\n\tname: x\n", "", "line"),
    ("yaml-control-character", "study: {name: x\x07}\n", "", "line 1, column 16: character #x0007 is not allowed"),
    ("not-a-mapping", "- just\n- a list\n", "", "expected a mapping"),
    ("empty-file", "", "", "empty file"),
    ("python-object-tag", "study: !!python/object/apply:os.system ['echo owned']\n", "", "tag not allowed"),
    ("python-name-tag", "x: !!python/name:os.system\n", "", "tag not allowed"),
    ("duplicate-top-key", VALID_SPEC + "study: {name: again, trials: 1}\n", "", "duplicate key 'study'"),
    (
        "duplicate-space-key",
        space("  optimizer.lr: {float: [0.1, 0.2]}\n  optimizer.lr: {float: [0.1, 0.3]}\n"),
        "",
        "duplicate key 'optimizer.lr'",
    ),
    (
        "missing-study",
        VALID_SPEC.split("sampler:")[0].replace("study: {name: tiny, metric: val_acc, mode: max, trials: 4, seed: 0}\n", "")
        + "train: {}\n",
        "study",
        "missing required key",
    ),
    ("missing-train", VALID_SPEC.split("train:")[0], "train", "missing required key"),
    ("missing-trials", replace("trials: 4, ", ""), "study.trials", "missing required key"),
    ("unknown-top-key", VALID_SPEC + "spaces: {}\n", "spaces", "did you mean 'space'"),
    ("unknown-study-key", replace("seed: 0}", "sed: 0}"), "study.sed", "did you mean 'seed'"),
    ("trials-not-int", replace("trials: 4", "trials: many"), "study.trials", "integer"),
    ("trials-zero", replace("trials: 4", "trials: 0"), "study.trials", "greater than or equal to 1"),
    ("bad-mode", replace("mode: max", "mode: up"), "study.mode", "'max' or 'min'"),
    ("metric-unknown", replace("metric: val_acc", "metric: val_accuracy"), "study.metric", "did you mean 'val_acc'"),
    ("metric-mode-mismatch", replace("metric: val_acc, mode: max", "metric: val_loss, mode: max"), "study.mode", "use mode: min"),
    ("bad-study-name", replace("name: tiny", "name: 'my study/1'"), "study.name", "pattern"),
    ("bad-time-budget", replace("seed: 0}", "seed: 0, time_budget: soon}"), "study.time_budget", "duration"),
    ("target-not-a-number", replace("seed: 0}", "seed: 0, target: high}"), "study.target", "valid number"),
    ("target-a-boolean", replace("seed: 0}", "seed: 0, target: true}"), "study.target", "valid number"),
    ("target-quoted", replace("seed: 0}", "seed: 0, target: '0.9'}"), "study.target", "valid number"),
    ("target-not-finite", replace("seed: 0}", "seed: 0, target: .inf}"), "study.target", "finite number"),
    ("patience-zero", replace("seed: 0}", "seed: 0, patience: 0}"), "study.patience", "greater than or equal to 1"),
    ("patience-fraction", replace("seed: 0}", "seed: 0, patience: 2.5}"), "study.patience", "valid integer"),
    ("patience-quoted", replace("seed: 0}", "seed: 0, patience: '3'}"), "study.patience", "valid integer"),
    ("unknown-sampler", replace("type: tpe", "type: tpee"), "sampler", "did you mean 'tpe'"),
    ("sampler-bad-option", replace("n_startup_trials: 2", "n_startup: 2"), "sampler.n_startup", "did you mean 'n_startup_trials'"),
    (
        "grid-float-without-step",
        replace("sampler: {type: tpe, n_startup_trials: 2}", "sampler: {type: grid}"),
        "space.optimizer.lr",
        "give this float a `step`",
    ),
    ("unknown-scheduler", replace("type: asha", "type: pbtt"), "scheduler", "unknown type 'pbtt' (did you mean 'pbt'?)"),
    (
        "asha-reduction-factor",
        replace("reduction_factor: 2", "reduction_factor: 1"),
        "scheduler.reduction_factor",
        "greater than or equal to 2",
    ),
    ("asha-grace-too-long", replace("grace_period: 1", "grace_period: 3"), "scheduler.grace_period", "must be below train.epochs"),
    ("gpus-fraction-above-one", replace("max_concurrent: 2", "gpus_per_trial: 1.5"), "resources.gpus_per_trial", "whole GPUs"),
    ("cpus-negative", replace("cpus_per_trial: 1", "cpus_per_trial: -1"), "resources.cpus_per_trial", "greater than 0"),
    ("train-unknown-key", replace("batch_size: 64\n", "batchsize: 64\n"), "train.batchsize", "did you mean 'batch_size'"),
    ("train-bad-model", replace("name: cnn", "name: cnnn"), "train.model", "cnn"),
    ("train-wrong-type", replace("epochs: 3", "epochs: three"), "train.epochs", "integer"),
    ("space-not-mapping", space("  - optimizer.lr\n"), "space", "expected a mapping"),
    ("space-bad-path", space("  'optimizer..lr': {float: [0.1, 0.2]}\n"), "space.optimizer..lr", "dotted path"),
    ("space-path-not-in-train", space("  optimizer.lrr: {float: [0.1, 0.2]}\n"), "space.optimizer.lrr", "did you mean 'lr'"),
    ("space-path-wrong-model", space("  model.depth: {int: [1, 3]}\n"), "space.model.depth", "unknown key 'depth'"),
    ("space-path-into-scalar", space("  epochs.max: {int: [1, 3]}\n"), "space.epochs.max", "cannot be set"),
    ("dist-not-mapping", space("  optimizer.lr: 0.1\n"), "space.optimizer.lr", "expected a distribution"),
    ("dist-no-kind", space("  optimizer.lr: {log: true}\n"), "space.optimizer.lr", "exactly one of float, int, choice"),
    ("dist-two-kinds", space("  optimizer.lr: {float: [0.1, 0.2], int: [1, 2]}\n"), "space.optimizer.lr", "exactly one"),
    ("dist-unknown-key", space("  optimizer.lr: {float: [0.1, 0.2], lgo: true}\n"), "space.optimizer.lr.lgo", "did you mean 'log'"),
    ("float-not-pair", space("  optimizer.lr: {float: [0.1]}\n"), "space.optimizer.lr.float", "[low, high]"),
    ("float-not-number", space("  optimizer.lr: {float: [a, 0.2]}\n"), "space.optimizer.lr.float", "must be a number"),
    (
        "low-above-high",
        space("  optimizer.lr: {float: [0.1, 0.0001]}\n"),
        "space.optimizer.lr.float",
        "low (0.1) must be below high (0.0001)",
    ),
    ("low-equals-high", space("  optimizer.lr: {float: [0.1, 0.1]}\n"), "space.optimizer.lr.float", "must be below high"),
    ("log-low-zero", space("  optimizer.lr: {float: [0.0, 0.1], log: true}\n"), "space.optimizer.lr.float", "above 0 when log"),
    ("log-low-negative", space("  optimizer.lr: {float: [-1.0, 0.1], log: true}\n"), "space.optimizer.lr.float", "above 0 when log"),
    ("log-not-bool", space("  optimizer.lr: {float: [0.1, 0.2], log: yes please}\n"), "space.optimizer.lr.log", "true or false"),
    ("log-and-step", space("  optimizer.lr: {float: [0.1, 0.2], log: true, step: 0.1}\n"), "space.optimizer.lr", "cannot be combined"),
    ("int-bound-float", space("  batch_size: {int: [16.5, 64]}\n"), "space.batch_size.int", "must be an integer"),
    ("int-bound-bool", space("  batch_size: {int: [true, 64]}\n"), "space.batch_size.int", "must be an integer"),
    ("int-step-float", space("  batch_size: {int: [16, 64], step: 1.5}\n"), "space.batch_size.step", "positive integer"),
    (
        "step-not-dividing",
        space("  model.dropout: {float: [0.0, 0.5], step: 0.3}\n"),
        "space.model.dropout.step",
        "does not divide the range",
    ),
    ("step-negative", space("  model.dropout: {float: [0.0, 0.5], step: -0.1}\n"), "space.model.dropout.step", "positive number"),
    ("choice-empty-list", space("  batch_size: {choice: []}\n"), "space.batch_size.choice", "at least one option"),
    ("choice-empty-mapping", space("  batch_size: {choice: {}}\n"), "space.batch_size.choice", "at least one option"),
    ("choice-scalar", space("  batch_size: {choice: 32}\n"), "space.batch_size.choice", "expected a list"),
    ("choice-list-of-lists", space("  model.kernel_sizes: {choice: [[3, 3], [5, 3]]}\n"), "space.model.kernel_sizes.choice", "name them"),
    ("choice-repeated", space("  batch_size: {choice: [32, 32]}\n"), "space.batch_size.choice", "options repeat"),
    ("choice-log", space("  batch_size: {choice: [32, 64], log: true}\n"), "space.batch_size.log", "only float and int"),
    ("choice-value-invalid", space("  batch_size: {choice: [32, -1]}\n"), "space.batch_size", "greater than or equal to 1"),
    (
        "when-unknown-option",
        space("  optimizer.name:\n    choice: [sgd, adam]\n    when: {sgdd: {optimizer.momentum: {float: [0.0, 0.9]}}}\n"),
        "space.optimizer.name.when.sgdd",
        "no option 'sgdd'",
    ),
    ("when-on-float", space("  optimizer.lr: {float: [0.1, 0.2], when: {x: {}}}\n"), "space.optimizer.lr.when", "belong under a `choice`"),
    (
        "when-not-mapping",
        space("  optimizer.name: {choice: [sgd, adam], when: [sgd]}\n"),
        "space.optimizer.name.when",
        "expected a mapping",
    ),
    (
        "when-param-invalid-for-option",
        space("  optimizer.name:\n    choice: [sgd, adam]\n    when: {adam: {optimizer.momentum: {float: [0.0, 0.9]}}}\n"),
        "space.optimizer.momentum",
        "unknown key 'momentum'",
    ),
    (
        "nested-when-bad",
        space(
            "  optimizer.name:\n    choice: [sgd, adam]\n    when:\n      sgd:\n        optimizer.nesterov:\n          choice: [true, false]\n          when: {true: {optimizer.lr: {float: [1, 0]}}}\n"
        ),
        "space.optimizer.name.when.sgd.optimizer.nesterov.when.True.optimizer.lr.float",
        "must be below high",
    ),
    (
        "pbt-perturb-unknown",
        replace("{type: asha, grace_period: 1, reduction_factor: 2}", "{type: pbt, perturb: [optimizer.rl]}"),
        "scheduler.perturb.0",
        "did you mean 'optimizer.lr'",
    ),
    (
        "overlapping-paths",
        space("  model: {choice: {a: {name: cnn}}}\n  model.dropout: {float: [0.0, 0.5]}\n"),
        "space.model.dropout",
        "overlaps `model`",
    ),
]


@pytest.mark.parametrize(("spec_text", "path", "words"), [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_bad_spec_names_file_path_and_expectation(write_spec, spec_text, path, words):
    spec_error(write_spec(spec_text), path, words)


def test_cases_are_many_and_distinct():
    assert len(CASES) >= 40
    assert len({c[0] for c in CASES}) == len(CASES)
    assert len({c[1] for c in CASES}) == len(CASES)


@pytest.mark.parametrize(
    ("make", "words"),
    [
        (lambda tmp: tmp / "missing.yaml", "no such file"),
        (lambda tmp: tmp, "is a directory"),
        (lambda tmp: _write_bytes(tmp / "bin.yaml", b"\x89PNG\r\n\x1a\n\x00\x00"), "not a UTF-8 text file"),
        (lambda tmp: _write_bytes(tmp / "nul.yaml", b"study: x\x00\n"), "binary file"),
        (lambda tmp: _write_bytes(tmp / "notes.txt", b"this is prose, not a spec"), "expected a mapping"),
    ],
    ids=["missing-file", "directory", "not-utf8", "nul-bytes", "not-yaml-prose"],
)
def test_bad_files(tmp_path, make, words):
    path = make(tmp_path)
    with pytest.raises(SpecError) as caught:
        load_spec(path)
    assert words in caught.value.message


def _write_bytes(path, data):
    path.write_bytes(data)
    return path


@pytest.mark.parametrize(
    "case",
    ["yaml-syntax", "python-object-tag", "unknown-sampler", "low-above-high", "when-unknown-option", "space-path-not-in-train"],
)
def test_cli_prints_one_paragraph_exit_2_no_traceback(write_spec, case):
    spec_text = next(c[1] for c in CASES if c[0] == case)
    spec_file = write_spec(spec_text)
    result = subprocess.run(
        [sys.executable, "-m", "hpo.cli", "validate", str(spec_file)],
        capture_output=True,
        text=True,
        env={**os.environ, "COLUMNS": "200"},
    )
    assert result.returncode == 2
    assert "Traceback" not in result.stderr + result.stdout
    assert result.stderr.startswith(f"error: {spec_file}: ")


def test_debug_flag_shows_the_traceback(write_spec):
    spec_file = write_spec(space("  optimizer.lr: {float: [0.1, 0.0001]}\n"))
    result = subprocess.run([sys.executable, "-m", "hpo.cli", "--debug", "validate", str(spec_file)], capture_output=True, text=True)
    assert result.returncode == 2
    assert "Traceback" in result.stderr

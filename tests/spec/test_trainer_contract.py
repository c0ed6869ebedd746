"""A spec is judged by its trainer's contract (hpo/spec/trainer.py): the trainer it names
is imported, ``train:`` and the space are validated with the trainer's schema or, without
one, checked against ``train:``; ``study.metric`` and ``study.mode`` follow the declared
metrics; ``train.epochs`` is required of every trainer."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap

import pytest

from hpo.errors import SpecError
from hpo.spec.sections import load_spec, spec_from_text
from hpo.spec.trainer import DEFAULT_TRAINER
from tests.conftest import VALID_SPEC

PLAIN = "tests.spec.contract_trainers:plain"
DECLARED = "tests.spec.contract_trainers:declared"
SCHEMATIC = "tests.spec.contract_trainers:schematic"

SPEC = textwrap.dedent(
    """\
    trainer: TRAINER
    study: {name: c, metric: score, mode: max, trials: 2}
    scheduler: {type: none}
    train: {epochs: 3, width: 8, optim: {lr: 0.1, name: sgd, momentum: 0.0}}
    space:
      width: {int: [4, 16]}
      optim.lr: {float: [0.001, 0.1], log: true}
      optim.name:
        choice: [sgd, adam]
        when: {sgd: {optim.momentum: {float: [0.0, 0.9]}}}
    """
)


def refusal(text: str, trainer: str | None = None) -> SpecError:
    with pytest.raises(SpecError) as caught:
        spec_from_text(text, "spec.yaml", trainer)
    assert "\n" not in str(caught.value)
    return caught.value


# ----------------------------------------------------------------------------- metrics and mode


def test_a_declared_metric_sets_the_mode_and_the_first_one_is_the_default():
    loss = spec_from_text(SPEC.replace("TRAINER", DECLARED).replace("metric: score, mode: max", "metric: loss"), "spec.yaml")
    assert (loss.study.metric, loss.study.mode) == ("loss", "min")
    default = spec_from_text(SPEC.replace("TRAINER", DECLARED).replace("metric: score, mode: max, ", ""), "spec.yaml")
    assert (default.study.metric, default.study.mode) == ("score", "max")


def test_an_unknown_metric_of_a_trainer_that_declares_metrics_says_did_you_mean_and_lists_them():
    error = refusal(SPEC.replace("TRAINER", DECLARED).replace("metric: score", "metric: scor"))
    assert error.path == "study.metric"
    assert "did you mean 'score'" in error.message and "reports score, loss" in error.message


def test_a_mode_against_the_declared_direction_says_which_to_use():
    error = refusal(SPEC.replace("TRAINER", DECLARED).replace("metric: score, mode: max", "metric: loss, mode: max"))
    assert error.path == "study.mode"
    assert "loss is better when lower" in error.message and "use mode: min" in error.message


def test_without_declared_metrics_any_metric_goes_and_the_mode_is_required():
    spec = spec_from_text(SPEC.replace("TRAINER", PLAIN).replace("metric: score, mode: max", "metric: my_f1, mode: min"), "spec.yaml")
    assert (spec.study.metric, spec.study.mode) == ("my_f1", "min")
    no_mode = refusal(SPEC.replace("TRAINER", PLAIN).replace("mode: max, ", ""))
    assert no_mode.path == "study.mode"
    assert "missing required key" in no_mode.message and "declares no metrics" in no_mode.message
    assert "(mode: max)" in no_mode.message and "(mode: min)" in no_mode.message
    no_metric = refusal(SPEC.replace("TRAINER", PLAIN).replace("metric: score, mode: max, ", ""))
    assert no_metric.path == "study.metric" and "missing required key" in no_metric.message


def test_the_built_in_trainer_keeps_val_acc_as_its_default_metric():
    spec = spec_from_text(VALID_SPEC.replace("metric: val_acc, mode: max, ", ""), "spec.yaml")
    assert (spec.trainer, spec.study.metric, spec.study.mode) == (DEFAULT_TRAINER, "val_acc", "max")


# ----------------------------------------------------------------------------- importing the trainer


@pytest.mark.parametrize(
    ("reference", "words"),
    [
        ("no.such.module:train", "cannot import no.such.module:train (No module named 'no')"),
        ("tests.spec.broken_trainer:train", "this trainer needs a GPU driver"),
        ("tests.spec.contract_trainers:nothing", "has nothing named 'nothing'"),
        ("tests.spec.contract_trainers:NOT_A_FUNCTION", "not a function"),
        ("tests.spec.contract_trainers", "expected module:function"),
        ("a b:train", "expected module:function"),
    ],
    ids=["no-module", "module-raises", "no-attribute", "not-callable", "no-function-part", "not-a-name"],
)
def test_a_trainer_that_does_not_import_is_an_error_naming_the_trainer_key(reference, words):
    error = refusal(SPEC.replace("TRAINER", reference))
    assert error.path == "trainer" and words in error.message


def test_a_trainer_key_that_is_not_a_string_is_an_error():
    assert refusal(SPEC.replace("TRAINER", "[a, b]")).path == "trainer"


@pytest.mark.parametrize("command", ["validate", "run"])
def test_the_cli_says_which_trainer_failed_to_import_exit_2_no_traceback(write_spec, command):
    spec_file = write_spec(SPEC.replace("TRAINER", "no.such.module:train"))
    result = subprocess.run(
        [sys.executable, "-m", "hpo.cli", command, str(spec_file)], capture_output=True, text=True, env={**os.environ, "COLUMNS": "200"}
    )
    assert result.returncode == 2
    assert "Traceback" not in result.stdout + result.stderr
    assert result.stderr.startswith(f"error: {spec_file}: trainer: cannot import no.such.module:train")


def test_validate_takes_a_trainer_that_overrides_the_spec(write_spec):
    spec_file = write_spec(SPEC.replace("TRAINER", "no.such.module:train"))
    result = subprocess.run(
        [sys.executable, "-m", "hpo.cli", "validate", str(spec_file), "--trainer", PLAIN],
        capture_output=True,
        text=True,
        env={**os.environ, "COLUMNS": "200"},
    )
    assert result.returncode == 0, result.stderr
    assert f"valid for {PLAIN}" in result.stdout and "declares no probe" in result.stdout


# ----------------------------------------------------------------------------- train: and the space


def test_without_a_schema_train_is_passed_through_and_the_space_paths_are_checked():
    spec = spec_from_text(SPEC.replace("TRAINER", PLAIN).replace("width: 8,", "width: 8, anything: {x: [1, 2]},"), "spec.yaml")
    assert spec.train["anything"] == {"x": [1, 2]} and spec.contract.schema is None


@pytest.mark.parametrize(
    ("space", "path", "words"),
    [
        ("  widht: {int: [4, 16]}\n", "space.widht", "unknown key 'widht' (did you mean 'width'?)"),
        ("  optim.lrr: {float: [0.001, 0.1]}\n", "space.optim.lrr", "unknown key 'lrr' (did you mean 'lr'?) in optim"),
        ("  data.root: {choice: [a, b]}\n", "space.data.root", "unknown key 'data'"),
        (
            "  optim.name:\n    choice: [sgd, adam]\n    when: {adam: {optim.beta: {float: [0.8, 0.99]}}}\n",
            "space.optim.beta",
            "unknown key 'beta'",
        ),
        ("  epochs.max: {int: [1, 3]}\n", "space.epochs.max", "epochs is a number (3)"),
    ],
    ids=["top-level", "nested", "missing-parent", "under-a-when", "into-a-number"],
)
def test_without_a_schema_a_space_path_missing_from_train_is_an_error_naming_it(space, path, words):
    error = refusal(SPEC.replace("TRAINER", PLAIN).split("space:\n")[0] + "space:\n" + space)
    assert error.path == path and words in error.message
    assert "without a config schema every searched path must be in train:" in error.message


def test_with_a_schema_train_and_every_corner_are_validated_by_it():
    ok = SPEC.replace("TRAINER", SCHEMATIC).replace(
        "train: {epochs: 3, width: 8, optim: {lr: 0.1, name: sgd, momentum: 0.0}}", "train: {epochs: 3}"
    )
    ok = ok.split("space:\n")[0] + "space:\n  width: {int: [4, 16]}\n"
    assert spec_from_text(ok, "spec.yaml").contract.schema.__name__ == "WidthConfig"  # width is not in train: the schema knows it
    typo = refusal(ok.replace("train: {epochs: 3}", "train: {epochs: 3, widht: 4}"))
    assert typo.path == "train.widht" and "did you mean 'width'" in typo.message
    corner = refusal(ok.replace("{int: [4, 16]}", "{int: [4, 128]}"))
    assert corner.path == "space.width" and "with width=128, the training config is invalid at train.width" in corner.message


# ----------------------------------------------------------------------------- train.epochs


@pytest.mark.parametrize(
    ("trainer", "epochs", "words"),
    [
        (PLAIN, None, "missing required key"),
        (PLAIN, "0", "expected a positive integer, got 0"),
        (PLAIN, "-2", "expected a positive integer, got -2"),
        (PLAIN, "2.5", "expected a positive integer, got 2.5"),
        (PLAIN, "true", "expected a positive integer, got True"),
        (PLAIN, "three", "expected a positive integer, got 'three'"),
        (DEFAULT_TRAINER, None, "missing required key"),
    ],
    ids=["missing", "zero", "negative", "float", "bool", "string", "missing-with-the-built-in-schema"],
)
def test_train_epochs_is_required_of_every_trainer(trainer, epochs, words):
    if trainer == DEFAULT_TRAINER:
        text = VALID_SPEC.replace("  epochs: 3\n", "").replace("scheduler: {type: asha, grace_period: 1, reduction_factor: 2}", "")
    else:
        value = f"epochs: {epochs}, " if epochs is not None else ""
        text = SPEC.replace("TRAINER", trainer).replace("epochs: 3, ", value)
    error = refusal(text)
    assert error.path == "train.epochs"
    assert words in error.message and "the most epochs a trial runs" in error.message


def test_a_searched_epochs_is_checked_at_its_corners_too():
    text = SPEC.replace("TRAINER", PLAIN).split("space:\n")[0] + "space:\n  epochs: {int: [0, 3]}\n"
    error = refusal(text)
    assert error.path == "space.epochs" and "positive integer, got 0" in error.message


def test_loading_a_spec_of_another_trainer_imports_nothing_of_the_built_in_one(write_spec):
    spec_file = write_spec(SPEC.replace("TRAINER", PLAIN))
    code = f"import sys; from hpo.spec.sections import load_spec; s = load_spec({str(spec_file)!r}); assert s.epochs == 3; print(sorted(m for m in sys.modules if m.split('.')[0] == 'trainers'))"
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "[]"


# ----------------------------------------------------------------------------- the search hash


def test_the_default_trainer_is_not_in_the_search_hash_another_one_is(write_spec):
    implicit = spec_from_text(VALID_SPEC, "spec.yaml")
    explicit = spec_from_text(f"trainer: {DEFAULT_TRAINER}\n" + VALID_SPEC, "spec.yaml")
    assert "trainer" not in implicit.search_definition()
    assert implicit.search_hash() == explicit.search_hash()
    standin = "tests.e2e.failing_trainer:train"  # takes the built-in's specs
    other = spec_from_text(VALID_SPEC, "spec.yaml", trainer=standin)
    assert other.search_definition()["trainer"] == standin
    assert other.search_hash() != implicit.search_hash()
    assert load_spec(write_spec(f"trainer: {standin}\n" + VALID_SPEC)).search_hash() == other.search_hash()

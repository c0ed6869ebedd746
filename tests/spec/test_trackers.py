"""hpo/spec/trackers.py: the ``log:`` section, its short form, its errors, and ``--log``."""

from __future__ import annotations

import pytest

from hpo.errors import HpoError, SpecError
from hpo.spec.sections import spec_from_text

BASE = "study: {name: t, trials: 2}\ntrain: {data: {name: digits}, epochs: 2}\n"


def log_of(section: str):
    return spec_from_text(BASE + section, "spec.yaml").log


@pytest.mark.parametrize(
    ("section", "trackers", "mlflow_uri"),
    [
        ("", [], None),
        ("log:\n", [], None),
        ("log: []\n", [], None),
        ("log: [tensorboard, mlflow]\n", ["tensorboard", "mlflow"], None),
        ("log: [wandb, tensorboard]\n", ["tensorboard", "wandb"], None),
        ("log: {tensorboard: {}}\n", ["tensorboard"], None),
        ("log: {tensorboard: }\n", ["tensorboard"], None),  # a tracker named is on
        ("log: {mlflow: {tracking_uri: 'http://127.0.0.1:5000'}}\n", ["mlflow"], "http://127.0.0.1:5000"),
    ],
)
def test_the_section_names_the_trackers_that_are_on(section, trackers, mlflow_uri):
    log = log_of(section)
    assert log.trackers == trackers
    assert (log.mlflow.tracking_uri if log.mlflow else None) == mlflow_uri


@pytest.mark.parametrize(
    ("section", "message"),
    [
        ("log: [tensorbord]\n", "spec.yaml: log.tensorbord: unknown key 'tensorbord' (did you mean 'tensorboard'?)"),
        ("log: {mlflow: {uri: x}}\n", "spec.yaml: log.mlflow.uri: unknown key 'uri' (valid: tracking_uri)"),
        ("log: {wandb: {project: x}}\n", "spec.yaml: log.wandb.project: unknown key 'project' (valid: none)"),
        (
            "log: tensorboard\n",
            "spec.yaml: log: expected a list of tracker names (tensorboard, mlflow, wandb) or a mapping of tracker to options, got 'tensorboard'",
        ),
        (
            "log: [{mlflow: {}}]\n",
            "spec.yaml: log: expected a list of tracker names (tensorboard, mlflow, wandb) or a mapping of tracker to options, got [{'mlflow': {}}]",
        ),
    ],
)
def test_a_wrong_section_is_one_line_naming_the_key(section, message):
    with pytest.raises(SpecError) as info:
        log_of(section)
    assert str(info.value) == message


def test_log_on_the_command_line_adds_trackers_and_keeps_the_spec_options():
    log = log_of("log: {mlflow: {tracking_uri: 'sqlite:///m.db'}}\n").adding(["tensorboard", "mlflow"])
    assert log.trackers == ["tensorboard", "mlflow"]
    assert log.mlflow is not None and log.mlflow.tracking_uri == "sqlite:///m.db"
    with pytest.raises(HpoError, match=r"^--log tensorbord: unknown tracker 'tensorbord' \(did you mean 'tensorboard'\?\)$"):
        log.adding(["tensorbord"])


def test_the_trackers_are_not_part_of_the_search():
    assert spec_from_text(BASE + "log: [mlflow]\n", "spec.yaml").search_hash() == spec_from_text(BASE, "spec.yaml").search_hash()

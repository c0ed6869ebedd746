"""What ``hpo run`` tells the user beside its progress: where to watch the study, and why
it ended."""

from __future__ import annotations

import pytest
from optuna.trial import TrialState

from hpo.engine.runner import dashboard_command
from hpo.study.keys import STOP_REASON_ATTR
from hpo.study.storage import open_storage
from tests.results.conftest import SPEC, STUDY, cli, make_study


@pytest.mark.parametrize(
    ("name", "url", "command"),
    [
        ("cnn", "sqlite:///studies/cnn.db", "hpo dashboard cnn"),
        ("cnn-v2", "sqlite:///studies/cnn.db", "hpo dashboard cnn-v2"),  # a new version lives in its first one's file
        ("cnn", "sqlite:///elsewhere/cnn.db", "hpo dashboard cnn --storage sqlite:///elsewhere/cnn.db"),
        ("cnn", "journal:///studies/cnn.log", "hpo dashboard cnn --storage journal:///studies/cnn.log"),
        (
            "cnn",
            "postgresql+psycopg://hpo@db:5432/hpo?sslmode=require",
            "hpo dashboard cnn --storage 'postgresql+psycopg://hpo@db:5432/hpo?sslmode=require'",
        ),
    ],
)
def test_the_dashboard_command_names_the_storage_only_when_hpo_would_not_find_it(tmp_path, monkeypatch, name, url, command):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "studies").mkdir()
    (tmp_path / "studies" / "cnn.db").touch()  # the run has created it by the time it prints the command
    assert dashboard_command(name, url) == command


def test_a_resumed_run_of_a_study_that_met_its_target_starts_nothing_and_says_why(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "studies").mkdir()
    study = make_study(open_storage(f"sqlite:///studies/{STUDY}.db"), STUDY, complete=3, pruned=2, failed=1, running=0)
    first = min(t.number for t in study.trials if t.state == TrialState.COMPLETE)  # every value is >= 0
    (tmp_path / "spec.yaml").write_text(SPEC.replace("seed: 0}", "seed: 0, target: 0.0}"))
    result = cli(capsys, monkeypatch, "run", "spec.yaml")
    reason = f"target val_acc >= 0 reached by trial {first}"
    assert result.code == 0, result.out + result.err
    assert f"met its stop rule ({reason}): no trial started" in result.out
    assert f"ended: {reason}" in result.out
    assert len(study.trials) == 6 and study.user_attrs[STOP_REASON_ATTR] == reason
    assert f"last run ended: {reason}" in cli(capsys, monkeypatch, "status", STUDY).out

"""hpo confirm's plan, its table in status and the report, and export --confirmed, on fake
studies (no Ray: runs are stored as ``hpo confirm`` stores them); bad inputs are refused with
exit code 2 and the study left as it was."""

from __future__ import annotations

from pathlib import Path

import optuna
import pytest
import yaml
from optuna.trial import TrialState, create_trial

from hpo.results.confirm import plan_confirm
from hpo.results.header import header_metric, read_header
from hpo.results.report import build_report
from hpo.results.retrain import load_train_config
from hpo.results.table import ranked_trials
from hpo.study.confirm import ConfirmRun, record_run
from tests.results.conftest import cli, make_study


def _confirm_steady_second(study: optuna.Study) -> tuple[optuna.trial.FrozenTrial, optuna.trial.FrozenTrial]:
    """Store runs where the search's #1 is noisy over seeds 1 and 2 and its #2 is steady:
    the #2 wins by the bound. Returns (search #1, search #2)."""
    first, second = ranked_trials(study)[:2]
    for seed, value in ((1, 0.99), (2, 0.70)):
        record_run(study, first.number, ConfirmRun(seed, value, 3, 1.0))
    for seed, value in ((1, 0.80), (2, 0.81)):
        record_run(study, second.number, ConfirmRun(seed, value, 3, 1.0))
    return first, second


def _refused(capsys, monkeypatch, name: str, args: list[str], message: str) -> None:
    """``hpo ARGS`` ends with exit code 2 and ``message``, and study ``name`` is as it was."""
    storage = f"sqlite:///studies/{name}.db"
    before = optuna.load_study(study_name=name, storage=storage).user_attrs
    result = cli(capsys, monkeypatch, *args)
    assert result.code == 2, result.out
    assert message in " ".join(result.err.replace("│", " ").split()) and "Traceback" not in result.err
    assert optuna.load_study(study_name=name, storage=storage).user_attrs == before
    assert not Path(f"studies/{name}/ray").exists() and not Path(f"studies/{name}/best.yaml").exists()


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["confirm", "nope", "--seeds", "1", "2"], "no study named 'nope'"),
        (["confirm", "fake", "--top", "0", "--seeds", "1", "2"], "Invalid value for '--top'"),
        (["confirm", "fake"], "--seeds (none): confirming needs at least two seeds"),
        (["confirm", "fake", "--seeds", "1"], "--seeds 1: confirming needs at least two seeds"),
        (["confirm", "fake", "--seeds", "1", "1"], "seed 1 is given twice"),
        (["confirm", "fake", "--seeds", "one", "two"], "Invalid value for '--seeds'"),
        (["export", "fake", "--confirmed"], "study fake has no confirmed trials to export: run `hpo confirm fake --seeds 1 2 3` first"),
    ],
)
def test_bad_input_is_refused_and_leaves_the_study_as_it_was(fake_study, capsys, monkeypatch, args, message):
    _refused(capsys, monkeypatch, "fake", args, message)


def test_a_study_without_a_complete_trial_or_with_several_objectives_is_refused(tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    Path("studies").mkdir()
    make_study("sqlite:///studies/empty.db", "empty", complete=0, pruned=1, failed=1, running=0)
    _refused(capsys, monkeypatch, "empty", ["confirm", "empty", "--seeds", "1", "2"], "study empty has no finished trial")
    study = optuna.create_study(study_name="multi", storage="sqlite:///studies/multi.db", directions=["maximize", "minimize"])
    study.add_trial(create_trial(state=TrialState.COMPLETE, values=[0.9, 0.1]))
    _refused(capsys, monkeypatch, "multi", ["confirm", "multi", "--seeds", "1", "2"], "study multi has 2 objectives")


def test_the_plan_runs_what_is_missing_and_keeps_what_is_stored(fake_study):
    best = ranked_trials(fake_study)[0]
    record_run(fake_study, best.number, ConfirmRun(1, 0.9, 3, 1.0))
    record_run(fake_study, best.number, ConfirmRun(3, None, 1, 1.0, "NonFiniteLossError", "nan"))  # a failure repeats: not run again
    plan = plan_confirm(fake_study, 2, [1, 2, 3])
    second = ranked_trials(fake_study)[1]
    assert [(r.trial, r.seed) for r in plan.runs] == [(best.number, 2), (second.number, 1), (second.number, 2), (second.number, 3)]
    assert plan.stored == 2
    run = plan.runs[0]
    assert run.config == {**best.user_attrs["config"], "seed": 2}  # the trial's config, its seed set as `hpo train --seeds` sets it
    assert plan.spec.resources.max_concurrent == 2 and plan.spec.metric == "val_acc"
    assert plan.notes == []


def test_the_plan_says_when_there_are_fewer_trials_than_asked_and_when_a_seed_is_the_searchs(fake_study):
    plan = plan_confirm(fake_study, 20, [0, 1])
    assert len(plan.trials) == 8 and len(plan.runs) == 16
    assert plan.notes[0] == "the study has only 8 complete trial(s), not 20: confirming those"
    assert plan.notes[1].startswith("seed 0: the search trained with it")


def test_status_shows_where_the_ranking_changed_and_a_stored_confirm_runs_nothing(fake_study, capsys, monkeypatch):
    first, second = _confirm_steady_second(fake_study)
    result = cli(capsys, monkeypatch, "status", "fake")
    assert result.code == 0, result.err
    out = " ".join(result.out.split())
    assert f"the search's #1, trial {first.number}, is #2 by the bound over its 2 seeds" in out
    assert f"the confirmed winner is trial {second.number} (the search's #2)" in out
    assert f"by the mean alone, trial {first.number} leads" in out
    assert "#1 → #2" in out and "#2 → #1" in out and "0.8450 ± 0.2051" in out
    rerun = cli(capsys, monkeypatch, "confirm", "fake", "--top", "2", "--seeds", "1", "2")
    assert rerun.code == 0, rerun.err
    assert f"confirming trials {first.number}, {second.number} over seeds 1 2: 0 run(s) to do, 4 stored already" in rerun.out
    assert not Path("studies/fake/ray").exists()  # nothing to run: no Ray


def test_export_confirmed_writes_the_winner_by_the_bound_in_exports_format(fake_study, capsys, monkeypatch):
    first, second = _confirm_steady_second(fake_study)
    result = cli(capsys, monkeypatch, "export", "fake", "--confirmed", "-o", "win.yaml")
    assert result.code == 0, result.err
    path = Path("win.yaml")
    assert yaml.safe_load(path.read_text()) == second.user_attrs["config"]
    header = read_header(path)
    assert header["trial"] == f"{second.number} (rank 2 of 8 complete trials)"
    assert header["confirmed"].startswith("#1 by the lower bound (95%) 0.7734; mean ± std 0.8050 ± 0.0071 over 2 seeds")
    assert header_metric(header) == "val_acc"  # what `hpo train` summarises
    assert load_train_config(path) == second.user_attrs["config"]
    both = cli(capsys, monkeypatch, "export", "fake", "--confirmed", "--top", "3", "-o", "c.yaml")
    assert both.code == 0 and "the study has only 2 confirmed trial(s), not 3" in both.out
    assert read_header(Path("c-2.yaml"))["trial"].startswith(f"{first.number} (rank 1 of 8")


def test_the_report_has_the_confirm_table(fake_study, tmp_path):
    first, _ = _confirm_steady_second(fake_study)
    page = build_report(fake_study, tmp_path / "none")
    assert "Confirmed over seeds" in page and f"the search&#x27;s #1, trial {first.number}, is #2 by the bound" in page

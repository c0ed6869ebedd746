"""hpo export --weights: each exported config's kept weights beside it, or a refusal that
names the trials holding weights."""

from __future__ import annotations

import io
from pathlib import Path

import optuna
from optuna.trial import TrialState

from hpo.study.summary import best_trials
from hpo.study.weights import artifact_store
from tests.results.conftest import cli


def study_with_weights(fake_study: optuna.Study, holding: dict[int, bool]) -> optuna.Study:
    """``wfake``: the fake study's complete trials; the trials of ``holding`` ranks (1 = the
    best) kept weights, their files in the store if True, dropped since if False."""
    study = optuna.create_study(study_name="wfake", storage="sqlite:///studies/wfake.db", direction="maximize")
    for key, value in fake_study.user_attrs.items():
        study.set_user_attr(key, value)
    store = artifact_store("wfake", create=True)
    ranks = {t.number: rank for rank, t in enumerate(best_trials(fake_study.trials, ("max",)), start=1)}
    for trial in fake_study.get_trials(states=(TrialState.COMPLETE,)):
        attrs = dict(trial.user_attrs)
        rank = ranks[trial.number]
        if rank in holding:
            attrs["weights"] = {"artifact_id": f"id-{rank}", "file": "model.pt"}
            if holding[rank]:
                store.write(f"id-{rank}", io.BytesIO(f"weights of rank {rank}".encode()))
        study.add_trial(
            optuna.trial.create_trial(
                params=trial.params, distributions=trial.distributions, value=trial.value,
                intermediate_values=trial.intermediate_values, user_attrs=attrs,
            )
        )  # fmt: skip
    return study


def test_export_weights_writes_each_configs_weights_beside_it(fake_study, capsys, monkeypatch):
    study_with_weights(fake_study, {1: True, 2: True})
    result = cli(capsys, monkeypatch, "export", "wfake", "--top", "2", "--weights", "-o", "out/best.yaml")
    assert result.code == 0, result.err
    for rank in (1, 2):
        assert Path(f"out/best-{rank}.yaml").is_file()
        assert Path(f"out/best-{rank}.model.pt").read_bytes() == f"weights of rank {rank}".encode()
        assert f"its weights -> out/best-{rank}.model.pt" in result.out


def test_export_weights_of_a_trial_whose_weights_were_dropped_is_refused_naming_those_held(fake_study, capsys, monkeypatch):
    study = study_with_weights(fake_study, {1: True, 2: False, 4: True})
    result = cli(capsys, monkeypatch, "export", "wfake", "--top", "2", "--weights", "-o", "out/best.yaml")
    assert result.code == 2
    ranked = best_trials(study.trials, ("max",))
    assert f"kept no weights of trial(s) {ranked[1].number} " in result.err
    held = sorted((ranked[0].number, ranked[3].number))
    assert f"the trials that hold weights: {held[0]}, {held[1]}" in result.err
    assert "Traceback" not in result.err and not Path("out").exists()  # refused before any file is written


def test_export_without_weights_writes_none(fake_study, capsys, monkeypatch):
    study_with_weights(fake_study, {1: True})
    assert cli(capsys, monkeypatch, "export", "wfake", "-o", "out/best.yaml").code == 0
    assert sorted(p.name for p in Path("out").iterdir()) == ["best.yaml"]

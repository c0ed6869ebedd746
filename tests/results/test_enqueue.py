"""``hpo enqueue``: configs checked against the stored space, all or none queued."""

from __future__ import annotations

from optuna.trial import TrialState

from hpo.study.keys import ENQUEUED_ATTR, FIXED_PARAMS_ATTR
from tests.results.conftest import cli


def waiting(study):
    return study.get_trials(states=(TrialState.WAITING,))


def test_configs_are_queued_in_order_with_their_labels(fake_study, tmp_path, capsys, monkeypatch):
    (tmp_path / "a.yaml").write_text("model.kernel_sizes: k53\noptimizer.lr: 0.01\n")
    (tmp_path / "b.yaml").write_text("batch_size: 32\n")
    result = cli(capsys, monkeypatch, "enqueue", "fake", "a.yaml", "b.yaml")
    assert result.code == 0, result.err
    assert "queued 2 config(s) in study fake" in result.out
    assert "the study has its 5 trials: raise study.trials" in result.out  # its spec asks for 5, 12 have finished
    assert [(t.system_attrs[FIXED_PARAMS_ATTR], t.user_attrs[ENQUEUED_ATTR]) for t in waiting(fake_study)] == [
        ({"model.kernel_sizes": "k53", "optimizer.lr": 0.01}, "a.yaml"),
        ({"batch_size": 32}, "b.yaml"),
    ]


def test_one_config_outside_the_space_queues_none(fake_study, tmp_path, capsys, monkeypatch):
    before = len(fake_study.get_trials())
    (tmp_path / "good.yaml").write_text("batch_size: 32\n")
    (tmp_path / "bad.yaml").write_text("optimizer.lr: 0.5\n")
    (tmp_path / "typo.yaml").write_text("optimiser.lr: 0.01\n")
    refused = cli(capsys, monkeypatch, "enqueue", "fake", "good.yaml", "bad.yaml")
    assert refused.code == 2 and "Traceback" not in refused.err
    assert "bad.yaml: optimizer.lr: a number (0.5) is outside the space; expected a number in [0.001, 0.03]" in refused.err
    typo = cli(capsys, monkeypatch, "enqueue", "fake", "typo.yaml")
    assert typo.code == 2 and "typo.yaml: optimiser.lr: not a key of the space" in typo.err and "optimizer.lr" in typo.err
    missing = cli(capsys, monkeypatch, "enqueue", "fake", "good.yaml", "nowhere.yaml")
    assert missing.code == 2 and "nowhere.yaml: no such file" in missing.err
    assert len(fake_study.get_trials()) == before and not waiting(fake_study)

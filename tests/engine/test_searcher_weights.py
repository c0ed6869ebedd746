"""The best trials' weights (hpo.study.weights), kept by the searcher as Optuna artifacts.

The test plays Ray's controller, as tests/engine/test_searcher.py does: each trial reports
its epochs, Ray hands the checkpoint of its last report (``final``), and the trial ends.
The weights are real state files; the store is the study's, under the working directory.
"""

from __future__ import annotations

import optuna
import pytest
import torch
from optuna.trial import TrialState

from hpo.checkpoint import load_state, save_state
from hpo.engine.searcher import StudySearcher
from hpo.spec.space import parse_space
from hpo.study.storage import open_storage
from hpo.study.summary import best_trials
from hpo.study.weights import artifact_dir, artifact_store, drop_beyond, enters_best, holds_weights, stored_weights

SPACE = parse_space({"optimizer.lr": {"float": [1e-4, 1e-1], "log": True}}, "t.yaml")
BASE = {"optimizer": {"name": "adam", "lr": 1e-3}, "epochs": 2}


@pytest.fixture
def make(tmp_path, monkeypatch):
    """A searcher keeping ``keep`` trials' weights, on a fresh SQLite study, in tmp_path."""
    monkeypatch.chdir(tmp_path)

    def build(keep, directions=("maximize",), objectives=()):
        storage = open_storage(f"sqlite:///{tmp_path}/weights.db")
        study = optuna.create_study(storage=storage, directions=list(directions), study_name="w")
        searcher = StudySearcher(
            study, storage, SPACE, BASE, metric="val_acc", mode="max", objectives=objectives, objective="best", target=10, keep=keep
        )
        return study, searcher

    return build


def weights_of(n: int) -> dict[str, torch.Tensor]:
    return {"fc.weight": torch.full((2, 3), float(n)), "fc.bias": torch.arange(2.0) + n}


def run_trial(searcher, tmp_path, n: int, acc: float, state: dict | None = None, **others) -> None:
    """Trial ``t<n>``: two epochs, the second reported with the state (its final checkpoint)."""
    trial_id = f"t{n}"
    searcher.suggest(trial_id)
    searcher.on_trial_result(trial_id, {"epoch": 1, "val_acc": acc / 2, **others})
    checkpoint = tmp_path / "ray" / f"trial_{trial_id}" / "checkpoint_000000"
    checkpoint.mkdir(parents=True)
    save_state(state if state is not None else {"model": weights_of(n), "optimizer": {"step": 2}, "epoch": 2}, checkpoint / "state.pt")
    last = {"epoch": 2, "val_acc": acc, "finished": True, **others}
    searcher.record_checkpoint(trial_id, str(checkpoint), 2, final=True)
    searcher.on_trial_complete(trial_id, last)
    assert not checkpoint.parent.exists()  # its checkpoints go once the weights are out


def test_the_best_keep_trials_hold_their_final_weights_and_those_pushed_out_are_dropped(make, tmp_path):
    study, searcher = make(keep=2)
    for n, acc in enumerate([0.5, 0.9, 0.7, 0.6, 0.95]):
        run_trial(searcher, tmp_path, n, acc)
    trials = study.trials
    assert all(t.state == TrialState.COMPLETE for t in trials)
    store = artifact_store("w")
    assert [t.number for t in trials if holds_weights(t, store)] == [1, 4]
    assert len(list(artifact_dir("w").iterdir())) == 2  # the disk holds `keep` models
    # trial 3 never entered the best two when it ended: nothing uploaded, nothing recorded
    assert "weights" not in trials[3].user_attrs and not optuna.artifacts.get_all_artifact_meta(trials[3], storage=study._storage)
    # 0 and 2 were kept, then pushed out: their record stays (a finished trial's cannot change), their file goes
    assert [t.number for t in trials if "weights" in t.user_attrs] == [0, 1, 2, 4]
    for number in (1, 4):
        record = stored_weights(trials[number], store)
        assert record["file"] == "model.pt"
        # the artifact Optuna records with the trial, which optuna-dashboard lists on its page
        metas = optuna.artifacts.get_all_artifact_meta(trials[number], storage=study._storage)
        assert [(m.artifact_id, m.filename) for m in metas] == [(record["artifact_id"], "model.pt")]
        path = tmp_path / f"{number}.pt"
        optuna.artifacts.download_artifact(artifact_store=store, file_path=str(path), artifact_id=record["artifact_id"])
        loaded = load_state(path)  # the model's state_dict alone: what `hpo evaluate --weights` reads
        assert loaded.keys() == {"fc.weight", "fc.bias"} and torch.equal(loaded["fc.bias"], weights_of(number)["fc.bias"])


def test_a_state_without_a_model_entry_is_kept_whole(make, tmp_path):
    study, searcher = make(keep=1)
    state = {"coef": torch.ones(3), "epoch": 2}
    run_trial(searcher, tmp_path, 0, 0.8, state=state)
    record = stored_weights(study.trials[0], artifact_store("w"))
    assert record["file"] == "state.pt"
    path = tmp_path / "state.pt"
    optuna.artifacts.download_artifact(artifact_store=artifact_store("w"), file_path=str(path), artifact_id=record["artifact_id"])
    assert torch.equal(load_state(path)["coef"], state["coef"])


def test_keep_0_keeps_no_weights(make, tmp_path):
    study, searcher = make(keep=0)
    run_trial(searcher, tmp_path, 0, 0.8)
    assert study.trials[0].state == TrialState.COMPLETE and "weights" not in study.trials[0].user_attrs
    assert not artifact_dir("w").exists()


def test_a_final_checkpoint_is_not_what_an_interrupted_trial_resumes_from(make, tmp_path):
    """The last report's checkpoint only carries weights: a run killed before the trial is
    told resumes it from its checkpoint before, which stays on disk."""
    study, searcher = make(keep=1)
    searcher.suggest("t1")
    before = tmp_path / "ray" / "trial_t1" / "checkpoint_000000"
    before.mkdir(parents=True)
    (before / "state.pt").write_bytes(b"state")
    searcher.on_trial_result("t1", {"epoch": 1, "val_acc": 0.4})
    searcher.record_checkpoint("t1", str(before), 1)
    final = before.with_name("checkpoint_000001")
    final.mkdir()
    (final / "state.pt").write_bytes(b"state")
    searcher.record_checkpoint("t1", str(final), 2, final=True)
    searcher.fail_unfinished("Interrupted", "interrupted")
    interrupted, queued = study.trials
    assert interrupted.user_attrs["checkpoint"] == {"path": str(before), "epoch": 1}
    assert queued.user_attrs["resumed_from"]["path"] == str(before) and before.exists()
    assert "weights" not in interrupted.user_attrs


def test_with_several_objectives_the_weights_kept_are_the_pareto_fronts_best_by_the_first(make, tmp_path):
    study, searcher = make(keep=2, directions=("maximize", "minimize"), objectives=("params",))
    # (val_acc, params): 0 and 1 are on the front; 2 beats 0 on both, so 0 leaves the front and its weights go
    for n, (acc, params) in enumerate([(0.8, 100.0), (0.6, 10.0), (0.85, 90.0), (0.5, 50.0)]):
        run_trial(searcher, tmp_path, n, acc, params=params)
    store = artifact_store("w")
    assert [t.number for t in study.trials if holds_weights(t, store)] == [1, 2]
    assert "weights" not in study.trials[3].user_attrs  # dominated by 1 when it ended: never uploaded


def test_enters_best_and_drop_beyond_rank_only_the_trials_whose_weights_are_in_the_store(tmp_path):
    """A trial whose file was dropped does not hold a place: the next best one behind takes it."""
    store = optuna.artifacts.FileSystemArtifactStore(tmp_path)
    trials = []
    for n, value in enumerate([0.9, 0.8, 0.7]):
        (tmp_path / f"id{n}").write_bytes(b"w")
        trials.append(complete(n, value, {"artifact_id": f"id{n}", "file": "model.pt"}))
    store.remove("id0")  # dropped earlier
    candidate = complete(3, 0.75)
    assert enters_best(candidate, trials, ("max",), 2, store)  # 0.8 and itself: 0.9 holds nothing any more
    assert not enters_best(complete(3, 0.6), trials, ("max",), 2, store)
    assert [t.number for t in drop_beyond(trials, ("max",), 1, store)] == [2]
    assert [t.number for t in best_trials(trials, ("max",)) if holds_weights(t, store)] == [1]


def complete(number: int, value: float, weights: dict | None = None) -> optuna.trial.FrozenTrial:
    trial = optuna.trial.create_trial(value=value, user_attrs={"weights": weights} if weights else {})
    trial.number = number
    return trial


def test_weights_that_cannot_be_read_cost_the_weights_never_the_trial(make, tmp_path, caplog):
    study, searcher = make(keep=1)
    searcher.suggest("t1")
    final = tmp_path / "ray" / "trial_t1" / "checkpoint_000000"
    final.mkdir(parents=True)
    (final / "state.pt").write_bytes(b"not a torch file")
    searcher.on_trial_result("t1", {"epoch": 1, "val_acc": 0.4})
    searcher.record_checkpoint("t1", str(final), 2, final=True)
    searcher.on_trial_complete("t1", {"epoch": 2, "val_acc": 0.5, "finished": True})
    trial = study.trials[0]
    assert trial.state == TrialState.COMPLETE and trial.value == 0.5 and "weights" not in trial.user_attrs
    assert "could not keep the weights of trial 0" in caplog.text
    assert not final.exists() and not list(artifact_dir("w").iterdir())

"""The searcher's records of Population Based Training's exploits, driven as Ray's
controller drives it (the scheduler's exploit, then the result it was decided on), with a
real study and checkpoint directories."""

from __future__ import annotations

from pathlib import Path

import optuna
import pytest
from optuna.trial import TrialState

from hpo.engine.checkpoints import ray_trial_directory
from hpo.engine.searcher import StudySearcher
from hpo.study.storage import open_storage
from tests.engine.test_searcher import BASE, SPACE, epoch, ray_checkpoint


def searcher_on(study: optuna.Study, target: int = 2) -> StudySearcher:
    return StudySearcher(study, study._storage, SPACE, BASE, metric="val_acc", mode="max", objective="last", target=target, clone_window=2)


@pytest.fixture
def study(tmp_path) -> optuna.Study:
    return optuna.create_study(storage=open_storage(f"sqlite:///{tmp_path}/pbt.db"), direction="maximize")


def run_epoch(searcher: StudySearcher, trial_id: str, root: Path, n: int, acc: float) -> str:
    """One epoch of a trial that checkpoints every epoch; returns its checkpoint."""
    searcher.on_trial_result(trial_id, epoch(n, acc))
    path = ray_checkpoint(root, f"trial_{trial_id}", n)
    searcher.record_checkpoint(trial_id, path, n)
    return path


LOW = {1: 0.1, 2: 0.15, 3: 0.2}  # the trial that learns nothing, epoch by epoch


@pytest.mark.parametrize(
    ("exploited_at", "copied", "curve"),
    [(1, 3, {1: 0.1, 2: 0.7, 3: 0.8, 4: 0.85}), (3, 2, {1: 0.1, 2: 0.15, 3: 0.82, 4: 0.85})],
    ids=["copied trial ahead", "copied trial behind"],
)
def test_an_exploited_trial_keeps_its_parameters_and_records_the_copy_as_one_curve(study, tmp_path, exploited_at, copied, curve):
    """Exploited after ``exploited_at`` from the top trial's checkpoint of epoch ``copied``:
    ahead, its epochs in between are the copied trial's; behind, the epochs it runs again
    replace its own."""
    searcher = searcher_on(study)
    searcher.suggest("top")
    searcher.suggest("low")
    top = [run_epoch(searcher, "top", tmp_path, n, acc) for n, acc in [(1, 0.6), (2, 0.7), (3, 0.8)]]
    for n in range(1, exploited_at + 1):
        run_epoch(searcher, "low", tmp_path, n, LOW[n])
    params = {"optimizer.lr": 0.0012}
    searcher.record_exploit("low", exploited_at, top[copied - 1], params, str(tmp_path / "ray" / "trial_low"))
    searcher.on_trial_result("low", epoch(exploited_at, LOW[exploited_at]))  # Ray hands the searcher the result after the scheduler
    record = study.trials[1]  # in the database at once: a kill from here resumes from the copy
    assert record.user_attrs["perturbations"] == [{"epoch": exploited_at, "cloned_from": 0, "from_epoch": copied, "params": params}]
    assert record.user_attrs["checkpoint"]["path"] == top[copied - 1]
    assert record.params["optimizer.lr"] != 0.0012  # Optuna's parameters: the ones it started with
    assert Path(top[copied - 1]).exists()
    assert not list((tmp_path / "ray" / "trial_low").glob("checkpoint_*")), "its own checkpoints can no longer be copied"
    for n in range(copied + 1, 4):
        run_epoch(searcher, "low", tmp_path, n, curve[n])
    searcher.on_trial_complete("low", epoch(4, 0.85, finished=True))
    record = study.trials[1]
    assert record.state == TrialState.COMPLETE and record.value == 0.85
    assert record.intermediate_values == curve
    assert [h["epoch"] for h in record.user_attrs["history"]] == [1, 2, 3, 4]
    searcher.on_trial_complete("top", epoch(4, 0.9, finished=True))
    assert not list((tmp_path / "ray").rglob("checkpoint_*")), "a finished study keeps no checkpoint"


def test_an_exploit_from_a_checkpoint_ray_hands_hpo_after_pbt_is_recorded_when_it_comes(study, tmp_path):
    """PBT copies the checkpoint of a top trial's latest result as soon as Ray has saved
    it, which may be before Ray hands it to hpo's callback: the exploit waits for it."""
    searcher = searcher_on(study)
    searcher.suggest("top")
    searcher.suggest("low")
    run_epoch(searcher, "top", tmp_path, 1, 0.6)
    searcher.on_trial_result("top", epoch(2, 0.7))
    newest = ray_checkpoint(tmp_path, "trial_top", 2)  # saved by Ray, not yet handed to hpo
    params = {"optimizer.lr": 0.0012}
    searcher.record_exploit("low", 1, newest, params, str(tmp_path / "ray" / "trial_low"))
    searcher.on_trial_result("low", epoch(1, 0.1))
    assert "perturbations" not in study.trials[1].user_attrs, "recorded only once the copied epoch is known"
    searcher.record_checkpoint("top", newest, 2)
    record = study.trials[1]
    assert record.user_attrs["perturbations"] == [{"epoch": 1, "cloned_from": 0, "from_epoch": 2, "params": params}]
    assert record.user_attrs["checkpoint"]["path"] == newest
    assert record.intermediate_values == {1: 0.1, 2: 0.7}  # the copied trial's epoch it skipped
    run_epoch(searcher, "low", tmp_path, 3, 0.8)
    searcher.on_trial_complete("low", epoch(4, 0.85, finished=True))
    record = study.trials[1]
    assert record.state == TrialState.COMPLETE
    assert record.intermediate_values == {1: 0.1, 2: 0.7, 3: 0.8, 4: 0.85}
    assert [h["epoch"] for h in record.user_attrs["history"]] == [1, 2, 3, 4]


def test_an_exploit_whose_checkpoint_never_comes_is_named_and_the_trial_keeps_its_own_record(study, tmp_path, caplog):
    searcher = searcher_on(study)
    searcher.suggest("top")
    searcher.suggest("low")
    run_epoch(searcher, "top", tmp_path, 1, 0.6)
    own = run_epoch(searcher, "low", tmp_path, 1, 0.1)
    lost = str(tmp_path / "ray" / "trial_top" / "checkpoint_000009")
    searcher.record_exploit("low", 1, lost, {"optimizer.lr": 0.0012}, str(tmp_path / "ray" / "trial_low"))
    searcher.on_trial_result("low", epoch(1, 0.1))
    with caplog.at_level("WARNING", logger="hpo.engine.searcher"):
        run_epoch(searcher, "low", tmp_path, 2, 0.2)
    assert "trial 1 was exploited from a checkpoint hpo did not record" in caplog.text
    record = study.trials[1]
    assert "perturbations" not in record.user_attrs
    assert record.intermediate_values == {1: 0.1, 2: 0.2}
    assert record.user_attrs["checkpoint"]["epoch"] == 2 and Path(own).parent.exists()


def test_an_exploited_trial_interrupted_resumes_from_the_copy_with_its_perturbed_parameters(study, tmp_path):
    searcher = searcher_on(study)
    searcher.suggest("top")
    searcher.suggest("low")
    top = [run_epoch(searcher, "top", tmp_path, n, 0.5 + n / 10) for n in (1, 2)]
    run_epoch(searcher, "low", tmp_path, 1, 0.1)
    run_epoch(searcher, "low", tmp_path, 2, 0.1)
    searcher.record_exploit("low", 2, top[1], {"optimizer.lr": 0.0012}, str(tmp_path / "ray" / "trial_low"))
    searcher.on_trial_result("low", epoch(2, 0.1))
    run_epoch(searcher, "top", tmp_path, 3, 0.8)
    assert Path(top[1]).exists(), "the exploited trial, paused, has yet to start from it"
    searcher.fail_unfinished("Interrupted", "interrupted")  # the run ends here

    again = searcher_on(study)
    again.suggest("top again")  # trial 2: the top one queued again
    resumed = again.suggest("low again")
    assert resumed["resume_from"] == top[1] and resumed["config"]["optimizer"]["lr"] == 0.0012
    assert resumed["params"]["optimizer.lr"] == 0.0012
    record = study.trials[3]
    assert record.user_attrs["perturbations"][0]["cloned_from"] == 0
    assert record.intermediate_values == {1: 0.1, 2: 0.1}  # its own, up to the copied epoch
    assert resumed["trial_number"] == 3
    run_epoch(again, "top again", tmp_path, 4, 0.85)  # the top one, resumed from its epoch 3, writes its own
    assert Path(top[1]).exists(), "the resumed trial starts from it"
    assert not (tmp_path / "ray" / "trial_low").exists(), "the exploited trial's own directory, left by the run, goes"


def test_a_checkpoint_stored_by_ray_but_not_recorded_before_a_kill_goes_with_the_trial_that_takes_over(study, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)  # the study's folder, where Ray stores trial directories by the study's numbers
    searcher = searcher_on(study)
    searcher.suggest("a")
    searcher.suggest("b")
    searcher.on_trial_result("a", epoch(1, 0.5))
    unrecorded = Path(ray_trial_directory(study.study_name, 0), "checkpoint_000000")
    unrecorded.mkdir(parents=True)
    searcher.fail_unfinished("Interrupted", "interrupted")  # killed before the searcher recorded it

    again = searcher_on(study)
    again.suggest("a again")
    again.suggest("b again")
    assert unrecorded.exists()
    run_epoch(again, "a again", tmp_path, 1, 0.5)
    assert not unrecorded.parent.exists(), "the directory the killed trial left goes"

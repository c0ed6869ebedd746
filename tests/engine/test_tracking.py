"""hpo/engine/tracking.py and loggers.py without a study: the check that a tracker is
installed, where each tracker writes, and what a trial's report sends."""

from __future__ import annotations

import subprocess
import sys
import textwrap

import pytest
from ray.tune.experiment import Trial
from ray.tune.logger import LoggerCallback

from hpo.engine.loggers import _AsStudyTrials, trainer_metrics
from hpo.engine.tracking import destinations, mlflow_tracking_uri
from hpo.spec.trackers import LogSection, MLflowLog
from tests.e2e.conftest import hpo_env

SPEC = "study: {name: untracked, trials: 2}\nscheduler: {type: none}\ntrain: {data: {name: digits}, epochs: 1}\n"

# Makes `import mlflow` fail in the process it starts in, as when the extra is not installed.
BLOCK_MLFLOW = textwrap.dedent(
    """\
    import sys

    class Blocked:
        def find_spec(self, name, path=None, target=None):
            if name == "mlflow" or name.startswith("mlflow."):
                raise ModuleNotFoundError(f"No module named {name!r}", name=name)
            return None

    sys.meta_path.insert(0, Blocked())
    """
)


def test_a_tracker_that_is_not_installed_is_one_line_and_nothing_is_stored(tmp_path):
    (tmp_path / "blocker").mkdir()
    (tmp_path / "blocker" / "sitecustomize.py").write_text(BLOCK_MLFLOW)
    (tmp_path / "spec.yaml").write_text(SPEC)
    env = hpo_env()
    env["PYTHONPATH"] = f"{tmp_path / 'blocker'}:{env['PYTHONPATH']}"
    result = subprocess.run(
        [sys.executable, "-m", "hpo.cli", "run", "spec.yaml", "--log", "mlflow"], cwd=tmp_path, env=env, capture_output=True, text=True
    )
    assert result.returncode == 2, result.stdout + result.stderr
    assert result.stderr == (
        "error: log: mlflow needs the mlflow package, which cannot be imported here (No module named 'mlflow'); "
        "install it with pip install 'hpo[mlflow]' (in a checkout of hpo: pip install '.[mlflow]')\n"
    )
    assert not (tmp_path / "studies").exists()  # refused before the study was created


def test_the_mlflow_store_is_the_spec_s_then_mlflow_s_variable_then_beside_the_study(monkeypatch):
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    assert mlflow_tracking_uri(MLflowLog(), "s") == "sqlite:///studies/s/mlflow.db"
    monkeypatch.setenv("MLFLOW_TRACKING_URI", "http://127.0.0.1:5000")
    assert mlflow_tracking_uri(MLflowLog(), "s") == "http://127.0.0.1:5000"
    assert mlflow_tracking_uri(MLflowLog(tracking_uri="sqlite:///m.db"), "s") == "sqlite:///m.db"


def test_the_run_says_where_each_tracker_writes(monkeypatch):
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    monkeypatch.setenv("WANDB_MODE", "offline")
    log = LogSection().adding(["wandb", "mlflow", "tensorboard"])
    assert destinations(log, "s") == [
        "tensorboard: one run per trial in studies/s/tensorboard/ (view: tensorboard --logdir studies/s/tensorboard)",
        "mlflow: experiment s in sqlite:///studies/s/mlflow.db, one run per trial",
        "wandb: project s, one run per trial (WANDB_MODE=offline)",
    ]
    assert destinations(LogSection(), "s") == []


@pytest.mark.parametrize(
    ("result", "sent"),
    [
        (  # an epoch: the trainer's numbers at its epoch; Ray's bookkeeping, where it ran and `finished` stay out
            {"epoch": 3, "val_acc": 0.9, "train_loss": 0.2, "finished": True, "training_iteration": 5, "time_total_s": 1.5,
             "done": False, "trial_id": "a_00000", "pid": 7, "hostname": "h", "node_id": "n", "device": "cpu", "config": {"lr": 0.1}},
            {"epoch": 3, "val_acc": 0.9, "train_loss": 0.2, "training_iteration": 3},
        ),
        ({"val_acc": 0.5, "training_iteration": 2, "note": "text"}, {"val_acc": 0.5, "training_iteration": 2}),  # no epoch: Ray's count
        ({"hpo_error_type": "ValueError", "hpo_error": "nan", "training_iteration": 2, "pid": 7}, {}),  # a trainer's error: nothing to send
    ],
)  # fmt: skip
def test_a_report_sends_the_trainer_s_numbers_at_its_epoch(result, sent):
    assert trainer_metrics(result) == sent


class Recording(LoggerCallback):
    """Stands for Ray's logger callback behind :class:`_AsStudyTrials`: what its hooks get."""

    def __init__(self) -> None:
        self.calls: list[tuple] = []

    def log_trial_start(self, trial) -> None:
        self.calls.append(("start", trial))

    def log_trial_result(self, iteration, trial, result) -> None:
        self.calls.append(("result", trial, result))

    def log_trial_end(self, trial, failed=False) -> None:
        self.calls.append(("end", trial, failed))


class Recorder(_AsStudyTrials, Recording):
    pass


def ray_trial(number: int) -> Trial:
    """A Ray trial as the searcher's proposal and the run's param_space make it."""
    config = {"config": {"optimizer": {"lr": 0.1}, "epochs": 2}, "trial_number": number, "params": {"optimizer.lr": 0.1}}
    return Trial("run_trial", config={**config, "trainer": "trainers.loop:train", "workdir": "/w", "trial_timeout_s": None}, stub=True)


def test_the_logger_sees_each_trial_as_the_study_knows_it(tmp_path):
    recorder = Recorder("s", tmp_path, per_trial=True)
    failing, fine = ray_trial(3), ray_trial(4)
    for trial in (failing, fine):
        recorder.on_trial_start(0, [], trial)
        recorder.on_trial_result(1, [], trial, {"epoch": 1, "val_acc": 0.5, "training_iteration": 1, "pid": 7, "config": trial.config})
    recorder.on_trial_result(2, [], failing, {"hpo_error_type": "ValueError", "hpo_error": "nan loss", "training_iteration": 2})
    recorder.on_trial_complete(2, [], failing)
    recorder.on_trial_complete(2, [], fine)

    view = recorder.calls[0][1]
    assert (str(view), view.trial_id, view.experiment_dir_name) == ("trial 3", failing.trial_id, "s")
    assert view.config == {"optimizer": {"lr": 0.1}, "epochs": 2}  # the training config: no trainer, workdir or number
    assert view.evaluated_params == {"optimizer.lr": 0.1}
    assert view.local_path == str(tmp_path / "trial_3")
    assert [(call[0], str(call[1]), *call[2:]) for call in recorder.calls] == [
        ("start", "trial 3"),
        ("result", "trial 3", {"epoch": 1, "val_acc": 0.5, "training_iteration": 1}),
        ("start", "trial 4"),
        ("result", "trial 4", {"epoch": 1, "val_acc": 0.5, "training_iteration": 1}),
        ("end", "trial 3", True),  # its trainer raised: the run ends as failed; the error report itself is not sent
        ("end", "trial 4", False),
    ]
    assert all(call[1] is view for call in recorder.calls if str(call[1]) == "trial 3")  # one view per trial: Ray keys its writers by it

"""Trackers end to end: one real study through ``hpo run`` sends each trial's epochs and
config to TensorBoard (the spec's ``log:``) and MLflow (``--log``), and both are read back
with the trackers' own formats: the event files as TensorBoard reads them, the MLflow
store through MLflow's client."""

from __future__ import annotations

import struct
from collections.abc import Iterator
from pathlib import Path

import pytest
from optuna.trial import TrialState
from tensorboardX.proto.event_pb2 import Event
from tensorboardX.proto.plugin_hparams_pb2 import HParamsPluginData

from tests.e2e.conftest import hpo, load_study, write_spec

pytestmark = pytest.mark.slow

SPEC = {
    "study": {"name": "tracked", "trials": 2, "seed": 0},
    "scheduler": {"type": "none"},
    "resources": {"cpus_per_trial": 1, "max_concurrent": 2},
    "log": ["tensorboard"],
    "train": {
        "data": {"name": "digits", "val_fraction": 0.2},
        "model": {"name": "cnn", "channels": [8, 16], "kernel_sizes": [3, 3], "hidden": [32]},
        "optimizer": {"name": "adam", "lr": 1.0e-3},
        "epochs": 2,
    },
    "space": {"optimizer.lr": {"float": [1.0e-4, 1.0e-1], "log": True}, "model.kernel_sizes": {"choice": {"k33": [3, 3], "k53": [5, 3]}}},
}


def events(path: Path) -> Iterator[Event]:
    """The records of a TensorBoard event file (TFRecord: length, its CRC, the event, its CRC)."""
    data = path.read_bytes()
    offset = 0
    while offset < len(data):
        (length,) = struct.unpack("<Q", data[offset : offset + 8])
        yield Event.FromString(data[offset + 12 : offset + 12 + length])
        offset += 12 + length + 4


def flattened(config: dict, prefix: str = "") -> dict[str, str]:
    """A nested config as MLflow's parameters: keys joined by /, values as text."""
    flat: dict[str, str] = {}
    for key, value in config.items():
        if isinstance(value, dict):
            flat.update(flattened(value, f"{prefix}{key}/"))
        else:
            flat[f"{prefix}{key}"] = str(value)
    return flat


def test_each_trial_s_epochs_and_config_reach_tensorboard_and_mlflow(workdir, monkeypatch):
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)  # the default store, beside the study
    run = hpo("run", str(write_spec(workdir, SPEC)), "--log", "mlflow", cwd=workdir, timeout=600)
    assert run.returncode == 0, run.stdout + run.stderr
    assert (
        "tensorboard: one run per trial in studies/tracked/tensorboard/ (view: tensorboard --logdir studies/tracked/tensorboard)"
        in run.stdout
    )
    assert "mlflow: experiment tracked in sqlite:///studies/tracked/mlflow.db, one run per trial" in run.stdout
    trials = load_study(workdir, "tracked").trials
    assert [t.state for t in trials] == [TrialState.COMPLETE] * 2

    for trial in trials:
        (events_file,) = (workdir / "studies" / "tracked" / "tensorboard" / f"trial_{trial.number}").glob("events.out.tfevents.*")
        values = {tag: {} for tag in ("ray/tune/val_acc", "ray/tune/train_loss")}
        hparams = None
        for event in events(events_file):
            for value in event.summary.value:
                if value.tag in values:
                    values[value.tag][event.step] = value.simple_value
                elif value.tag == "_hparams_/session_start_info":
                    hparams = HParamsPluginData.FromString(value.metadata.plugin_data.content).session_start_info.hparams
        assert values["ray/tune/val_acc"] == pytest.approx(trial.intermediate_values)  # one point per epoch, at its epoch
        assert set(values["ray/tune/train_loss"]) == {1, 2}
        assert hparams is not None and {name: hparams[name].WhichOneof("kind") for name in hparams} == {
            "optimizer.lr": "number_value",
            "model.kernel_sizes": "string_value",  # the label Optuna stores, as in the study
        }
        assert hparams["model.kernel_sizes"].string_value == trial.params["model.kernel_sizes"]

    from mlflow import MlflowClient

    client = MlflowClient(f"sqlite:///{workdir}/studies/tracked/mlflow.db")
    experiment = client.get_experiment_by_name("tracked")
    assert experiment is not None
    runs = {run.info.run_name: run for run in client.search_runs([experiment.experiment_id])}
    assert set(runs) == {"trial 0", "trial 1"}
    for trial in trials:
        mlflow_run = runs[f"trial {trial.number}"]
        assert mlflow_run.info.status == "FINISHED"
        assert mlflow_run.data.params == flattened(trial.user_attrs["config"])  # the training config, nothing of Ray's or hpo's
        history = client.get_metric_history(mlflow_run.info.run_id, "val_acc")
        assert {m.step: m.value for m in history} == pytest.approx(trial.intermediate_values)

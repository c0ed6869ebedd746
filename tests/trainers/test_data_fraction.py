"""train(..., data_fraction=...): each epoch trains on its share of the training split
(``scheduler.fidelity: data_fraction``), and a resumed trial still ends to the last digit."""

from __future__ import annotations

import pytest
from conftest import TIMING, Recorder, tiny_config

from hpo.contract import takes_data_fraction
from trainers.data import load_data
from trainers.loop import train


def without(reports: list[dict], keys: set[str]) -> list[dict]:
    return [{k: v for k, v in r.items() if k not in keys} for r in reports]


def train_rows(config: dict) -> int:
    import torch

    from trainers.config import validate_train_config

    return len(load_data(validate_train_config(config).data, config["seed"], torch.device("cpu"), False).train_y)


def test_the_built_in_trainer_takes_a_share_per_epoch_and_reports_the_share_it_trained_on(recorder):
    config = tiny_config(epochs=4, batch_size=32)
    n = train_rows(config)
    assert takes_data_fraction(train)
    train(config, recorder, data_fraction=(0.0001, 0.25, 0.5, 1.0))
    # at least one batch; then the share of the split, rounded to whole examples
    assert [r["data_fraction"] for r in recorder.reports] == [32 / n, round(0.25 * n) / n, round(0.5 * n) / n, 1.0]


def test_shares_of_one_train_as_a_run_without_them():
    config = tiny_config(epochs=3)
    whole, shared = Recorder(), Recorder()
    expected = train(config, whole)
    result = train(config, shared, data_fraction=(1.0, 1.0, 1.0))
    assert without(shared.reports, TIMING | {"data_fraction"}) == without(whole.reports, TIMING)
    assert result["val_acc"] == expected["val_acc"]


def test_a_smaller_share_trains_on_less_and_changes_what_the_model_learns():
    config = tiny_config(epochs=2)
    whole, shared = Recorder(), Recorder()
    train(config, whole)
    train(config, shared, data_fraction=(0.25, 1.0))
    assert shared.reports[0]["train_loss"] != whole.reports[0]["train_loss"]


@pytest.mark.parametrize("killed_after", [1, 2])
def test_a_trial_resumed_under_shares_ends_as_the_uninterrupted_one(tmp_path, killed_after):
    config = tiny_config(epochs=4)
    shares = (0.25, 0.5, 1.0, 1.0)
    (tmp_path / "whole").mkdir()
    (tmp_path / "resumed").mkdir()
    whole, resumed = Recorder(tmp_path / "whole"), Recorder(tmp_path / "resumed")
    expected = train(config, whole, data_fraction=shares)
    result = train(config, resumed, resume=whole.states[killed_after - 1], data_fraction=shares)
    assert without(resumed.reports, TIMING) == without(whole.reports[killed_after:], TIMING)
    assert result["val_acc"] == expected["val_acc"]

"""train(..., data_fraction=...) and train(..., resolution=...), the cheaper epochs of
``scheduler.fidelity``: each epoch trains on its share of the training split, or trains
and validates on images scaled to its side scale; a schedule of full epochs trains as a
run without one, and a resumed trial still ends to the last digit."""

from __future__ import annotations

import pytest
from conftest import TIMING, Recorder, synthetic_data, tiny_config

from hpo.contract import takes_data_fraction, takes_resolution
from trainers.config import validate_train_config
from trainers.data import load_data
from trainers.loop import check, evaluate, set_up, train
from trainers.resolution import scaled_size

POOLED = {"name": "cnn", "channels": [8, 16], "hidden": [16], "global_pool": True}  # takes any input size


def pooled_config(**overrides) -> dict:
    """24x24 gray images, so that a scale of 1/4 falls below the 8-pixel floor and 1/2 does not."""
    return tiny_config(**{"data": synthetic_data(shape=(1, 24, 24), size=160), "model": POOLED, "batch_size": 32, **overrides})


# keyword: (the config to train, a cheaper schedule of four epochs); the resolution one on images it can make smaller
FIDELITIES = {"data_fraction": (tiny_config, (0.25, 0.5, 1.0, 1.0)), "resolution": (pooled_config, (0.5, 2**-0.5, 1.0, 1.0))}


def without(reports: list[dict], keys: set[str]) -> list[dict]:
    return [{k: v for k, v in r.items() if k not in keys} for r in reports]


@pytest.mark.parametrize("fidelity", FIDELITIES)
def test_a_schedule_of_full_epochs_trains_as_a_run_without_one(fidelity):
    make_config, _ = FIDELITIES[fidelity]
    config = make_config(epochs=3)
    whole, full = Recorder(), Recorder()
    expected = train(config, whole)
    result = train(config, full, **{fidelity: (1.0, 1.0, 1.0)})
    assert without(full.reports, TIMING | {fidelity}) == without(whole.reports, TIMING)
    assert result["val_acc"] == expected["val_acc"]


@pytest.mark.parametrize("fidelity", FIDELITIES)
def test_a_cheaper_epoch_changes_what_the_model_learns(fidelity):
    make_config, schedule = FIDELITIES[fidelity]
    config = make_config(epochs=2)
    whole, cheaper = Recorder(), Recorder()
    train(config, whole)
    train(config, cheaper, **{fidelity: (schedule[0], 1.0)})
    assert cheaper.reports[0]["train_loss"] != whole.reports[0]["train_loss"]


@pytest.mark.parametrize("fidelity", FIDELITIES)
@pytest.mark.parametrize("killed_after", [1, 2])
def test_a_trial_resumed_under_a_schedule_ends_as_the_uninterrupted_one(tmp_path, fidelity, killed_after):
    make_config, schedule = FIDELITIES[fidelity]
    config = make_config(epochs=4)
    (tmp_path / "whole").mkdir()
    (tmp_path / "resumed").mkdir()
    whole, resumed = Recorder(tmp_path / "whole"), Recorder(tmp_path / "resumed")
    expected = train(config, whole, **{fidelity: schedule})
    result = train(config, resumed, resume=whole.states[killed_after - 1], **{fidelity: schedule})
    assert without(resumed.reports, TIMING) == without(whole.reports[killed_after:], TIMING)
    assert result["val_acc"] == expected["val_acc"]


# ----------------------------------------------------------------------------- data_fraction


def train_rows(config: dict) -> int:
    import torch

    return len(load_data(validate_train_config(config).data, config["seed"], torch.device("cpu"), False).train_y)


def test_the_built_in_trainer_takes_a_share_per_epoch_and_reports_the_share_it_trained_on(recorder):
    config = tiny_config(epochs=4, batch_size=32)
    n = train_rows(config)
    assert takes_data_fraction(train)
    train(config, recorder, data_fraction=(0.0001, 0.25, 0.5, 1.0))
    # at least one batch; then the share of the split, rounded to whole examples
    assert [r["data_fraction"] for r in recorder.reports] == [32 / n, round(0.25 * n) / n, round(0.5 * n) / n, 1.0]


# ----------------------------------------------------------------------------- resolution


def test_a_side_is_scaled_and_rounded_but_kept_at_eight_pixels_or_its_own_size():
    assert scaled_size(24, 24, 0.5) == (12, 12)
    assert scaled_size(24, 30, 0.25) == (8, 8)  # 6 and 7.5 pixels: floored
    assert scaled_size(96, 64, 3**-0.5) == (55, 37)
    assert scaled_size(6, 24, 0.5) == (6, 12)  # a side already below the floor stays as it is
    assert scaled_size(24, 24, 1.0) == (24, 24)


def test_the_built_in_trainer_takes_a_scale_per_epoch_and_reports_the_one_it_trained_at(tmp_path):
    config = pooled_config(epochs=3)
    assert takes_resolution(train) and takes_resolution(check)
    recorder = Recorder(tmp_path)
    train(config, recorder, resolution=(0.25, 0.5, 1.0))
    assert [r["resolution"] for r in recorder.reports] == [8 / 24, 0.5, 1.0]
    # validation is at the epoch's resolution: the reported loss is the weights' loss at 12x12, not at 24x24
    run = set_up(validate_train_config(config), final=False)
    run.model.load_state_dict(recorder.states[1]["model"])
    scored = [
        evaluate(run.model, run.pipeline, run.data.eval_x, run.data.eval_y, run.eval_batch_size, run.autocast, size)[0]
        for size in ((12, 12), None)
    ]
    assert recorder.reports[1]["val_loss"] == scored[0] != scored[1]


@pytest.mark.parametrize(
    ("model", "words"),
    [
        ({"name": "cnn", "channels": [8], "hidden": [16]}, "set model.global_pool: true"),
        ({"name": "lenet5"}, "global pooling"),
        ({"name": "mlp", "hidden": [16]}, "global pooling"),
        ({"name": "vit", "dim": 8, "depth": 1, "heads": 2}, "position embedding"),
    ],
)
def test_a_model_sized_for_the_full_image_fails_before_its_first_epoch_saying_what_to_change(recorder, model, words):
    config = tiny_config(model=model)
    check(config)  # at full resolution it trains
    with pytest.raises(ValueError, match=words):
        check(config, resolution=0.5)
    with pytest.raises(ValueError, match=words):
        train(config, recorder, resolution=(0.5, 1.0))
    assert recorder.reports == []
    check(config, resolution=1.0)  # a schedule of full epochs asks nothing of the model


def test_a_model_whose_feature_maps_vanish_at_the_smallest_size_fails_before_its_first_epoch(recorder):
    # convnet5's stride-3 stem and three poolings take 12x12 (half of 24x24) down to nothing
    config = pooled_config(model={"name": "convnet5", "width": 2, "hidden": 8})
    check(config, resolution=0.5)  # it pools globally: the check, which only looks, lets it through
    with pytest.raises(ValueError, match="cannot take images of 12x12 pixels, the smallest size of the resolution schedule"):
        train(config, recorder, resolution=(0.5, 1.0))
    assert recorder.reports == []
    train(config, recorder, resolution=(1.0, 1.0))  # at full size it trains
    assert len(recorder.reports) == 2


def test_values_on_smaller_images_count_neither_as_the_best_nor_against_patience(recorder):
    # synthetic patterns under pixel noise: scaled down (antialiased), the noise averages out
    config = pooled_config(epochs=4, data=synthetic_data(shape=(1, 24, 24), num_classes=4, size=160, noise=2.0))
    config["early_stopping"] = {"patience": 1}
    train(config, recorder, resolution=(0.5, 0.5, 1.0, 1.0))
    full = [r["val_acc"] for r in recorder.reports[2:]]
    assert [r["best_val_acc"] for r in recorder.reports[:2]] == [0.0, 0.0]  # no epoch at full resolution yet
    assert recorder.reports[2]["best_val_acc"] == full[0]
    # epoch 2 scored below epoch 1: were they judged, patience 1 would have stopped the run there
    assert recorder.reports[1]["val_acc"] < recorder.reports[0]["val_acc"] and len(recorder.reports) > 2

"""``scheduler.fidelity``: ASHA's rungs, the share of the data or the resolution each epoch
trains on, and the spec that asks for it (hpo.spec.fidelity)."""

from __future__ import annotations

import pytest

from hpo.errors import SpecError
from hpo.spec.dryrun import dry_run
from hpo.spec.fidelity import cost_in_epochs, data_fractions, epoch_costs, resolution_scales, rung_epochs
from hpo.spec.preflight import preflight
from hpo.spec.sections import spec_from_text
from tests.conftest import VALID_SPEC, spec_error

ASHA = "scheduler: {type: asha, grace_period: 1, reduction_factor: 2}\n"


def with_scheduler(scheduler: str, epochs: int = 3) -> str:
    assert ASHA in VALID_SPEC
    return VALID_SPEC.replace(ASHA, scheduler + "\n").replace("epochs: 3", f"epochs: {epochs}")


@pytest.mark.parametrize(
    ("grace", "eta", "max_t", "rungs"),
    [(1, 3, 6, [1, 3]), (1, 3, 9, [1, 3]), (1, 3, 10, [1, 3, 9]), (2, 2, 8, [2, 4]), (4, 3, 30, [4, 12]), (3, 3, 4, [3])],
)
def test_rungs_sit_at_grace_times_powers_of_eta_below_max_t(grace, eta, max_t, rungs):
    assert rung_epochs(grace, eta, max_t) == rungs


@pytest.mark.parametrize(
    ("grace", "eta", "epochs", "shares"),
    [
        (1, 3, 9, [1 / 9, 1 / 3, 1 / 3, 1, 1, 1, 1, 1, 1]),  # rungs 1, 3
        (1, 2, 4, [1 / 4, 1 / 2, 1, 1]),  # rungs 1, 2
        (2, 2, 8, [1 / 4, 1 / 4, 1 / 2, 1 / 2, 1, 1, 1, 1]),  # rungs 2, 4
        (3, 3, 4, [1 / 3, 1 / 3, 1 / 3, 1]),  # rung 3
    ],
)
def test_an_epoch_trains_on_one_over_eta_per_rung_at_or_after_it(grace, eta, epochs, shares):
    assert data_fractions(grace, eta, epochs) == pytest.approx(shares)


def test_data_seen_adds_the_shares_of_the_epochs_up_to_one():
    costs = epoch_costs({"data_fraction": data_fractions(1, 3, 9)})
    assert costs is not None and [cost_in_epochs(costs, epoch) for epoch in (1, 3, 9)] == pytest.approx([1 / 9, 7 / 9, 6 + 7 / 9])
    assert epoch_costs({"metric": "val_acc"}) is None  # fidelity: epochs, every epoch a full one


def test_the_side_scales_by_the_root_of_the_share_so_that_the_pixels_are_the_share():
    assert resolution_scales(1, 3, 9) == pytest.approx([1 / 3, 3**-0.5, 3**-0.5, 1, 1, 1, 1, 1, 1])  # rungs 1, 3
    assert resolution_scales(2, 2, 8) == pytest.approx([1 / 2, 1 / 2, 2**-0.5, 2**-0.5, 1, 1, 1, 1])  # rungs 2, 4
    costs = epoch_costs({"resolution": list(resolution_scales(1, 3, 9))})  # an epoch costs its pixels: the scale squared
    assert costs == pytest.approx(data_fractions(1, 3, 9))
    assert costs is not None and cost_in_epochs(costs, 3) == pytest.approx(7 / 9)


def test_data_fraction_is_read_from_the_spec_and_is_part_of_what_was_searched():
    plain = spec_from_text(with_scheduler("scheduler: {type: asha, grace_period: 1, reduction_factor: 2}", epochs=4), "s.yaml")
    shared = spec_from_text(
        with_scheduler("scheduler: {type: asha, grace_period: 1, reduction_factor: 2, fidelity: data_fraction}", epochs=4), "s.yaml"
    )
    assert plain.fidelity_schedule is None and "data_fraction" not in plain.search_definition()  # a study of before keeps its hash
    assert shared.fidelity_schedule == ("data_fraction", pytest.approx((1 / 4, 1 / 2, 1, 1)))
    assert shared.search_definition()["data_fraction"] == pytest.approx([1 / 4, 1 / 2, 1, 1])
    assert shared.search_hash() != plain.search_hash()  # the same config on less data is another value
    promoted = spec_from_text(
        with_scheduler("scheduler: {type: asha, reduction_factor: 2, promotion: true, fidelity: data_fraction}", epochs=4), "s.yaml"
    )
    assert promoted.fidelity_schedule == shared.fidelity_schedule


POOLED = "hidden: [32]}"  # the spec's cnn, made to take any input size
assert POOLED in VALID_SPEC


FULL_CNN = "model: {name: cnn, channels: [8, 16], kernel_sizes: [3, 3], dropout: 0.1, hidden: [32], global_pool: true}"


def resolution_spec(epochs: int = 4, pooled: bool = True) -> str:
    text = with_scheduler("scheduler: {type: asha, grace_period: 1, reduction_factor: 2, fidelity: resolution}", epochs=epochs)
    return text.replace(POOLED, "hidden: [32], global_pool: true}") if pooled else text


def test_resolution_is_read_from_the_spec_and_is_part_of_what_was_searched():
    plain = spec_from_text(with_scheduler("scheduler: {type: asha, grace_period: 1, reduction_factor: 2}", epochs=4), "s.yaml")
    shared = spec_from_text(
        with_scheduler("scheduler: {type: asha, grace_period: 1, reduction_factor: 2, fidelity: data_fraction}", epochs=4), "s.yaml"
    )
    smaller = spec_from_text(resolution_spec(), "s.yaml")
    assert smaller.fidelity_schedule == ("resolution", pytest.approx((1 / 2, 2**-0.5, 1, 1)))
    assert smaller.search_definition()["resolution"] == pytest.approx([1 / 2, 2**-0.5, 1, 1])
    assert "data_fraction" not in smaller.search_definition()  # one fidelity per study
    # a trial's value is its last epoch's, at full resolution, not the best of epochs scored on smaller images
    assert (smaller.study.objective, smaller.trial_objective) == ("best", "last")
    assert plain.trial_objective == shared.trial_objective == "best"
    # the same config at another resolution is another value; so is the pooled model itself
    pooled_plain = spec_from_text(resolution_spec().replace(", fidelity: resolution", ""), "s.yaml")
    assert len({plain.search_hash(), shared.search_hash(), smaller.search_hash(), pooled_plain.search_hash()}) == 4


def test_a_trainer_that_cannot_be_given_a_resolution_is_refused_naming_the_fidelity(write_spec):
    plain = (
        "trainer: tests.spec.contract_trainers:plain\n"
        "study: {name: tiny, metric: score, mode: max, trials: 4}\n"
        "scheduler: {type: asha, fidelity: resolution}\n"
        "train: {epochs: 3, lr: 0.1}\n"
        "space: {lr: {float: [0.01, 0.1]}}\n"
    )
    error = spec_error(write_spec(plain), "scheduler.fidelity", "takes no `resolution` keyword")
    assert "lower resolution" in error.message and "tests.spec.contract_trainers:plain" in error.message


@pytest.mark.parametrize(
    ("model", "words"),
    [
        ("hidden: [32]}", "set model.global_pool: true"),  # cnn flattening into a Linear sized for the full image
        ("hidden: [32], global_pool: false}", "set model.global_pool: true"),
    ],
)
def test_a_model_sized_for_the_full_image_is_refused_before_any_trial(model, words):
    spec = spec_from_text(resolution_spec(pooled=False).replace(POOLED, model), "s.yaml")
    with pytest.raises(SpecError) as caught:
        preflight(spec)
    assert caught.value.path == "scheduler.fidelity"
    assert words in caught.value.message and "scaled to 0.5 of their side" in caught.value.message
    assert "\n" not in str(caught.value)


def test_a_searched_model_that_cannot_take_smaller_images_is_named_by_its_values():
    text = (
        resolution_spec()
        .replace("space:\n", "space:\n  model.name: {choice: [resnet18, lenet5]}\n")
        .replace("  model.kernel_sizes: {choice: {k33: [3, 3], k53: [5, 3]}}\n", "")
    )
    text = text.replace(FULL_CNN, "model: {name: resnet18}")
    with pytest.raises(SpecError) as caught:
        preflight(spec_from_text(text, "s.yaml"))
    assert caught.value.path == "scheduler.fidelity"
    assert "with model.name='lenet5'" in caught.value.message and "global pooling" in caught.value.message


def test_the_dry_run_probes_each_corner_again_at_the_smallest_resolution():
    flattening = dry_run(spec_from_text(resolution_spec(pooled=False), "s.yaml"))
    assert flattening and all("scheduler.fidelity: resolution" in (r.error or "") for r in flattening)
    assert all("set model.global_pool: true" in (r.error or "") for r in flattening)
    assert all(r.parameters for r in flattening)  # measured at full size first
    assert not any(r.error for r in dry_run(spec_from_text(resolution_spec(), "s.yaml")))


def test_models_with_global_pooling_pass_the_check_at_the_smallest_resolution():
    preflight(spec_from_text(resolution_spec(), "s.yaml"))  # cnn with global_pool: true
    vgg = resolution_spec().replace(FULL_CNN, "model: {name: vgg, stages: [8, 16]}")
    preflight(spec_from_text(vgg.replace("  model.kernel_sizes: {choice: {k33: [3, 3], k53: [5, 3]}}\n", ""), "s.yaml"))
    preflight(
        spec_from_text(with_scheduler("scheduler: {type: asha, grace_period: 1, reduction_factor: 2}"), "s.yaml")
    )  # no fidelity: the flattening cnn is fine


def test_a_trainer_that_cannot_be_given_a_share_is_refused_naming_the_fidelity(write_spec):
    plain = (
        "trainer: tests.spec.contract_trainers:plain\n"
        "study: {name: tiny, metric: score, mode: max, trials: 4}\n"
        "scheduler: {type: asha, fidelity: data_fraction}\n"
        "train: {epochs: 3, lr: 0.1}\n"
        "space: {lr: {float: [0.01, 0.1]}}\n"
    )
    error = spec_error(write_spec(plain), "scheduler.fidelity", "takes no `data_fraction` keyword")
    assert "tests.spec.contract_trainers:plain" in error.message


@pytest.mark.parametrize(
    ("scheduler", "path", "words"),
    [
        ("scheduler: {type: asha, fidelity: pixels}", "scheduler.fidelity", "'epochs', 'data_fraction' or 'resolution'"),
        ("scheduler: {type: hyperband, fidelity: resolution}", "scheduler.fidelity", "fidelity"),
        ("scheduler: {type: median, fidelity: data_fraction}", "scheduler.fidelity", "fidelity"),
    ],
)
def test_an_unknown_fidelity_or_one_off_asha_is_refused_naming_its_key(write_spec, scheduler, path, words):
    spec_error(write_spec(with_scheduler(scheduler)), path, words)

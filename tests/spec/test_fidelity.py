"""``scheduler.fidelity``: ASHA's rungs, the share of the data each epoch trains on, and
the spec that asks for it (hpo.spec.fidelity)."""

from __future__ import annotations

import pytest

from hpo.spec.fidelity import data_fractions, data_seen, rung_epochs
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
    shares = data_fractions(1, 3, 9)
    assert [data_seen(shares, epoch) for epoch in (1, 3, 9)] == pytest.approx([1 / 9, 7 / 9, 6 + 7 / 9])


def test_data_fraction_is_read_from_the_spec_and_is_part_of_what_was_searched():
    plain = spec_from_text(with_scheduler("scheduler: {type: asha, grace_period: 1, reduction_factor: 2}", epochs=4), "s.yaml")
    shared = spec_from_text(
        with_scheduler("scheduler: {type: asha, grace_period: 1, reduction_factor: 2, fidelity: data_fraction}", epochs=4), "s.yaml"
    )
    assert plain.data_fractions is None and "data_fraction" not in plain.search_definition()  # a study of before keeps its hash
    assert shared.data_fractions == pytest.approx((1 / 4, 1 / 2, 1, 1))
    assert shared.search_definition()["data_fraction"] == pytest.approx([1 / 4, 1 / 2, 1, 1])
    assert shared.search_hash() != plain.search_hash()  # the same config on less data is another value
    promoted = spec_from_text(
        with_scheduler("scheduler: {type: asha, reduction_factor: 2, promotion: true, fidelity: data_fraction}", epochs=4), "s.yaml"
    )
    assert promoted.data_fractions == shared.data_fractions


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
        ("scheduler: {type: asha, fidelity: pixels}", "scheduler.fidelity", "'epochs' or 'data_fraction'"),
        ("scheduler: {type: median, fidelity: data_fraction}", "scheduler.fidelity", "fidelity"),
    ],
)
def test_an_unknown_fidelity_or_one_off_asha_is_refused_naming_its_key(write_spec, scheduler, path, words):
    spec_error(write_spec(with_scheduler(scheduler)), path, words)

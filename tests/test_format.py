"""hpo.format: one way to print each kind of number."""

from __future__ import annotations

import datetime as dt
import math

import numpy as np
import pytest

from hpo.format import (
    format_bytes,
    format_datetime,
    format_number,
    format_numbers,
    format_params,
    format_percent,
    format_seconds,
    format_spread,
    format_value,
)


@pytest.mark.parametrize(
    ("value", "text"),
    [
        (0.93124, "0.9312"),
        (3, "3"),
        (np.int64(7), "7"),
        (None, "-"),
        (math.nan, "-"),
        (np.float64(0.5), "0.5000"),
        (64.0, "64"),  # Optuna stores an integer metric as a float
        (np.float64(8.0), "8"),
        (1.0, "1"),
        (-2.0, "-2"),
        (1e20, "100000000000000000000.0000"),  # beyond WHOLE_LIMIT a float is not taken for an integer
    ],
)
def test_a_metric_value_has_four_decimals_and_a_whole_number_none(value, text):
    assert format_value(value) == text


@pytest.mark.parametrize(
    ("value", "text"),
    [
        (3.16227766e-4, "0.0003162"),
        (1e-5, "1e-05"),
        (12.5, "12.5"),
        (3.0, "3"),
        (123456, "123456"),
        (123456.0, "123456"),  # an int parameter in a table column with gaps, which pandas holds as floats
        (np.float64(64.0), "64"),
        (True, "True"),
        ("adam", "adam"),
        (None, "None"),
    ],
)
def test_a_parameter_has_four_significant_digits_and_an_integer_all_its_digits(value, text):
    assert format_number(value) == text


def test_params_durations_and_sizes():
    assert (
        format_params({"optimizer.lr": 0.001, "batch_size": 64, "optimizer.name": "sgd"})
        == "optimizer.lr=0.001, batch_size=64, optimizer.name=sgd"
    )
    assert [format_seconds(s) for s in (None, math.nan, 59.6, 61, 3723)] == ["-", "-", "1:00", "1:01", "1:02:03"]
    assert [format_bytes(n) for n in (512, 1536, 12 * 2**20, 3 * 2**30)] == ["512 B", "1.5 KiB", "12.0 MiB", "3.0 GiB"]
    assert [format_percent(f) for f in (None, math.nan, 0.6875, 0.0, 1.0)] == ["-", "-", "69%", "0%", "100%"]


def test_a_spread_over_one_seed_is_its_value():
    assert format_spread(0.93691, 0.0, 1) == "0.9369"
    assert format_spread(0.93691, 0.0123, 3) == "0.9369 ± 0.0123"
    assert format_spread(0.9528, 0.0, 2) == "0.9528 ± 0.0000"  # seeds that agree: the mean's precision
    assert format_spread(1.0, 0.0, 2) == "1 ± 0"


def test_a_moment_to_the_second():
    assert format_datetime(dt.datetime(2026, 12, 3, 6, 5, 7, 123456)) == "2026-12-03 06:05:07"
    assert format_datetime(None) == "-"


@pytest.mark.parametrize(
    ("numbers", "text"),
    [([], ""), ([3], "3"), ([0, 1, 2, 3, 4, 5, 7, 9, 10, 11], "0-5, 7, 9-11"), ([4, 2, 3, 3], "2-4")],
)
def test_trial_numbers_join_their_runs(numbers, text):
    assert format_numbers(numbers) == text

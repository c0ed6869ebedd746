"""How hpo prints numbers: a metric's value, a parameter, a duration, a size in bytes.

The live panel, ``hpo status``, the report, the exports, ``hpo train`` and ``hpo validate``
print through these, so a value reads the same wherever it appears. Integers print as
integers, also when they arrive as floats: Optuna stores every value as a float, and a
table column with a gap in it (a parameter some trials lack) turns 64 into 64.0. This
module imports nothing of hpo and nothing heavy: every part may use it.
"""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Iterable, Mapping
from numbers import Integral, Real
from typing import Any

WHOLE_LIMIT = 1e15  # floats below this hold every integer exactly; larger ones print in scientific notation


def _missing(value: Any) -> bool:
    return value is None or (isinstance(value, Real) and not isinstance(value, Integral) and math.isnan(value))


def _whole(value: Any) -> int | None:
    """``value`` as an int if it is a whole number (``64`` or ``64.0``), else None (a
    flag is not a number here: ``True`` prints as written)."""
    if isinstance(value, bool):
        return None
    if isinstance(value, Integral):
        return int(value)
    if isinstance(value, Real):
        number = float(value)
        if math.isfinite(number) and abs(number) < WHOLE_LIMIT and number.is_integer():
            return int(number)
    return None


def format_value(value: Any) -> str:
    """A metric's value, to four decimals (``0.9312``); a whole number as an integer
    (``64``, also ``1`` for an accuracy of exactly 1); ``-`` for none."""
    if _missing(value):
        return "-"
    whole = _whole(value)
    if whole is not None:
        return str(whole)
    return f"{value:.4f}"


def format_gain(value: float, than: float) -> str:
    """How far ``value`` lies from ``than``, signed: in points (hundredths, one decimal)
    when both lie in [0, 1], as accuracies do (``+2.1 points``), else the plain
    difference (``-0.0123``)."""
    if 0 <= value <= 1 and 0 <= than <= 1:
        return f"{(value - than) * 100:+.1f} points"
    return f"{value - than:+.4f}"


def format_number(value: Any) -> str:
    """A parameter or a reported number, to four significant digits (``0.0003162``,
    ``12.5``, ``1e-05``); a whole number with all its digits; a flag or a label as written."""
    whole = _whole(value)
    if whole is not None:
        return str(whole)
    if not isinstance(value, Real) or isinstance(value, bool):
        return str(value)
    return f"{value:.4g}"


def format_spread(mean: Any, std: Any, count: int) -> str:
    """The mean and standard deviation of ``count`` measurements (a config retrained over
    seeds): ``0.9312 ± 0.0041``; of a single one, its value: one seed has no spread. The
    spread has the mean's precision, so seeds that agree read ``0.9528 ± 0.0000``."""
    if count == 1:
        return format_value(mean)
    spread = format_value(std) if _whole(mean) is not None or _missing(std) else f"{std:.4f}"
    return f"{format_value(mean)} ± {spread}"


def format_datetime(moment: dt.datetime | None) -> str:
    """``2026-12-03 06:05:07``, to the second; ``-`` for none."""
    return "-" if moment is None else moment.isoformat(sep=" ", timespec="seconds")


def format_params(params: Mapping[str, Any]) -> str:
    """``optimizer.lr=0.001, batch_size=64``"""
    return ", ".join(f"{name}={format_number(value)}" for name, value in params.items())


def format_seconds(seconds: float | None) -> str:
    """A duration as ``M:SS`` or ``H:MM:SS``; ``-`` for none."""
    if _missing(seconds):
        return "-"
    assert seconds is not None
    hours, rest = divmod(int(round(seconds)), 3600)
    minutes, secs = divmod(rest, 60)
    return f"{hours}:{minutes:02d}:{secs:02d}" if hours else f"{minutes}:{secs:02d}"


def format_bytes(count: int) -> str:
    """``512 B``, ``1.5 KiB``, ``12.0 MiB``, ``3.2 GiB``."""
    value = float(count)
    for unit in ("B", "KiB", "MiB"):
        if value < 1024:
            return f"{value:.0f} {unit}" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1024
    return f"{value:.1f} GiB"


def format_percent(fraction: float | None) -> str:
    """A part of a whole as a whole percentage (``69%``); ``-`` for none."""
    if _missing(fraction):
        return "-"
    return f"{fraction:.0%}"


def format_numbers(numbers: Iterable[int]) -> str:
    """Trial numbers, runs of consecutive ones joined: ``0-5, 7, 9-15``."""
    runs: list[list[int]] = []
    for number in sorted(set(numbers)):
        if runs and number == runs[-1][-1] + 1:
            runs[-1].append(number)
        else:
            runs.append([number])
    return ", ".join(str(run[0]) if len(run) == 1 else f"{run[0]}-{run[-1]}" for run in runs)

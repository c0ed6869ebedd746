"""How hpo prints numbers: a metric's value, a parameter, a duration, a size in bytes.

The live panel, ``hpo status``, the report, the exports, ``hpo train`` and ``hpo validate``
print through these, so a value reads the same wherever it appears. Integers print as
integers. This module imports nothing of hpo and nothing heavy: every part may use it.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from numbers import Integral, Real
from typing import Any


def _missing(value: Any) -> bool:
    return value is None or (isinstance(value, Real) and not isinstance(value, Integral) and math.isnan(value))


def format_value(value: Any) -> str:
    """A metric's value, to four decimals (``0.9312``); an integer as itself; ``-`` for none."""
    if _missing(value):
        return "-"
    if isinstance(value, Integral):
        return str(value)
    return f"{value:.4f}"


def format_number(value: Any) -> str:
    """A parameter or a reported number, to four significant digits (``0.0003162``,
    ``12.5``, ``1e-05``); an integer, a flag or a label as written."""
    if isinstance(value, Integral) or not isinstance(value, Real):
        return str(value)
    return f"{value:.4g}"


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

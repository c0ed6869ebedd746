"""The comment header of an exported config: where it came from, read back by ``hpo train``.

``hpo export`` writes one ``# key: value`` line per fact above the training config::

    # study: sklearn_digits
    # trainer: examples.sklearn_trainer:train
    # trial: 6 (rank 1 of 3 complete trials)
    # val_acc: 0.955556 (max)

The header ends at the first line that is not a comment. ``hpo train`` reads the study (to
put its results under ``studies/<study>/retrain/``), the trainer to call and the metric to
summarise (the line whose value is a number and a direction). Reading it needs no Optuna.
"""

from __future__ import annotations

import re
from pathlib import Path

_LINE = re.compile(r"^#\s*(?P<key>[^:]+?):\s*(?P<value>.*?)\s*$")
_METRIC_VALUE = re.compile(r"^\S+ \((?:max|min)\)$")


def header_text(facts: dict[str, str]) -> str:
    """The header lines of ``facts``, in order."""
    return "".join(f"# {key}: {value}\n" for key, value in facts.items())


def read_header(path: Path) -> dict[str, str]:
    """The ``key: value`` lines above the config; empty for a file without a header."""
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except (OSError, UnicodeDecodeError):
        return {}
    facts: dict[str, str] = {}
    for line in lines:
        if not line.startswith("#"):
            break
        match = _LINE.match(line)
        if match:
            facts.setdefault(match.group("key"), match.group("value"))
    return facts


def header_metric(facts: dict[str, str]) -> str | None:
    """The metric the study optimised: the line ``<metric>: <value> (<max|min>)``."""
    return next((key for key, value in facts.items() if _METRIC_VALUE.match(value)), None)

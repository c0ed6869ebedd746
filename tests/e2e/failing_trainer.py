"""A trainer whose every trial raises, and which offers no check: a study of it cannot
make progress, and hpo must end the run after study.max_failures trials."""

from __future__ import annotations

MESSAGE = "every trial of this trainer fails"


def train(config, report, **kwargs):
    raise RuntimeError(MESSAGE)

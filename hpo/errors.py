"""Errors a user can fix.

Every problem with a spec, a config, a study or a command line ends as an
:class:`HpoError`. The CLI prints it as one paragraph and exits with code 2, without
a traceback (``--debug`` shows one). Anything else is a bug in hpo and keeps its
traceback.
"""

from __future__ import annotations

import re

_CONTROL = re.compile(r"[\x00-\x1f\x7f]")


class HpoError(Exception):
    """An error caused by user input, printed without a traceback (exit code 2)."""


class SpecError(HpoError):
    """A bad spec or config file: names the file, the key path and what was expected.

    Args:
        source: The file the value came from (shown by its name as given).
        path: The dotted key path, e.g. ``space.optimizer.lr``; empty for the whole file.
        message: What was expected, e.g. ``low (0.1) must be below high (0.0001)``.
    """

    def __init__(self, source: str, path: str, message: str) -> None:
        self.source = source
        self.path = path
        self.message = message
        where = f"{source}: {path}" if path else source
        super().__init__(_one_line(f"{where}: {message}"))


def _one_line(text: str) -> str:
    """A control character (a key of ``"\\n"`` in a spec) shown escaped: the error stays one line."""
    return _CONTROL.sub(lambda match: repr(match.group())[1:-1], text)

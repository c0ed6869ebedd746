"""Errors a user can fix.

Every problem with a spec, a config, a study or a command line ends as an
:class:`HpoError`. The CLI prints it as one paragraph and exits with code 2, without
a traceback (``--debug`` shows one). Anything else is a bug in hpo and keeps its
traceback.
"""

from __future__ import annotations


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
        super().__init__(f"{where}: {message}")

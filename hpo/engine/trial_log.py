"""Each trial's output in a file of its own: ``studies/<study>/trials/<number>/log.txt``.

While a trial runs, its worker process's stdout and stderr (file descriptors 1 and 2)
point at the end of the trial's log, so whatever reaches them lands there: the trainer's
prints, Python's warnings and logging, the output of C libraries and of child processes,
and the traceback of the error that ended the trial. Afterwards they point where they
pointed before, so a worker that Ray reuses for the next trial (``reuse_actors``) writes
that trial's output to that trial's log, never to this one's.

Ray Tune's ``RunConfig(log_to_file=...)`` does not do this: it swaps Python's
``sys.stdout`` only (C libraries and child processes escape it), and it names its files
by Ray's trial id in Ray's trial directory, not by the study's trial number.

The log is opened for appending: when Ray runs a trial again after its worker died, the
new attempt's output follows the first one's, each after a line saying when and where it
started. The path is the one the driver chose, under the directory ``hpo run`` ran in; it
is written on the node that runs the trial, so on a cluster it is on that node's disk
unless that directory is on a filesystem every node mounts.
"""

from __future__ import annotations

import os
import socket
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime, timezone
from pathlib import Path

STDOUT, STDERR = 1, 2


class TrialLogError(OSError):
    """The trial's log cannot be written on the node that runs it."""


@contextmanager
def trial_output(path: Path, number: int) -> Iterator[None]:
    """Send this process's stdout and stderr to the end of ``path`` until the block ends.

    Raises TrialLogError, before the trial starts, when the log cannot be opened there:
    a trial whose output would go nowhere is not run blind.
    """
    host = socket.gethostname()
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        log = os.open(path, os.O_RDWR | os.O_CREAT | os.O_APPEND, 0o644)
    except OSError as exc:
        raise TrialLogError(
            f"cannot write the trial's log {path} on {host}: {exc.strerror or exc}; every node needs the directory "
            "`hpo run` ran in at the same path, writable"
        ) from None
    started = datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M:%S")
    size = os.fstat(log).st_size
    gap = "\n" if size and os.pread(log, 1, size - 1) != b"\n" else ""  # an attempt that died mid-line
    os.write(log, f"{gap}==> trial {number} started {started} UTC on {host}, pid {os.getpid()}\n".encode())
    _flush()  # what Python holds for the old targets goes there, not into this log
    saved = [os.dup(fd) for fd in (STDOUT, STDERR)]
    try:
        for fd in (STDOUT, STDERR):
            os.dup2(log, fd)
        yield
    finally:
        _flush()
        for fd, old in zip((STDOUT, STDERR), saved):
            os.dup2(old, fd)
            os.close(old)
        os.close(log)


def _flush() -> None:
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except (AttributeError, OSError, ValueError):  # none, closed, or a stream that cannot flush
            pass

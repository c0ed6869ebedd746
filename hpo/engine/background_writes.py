"""Writes to the study that a trial need not wait for, run in order on a thread of their own.

Ray Tune's function trainables report synchronously: a trial waits at each report until
the driver has handled it, callbacks included. Recording a checkpoint in the study is
three transactions (the epochs' values, the history, the checkpoint's path): about 8 ms
with SQLite on a local disk and more with a database across the network, which every
trial paid at every epoch. Handed to :class:`BackgroundWrites`, they are written while
the trial trains on.

What stays true:

- Order. One thread runs the batches in the order they came; whoever writes on the
  driver's thread waits for them first (:meth:`BackgroundWrites.wait`).
- A bounded lag. A key (a trial) has at most one batch in flight: the next waits for it.
  So the study is at most one record behind a trial, and a driver killed while a
  checkpoint is recorded resumes the trial from the one before, as it did when the kill
  came between Ray storing the checkpoint and the driver recording it.
- What must follow a write comes after it. Each batch carries a ``then`` (deleting the
  checkpoint the new one replaces) that runs on the driver's thread once the batch is
  written, never before: the study always names a checkpoint that is on disk.
- Errors reach the driver. A batch that raised raises again on the driver's thread, when
  its key is waited for, and its ``then`` does not run.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from concurrent.futures import Future, ThreadPoolExecutor


class BackgroundWrites:
    """Batches of writes run on one thread, at most one in flight per key (a trial's number)."""

    def __init__(self) -> None:
        self._executor: ThreadPoolExecutor | None = None  # started with the first batch
        self._pending: dict[int, tuple[Future[None], Callable[[], None]]] = {}

    def submit(self, key: int, writes: Iterable[Callable[[], object]], then: Callable[[], None]) -> None:
        """Run ``writes`` in order on the writing thread, after ``key``'s batch before
        (waited for here), and ``then`` on this thread once they are done."""
        self.wait(key)
        if self._executor is None:
            self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="hpo-study-writes")
        self._pending[key] = (self._executor.submit(_run, list(writes)), then)

    def keys(self) -> list[int]:
        """The keys with a batch not yet waited for."""
        return list(self._pending)

    def done(self, key: int) -> bool:
        """Whether ``key``'s batch (if any) is written or failed: waiting for it is instant."""
        entry = self._pending.get(key)
        return entry is None or entry[0].done()

    def wait(self, key: int) -> None:
        """Wait for ``key``'s batch, then run its ``then``; raises the batch's error instead."""
        entry = self._pending.pop(key, None)
        if entry is None:
            return
        future, then = entry
        future.result()
        then()


def _run(writes: list[Callable[[], object]]) -> None:
    for write in writes:
        write()

"""Writes a trial need not wait for: run in order, one batch in flight per trial, what
follows a write only after it, and a write's error on the driver's thread."""

from __future__ import annotations

import threading

import pytest

from hpo.engine.background_writes import BackgroundWrites

WAIT_S = 10.0


def test_submit_returns_while_the_write_runs_and_then_follows_it_on_the_callers_thread():
    writes, release, done = BackgroundWrites(), threading.Event(), []
    writes.submit(0, [release.wait, lambda: done.append("write")], lambda: done.append(("then", threading.current_thread())))
    assert not writes.done(0) and done == []  # the caller went on while the write waits
    release.set()
    writes.wait(0)
    assert done == ["write", ("then", threading.current_thread())]
    assert writes.keys() == [] and writes.done(0)


def test_a_trials_next_batch_waits_for_its_last_and_batches_run_in_the_order_given():
    writes, release, order, followed = BackgroundWrites(), threading.Event(), [], []
    writes.submit(0, [release.wait, lambda: order.append("first of 0")], lambda: followed.append(0))
    writes.submit(1, [lambda: order.append("first of 1")], lambda: followed.append(1))  # another trial: not held up
    second = threading.Thread(target=writes.submit, args=(0, [lambda: order.append("second of 0")], lambda: None))
    second.start()
    second.join(0.3)
    assert second.is_alive() and order == []  # trial 0's second batch waits for its first, which waits
    release.set()
    second.join(WAIT_S)
    assert not second.is_alive() and followed == [0]  # its first was waited for, and followed
    for key in writes.keys():
        writes.wait(key)
    assert order == ["first of 0", "first of 1", "second of 0"] and followed == [0, 1]


def test_a_failed_write_raises_when_waited_for_and_what_follows_it_does_not_run():
    writes, followed = BackgroundWrites(), []

    def refused() -> None:
        raise RuntimeError("the database refused")

    writes.submit(0, [refused, lambda: followed.append("after the failure")], lambda: followed.append("then"))
    with pytest.raises(RuntimeError, match="refused"):
        writes.wait(0)
    assert followed == [] and writes.keys() == []

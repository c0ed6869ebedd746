"""The driver's heartbeat keeps beating through a failed write: a thread that stopped
would let other drivers take this live driver for dead and fail its trials."""

from __future__ import annotations

import threading

import optuna

import hpo.engine.runner


def test_a_failed_beat_is_logged_and_the_next_one_tried(monkeypatch, caplog):
    beats = []
    second = threading.Event()

    def beat(storage, study_id):
        beats.append(study_id)
        if len(beats) == 1:
            raise optuna.exceptions.StorageInternalError("database is locked")
        second.set()

    monkeypatch.setattr(hpo.engine.runner, "beat", beat)
    monkeypatch.setattr(hpo.engine.runner, "HEARTBEAT_INTERVAL_S", 0.01)
    stop = hpo.engine.runner._heartbeat(optuna.storages.InMemoryStorage(), 7)
    try:
        assert second.wait(60), "the heartbeat stopped after its first failure"
    finally:
        stop()
    assert "heartbeat not recorded: database is locked" in caplog.text

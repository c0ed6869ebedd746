"""The function every Ray trial runs: the trainer's ``train(config, report)``.

It adds where the trial ran (node, host, process, device) to each report, and turns an
exception from the trainer (a bug, a NaN loss, out of memory, a timeout) into a last
report carrying the error's class and message, so the searcher records the trial as
FAIL with its reason and the study goes on; the traceback goes to the trial's log, where
everything the trial prints goes (hpo.engine.trial_log). Ray's own error path is left for
what this function cannot catch: the worker process dying.

Checkpoints. Of a trainer that takes ``resume`` (hpo.contract), the state it hands a
report is written (:func:`hpo.checkpoint.save_state`) every ``checkpoint.every`` epochs
into the trial's staging directory, and handed to Ray with it: Ray copies it into the run's
storage (studies/<name>/ray/...) before ``tune.report`` returns, and the driver records
that copy, once whole, as the trial's checkpoint (hpo.engine.checkpoints). So the staging
file is read by nothing but Ray's copy: it is replaced atomically, as every state is, but
not synced to the disk (the copy is what a resume reads), and it is deleted once copied.
One staging directory serves the trial's every checkpoint, made and removed once.

A checkpoint costs the trial more than the writing of its state: Ray asks the trial's
actor for it in a second call after the report, and the trial waits for both. That is
some 10-20 ms whatever the model, a tenth of an epoch of a small model on small data. So
checkpoints are paced (:class:`CheckpointPacing`, ``checkpoint.max_overhead``): a due
checkpoint is left out while the time since the last one is short of what that one cost
over the share allowed. Epochs of a second or more are checkpointed every one; epochs of
a tenth of a second every few, and a kill loses at most that fraction of a second more.
Under a scheduler that pauses or copies trials (HyperBand, promotion ASHA, PBT) every
due checkpoint is written: it is where a trial resumes from.

The state of the last report (``finished``) is not needed to resume; it is checkpointed
when the study keeps its best trials' weights (``checkpoint.keep``), of any trainer that
hands one: the driver takes the weights from it (hpo.study.weights). A trial starts from
the checkpoint Ray gives back (``tune.get_checkpoint()``: Ray retries it after its worker
died) or else from the one the searcher names (``resume_from``: a trial the last run
left), loaded with ``torch.load(weights_only=True)``. Under ``fidelity: data_fraction``
(``resolution``) the trainer is also given the share of the data (the scale of an image's
side) each epoch trains on (hpo.spec.fidelity). At the time budget (``pause_at``) a
trial's next report with a state is checkpointed whatever the epoch, and the trial stops
there (:class:`TrialPaused`): the searcher queues it to resume in the next run.
"""

from __future__ import annotations

import math
import os
import socket
import tempfile
import time
import traceback
from collections.abc import Mapping
from contextlib import nullcontext
from pathlib import Path
from typing import Any

from hpo.checkpoint import load_state, save_state
from hpo.contract import FINISHED, RESUME, takes_resume
from hpo.engine.trial_log import trial_output
from hpo.spec.trainer import load_trainer
from hpo.study.keys import DEVICE, HOSTNAME, NODE_ID, NODE_IP, PID

ERROR_TYPE_KEY = "hpo_error_type"  # in a trial's last report: the trainer raised this
ERROR_KEY = "hpo_error"
PAUSED_KEY = "hpo_paused"  # in a trial's last report: it stopped at the time budget, after a checkpoint
STATE_FILE = "state.pt"  # the trainer's state, in each checkpoint directory


def reported_epoch(result: Mapping[str, Any]) -> int | None:
    """The epoch a Ray result reports: the trainer's ``epoch`` (its contract), else Ray's
    count of reports; None for a result that carries neither."""
    epoch = result.get("epoch", result.get("training_iteration"))
    return None if epoch is None else int(epoch)


class TrialTimeoutError(TimeoutError):
    """The trial ran longer than ``study.trial_timeout``."""


class TrialPaused(Exception):
    """The time budget is spent: the trial stops after the checkpoint of this report."""


def run_trial(ray_config: dict[str, Any]) -> None:
    """Ray Tune function trainable: one trial of one config."""
    from ray import tune

    train, _ = load_trainer(ray_config["trainer"], "the trial's worker")
    config = ray_config["config"]
    # Ray starts each trial in a working directory of its own; relative paths in the config
    # (data.root, weights) name files under the directory `hpo run` ran in, as for `hpo train`.
    # On another node that directory exists where the cluster shares a filesystem.
    if os.path.isdir(ray_config.get("workdir") or ""):
        os.chdir(ray_config["workdir"])
    timeout_s = ray_config.get("trial_timeout_s")
    resumable = takes_resume(train)
    every = int(ray_config.get("checkpoint_every") or 0) if resumable else 0
    pacing = CheckpointPacing(ray_config.get("checkpoint_overhead"))
    keep_weights = bool(ray_config.get("keep_weights"))
    pause_at = ray_config.get("pause_at") if every else None
    where = _where()
    started = time.monotonic()
    staging: Any = tempfile.TemporaryDirectory(prefix="hpo-checkpoint-") if every or keep_weights else nullcontext()

    def report(metrics: Mapping[str, Any], state: Mapping[str, Any] | None = None) -> None:
        device = metrics.get(DEVICE)  # the trainer knows its device better than Ray's assignment
        result = {**metrics, **where, **({DEVICE: device} if isinstance(device, str) else {})}
        epoch = reported_epoch(metrics)
        last = bool(metrics.get(FINISHED))
        pause = pause_at is not None and state is not None and not last and time.time() >= pause_at
        periodic = every and not last and (pause or (epoch is not None and epoch % every == 0 and pacing.due()))
        if state is not None and (periodic or (last and keep_weights)):
            began = time.monotonic()
            _report_with_checkpoint(result, state, Path(staging.name))
            pacing.written(time.monotonic() - began)
        else:
            tune.report(result)
        if pause:
            raise TrialPaused("paused at the time budget")
        if timeout_s is not None and time.monotonic() - started > timeout_s and not last:
            raise TrialTimeoutError(f"timeout: the trial ran longer than {timeout_s:g} s (study.trial_timeout)")

    keywords: dict[str, Any] = {}
    if ray_config.get("fidelity") is not None:  # data_fraction or resolution: the spec was refused unless the trainer takes it
        fidelity, schedule = ray_config["fidelity"]
        keywords[fidelity] = tuple(schedule)
    try:
        with trial_output(Path(ray_config["log_file"]), ray_config["trial_number"]), staging:
            try:
                if resumable:
                    keywords[RESUME] = _resume_state(ray_config.get("resume_from"))
                train(config, report, **keywords)
            except TrialPaused:
                raise
            except Exception:
                traceback.print_exc()  # into the trial's log: the record keeps only the message
                raise
    except TrialPaused:
        tune.report({PAUSED_KEY: True, **where})
    except Exception as exc:  # every trainer failure is recorded, none stops the study
        tune.report({ERROR_TYPE_KEY: type(exc).__name__, ERROR_KEY: str(exc) or repr(exc), **where})
        _release_device_memory()


class CheckpointPacing:
    """Which due checkpoints are written, so that they take at most ``max_overhead`` of
    the trial's time (None: every one). A checkpoint that took ``c`` seconds makes the
    next wait until the trial has trained ``c * (1 / max_overhead - 1)`` seconds more:
    ``c`` is then that share of the time since the last one began. Its cost is the whole
    report that carried it, as the trial waited for it."""

    def __init__(self, max_overhead: float | None) -> None:
        self._max_overhead = max_overhead
        self._due_at = -math.inf

    def due(self) -> bool:
        """Whether a checkpoint due by the epoch is to be written now."""
        return self._max_overhead is None or time.monotonic() >= self._due_at

    def written(self, seconds: float) -> None:
        """A checkpoint was written; it took ``seconds``."""
        if self._max_overhead is not None:
            self._due_at = time.monotonic() + seconds * (1 / self._max_overhead - 1)


def _report_with_checkpoint(result: dict[str, Any], state: Mapping[str, Any], staging: Path) -> None:
    """``tune.report`` with the state as a Ray checkpoint, written into ``staging``. Ray
    copies the directory into the run's storage before it returns; the file goes then."""
    from ray import tune

    path = staging / STATE_FILE
    save_state(state, path, sync=False)  # Ray's copy is what a resume reads (module doc)
    try:
        tune.report(result, checkpoint=tune.Checkpoint.from_directory(staging))
    finally:
        path.unlink(missing_ok=True)


def _resume_state(resume_from: str | None) -> dict[str, Any] | None:
    """The state to continue from: the checkpoint Ray restored (a retry of this trial),
    else the one the searcher named (a trial interrupted in an earlier run), else None."""
    from ray import tune

    checkpoint = tune.get_checkpoint()
    if checkpoint is None and resume_from:
        checkpoint = tune.Checkpoint(resume_from)
    if checkpoint is None:
        return None
    try:
        with checkpoint.as_directory() as directory:
            return load_state(Path(directory) / STATE_FILE)
    except Exception as exc:
        raise RuntimeError(f"cannot resume from the checkpoint {checkpoint.path}: {exc}") from exc


def _where() -> dict[str, Any]:
    """Where this trial runs: Ray's node, the host, this process, and the GPUs Ray gave it."""
    import ray

    context = ray.get_runtime_context()
    gpus = context.get_accelerator_ids().get("GPU", [])
    return {
        NODE_ID: context.get_node_id(),
        NODE_IP: ray.util.get_node_ip_address(),
        HOSTNAME: socket.gethostname(),
        PID: os.getpid(),
        DEVICE: f"gpu {','.join(gpus)}" if gpus else "cpu",
    }


def _release_device_memory() -> None:
    """After an out-of-memory error, give the cached blocks back before the next trial
    reuses this worker (reuse_actors)."""
    import torch

    if torch.cuda.is_available():
        torch.cuda.empty_cache()

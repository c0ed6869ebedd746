"""The function every Ray trial runs: the trainer's ``train(config, report)``.

It adds where the trial ran (node, host, process, device) to each report, and turns an
exception from the trainer (a bug, a NaN loss, out of memory, a timeout) into a last
report carrying the error's class and message, so the searcher records the trial as
FAIL with its reason and the study goes on; the traceback goes to the trial's log, where
everything the trial prints goes (hpo.engine.trial_log). Ray's own error path is left for
what this function cannot catch: the worker process dying.
"""

from __future__ import annotations

import os
import socket
import time
import traceback
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from hpo.contract import FINISHED
from hpo.engine.trial_log import trial_output
from hpo.spec.trainer import load_trainer
from hpo.study.keys import DEVICE, HOSTNAME, NODE_ID, NODE_IP, PID

ERROR_TYPE_KEY = "hpo_error_type"  # in a trial's last report: the trainer raised this
ERROR_KEY = "hpo_error"


def reported_epoch(result: Mapping[str, Any]) -> int | None:
    """The epoch a Ray result reports: the trainer's ``epoch`` (its contract), else Ray's
    count of reports; None for a result that carries neither."""
    epoch = result.get("epoch", result.get("training_iteration"))
    return None if epoch is None else int(epoch)


class TrialTimeoutError(TimeoutError):
    """The trial ran longer than ``study.trial_timeout``."""


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
    where = _where()
    started = time.monotonic()

    def report(metrics: Mapping[str, Any], state: Mapping[str, Any] | None = None) -> None:
        # the contract's report (hpo.contract.Report); states are not kept yet, so a trial restarts from epoch 1
        device = metrics.get(DEVICE)  # the trainer knows its device better than Ray's assignment
        tune.report({**metrics, **where, **({DEVICE: device} if isinstance(device, str) else {})})
        if timeout_s is not None and time.monotonic() - started > timeout_s and not metrics.get(FINISHED):
            raise TrialTimeoutError(f"timeout: the trial ran longer than {timeout_s:g} s (study.trial_timeout)")

    try:
        with trial_output(Path(ray_config["log_file"]), ray_config["trial_number"]):
            try:
                train(config, report)
            except Exception:
                traceback.print_exc()  # into the trial's log: the record keeps only the message
                raise
    except Exception as exc:  # every trainer failure is recorded, none stops the study
        tune.report({ERROR_TYPE_KEY: type(exc).__name__, ERROR_KEY: str(exc) or repr(exc), **where})
        _release_device_memory()


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

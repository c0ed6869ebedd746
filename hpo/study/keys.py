"""Every key hpo writes into a study or a trial, beside Optuna's own fields.

Writers and readers (engine, study, results, cli) name a key only through these
constants, so a stored study is read with the names it was written with. Each says what
its value holds.
"""

from __future__ import annotations

from hpo.contract import EPOCH

# ----------------------------------------------------------------------------- trial user attributes

CONFIG_ATTR = "config"  # the complete training config the trial ran: ``train:`` with its values filled in
EPOCHS_ATTR = "epochs"  # how many epochs it reported, written at its end
SECONDS_ATTR = "seconds"  # wall-clock seconds from its start to its end, written at its end
HISTORY_ATTR = "history"  # one dict per epoch reported, of the HISTORY_KEYS the trainer gave
WORKER_ATTR = "worker"  # where it ran: a dict of WORKER_KEYS and RAY_TRIAL_ID, written at its end
ERROR_TYPE_ATTR = "error_type"  # of a FAIL trial: the class of the error that ended it
ERROR_ATTR = "error"  # of a FAIL trial: the error's message
GRID_POINT_ATTR = "grid_point"  # under the grid sampler: the index of the grid point it holds
REQUEUED_FROM_ATTR = "requeued_from"  # of a queued trial: the number of the interrupted trial it runs again
BASELINE_ATTR = "baseline"  # true on the trial that runs ``train:`` as it is (and on its requeued copies)
ENQUEUED_ATTR = "enqueued"  # of a trial a user put in the queue: the file its config came from (a spec or a config)
CHECKPOINT_ATTR = "checkpoint"  # of a running or interrupted trial: its latest checkpoint, {"path": Ray's directory, "epoch": N}
PAUSED_AT_ATTR = "paused_at"  # of a trial promotion ASHA paused: the epoch of its rung (None once promoted); kept when queued again
RESUMED_FROM_ATTR = "resumed_from"  # of a trial continuing an interrupted one: {"trial": its number, "path", "epoch"}
WARM_START_ATTR = "warm_start"  # of a trial a warm start copied from an earlier version: {"study": its name, "number": its number there}
WEIGHTS_ATTR = "weights"  # of a COMPLETE trial that kept its final weights: {"artifact_id", "file"}; hpo.study.weights
PERTURBATIONS_ATTR = "perturbations"  # under PBT, each exploit: {"epoch", "cloned_from": number, "from_epoch", "params": all from there}
LOG_ATTR = "log"  # the absolute path of its log (stdout and stderr) on the machine that ran it: WORKER_ATTR's hostname

# ----------------------------------------------------------------------------- trial system attributes

DRIVER_ATTR = "hpo:driver"  # the `hpo run` process running it: host, pid, token, pid namespace, start time
OLD_GRID_POINT_ATTR = "hpo:grid_index"  # read only: GRID_POINT_ATTR as some stored studies hold it
FIXED_PARAMS_ATTR = "fixed_params"  # read only, Optuna's: the parameters ``enqueue_trial`` fixed

# ----------------------------------------------------------------------------- study attributes

SPEC_TEXT_ATTR = "spec_yaml"  # user: the text of the spec the last run ran
SPEC_SOURCE_ATTR = "spec_file"  # user: the path of that spec, as given
SEARCH_ATTR = "search_definition"  # user: what defines the search (trainer, train, space, metric(s), mode(s), objective, constraints)
TRAINER_ATTR = "trainer"  # user: the module:function the trials called; export and retrain call it too
SEARCH_HASH_ATTR = "search_hash"  # user: the hash of SEARCH_ATTR; written last, it marks the record complete
STOP_REASON_ATTR = "stop_reason"  # user: why the last run ended (its rule: target, patience, time budget, trials; or failures, interrupted)
CONFIRM_PREFIX = "confirm:"  # user, + ``<trial>:<seed>``: one run of ``hpo confirm``, that trial's config trained with that seed
HEARTBEAT_PREFIX = "hpo:heartbeat:"  # system, + a driver's token: when that driver last said it was alive

# ----------------------------------------------------------------------------- inside WORKER_ATTR

RAY_TRIAL_ID = "ray_trial_id"  # Ray's id of the trial, as in Ray's own logs and files
NODE_ID = "node_id"  # the Ray node it ran on
NODE_IP = "node_ip"  # that node's address
HOSTNAME = "hostname"  # the machine's name
PID = "pid"  # the worker process
DEVICE = "device"  # what the trainer reported (``cuda:0``), else the GPUs Ray gave it (``gpu 0``) or ``cpu``
WORKER_KEYS = (NODE_ID, NODE_IP, HOSTNAME, PID, DEVICE)  # what the trainable adds to each report

# ----------------------------------------------------------------------------- inside HISTORY_ATTR

HISTORY_KEYS = (
    *(EPOCH, "train_loss", "train_acc", "val_loss", "val_acc", "lr", "seconds", "images_per_second"),
    *("data_fraction", "resolution"),
)
"""The numbers of the built-in trainer's epoch report kept in a trial's history (and printed
by ``hpo train``); the epoch is always there, ``data_fraction`` and ``resolution`` only under
that fidelity (hpo.spec.fidelity). The searcher also keeps the study's metric and every metric the
trainer declares (hpo.contract)."""

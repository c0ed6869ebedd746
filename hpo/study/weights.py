"""The best trials' weights, kept as Optuna artifacts.

A COMPLETE trial whose trainer handed a state with its last report leaves its final
weights: the state's ``model`` entry (:data:`hpo.contract.MODEL`, a ``state_dict``) saved
alone as ``model.pt``, or the whole state as ``state.pt`` when it has no such entry. The
driver uploads the file with ``optuna.artifacts.upload_artifact`` into the study's
``FileSystemArtifactStore``, ``studies/<name>/artifacts/``, and names it in the trial's
``weights`` attribute, before it tells the trial COMPLETE: a finished trial's attributes
cannot change, and Optuna records the artifact among them. optuna-dashboard lists it on
the trial's page (and ``hpo dashboard`` serves its file).

Only the best ``checkpoint.keep`` trials that hold weights keep them, ranked as
everywhere (hpo.study.summary): the feasible COMPLETE trials by the objective, or with
several objectives the Pareto front by the first one. A trial is uploaded only if it enters
them (:func:`enters_best`); the files of those it pushes out are removed from the store
(:func:`drop_beyond`), so the store holds at most ``keep`` models. A dropped trial's records
stay (Optuna's public API cannot change a finished trial, and the dashboard still lists its
artifact): a trial holds weights while its file is in the store (:func:`holds_weights`), so
the store is the one record, which several drivers share without a second one to race on.
"""

from __future__ import annotations

import logging
import shutil
import tempfile
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

import optuna
from optuna.artifacts import FileSystemArtifactStore
from optuna.artifacts.exceptions import ArtifactNotFound
from optuna.trial import FrozenTrial, TrialState

from hpo.checkpoint import load_state, save_state
from hpo.contract import MODEL
from hpo.errors import HpoError
from hpo.study.keys import WEIGHTS_ATTR
from hpo.study.storage import study_dir
from hpo.study.summary import best_trials

ARTIFACTS_DIR = "artifacts"  # under studies/<name>/: the study's artifact store
MODEL_FILE = "model.pt"  # the state's model entry: what `hpo evaluate --weights` reads
STATE_FILE = "state.pt"  # a state without a model entry, whole: the trainer reads its own format

_log = logging.getLogger(__name__)


def artifact_dir(study_name: str) -> Path:
    """``studies/<name>/artifacts``: the study's artifact store, on the driver's machine."""
    return study_dir(study_name) / ARTIFACTS_DIR


def artifact_store(study_name: str, create: bool = False) -> FileSystemArtifactStore:
    """The study's artifact store (``create``: its folder too, for the driver that uploads)."""
    directory = artifact_dir(study_name)
    if create:
        directory.mkdir(parents=True, exist_ok=True)
    return FileSystemArtifactStore(directory)


def existing_store(study_name: str) -> FileSystemArtifactStore | None:
    """The study's artifact store if it has one; None also for a study whose name makes no
    folder under studies/ (one another tool wrote): hpo kept no weights of it."""
    try:
        directory = artifact_dir(study_name)
    except HpoError:
        return None
    return FileSystemArtifactStore(directory) if directory.is_dir() else None


def stored_weights(trial: FrozenTrial, store: FileSystemArtifactStore) -> Mapping[str, str] | None:
    """The trial's ``weights`` record (``artifact_id``, ``file``) while its file is in the
    store; None for a trial that never kept weights, or whose weights were dropped."""
    record = trial.user_attrs.get(WEIGHTS_ATTR)
    if not isinstance(record, Mapping):
        return None
    try:
        with store.open_reader(str(record["artifact_id"])):
            return record
    except ArtifactNotFound:
        return None


def holds_weights(trial: FrozenTrial, store: FileSystemArtifactStore) -> bool:
    """Whether the trial's weights are in the store."""
    return stored_weights(trial, store) is not None


def enters_best(
    candidate: FrozenTrial, trials: Iterable[FrozenTrial], modes: Sequence[str], keep: int, store: FileSystemArtifactStore
) -> bool:
    """Whether ``candidate`` (as COMPLETE, with its values) would be among the best ``keep``
    trials holding weights, beside ``trials`` (the study's others): worth uploading."""
    ahead = 0
    for trial in best_trials([*trials, candidate], modes):
        if ahead >= keep:
            return False
        if trial is candidate:
            return True
        ahead += holds_weights(trial, store)
    return False  # infeasible, or off the Pareto front


def drop_beyond(trials: Iterable[FrozenTrial], modes: Sequence[str], keep: int, store: FileSystemArtifactStore) -> list[FrozenTrial]:
    """Remove the weights of every trial beyond the best ``keep`` that hold them (a COMPLETE
    trial pushed down, or off the Pareto front); returns the trials dropped."""
    trials = list(trials)
    kept: set[int] = set()
    for trial in best_trials(trials, modes):
        if len(kept) >= keep:
            break
        if holds_weights(trial, store):
            kept.add(trial.number)
    dropped = []
    for trial in trials:
        record = trial.user_attrs.get(WEIGHTS_ATTR)
        if trial.state != TrialState.COMPLETE or trial.number in kept or not isinstance(record, Mapping):
            continue
        try:
            store.remove(str(record["artifact_id"]))
        except ArtifactNotFound:
            continue  # dropped before
        dropped.append(trial)
    return dropped


def upload_weights(trial: optuna.Trial, state_file: Path, store: FileSystemArtifactStore) -> str:
    """Upload the weights of a trainer's state file as an artifact of the (running) trial,
    and record them in its ``weights`` attribute; returns the artifact's id."""
    state = load_state(state_file)
    with tempfile.TemporaryDirectory(prefix="hpo-weights-") as directory:
        model = state.get(MODEL)
        if isinstance(model, Mapping):
            upload = Path(directory) / MODEL_FILE
            save_state(model, upload)
        else:
            upload = Path(directory) / STATE_FILE
            shutil.copyfile(state_file, upload)
        artifact_id = optuna.artifacts.upload_artifact(study_or_trial=trial, file_path=str(upload), artifact_store=store)
    trial.set_user_attr(WEIGHTS_ATTR, {"artifact_id": artifact_id, "file": upload.name})
    return artifact_id


def download_weights(record: Mapping[str, Any], store: FileSystemArtifactStore, path: Path) -> None:
    """Write a trial's stored weights (:func:`stored_weights`) to ``path``, replacing a file there."""
    path.unlink(missing_ok=True)
    optuna.artifacts.download_artifact(artifact_store=store, file_path=str(path), artifact_id=str(record["artifact_id"]))

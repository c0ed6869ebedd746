"""hpo from Python, for notebooks: run a study, open a stored one.

    import hpo

    study = hpo.run("search_spaces/quickstart.yaml")   # what `hpo run` does; returns the study
    frame = hpo.load("quickstart").trials_dataframe()  # what `hpo status` reads, as pandas

Both return an ``optuna.Study``. Importing ``hpo`` stays light: Ray, Optuna and torch are
imported only when a function is called (``hpo.cli`` starts fast because of it).
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import optuna

    from hpo.spec.sections import Spec

__all__ = ["load", "run"]


def run(
    spec: str | Path | Spec,
    *,
    trainer: str | None = None,
    address: str | None = None,
    new_version: bool = False,
    warm_start: bool = False,
    download: bool = False,
    log: Sequence[str] = (),
) -> optuna.Study:
    """Run (or resume) the study of ``spec`` until it has ``study.trials`` finished trials
    (or a stop rule fires), as ``hpo run`` does, and return it.

    Args:
        spec: A spec file, or a :class:`~hpo.spec.sections.Spec` (``load_spec``,
            ``spec_from_text``).
        trainer: ``module:function`` every trial calls; None: the one the spec names
            (``trainers.loop:train`` if it names none).
        address: A Ray cluster to join (``HOST:PORT`` or ``auto``); None: ``RAY_ADDRESS`` if
            set, else a local Ray instance, started and stopped here. A Ray already
            initialised in this process is used as it is.
        new_version: If the stored study searched another space, start ``NAME-v2`` beside it.
        warm_start: With ``new_version``: the new version begins with the earlier version's
            trials that lie in its space, as ``hpo run --new-version --warm-start``.
        download: Let the trainer fetch what its trials read (the built-in one: a missing data
            set, checksummed), here, once, before any trial; as ``hpo run --download``.
        log: Trackers to send each trial's epochs and config to (``tensorboard``, ``mlflow``,
            ``wandb``), beside those the spec's ``log:`` names; as ``hpo run --log``.

    Returns:
        The study, loaded from its storage once the run has ended; its user attribute
        ``stop_reason`` says why (a stop rule, the time budget, or its trials). A study that
        already met its ``study.target`` or ``study.patience`` runs no trial.

    Raises:
        hpo.errors.HpoError: The spec, the trainer's check, a tracker that is not installed,
            the storage or the cluster refused the run before any trial; or ``study.max_failures`` trials in a row
            failed (the message says why; running again continues the study).
        KeyboardInterrupt: The run was interrupted; its running trials were recorded as
            failed, and running again resumes the study.
    """
    from hpo.engine.runner import run_study
    from hpo.errors import HpoError
    from hpo.spec.sections import Spec, load_spec, spec_from_text
    from hpo.study.locate import load_existing_study

    if not isinstance(spec, Spec):
        spec = load_spec(spec, trainer)
    elif trainer is not None and trainer != spec.trainer:
        spec = spec_from_text(spec.text, spec.source, trainer)  # judged again by that trainer's contract
    outcome = run_study(spec, address=address, new_version=new_version, warm_start=warm_start, download=download, log=log)
    if outcome.interrupted:
        raise KeyboardInterrupt(f"study {outcome.study_name}: interrupted; its running trials were recorded as failed and queued again")
    if outcome.failures:
        raise HpoError(f"study {outcome.study_name} stopped: {outcome.failures}\nfix the cause, then run it again to continue the study")
    return load_existing_study(outcome.study_name, outcome.storage_url)


def load(study: str | Path | Spec, storage: str | None = None) -> optuna.Study:
    """Open a stored study to read it (nothing is created), as ``hpo status`` finds it.

    Args:
        study: A study name (looked up in ``studies/<name>.db``, a ``name-v2`` in its first
            version's file), a spec file, or a :class:`~hpo.spec.sections.Spec` (its
            ``study.name`` and ``study.storage``).
        storage: The storage URL of a study stored elsewhere (PostgreSQL, a journal file).

    Raises:
        hpo.errors.HpoError: No such study, or a storage that cannot be read.
    """
    from hpo.spec.sections import Spec
    from hpo.study.locate import load_existing_study
    from hpo.study.storage import default_storage_url

    if isinstance(study, Spec):
        return load_existing_study(study.study.name, storage or study.study.storage or default_storage_url(study.study.name))
    return load_existing_study(str(study), storage)

"""Every study in a storage, in numbers: ``hpo list``.

Read through Optuna's public API only (the study names of a storage, then each study's
trials), so it works on SQLite, PostgreSQL and the journal alike. With no storage named,
the storages are hpo's default ones: each ``studies/*.db`` (one file may hold several
studies: ``name-v2`` lives in ``name.db``).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

import optuna
from optuna.trial import FrozenTrial

from hpo.study.storage import STUDIES_DIR, default_storage_url, open_storage
from hpo.study.summary import Tally, study_modes


@dataclass(frozen=True)
class StudyEntry:
    """One study of a storage: its counts and best trial, and when a trial last started or ended."""

    name: str
    storage: str
    tally: Tally
    last_activity: dt.datetime | None


def default_storages() -> list[str]:
    """The URLs of the study databases under studies/, by name."""
    if not STUDIES_DIR.is_dir():
        return []
    return [default_storage_url(path.stem) for path in sorted(STUDIES_DIR.glob("*.db"))]


def list_studies(url: str) -> list[StudyEntry]:
    """Every study stored at ``url``, by name (an HpoError if it holds no study database)."""
    storage = open_storage(url, create=False)
    entries = []
    for name in sorted(optuna.study.get_all_study_names(storage)):
        study = optuna.load_study(study_name=name, storage=storage)
        trials = study.get_trials(deepcopy=False)
        entries.append(StudyEntry(name, url, Tally.from_trials(trials, len(trials), study_modes(study)), last_activity(trials)))
    return entries


def last_activity(trials: list[FrozenTrial]) -> dt.datetime | None:
    """The latest start or end of any trial; None for a study without trials."""
    moments = [moment for t in trials for moment in (t.datetime_start, t.datetime_complete) if moment is not None]
    return max(moments, default=None)

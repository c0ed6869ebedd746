"""``hpo delete``: remove a study from its storage, never one a driver still runs.

A driver that is alive (hpo.study.records.live_drivers: its process on this machine, else
its heartbeat) would go on writing trials into a study that no longer exists, and fail:
the deletion is refused, naming the driver. A driver that died leaves nothing that needs
the study, so its study may go.

The study's folder, ``studies/<name>/`` (exported configs, reports, retrained models,
Ray's logs), is not part of the database and is worth keeping: a retrained model cost
hours and an exported config trains without its study. It is not left where it is,
though: a new study of the same name would take the old study's retrained models for
its own (the report lists every run under ``studies/<name>/retrain/``). It is renamed
``studies/<name>.deleted-<time>/``, kept whole, for the user to keep or remove.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from pathlib import Path

import optuna

from hpo.errors import HpoError
from hpo.study.locate import Located
from hpo.study.records import Driver
from hpo.study.storage import study_dir


@dataclass(frozen=True)
class Deleted:
    name: str
    url: str
    trials: int
    folder: Path | None  # where studies/<name>/ was moved, if it existed


def check_no_live_driver(located: Located) -> None:
    """Refuse (HpoError) while a driver may still be running the study."""
    alive = located.live_drivers()
    if alive:
        name = located.study.study_name
        raise HpoError(
            f"study {name} in {located.url} is still being run by {', '.join(describe(d) for d in alive)}; "
            f"stop that `hpo run` first (Ctrl-C), then delete the study. Nothing was deleted."
        )


def describe(driver: Driver) -> str:
    """``the driver on host h, pid 123``; a driver no trial names yet is known by its heartbeat only."""
    if driver.pid < 0:
        return f"a driver whose heartbeat is fresh (token {driver.token}; no trial names its host yet)"
    return f"the driver on host {driver.host}, pid {driver.pid}"


def delete_study(located: Located, *, now: dt.datetime | None = None) -> Deleted:
    """Delete the study from its storage (after :func:`check_no_live_driver`), then move
    its folder aside (see module doc)."""
    name = located.study.study_name
    check_no_live_driver(located)
    trials = len(located.study.get_trials(deepcopy=False))
    optuna.delete_study(study_name=name, storage=located.storage)
    return Deleted(name, located.url, trials, _set_aside(name, now or dt.datetime.now()))


def _set_aside(name: str, now: dt.datetime) -> Path | None:
    try:
        folder = study_dir(name)
    except HpoError:  # a name that cannot name a folder under studies/ has none
        return None
    if not folder.is_dir():
        return None
    aside = folder.with_name(f"{name}.deleted-{now:%Y%m%d-%H%M%S}")
    folder.rename(aside)
    return aside

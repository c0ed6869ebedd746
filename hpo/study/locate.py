"""Find a study from what a user types: a study name, a spec file, or a name and --storage."""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from hpo.errors import HpoError
from hpo.study.storage import STUDIES_DIR, default_storage_url, open_storage

if TYPE_CHECKING:
    import optuna

    from hpo.study.records import Driver

_VERSIONED = re.compile(r"^(?P<base>.+)-v\d+$")


def resolve_study(target: str, storage: str | None = None) -> tuple[str, str]:
    """Return (study name, storage URL) for ``target``.

    ``target`` is a spec file (its study name and storage), or a study name looked up
    in ``storage`` if given, else in ``studies/<name>.db`` (a versioned ``name-v2``
    lives in its first version's file).
    """
    path = Path(target)
    if path.suffix in (".yaml", ".yml"):
        from hpo.spec.sections import load_study_section

        study = load_study_section(path)
        return study.name, study.storage or default_storage_url(study.name)
    if storage:
        return target, storage
    candidates = [target]
    match = _VERSIONED.match(target)
    if match:
        candidates.append(match.group("base"))
    for name in candidates:
        if (STUDIES_DIR / f"{name}.db").is_file():
            return target, default_storage_url(name)
    known = sorted(p.stem for p in STUDIES_DIR.glob("*.db")) if STUDIES_DIR.is_dir() else []
    hint = f" (studies there: {', '.join(known)})" if known else ""
    raise HpoError(
        f"no study named {target!r} in {STUDIES_DIR}/{hint}; give a study name, a spec file, or --storage URL for a study stored elsewhere"
    )


@dataclass
class Located:
    """A stored study with the storage it was read from, for work that goes beyond the
    Study API: reading drivers' heartbeats, deleting the study."""

    study: optuna.Study
    storage: optuna.storages.BaseStorage
    url: str

    def live_drivers(self) -> list[Driver]:
        """The drivers that may still be running this study (hpo.study.records.live_drivers)."""
        from hpo.study.records import live_drivers

        study_id = self.storage.get_study_id_from_name(self.study.study_name)
        return live_drivers(self.storage, study_id, self.study.get_trials(deepcopy=False))


def locate_study(target: str, storage: str | None = None) -> Located:
    """Open the study ``target`` names (see :func:`resolve_study`); nothing is created."""
    import optuna

    name, url = resolve_study(target, storage)
    rdb = open_storage(url, create=False)
    try:
        return Located(optuna.load_study(study_name=name, storage=rdb), rdb, url)
    except KeyError:
        names = [s.study_name for s in optuna.get_all_study_summaries(rdb)]
        raise HpoError(f"no study named {name!r} in {url} (studies there: {', '.join(names) or 'none'})") from None


def load_existing_study(target: str, storage: str | None = None) -> optuna.Study:
    """Load the study ``target`` names, read-only use (nothing is created)."""
    return locate_study(target, storage).study

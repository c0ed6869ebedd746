"""Study versioning: a study remembers the spec it searched and refuses another search.

The spec's text, its trainer and the hash of what defines the search (trainer, train,
space, every metric and mode, objective, constraints; see
:meth:`hpo.spec.sections.Spec.search_definition`) are stored as study user attributes. A
study of several metrics is created with one Optuna direction per metric. Running a spec whose search differs
from the stored one under the same name is refused with the difference shown;
``--new-version`` opens ``name-v2`` (``-v3``, ...) beside it instead. Changing only
``study.trials``, the time budget, resources or the sampler resumes the same study.

With ``warm_start`` a new version begins with the trials of the version before it that lie
in its space (hpo.study.warmstart). Which ones is settled before the new version is
created: a warm start that cannot take a single trial is refused with nothing written.

Two drivers may open a new study at the same moment (a shared database). Only the one
whose ``create_study`` succeeds sets it up: its warm start, its baseline and ``enqueue:``
configs (hpo.study.queue), then the search hash, last, which marks the study complete. The
other waits up to :data:`CREATOR_GRACE_S` for that mark and then joins the study as it is,
queueing nothing; a study still unmarked after that lost its creator, and is adopted:
set up again from where it stopped.
"""

from __future__ import annotations

import difflib
import json
import time

import optuna
import yaml
from rich.console import Console

from hpo.errors import HpoError
from hpo.spec.sections import Spec
from hpo.study.keys import SEARCH_ATTR, SEARCH_HASH_ATTR, SPEC_SOURCE_ATTR, SPEC_TEXT_ATTR, TRAINER_ATTR
from hpo.study.queue import enqueue_from_spec
from hpo.study.records import is_warm_start
from hpo.study.summary import direction_of
from hpo.study.warmstart import add_warm_trials, plan_warm_start

CREATOR_GRACE_S = 10.0  # how long a driver waits for another one to finish creating a study


def open_study_for_spec(
    spec: Spec,
    storage: optuna.storages.BaseStorage,
    sampler: optuna.samplers.BaseSampler,
    *,
    new_version: bool,
    console: Console,
    warm_start: bool = False,
) -> optuna.Study:
    """Create the study, or load it if it holds the same search (see module doc)."""
    name = spec.study.name
    version = 1
    earlier: optuna.Study | None = None  # the version before the one opened
    while True:
        existing = _load(name, storage, sampler)
        if existing is None or existing.user_attrs.get(SEARCH_HASH_ATTR) == spec.search_hash():
            break
        if SEARCH_HASH_ATTR not in existing.user_attrs and all(is_warm_start(t) for t in existing.get_trials(deepcopy=False)):
            break  # a driver died right after creating it (and copying its warm start), before recording its search
        if not new_version:
            raise HpoError(
                f"{spec.source}: study {name!r} in {_url(storage)} searched a different space; "
                f"running this spec would mix incomparable trials. What changed:\n"
                f"{_difference(existing.user_attrs.get(SEARCH_ATTR, {}), spec.search_definition())}\n"
                f"Run with --new-version to start {spec.study.name}-v{version + 1} beside it, "
                f"or give the spec another study.name."
            )
        version += 1
        name = f"{spec.study.name}-v{version}"
        earlier = existing
    plan = None
    if warm_start and (existing is None or SEARCH_HASH_ATTR not in existing.user_attrs):
        if earlier is None:
            raise HpoError(
                f"{spec.source}: warm start: study {name!r} has no earlier version in {_url(storage)} to begin with; a warm "
                "start seeds a new version (hpo run --new-version) with the trials of the one before it. Run without "
                "--warm-start (and without study.warm_start) to start this study cold."
            )
        plan = plan_warm_start(earlier, spec, name)  # before anything is written: a refusal leaves no new version
    study, created = (existing, False) if existing is not None else _create(name, storage, sampler, spec)
    if created or SEARCH_HASH_ATTR not in _await_creator(study):
        console.print(f"created study {name} in {_url(storage)}", highlight=False)
        if plan is not None:
            add_warm_trials(study, plan, spec)
            console.print(plan.summary(), highlight=False)
        for line in enqueue_from_spec(study, spec):
            console.print(line, highlight=False)
        study.set_user_attr(SEARCH_ATTR, spec.search_definition())
        study.set_user_attr(SEARCH_HASH_ATTR, spec.search_hash())  # last: it marks the record complete
    else:
        console.print(f"resuming study {name} in {_url(storage)}", highlight=False)
    study.set_user_attr(SPEC_TEXT_ATTR, spec.text)
    study.set_user_attr(SPEC_SOURCE_ATTR, spec.source)
    study.set_user_attr(TRAINER_ATTR, spec.trainer)
    return study


def _create(name: str, storage: optuna.storages.BaseStorage, sampler: optuna.samplers.BaseSampler, spec: Spec) -> tuple[optuna.Study, bool]:
    """The new study and True; or, when another driver created it a moment before, that
    one and False (the storage refuses a second study of one name: one driver creates)."""
    directions = [direction_of(mode) for mode in spec.modes]
    try:
        return optuna.create_study(study_name=name, storage=storage, sampler=sampler, directions=directions), True
    except optuna.exceptions.DuplicatedStudyError:
        loaded = _load(name, storage, sampler)
        assert loaded is not None, "a study is never deleted by a driver"
        return loaded, False


def _await_creator(study: optuna.Study) -> dict:
    """The study's user attributes once its creator has marked it complete (the search
    hash), or after :data:`CREATOR_GRACE_S` without it: then its creator is gone."""
    deadline = time.monotonic() + CREATOR_GRACE_S
    while True:
        attrs = study.user_attrs  # read from the storage on each access
        if SEARCH_HASH_ATTR in attrs or time.monotonic() >= deadline:
            return attrs
        time.sleep(0.2)


def _load(name: str, storage: optuna.storages.BaseStorage, sampler: optuna.samplers.BaseSampler) -> optuna.Study | None:
    try:
        return optuna.load_study(study_name=name, storage=storage, sampler=sampler)
    except KeyError:
        return None


def _url(storage: optuna.storages.BaseStorage) -> str:
    return getattr(storage, "url", type(storage).__name__)


def _difference(stored: dict, new: dict) -> str:
    before = yaml.safe_dump(json.loads(json.dumps(stored, default=str)), sort_keys=True).splitlines()
    after = yaml.safe_dump(json.loads(json.dumps(new, default=str)), sort_keys=True).splitlines()
    lines = difflib.unified_diff(before, after, "stored study", "this spec", lineterm="", n=1)
    return "\n".join(lines)

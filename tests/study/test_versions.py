"""Study versioning: a study remembers its search, a changed one is refused."""

from __future__ import annotations

import optuna
import pytest
from rich.console import Console

from hpo.errors import HpoError
from hpo.spec.sections import spec_from_text
from hpo.study.keys import SEARCH_HASH_ATTR
from hpo.study.versions import open_study_for_spec
from tests.conftest import VALID_SPEC


def open_study(storage, text=VALID_SPEC, new_version=False):
    spec = spec_from_text(text, "s.yaml")
    return open_study_for_spec(spec, storage, optuna.samplers.RandomSampler(), new_version=new_version, console=Console(quiet=True))


def test_study_created_by_a_driver_that_died_before_recording_its_search_is_adopted(tmp_path):
    storage = f"sqlite:///{tmp_path}/s.db"
    optuna.create_study(study_name="tiny", storage=storage)  # the crash came right after this
    study = open_study(storage)
    assert study.user_attrs[SEARCH_HASH_ATTR] == spec_from_text(VALID_SPEC, "s.yaml").search_hash()


def test_foreign_study_with_trials_is_refused(tmp_path):
    storage = f"sqlite:///{tmp_path}/s.db"
    other = optuna.create_study(study_name="tiny", storage=storage)
    other.optimize(lambda t: t.suggest_float("x", 0, 1), n_trials=1)
    with pytest.raises(HpoError, match="searched a different space"):
        open_study(storage)


def test_only_trials_changed_resumes_the_same_study(tmp_path):
    storage = f"sqlite:///{tmp_path}/s.db"
    first = open_study(storage)
    again = open_study(storage, VALID_SPEC.replace("trials: 4", "trials: 40"))
    assert again._study_id == first._study_id


def test_new_version_starts_beside_and_is_found_again(tmp_path):
    storage = f"sqlite:///{tmp_path}/s.db"
    open_study(storage)
    changed = VALID_SPEC.replace("choice: [32, 64]", "choice: [16, 32]")
    with pytest.raises(HpoError, match="--new-version"):
        open_study(storage, changed)
    v2 = open_study(storage, changed, new_version=True)
    assert v2.study_name == "tiny-v2"
    assert open_study(storage, changed, new_version=True).study_name == "tiny-v2"

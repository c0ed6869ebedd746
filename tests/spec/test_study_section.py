"""The study section's stop rules: read as written, and never part of what was searched."""

from __future__ import annotations

from hpo.spec.sections import spec_from_text
from tests.conftest import VALID_SPEC


def with_study_keys(keys: str) -> str:
    assert "seed: 0}" in VALID_SPEC
    return VALID_SPEC.replace("seed: 0}", f"seed: 0, {keys}}}")


def test_target_and_patience_are_read_as_written_and_unset_by_default():
    plain = spec_from_text(VALID_SPEC, "s.yaml").study
    assert (plain.target, plain.patience) == (None, None)
    study = spec_from_text(with_study_keys("target: 0.97, patience: 8"), "s.yaml").study
    assert (study.target, study.patience) == (0.97, 8)
    assert spec_from_text(with_study_keys("target: 1"), "s.yaml").study.target == 1.0


def test_stop_rules_keep_the_search_hash_so_changing_them_resumes_the_study():
    plain = spec_from_text(VALID_SPEC, "s.yaml")
    ruled = spec_from_text(with_study_keys("target: 0.97, patience: 8, time_budget: 1h"), "s.yaml")
    assert ruled.search_hash() == plain.search_hash()
    assert ruled.search_definition() == plain.search_definition()

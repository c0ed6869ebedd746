"""The ``checkpoint:`` section and ``study.finish_running``: read as written, never part of what was searched."""

from __future__ import annotations

import pytest

from hpo.errors import SpecError
from hpo.spec.sections import spec_from_text
from tests.conftest import VALID_SPEC


@pytest.mark.parametrize(
    ("section", "every"),
    [("", 1), ("checkpoint: false\n", 0), ("checkpoint: true\n", 1), ("checkpoint: {every: 0}\n", 0), ("checkpoint: {every: 5}\n", 5)],
)
def test_checkpoint_every_is_read_as_written_every_epoch_by_default(section, every):
    assert spec_from_text(VALID_SPEC + section, "s.yaml").checkpoint.every == every


@pytest.mark.parametrize(
    ("section", "keep"),
    [
        ("", 3),
        ("checkpoint: false\n", 0),
        ("checkpoint: true\n", 3),
        ("checkpoint: {keep: 0}\n", 0),
        ("checkpoint: {every: 0, keep: 5}\n", 5),
    ],
)
def test_checkpoint_keep_is_the_best_trials_weights_kept_three_by_default(section, keep):
    assert spec_from_text(VALID_SPEC + section, "s.yaml").checkpoint.keep == keep


@pytest.mark.parametrize(
    "section, share", [("", 0.05), ("checkpoint: {max_overhead: 1}\n", 1.0), ("checkpoint: {max_overhead: 0.2}\n", 0.2)]
)
def test_checkpoint_max_overhead_is_read_as_written_five_percent_by_default(section, share):
    assert spec_from_text(VALID_SPEC + section, "s.yaml").checkpoint.max_overhead == share


@pytest.mark.parametrize(
    "section",
    [
        "checkpoint: {every: -1}\n",
        "checkpoint: {every: 1.5}\n",
        "checkpoint: {evry: 2}\n",
        "checkpoint: 3\n",
        "checkpoint: {keep: -1}\n",
        "checkpoint: {max_overhead: 0}\n",
        "checkpoint: {max_overhead: 1.5}\n",
        "checkpoint: {max_overhead: lots}\n",
    ],
)
def test_a_bad_checkpoint_section_is_refused_naming_its_key(section):
    with pytest.raises(SpecError, match="checkpoint"):
        spec_from_text(VALID_SPEC + section, "s.yaml")


def test_checkpoints_and_finish_running_keep_the_search_hash_so_a_stored_study_resumes():
    plain = spec_from_text(VALID_SPEC, "s.yaml")
    changed = spec_from_text(
        VALID_SPEC.replace("seed: 0}", "seed: 0, finish_running: true}") + "checkpoint: {every: 0, keep: 7, max_overhead: 1}\n", "s.yaml"
    )
    assert changed.study.finish_running and not plain.study.finish_running
    assert changed.search_hash() == plain.search_hash()

"""hpo/contract.py: what a trainer's signature says it takes part in."""

from __future__ import annotations

import pytest

from hpo.contract import takes_keywords, takes_resume


def plain(config, report): ...


def resumable(config, report, resume=None): ...


def keyword_only(config, report, *, final=False, output_dir=None, resume=None): ...


def swallowing(config, report, **kwargs): ...


def positional_only(config, report, resume=None, /): ...


@pytest.mark.parametrize(
    ("function", "takes"),
    [
        (plain, False),
        (resumable, True),
        (keyword_only, True),
        (swallowing, False),  # **kwargs would take resume= and ignore it: not an opt-in
        (positional_only, False),  # cannot be given by keyword
        (max, False),  # no signature Python can read
    ],
)
def test_a_trainer_takes_resume_when_its_signature_names_the_keyword(function, takes):
    assert takes_resume(function) is takes


def test_every_keyword_asked_for_must_be_named():
    assert takes_keywords(keyword_only, ("final", "output_dir")) and not takes_keywords(resumable, ("final", "resume"))

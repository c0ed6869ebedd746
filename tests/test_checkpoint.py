"""A trainer's state on disk (hpo.checkpoint), and which trainers are given it back (hpo.contract.takes_resume)."""

from __future__ import annotations

import pickle

import pytest
import torch

from hpo.checkpoint import load_state, save_state
from hpo.contract import takes_resume


def test_a_state_loads_back_as_it_was_saved(tmp_path):
    state = {"epoch": 3, "model": {"weight": torch.arange(4.0)}, "rng": torch.get_rng_state()}
    save_state(state, tmp_path / "state.pt")
    loaded = load_state(tmp_path / "state.pt")
    assert loaded["epoch"] == 3 and torch.equal(loaded["model"]["weight"], torch.arange(4.0))
    assert [p.name for p in tmp_path.iterdir()] == ["state.pt"]


def test_a_write_that_fails_leaves_the_last_state_whole_and_no_temporary_file(tmp_path):
    path = tmp_path / "state.pt"
    save_state({"epoch": 1}, path)
    with pytest.raises((pickle.PicklingError, AttributeError, TypeError)):
        save_state({"epoch": 2, "unsaveable": lambda: None}, path)
    assert load_state(path) == {"epoch": 1}
    assert [p.name for p in tmp_path.iterdir()] == ["state.pt"]


class _Code:
    pass


def test_loading_runs_no_code_from_the_file(tmp_path):
    torch.save({"object": _Code()}, tmp_path / "state.pt")  # not plain data: weights_only refuses it
    with pytest.raises(pickle.UnpicklingError):
        load_state(tmp_path / "state.pt")


def _plain(config, report): ...
def _resumable(config, report, resume=None): ...
def _keyword_only(config, report, *, resume=None, final=False): ...
def _any_keyword(config, report, **kwargs): ...


@pytest.mark.parametrize(
    ("train", "expected"), [(_plain, False), (_resumable, True), (_keyword_only, True), (_any_keyword, False), (print, False)]
)
def test_only_a_trainer_that_names_resume_is_given_its_state(train, expected):
    assert takes_resume(train) is expected

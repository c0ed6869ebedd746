"""hpo/spec/preflight.py: the trainer's optional check(config), before a study's first trial."""

from __future__ import annotations

import io
import sys
import textwrap
import types

import pytest
from rich.console import Console

from hpo.contract import trainer as declare
from hpo.engine.runner import run_study
from hpo.errors import HpoError, SpecError
from hpo.spec.preflight import preflight, prepare
from hpo.spec.sections import spec_from_text
from trainers.config import METRICS, TrainConfig

SPEC = textwrap.dedent(
    """\
    study: {name: pf, trials: 2}
    scheduler: {type: none}
    train:
      data: {name: digits, root: good}
      model: {name: cnn, channels: [8], kernel_sizes: [3], hidden: [16]}
      epochs: 2
    space:
      optimizer.lr: {float: [1.0e-4, 1.0e-1], log: true}
      optimizer.name:
        choice: [sgd, adam]
        when: {sgd: {data.root: {choice: [good, bad]}}}
    """
)


class Missing(Exception):
    key = "data.root"


@pytest.fixture
def trainer(monkeypatch):
    """A trainer module ``fake_trainer`` whose declared check records each config and refuses
    ``refuse``; ``declare_check(None)`` declares none."""
    module = types.ModuleType("fake_trainer")
    module.seen = []
    module.refuse = set()

    def check(config):
        module.seen.append(config)
        if config["data"]["root"] in module.refuse:
            raise Missing(f"nothing under {config['data']['root']}/")

    def declare_check(declared):
        module.train = declare(schema=TrainConfig, metrics=METRICS, check=declared)(lambda config, report: None)

    module.check = check
    module.declare_check = declare_check
    declare_check(lambda config: module.check(config))
    monkeypatch.setitem(sys.modules, "fake_trainer", module)
    return module


def spec():
    return spec_from_text(SPEC, "spec.yaml", trainer="fake_trainer:train")


def test_every_distinct_config_is_checked_once_train_first(trainer):
    preflight(spec())
    assert trainer.seen[0]["data"]["root"] == "good" and "lr" not in trainer.seen[0].get("optimizer", {})
    assert {c["data"]["root"] for c in trainer.seen} == {"good", "bad"}  # an option under a branch too
    assert {c["optimizer"]["lr"] for c in trainer.seen if "lr" in c.get("optimizer", {})} == {1.0e-4, 1.0e-1}
    keys = [repr(sorted(c.items())) for c in trainer.seen]
    assert len(keys) == len(set(keys))


def test_a_refused_train_block_names_the_key_the_check_gives(trainer):
    trainer.refuse = {"good"}
    with pytest.raises(SpecError) as info:
        preflight(spec())
    assert str(info.value) == "spec.yaml: train.data.root: every trial would fail: nothing under good/"
    assert len(trainer.seen) == 1  # stopped at the first refusal


def test_a_refused_corner_names_the_searched_key_and_its_values(trainer):
    trainer.refuse = {"bad"}
    with pytest.raises(SpecError) as info:
        preflight(spec())
    assert info.value.path == "space.data.root"
    assert info.value.message == "with optimizer.name='sgd', data.root='bad', trials would fail: nothing under bad/"


def test_an_error_without_a_key_names_train_and_an_empty_message_its_type(trainer):
    def check(config):
        raise OSError()

    trainer.check = check
    with pytest.raises(SpecError) as info:
        preflight(spec())
    assert str(info.value) == "spec.yaml: train: every trial would fail: OSError"


def test_a_trainer_without_a_declared_check_is_not_checked(trainer):
    trainer.declare_check(None)  # a module-level check beside it is not the trainer's declaration
    assert spec().contract.check is None
    preflight(spec())
    assert trainer.seen == []


def test_the_built_in_trainer_refuses_a_missing_data_set_before_the_study_exists(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "empty").mkdir()
    spec = spec_from_text(SPEC.replace("{name: digits, root: good}", "{name: cifar10, root: empty}"), "spec.yaml")
    with pytest.raises(SpecError) as info:
        run_study(spec)
    assert info.value.path == "train.data.root"
    assert "empty/cifar-10-batches-py/ must hold data_batch_1" in info.value.message
    assert "data.download: true in the config, or --download" in info.value.message  # the way to have it fetched
    assert not (tmp_path / "studies").exists()


# ----------------------------------------------------------------------------------------------
# prepare(config, download): before the check, in the driver only


def declare_prepare(trainer, hook):
    """Declare the fixture's check and ``hook`` as the trainer's prepare."""
    trainer.train = declare(schema=TrainConfig, metrics=METRICS, check=lambda config: trainer.check(config), prepare=hook)(
        lambda config, report: None
    )


def test_prepare_sees_every_distinct_config_with_the_users_flag(trainer):
    calls = []

    def hook(config, download):
        calls.append((config["data"]["root"], download))
        return [f"fetched into {config['data']['root']}"] if config["data"]["root"] == "bad" else None

    declare_prepare(trainer, hook)
    assert prepare(spec(), download=True) == ["fetched into bad"]
    assert calls[0] == ("good", True) and {root for root, _ in calls} == {"good", "bad"}
    calls.clear()
    assert prepare(spec()) == ["fetched into bad"]
    assert calls and all(download is False for _, download in calls)  # called unasked too: a config key of its own may ask


def test_download_asked_of_a_trainer_without_prepare_is_refused(trainer):
    assert spec().contract.prepare is None
    assert prepare(spec()) == []  # not asked: nothing to do, nothing said
    with pytest.raises(HpoError) as info:
        prepare(spec(), download=True)
    assert str(info.value).startswith("--download: fake_trainer:train declares no prepare hook (hpo.contract.trainer(prepare=...))")


def test_what_prepare_raises_is_one_paragraph_naming_the_spec(trainer):
    def hook(config, download):
        raise RuntimeError("could not download data set 'x': http://127.0.0.1:1/x.tar.gz: unreachable ")

    declare_prepare(trainer, hook)
    with pytest.raises(HpoError) as info:
        prepare(spec(), download=True)
    assert str(info.value) == "spec.yaml: could not download data set 'x': http://127.0.0.1:1/x.tar.gz: unreachable"


def test_run_prepares_then_checks_before_the_study_exists(trainer, tmp_path, monkeypatch):
    """``hpo run --download``: the trainer fetches first, its check then judges what is on disk."""
    monkeypatch.chdir(tmp_path)
    prepared = []
    declare_prepare(trainer, lambda config, download: prepared.append((len(trainer.seen), download)) or ["fetched"])
    trainer.refuse = {"bad"}
    out = io.StringIO()
    with pytest.raises(SpecError, match="nothing under bad/"):
        run_study(spec(), download=True, console=Console(file=out))
    assert prepared and all(item == (0, True) for item in prepared)  # every prepare before the first check
    assert trainer.seen  # then the check ran, and refused
    assert out.getvalue().splitlines() == ["fetched"] * len(prepared)
    assert not (tmp_path / "studies").exists()

"""Warm start: which trials of an earlier version a new version takes, and how they are counted."""

from __future__ import annotations

import dataclasses

import optuna
import pytest
import yaml
from optuna.distributions import FloatDistribution
from optuna.trial import TrialState
from rich.console import Console

from hpo.errors import HpoError
from hpo.spec.sections import spec_from_text
from hpo.study import versions
from hpo.study.keys import BASELINE_ATTR, CONFIG_ATTR, HISTORY_ATTR, SEARCH_HASH_ATTR, WARM_START_ATTR
from hpo.study.queue import enqueue_from_spec
from hpo.study.records import FINISHED_STATES, is_warm_start
from hpo.study.stoprules import StopRules
from hpo.study.summary import Tally
from hpo.study.versions import open_study_for_spec
from hpo.study.warmstart import add_warm_trials, plan_warm_start, warm_start_line
from tests.results.conftest import SPEC, STUDY, make_study

NARROW_LR = SPEC.replace("optimizer.lr: {float: [1.0e-3, 3.0e-2], log: true}", "optimizer.lr: {float: [1.0e-3, 1.0e-2], log: true}")


def new_spec(text: str = NARROW_LR):
    return spec_from_text(text, "new.yaml")


@pytest.fixture
def earlier() -> optuna.Study:
    """The earlier version: 10 complete, 5 pruned, 2 failed, 1 running, in memory."""
    return make_study(optuna.storages.InMemoryStorage(), STUDY, complete=10, pruned=5, failed=2, running=1)


def finished(study: optuna.Study) -> list[optuna.trial.FrozenTrial]:
    return study.get_trials(deepcopy=False, states=FINISHED_STATES)


def test_a_narrower_range_takes_the_trials_inside_it_and_says_why_it_left_out_the_others(earlier):
    plan = plan_warm_start(earlier, new_spec(), "tiny-v2")
    inside = {t.number for t in finished(earlier) if t.params["optimizer.lr"] <= 1.0e-2}
    outside = {t.number for t in finished(earlier)} - inside
    failed = [t.number for t in earlier.trials if t.state == TrialState.FAIL]
    running = [t.number for t in earlier.trials if t.state == TrialState.RUNNING]
    assert inside and outside  # the made-up study has both, or the test proves nothing
    assert {taken.trial.number for taken in plan.taken} == inside
    assert plan.left_out == {
        "with optimizer.lr not a number in [0.001, 0.01]": sorted(outside),
        "failed": failed,
        "still running": running,
    }
    assert plan.summary().startswith(f"warm start from {STUDY}: took {len(inside)} trials (")
    assert f"left out {len(outside) + 3}: {len(outside)} with optimizer.lr not a number in [0.001, 0.01]" in plan.summary()


def test_a_key_the_new_space_no_longer_searches_must_hold_the_new_train_value(earlier):
    text = SPEC.replace("  batch_size: {choice: [32, 64]}\n", "")  # train: has batch_size 64
    plan = plan_warm_start(earlier, new_spec(text), "tiny-v2")
    assert {taken.trial.number for taken in plan.taken} == {t.number for t in finished(earlier) if t.params["batch_size"] == 64}
    assert plan.left_out["with batch_size unlike the new train: (64)"] == [
        t.number for t in finished(earlier) if t.params["batch_size"] == 32
    ]
    assert all("batch_size" not in taken.params for taken in plan.taken)


def test_a_key_only_the_new_space_searches_takes_the_old_train_value_when_it_lies_inside(earlier):
    searched = SPEC + "  model.dropout: {float: [0.0, 0.5]}\n"
    plan = plan_warm_start(earlier, new_spec(searched), "tiny-v2")
    assert len(plan.taken) == len(finished(earlier))
    assert {taken.params["model.dropout"] for taken in plan.taken} == {0.1}  # train:'s dropout, now a parameter
    assert plan.taken[0].distributions["model.dropout"] == FloatDistribution(0.0, 0.5)
    outside = SPEC + "  model.dropout: {float: [0.2, 0.5]}\n"
    with pytest.raises(
        HpoError, match=r"none of its 18 trials lies in this spec's space .*15 with model.dropout not a number in \[0.2, 0.5\]"
    ):
        plan_warm_start(earlier, new_spec(outside), "tiny-v2")


def test_an_option_dropped_from_a_choice_leaves_out_the_trials_under_it_and_its_branch_goes_with_it(earlier):
    adam_only = SPEC.replace("choice: [sgd, adam]", "choice: [adam]").replace(
        "    when:\n      sgd: {optimizer.momentum: {float: [0.5, 0.95]}}\n", ""
    )
    plan = plan_warm_start(earlier, new_spec(adam_only), "tiny-v2")
    sgd = [t.number for t in finished(earlier) if t.params["optimizer.name"] == "sgd"]
    assert sgd and plan.left_out["with optimizer.name not among adam"] == sgd
    assert all("optimizer.momentum" not in taken.params for taken in plan.taken)


@pytest.mark.parametrize(
    ("old", "new", "says"),
    [
        (
            "metric: val_acc, mode: max",
            "metric: val_loss, mode: min",
            "metric 'val_acc' there, 'val_loss' here; mode 'max' there, 'min' here",
        ),
        ("seed: 0}", "seed: 0, objective: last}", "objective 'best' there, 'last' here"),
        (  # trained on shares of the data before the last rung: hpo.spec.fidelity
            "reduction_factor: 2}",
            "reduction_factor: 2, fidelity: data_fraction}",
            r"data_fraction None there, \[0.25, 0.5, 1.0\] here",
        ),
        (  # the same configs on smaller images before the last rung: another value
            "reduction_factor: 2}",
            "reduction_factor: 2, fidelity: resolution}",
            r"resolution None there, \[0.5, 0.707\d*, 1.0\] here",
        ),
    ],
)
def test_values_that_mean_something_else_refuse_the_warm_start(earlier, old, new, says):
    with pytest.raises(HpoError, match=f"values mean something else in this spec \\({says}\\).*start tiny-v2 cold"):
        plan_warm_start(earlier, new_spec(SPEC.replace(old, new)), "tiny-v2")


def test_copied_trials_keep_their_values_and_epochs_and_say_where_they_came_from(earlier):
    spec = new_spec()
    plan = plan_warm_start(earlier, spec, "tiny-v2")
    study = optuna.create_study(direction="maximize")
    assert add_warm_trials(study, plan, spec) == len(plan.taken)
    assert add_warm_trials(study, plan, spec) == 0  # a second driver, or a resumed creation, copies none twice
    for copy, taken in zip(study.trials, plan.taken, strict=True):
        old = taken.trial
        assert (copy.state, copy.value, copy.intermediate_values, copy.params) == (
            old.state,
            old.value,
            old.intermediate_values,
            old.params,
        )
        assert copy.distributions["optimizer.lr"] == FloatDistribution(1.0e-3, 1.0e-2, log=True)
        assert copy.user_attrs[WARM_START_ATTR] == {"study": STUDY, "number": old.number}
        assert copy.user_attrs[HISTORY_ATTR] == old.user_attrs[HISTORY_ATTR]
        assert copy.user_attrs[CONFIG_ATTR] == old.user_attrs[CONFIG_ATTR]
    line = warm_start_line(study.trials)
    assert line is not None and line.startswith(f"trials 0-{len(plan.taken) - 1} came from {STUDY} (its trials ")


def test_a_copied_trial_that_ran_the_baseline_is_the_baseline_and_is_not_queued_again():
    earlier = make_study(optuna.storages.InMemoryStorage(), STUDY, complete=6, pruned=0, failed=0, running=0)
    ran = next(t for t in earlier.trials if t.params["optimizer.name"] == "adam")  # under sgd, train: would hold a momentum adam lacks
    document = yaml.safe_load(SPEC)
    document["train"] = ran.user_attrs[CONFIG_ATTR]  # the new train: is what that trial ran
    spec = new_spec(yaml.safe_dump(document))
    study = optuna.create_study(direction="maximize")
    add_warm_trials(study, plan_warm_start(earlier, spec, "tiny-v2"), spec)
    marked = [t for t in study.trials if t.user_attrs.get(BASELINE_ATTR)]
    assert [t.user_attrs[WARM_START_ATTR]["number"] for t in marked] == [ran.number]
    assert enqueue_from_spec(study, spec) == [
        f"trial {marked[0].number} is your baseline: train: as it is, run as trial {ran.number} of {STUDY} "
        "and taken by the warm start, so not run again"
    ]
    assert not study.get_trials(states=(TrialState.WAITING,))


def test_the_baseline_of_a_warm_started_study_is_queued_after_the_copied_trials(earlier):
    spec = new_spec()
    study = optuna.create_study(direction="maximize")
    add_warm_trials(study, plan_warm_start(earlier, spec, "tiny-v2"), spec)
    copied = len(study.trials)
    assert enqueue_from_spec(study, spec) == [f"trial {copied} is your baseline: train: as it is"]
    (queued,) = study.get_trials(states=(TrialState.WAITING,))
    assert queued.number == copied and queued.user_attrs[BASELINE_ATTR] is True


def test_copied_trials_are_no_trials_of_the_runs_but_may_be_the_best(earlier):
    spec = new_spec()
    study = optuna.create_study(direction="maximize")
    add_warm_trials(study, plan_warm_start(earlier, spec, "tiny-v2"), spec)
    copied = study.trials
    tally = Tally.from_trials(copied, 4, "max")
    assert (tally.finished, tally.warm) == (0, len(copied))
    assert (
        tally.best is not None
        and tally.best.number == max((t for t in copied if t.state == TrialState.COMPLETE), key=lambda t: t.value).number
    )
    assert tally.summary().startswith(
        f"0/4 finished (0 complete, 0 pruned), 0 running, 0 failed, and {len(copied)} from a warm start; best "
    )
    # patience counts the new version's own trials only: copied ones that do not beat the best are no reason to stop
    assert StopRules("val_acc", "max", patience=1).verdict(copied) is None


def open_version(storage, spec, *, warm_start=True):
    return open_study_for_spec(
        spec, storage, optuna.samplers.RandomSampler(), new_version=True, console=Console(quiet=True), warm_start=warm_start
    )


def test_a_new_version_begins_with_the_trials_and_a_resume_copies_none_again():
    storage = optuna.storages.InMemoryStorage()
    earlier = make_study(storage, STUDY, complete=4, pruned=2, failed=1, running=0)
    spec = new_spec()
    v2 = open_version(storage, spec)
    assert v2.study_name == "tiny-v2" and v2.user_attrs[SEARCH_HASH_ATTR] == spec.search_hash()
    expected = plan_warm_start(earlier, spec, "tiny-v2")
    assert [t.user_attrs[WARM_START_ATTR]["number"] for t in v2.trials if is_warm_start(t)] == [
        taken.trial.number for taken in expected.taken
    ]
    again = open_version(storage, spec)
    assert again.study_name == "tiny-v2" and sum(map(is_warm_start, again.trials)) == len(expected.taken)
    assert len(again.trials) == len(v2.trials)  # nothing copied or queued again


def test_a_refused_warm_start_creates_no_version_and_leaves_the_earlier_one_as_it_was():
    storage = optuna.storages.InMemoryStorage()
    earlier = make_study(storage, STUDY, complete=3, pruned=1, failed=0, running=0)
    before = (earlier.trials, earlier.user_attrs)
    outside = new_spec(SPEC.replace("[1.0e-3, 3.0e-2]", "[5.0e-2, 1.0e-1]"))
    with pytest.raises(HpoError, match="none of its 4 trials lies in this spec's space"):
        open_version(storage, outside)
    assert optuna.get_all_study_names(storage) == [STUDY]
    reloaded = optuna.load_study(study_name=STUDY, storage=storage)
    assert (reloaded.trials, reloaded.user_attrs) == before


def test_a_warm_start_needs_an_earlier_version():
    storage = optuna.storages.InMemoryStorage()
    with pytest.raises(HpoError, match="has no earlier version .* to begin with"):
        open_version(storage, new_spec())
    assert optuna.get_all_study_names(storage) == []


def test_a_version_whose_driver_died_while_copying_is_adopted_and_gets_the_trials_it_lacks(monkeypatch):
    monkeypatch.setattr(versions, "CREATOR_GRACE_S", 0.0)  # its creator is gone: no driver will mark it
    storage = optuna.storages.InMemoryStorage()
    earlier = make_study(storage, STUDY, complete=4, pruned=2, failed=0, running=0)
    spec = new_spec()
    plan = plan_warm_start(earlier, spec, "tiny-v2")
    half = optuna.create_study(study_name="tiny-v2", storage=storage, direction="maximize")
    add_warm_trials(half, dataclasses.replace(plan, taken=plan.taken[:1]), spec)  # the crash came after the first copy
    v2 = open_version(storage, spec)
    assert v2.study_name == "tiny-v2" and v2.user_attrs[SEARCH_HASH_ATTR] == spec.search_hash()
    assert [t.user_attrs[WARM_START_ATTR]["number"] for t in v2.trials if is_warm_start(t)] == [taken.trial.number for taken in plan.taken]

"""The spec's baseline and ``enqueue:`` configs in a study's queue, once per study, and
the best trial said against the baseline."""

from __future__ import annotations

import optuna
import pytest
from optuna.trial import TrialState, create_trial

from hpo.errors import SpecError
from hpo.spec.sections import spec_from_text
from hpo.study.keys import BASELINE_ATTR, ENQUEUED_ATTR, FIXED_PARAMS_ATTR, REQUEUED_FROM_ATTR
from hpo.study.queue import enqueue_from_spec
from hpo.study.records import requeued_attrs
from hpo.study.summary import versus_baseline
from tests.conftest import VALID_SPEC

ENQUEUE = "enqueue:\n  - {batch_size: 32, optimizer.name: sgd, optimizer.momentum: 0.5}\n"


def queued(study: optuna.Study) -> list[tuple[dict, dict]]:
    return [(t.system_attrs[FIXED_PARAMS_ATTR], t.user_attrs) for t in study.get_trials(states=(TrialState.WAITING,))]


def test_the_baseline_and_the_specs_configs_are_queued_once_per_study():
    spec = spec_from_text(VALID_SPEC + ENQUEUE, "s.yaml")
    study = optuna.create_study()
    lines = enqueue_from_spec(study, spec)
    baseline = {"optimizer.lr": 1e-3, "batch_size": 64, "model.kernel_sizes": "k33", "optimizer.name": "adam"}
    enqueued = {"batch_size": 32, "optimizer.name": "sgd", "optimizer.momentum": 0.5}
    assert queued(study) == [(baseline, {BASELINE_ATTR: True, ENQUEUED_ATTR: "s.yaml"}), (enqueued, {ENQUEUED_ATTR: "s.yaml"})]
    assert lines == ["trial 0 is your baseline: train: as it is", "queued 1 config(s) from enqueue: to run next"]
    assert enqueue_from_spec(study, spec) == []  # a resumed study, or a second driver: nothing again
    assert len(study.trials) == 2


def test_baseline_false_queues_only_the_enqueue_list():
    spec = spec_from_text(VALID_SPEC.replace("seed: 0}", "seed: 0, baseline: false}", 1) + ENQUEUE, "s.yaml")
    study = optuna.create_study()
    enqueue_from_spec(study, spec)
    assert [attrs for _, attrs in queued(study)] == [{ENQUEUED_ATTR: "s.yaml"}]


def test_a_train_value_outside_the_space_says_so_and_runs_no_baseline():
    spec = spec_from_text(VALID_SPEC.replace("lr: 1.0e-3}", "lr: 0.5}"), "s.yaml")
    study = optuna.create_study()
    (line,) = enqueue_from_spec(study, spec)
    assert line.startswith("no baseline trial: train.optimizer.lr is 0.5, outside space.optimizer.lr")
    assert study.trials == []


def test_an_enqueue_entry_outside_the_space_refuses_the_spec():
    with pytest.raises(SpecError, match=r"^s.yaml: enqueue.1.batch_size: a number \(48\) is not an option; expected one of 32, 64$"):
        spec_from_text(VALID_SPEC + "enqueue:\n  - {batch_size: 32}\n  - {batch_size: 48}\n", "s.yaml")


def test_a_requeued_baseline_stays_the_baseline():
    assert requeued_attrs(3, {BASELINE_ATTR: True, ENQUEUED_ATTR: "s.yaml", "config": {}}) == {
        BASELINE_ATTR: True,
        ENQUEUED_ATTR: "s.yaml",
        REQUEUED_FROM_ATTR: 3,
    }


def trial(number, value, state=TrialState.COMPLETE, baseline=False, steps=None):
    made = create_trial(state=state, value=value, user_attrs={BASELINE_ATTR: True} if baseline else {}, intermediate_values=steps or {})
    made.number = number
    return made


@pytest.mark.parametrize(
    ("best", "base", "says"),
    [
        (0.9312, 0.9105, "best 0.9312 vs your baseline 0.9105 (+2.1 points)"),  # an accuracy: points
        (0.0812, 0.1105, "best 0.0812 vs your baseline 0.1105 (-2.9 points)"),  # an error rate, lower is better
        (0.412, 1.5, "best 0.4120 vs your baseline 1.5000 (-1.0880)"),  # a loss: the plain difference
    ],
)
def test_the_best_is_said_against_the_baseline(best, base, says):
    trials = [trial(0, base, baseline=True), trial(1, best)]
    assert versus_baseline(trials[1], trials) == says


def test_a_baseline_that_is_best_pruned_unfinished_or_absent():
    base = trial(0, 0.95, baseline=True)
    assert versus_baseline(base, [base, trial(1, 0.9)]) == "best 0.9500 is your baseline (trial 0): no trial has beaten it yet"
    pruned = trial(0, None, TrialState.PRUNED, baseline=True, steps={1: 0.42})
    assert versus_baseline(trial(1, 0.9), [pruned]) == "best 0.9000 vs your baseline: pruned at epoch 1 (0.4200) (trial 0)"
    assert versus_baseline(trial(1, 0.9), [trial(0, None, TrialState.RUNNING, baseline=True)]) is None
    assert versus_baseline(trial(1, 0.9), [trial(1, 0.9)]) is None

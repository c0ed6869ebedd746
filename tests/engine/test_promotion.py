"""Promotion-type ASHA (hpo.engine.promotion) and the searcher beside it, driven through
Ray's TrialScheduler and Searcher interfaces with real Ray Trial objects (no Ray start);
the test plays Ray's controller: the scheduler decides on a result before the searcher
records it, and a paused trial Ray stops is told to the searcher with no result."""

from __future__ import annotations

import math
import pickle
import random
import time

import optuna
import pytest
from optuna.trial import TrialState, create_trial
from ray.tune.experiment import Trial
from ray.tune.schedulers import TrialScheduler
from rich.console import Console

from hpo.engine.promotion import StudyPromotionScheduler
from hpo.engine.schedulers import build_scheduler
from hpo.engine.searcher import StudySearcher
from hpo.results.table import print_status
from hpo.spec.sections import spec_from_text
from hpo.spec.space import parse_space
from hpo.study.keys import PAUSED_AT_ATTR
from hpo.study.records import requeued_attrs
from hpo.study.storage import open_storage
from tests.conftest import VALID_SPEC, spec_error
from tests.engine.test_schedulers import ranks_in_top

CONTINUE, STOP, PAUSE = TrialScheduler.CONTINUE, TrialScheduler.STOP, TrialScheduler.PAUSE
ASHA = "{type: asha, grace_period: 1, reduction_factor: 2}"


def make_scheduler(study: optuna.Study | None = None, mode: str = "max", **options) -> StudyPromotionScheduler:
    settings = {"max_t": 6, "grace_period": 1, "reduction_factor": 2, **options}  # rungs at epochs 1, 2 and 4
    study = study or optuna.create_study(direction="maximize" if mode == "max" else "minimize")
    return StudyPromotionScheduler(study, metric="val_acc", mode=mode, **settings)


def trial(number: int) -> Trial:
    made = Trial("run_trial", config={"trial_number": number}, stub=True)
    made.set_status(Trial.RUNNING)
    return made


class Controller:
    """What the scheduler asks of Ray's controller: its trials, and to stop a paused one
    (which Ray tells the searcher with no result)."""

    def __init__(self, trials: list[Trial], searcher: StudySearcher | None = None) -> None:
        self.trials, self.searcher, self.stopped = trials, searcher, []

    def get_trials(self) -> list[Trial]:
        return self.trials

    def stop_trial(self, stopped: Trial) -> None:
        self.stopped.append(stopped.config["trial_number"])
        stopped.set_status(Trial.TERMINATED)
        if self.searcher is not None:
            self.searcher.on_trial_complete(stopped.trial_id)


def result(number: int, value: float, **extra) -> dict:
    return {"epoch": number, "training_iteration": number, "val_acc": value, **extra}


def arrive(scheduler: StudyPromotionScheduler, of: Trial, epoch: int, value: float) -> str:
    decision = scheduler.on_trial_result(None, of, result(epoch, value))
    if decision == PAUSE:
        of.set_status(Trial.PAUSED)
    return decision


def test_a_trial_below_the_top_is_paused_and_promoted_once_enough_trials_reach_its_rung():
    scheduler = make_scheduler()
    trials = [trial(n) for n in range(4)]
    controller = Controller(trials)
    assert arrive(scheduler, trials[0], 1, 0.9) == CONTINUE  # alone at the rung: the best one goes on
    assert arrive(scheduler, trials[1], 1, 0.7) == PAUSE  # top 1 of 2: trial 0
    assert scheduler.choose_trial_to_run(controller) is None  # never a paused trial the rule does not promote
    assert arrive(scheduler, trials[2], 1, 0.5) == PAUSE  # top 1 of 3
    assert arrive(scheduler, trials[3], 1, 0.6) == PAUSE  # top 2 of 4: trials 0 and 1; trial 1 takes this slot
    assert scheduler.paused_at(1) == 1 and scheduler.next_promotion() == 1
    assert scheduler.choose_trial_to_run(controller) is trials[1]
    assert scheduler.paused_at(1) is None and scheduler.next_promotion() is None
    assert scheduler.choose_trial_to_run(controller) is None
    assert scheduler.debug_string() == "promotion ASHA: epoch 1: 4 trials, epoch 2: 0 trials, epoch 4: 0 trials; 2 paused"


def test_the_highest_rung_is_promoted_from_first_and_a_tie_goes_to_the_earlier_arrival():
    scheduler = make_scheduler()
    trials = [trial(n) for n in range(9)]
    for number, value in ((0, 0.9), (1, 0.5), (2, 0.5), (3, 0.4)):
        arrive(scheduler, trials[number], 1, value)
    assert scheduler.next_promotion() == 1  # top 2 of 4 at epoch 1: 0.9 and the first 0.5; no worker free yet
    # at epoch 2 (trials 6-8 with no score at epoch 1, as study trials may be)
    for number, value in ((0, 0.95), (6, 0.6), (7, 0.7), (8, 0.1)):
        arrive(scheduler, trials[number], 2, value)
    assert scheduler.paused_at(7) == 2 and scheduler.next_promotion() == 7  # top 2 of 4 at epoch 2: trials 0 and 7
    scheduler.promote(7)
    assert scheduler.next_promotion() == 1


def test_mode_min_promotes_the_lowest():
    scheduler = make_scheduler(mode="min")
    decisions = [arrive(scheduler, trial(n), 1, loss) for n, loss in enumerate([0.5, 0.7, 0.6, 0.9])]
    assert decisions == [CONTINUE, PAUSE, PAUSE, PAUSE]
    assert scheduler.next_promotion() == 2  # top 2 of 4: 0.5 (running) and 0.6


def test_nan_is_stopped_and_the_last_epoch_or_the_trainers_own_end_stops():
    scheduler = make_scheduler()
    assert arrive(scheduler, trial(0), 1, math.nan) == STOP  # the worst value: it could never be promoted
    assert arrive(scheduler, trial(1), 1, 0.1) == CONTINUE
    assert arrive(scheduler, trial(1), 3, 0.2) == CONTINUE  # not a rung
    assert arrive(scheduler, trial(1), 6, 0.2) == STOP
    assert scheduler.on_trial_result(None, trial(2), result(1, 0.0, finished=True)) == STOP
    assert scheduler.on_trial_result(None, trial(3), {"hpo_error_type": "ValueError"}) == CONTINUE


def test_a_retried_or_resumed_trial_passes_a_rung_it_reached_before():
    scheduler = make_scheduler()
    arrive(scheduler, trial(0), 1, 0.9)
    assert arrive(scheduler, trial(1), 1, 0.5) == PAUSE
    scheduler.promote(1)
    assert arrive(scheduler, trial(1), 1, 0.5) == CONTINUE  # resumed from a checkpoint older than its pause


def test_rung_decisions_follow_the_rule_on_interleaved_workers():
    """Two workers, trials arriving in random order: each trial that goes on (at once or
    later, when promoted) is in the top ⌊n/η⌋ (at least one) of its rung when it goes
    on, the highest rung first, and nothing the rule promotes is left paused while a new
    trial starts."""
    rng = random.Random(3)
    scheduler = make_scheduler(max_t=4)  # rungs at epochs 1 and 2
    curves = {n: sorted(rng.random() for _ in range(4)) for n in range(24)}
    arrivals: dict[int, list[tuple[int, float]]] = {1: [], 2: []}
    objects = {n: trial(n) for n in curves}
    controller = Controller(list(objects.values()))
    running, done, started, promotions = {0: 0, 1: 0}, {}, 2, 0
    while running:
        n = rng.choice(sorted(running))
        epoch = running[n] + 1
        decision = arrive(scheduler, objects[n], epoch, curves[n][epoch - 1])
        if epoch in arrivals:
            arrivals[epoch].append((n, curves[n][epoch - 1]))
        del running[n]
        if decision == CONTINUE:
            assert epoch not in arrivals or top_half(arrivals[epoch], n)
            running[n] = epoch
            continue
        done[n] = decision
        resumed = scheduler.choose_trial_to_run(controller)
        if resumed is not None:
            number = resumed.config["trial_number"]
            rung = running_epoch = max(e for e in arrivals if number in [m for m, _ in arrivals[e]])
            assert top_half(arrivals[rung], number)
            higher = [e for e in arrivals if e > rung]
            assert not [m for e in higher for m, _ in arrivals[e] if scheduler.paused_at(m) == e and top_half(arrivals[e], m)]
            resumed.set_status(Trial.RUNNING)
            running[number] = running_epoch
            promotions += 1
        elif started < len(curves):
            assert scheduler.next_promotion() is None
            objects[started].set_status(Trial.RUNNING)
            running[started] = 0
            started += 1
    assert promotions > 0 and len(arrivals[1]) == 24


def top_half(arrived: list[tuple[int, float]], number: int) -> bool:
    return ranks_in_top(arrived, number, 2)


def test_the_scheduler_pickles_without_rays_trials():
    scheduler = make_scheduler()
    arrive(scheduler, trial(0), 1, 0.9)
    arrive(scheduler, trial(1), 1, 0.5)
    restored = pickle.loads(pickle.dumps(scheduler))
    assert restored.debug_string() == scheduler.debug_string()


# ---------------------------------------------------------------- from the study and the spec


def test_the_rungs_start_from_the_study_with_its_queued_paused_trials():
    """A run killed with trial 1 paused at epoch 1 left it failed and queued again; the
    next run holds the queued copy at its rung, with trial 1's score there."""
    study = optuna.create_study(direction="maximize")
    study.add_trial(create_trial(state=TrialState.COMPLETE, value=0.9, intermediate_values={1: 0.8, 2: 0.9}))
    interrupted = study.ask()
    interrupted.report(0.7, 1)
    interrupted.set_user_attr("checkpoint", {"path": "/nowhere/checkpoint_000000", "epoch": 1})
    interrupted.set_user_attr(PAUSED_AT_ATTR, 1)
    study.tell(interrupted, state=TrialState.FAIL)
    study.enqueue_trial({}, user_attrs=requeued_attrs(1, study.trials[1].user_attrs))
    scheduler = make_scheduler(study)
    assert scheduler.queued() == {2} and scheduler.paused_at(2) == 1
    assert scheduler.next_promotion() is None  # top 1 of 2 at epoch 1: trial 0
    assert arrive(scheduler, trial(3), 1, 0.5) == PAUSE
    assert arrive(scheduler, trial(4), 1, 0.6) == PAUSE  # 4 at epoch 1: top 2 is 0.8 (trial 0) and 0.7 (trial 2, queued)
    assert scheduler.next_promotion() == 2
    assert scheduler.choose_trial_to_run(Controller([])) is None  # not Ray's to resume: the searcher claims it from the queue


def test_promotion_is_built_from_the_spec_and_refused_without_checkpoints(tmp_path):
    text = VALID_SPEC.replace(ASHA, "{type: asha, grace_period: 1, reduction_factor: 2, promotion: true}")
    scheduler = build_scheduler(spec_from_text(text, "spec.yaml"), optuna.create_study(direction="maximize"))
    assert type(scheduler) is StudyPromotionScheduler
    assert spec_from_text(VALID_SPEC, "spec.yaml").scheduler.promotion is False
    spec_file = tmp_path / "spec.yaml"
    spec_file.write_text("trainer: tests.e2e.failing_trainer:train\n" + text)
    spec_error(spec_file, "scheduler.promotion", "asha with promotion: true pauses trials and resumes them from their checkpoints, and the")
    spec_file.write_text(text + "checkpoint: false\n")
    spec_error(
        spec_file, "checkpoint", "remove `checkpoint: false` (a checkpoint every epoch is the default), or use asha without promotion"
    )
    spec_file.write_text(text.replace("promotion: true", "promotion: true, recheck_rung_below: true"))
    spec_error(spec_file, "scheduler", "recheck_rung_below takes back a promotion made on arrival")


# ---------------------------------------------------------------- with the searcher

SPACE = parse_space({"optimizer.lr": {"float": [1e-4, 1e-1], "log": True}}, "t.yaml")
BASE = {"optimizer": {"name": "adam", "lr": 1e-3}, "epochs": 2}
BUDGET_S = 2.0  # the steps before the budget is spent take milliseconds


@pytest.fixture
def pair(tmp_path, monkeypatch):
    """A searcher and the promotion scheduler on one SQLite study, as ``hpo run`` wires them."""
    monkeypatch.chdir(tmp_path)  # the trials' logs go under studies/

    def build(target: int, max_concurrent: int = 1, budget: float | None = None):
        storage = open_storage(f"sqlite:///{tmp_path}/promotion.db")
        study = optuna.create_study(storage=storage, direction="maximize", study_name="promotion", load_if_exists=True)
        scheduler = StudyPromotionScheduler(study, metric="val_acc", mode="max", max_t=2, grace_period=1, reduction_factor=2)
        searcher = StudySearcher(
            study, storage, SPACE, BASE, metric="val_acc", mode="max", objective="best", target=target,
            time_budget_s=budget, pause_at_budget=budget is not None, pauses=scheduler, max_concurrent=max_concurrent,
        )  # fmt: skip
        scheduler.follow(searcher)
        return study, scheduler, searcher

    return build


def start(searcher: StudySearcher, trial_id: str) -> Trial:
    suggested = searcher.suggest(trial_id)
    assert isinstance(suggested, dict), suggested
    made = Trial("run_trial", config={"trial_number": suggested["trial_number"]}, stub=True, trial_id=trial_id)
    made.set_status(Trial.RUNNING)
    return made


def report(scheduler, searcher, of: Trial, epoch: int, value: float) -> str:
    decision = arrive(scheduler, of, epoch, value)
    if decision != STOP:
        searcher.on_trial_result(of.trial_id, result(epoch, value))
    return decision


def pause_the_second(scheduler, searcher) -> tuple[Trial, Trial]:
    """Trial 0 reaches the rung first and completes; trial 1 is paused there behind it, with its checkpoint."""
    first = start(searcher, "a")
    report(scheduler, searcher, first, 1, 0.9)
    searcher.on_trial_complete("a", result(2, 0.95, finished=True))
    second = start(searcher, "b")
    report(scheduler, searcher, second, 1, 0.7)
    searcher.record_checkpoint("b", "/nowhere/trial_b/checkpoint_000000", 1)
    return first, second


def test_one_slot_paused_trials_hold_none_and_the_study_ends_with_them_pruned(pair):
    """One trial at a time, four trials: a paused trial frees its slot for the next one
    (Ray's own limit would count it and wait for ever), is promoted when the rule says, and
    the trials still paused when nothing runs and no place is left end PRUNED at their rung."""
    study, scheduler, searcher = pair(target=4)
    first = start(searcher, "a")
    assert searcher.suggest("x") is None  # its slot is taken
    assert report(scheduler, searcher, first, 1, 0.9) == CONTINUE
    searcher.on_trial_complete("a", result(2, 0.95, finished=True))
    second = start(searcher, "b")
    assert report(scheduler, searcher, second, 1, 0.7) == PAUSE
    assert study.trials[1].state == TrialState.RUNNING and study.trials[1].user_attrs[PAUSED_AT_ATTR] == 1  # in the study at once
    third = start(searcher, "c")  # the paused trial holds no slot
    assert report(scheduler, searcher, third, 1, 0.1) == PAUSE
    fourth = start(searcher, "d")
    controller = Controller([first, second, third, fourth], searcher)
    assert report(scheduler, searcher, fourth, 1, 0.2) == PAUSE  # 4 at epoch 1: trial 1 is promoted in its slot
    assert searcher.suggest("y") is None  # the place is trial 1's: Ray resumes it
    assert scheduler.choose_trial_to_run(controller) is second
    second.set_status(Trial.RUNNING)
    assert searcher.suggest("y") is None  # it runs in the slot
    searcher.on_trial_complete("b", result(2, 0.8, finished=True))
    assert searcher.suggest("y") is None and searcher.ending  # nothing runs or can be promoted, no place is left
    assert scheduler.choose_trial_to_run(controller) is None and controller.stopped == [2, 3]
    assert searcher.suggest("y") == "FINISHED"
    trials = study.trials
    assert [t.state for t in trials] == [TrialState.COMPLETE, TrialState.COMPLETE, TrialState.PRUNED, TrialState.PRUNED]
    assert [t.intermediate_values for t in trials] == [{1: 0.9, 2: 0.95}, {1: 0.7, 2: 0.8}, {1: 0.1}, {1: 0.2}]
    assert [t.user_attrs[PAUSED_AT_ATTR] for t in trials[1:]] == [None, None, None]


def test_a_failing_trial_frees_its_slot_while_others_are_paused(pair):
    study, scheduler, searcher = pair(target=3)
    first = start(searcher, "a")
    report(scheduler, searcher, first, 1, 0.9)
    assert searcher.suggest("x") is None  # trial 0 runs: the one slot is taken
    searcher.on_trial_complete("a", {"hpo_error_type": "ValueError", "hpo_error": "boom"})
    assert study.trials[0].state == TrialState.FAIL
    second = start(searcher, "b")  # in the failed trial's slot
    assert report(scheduler, searcher, second, 1, 0.5) == PAUSE  # trial 0 reached the rung before it failed: 0.9 holds the place
    assert start(searcher, "c").config["trial_number"] == 2  # the paused trial holds no slot


def test_a_queued_paused_trial_waits_in_the_queue_until_promoted(pair):
    """A run killed with trial 1 paused at its rung: the next run takes the other queued
    trials first, claims trial 1's copy from the queue once the rule promotes it, and it
    resumes from trial 1's checkpoint with trial 1's epochs as its first."""
    study, scheduler, searcher = pair(target=4)
    pause_the_second(scheduler, searcher)
    assert searcher.fail_unfinished("Interrupted", "interrupted") == 1  # Ctrl-C: failed and queued again, paused
    console = Console(record=True, width=200)
    print_status(study, console)
    assert "paused at a rung, waiting to be promoted: trial 2 (epoch 1, queued)" in console.export_text()
    study, scheduler, searcher = pair(target=4)
    assert scheduler.queued() == {2}
    third = start(searcher, "c")
    assert third.config["trial_number"] == 3  # a new trial: the queued one is held at its rung
    assert report(scheduler, searcher, third, 1, 0.1) == PAUSE
    fourth = start(searcher, "d")
    assert fourth.config["trial_number"] == 4
    assert report(scheduler, searcher, fourth, 1, 0.2) == PAUSE  # 4 at epoch 1: the queued trial is promoted
    suggested = searcher.suggest("e")
    assert suggested["trial_number"] == 2 and suggested["resume_from"] == "/nowhere/trial_b/checkpoint_000000"
    resumed = study.trials[2]
    assert resumed.state == TrialState.RUNNING and resumed.user_attrs[PAUSED_AT_ATTR] is None
    assert resumed.intermediate_values == {1: 0.7}


def test_at_the_time_budget_paused_trials_stay_resumable_and_at_a_stop_queued_ones_are_pruned(pair):
    study, scheduler, searcher = pair(target=4, budget=BUDGET_S)
    built = time.monotonic()  # the budget counts from a moment before
    first, second = pause_the_second(scheduler, searcher)
    time.sleep(max(0.0, built + BUDGET_S - time.monotonic()))  # the budget is spent now
    assert searcher.suggest("x") == "FINISHED" and searcher.ending
    scheduler.choose_trial_to_run(Controller([first, second], searcher))
    interrupted, queued = study.trials[1], study.trials[2]
    assert interrupted.state == TrialState.FAIL and interrupted.user_attrs["error"] == "paused at the time budget"
    assert queued.state == TrialState.WAITING and queued.user_attrs[PAUSED_AT_ATTR] == 1 and searcher.paused == 1
    study, scheduler, searcher = pair(target=2)  # the next run, with one trial to go: none runs, none can be promoted
    assert searcher.suggest("y") is None and searcher.ending
    assert [t.state for t in study.trials] == [TrialState.COMPLETE, TrialState.FAIL, TrialState.PRUNED]
    assert study.trials[2].intermediate_values == {1: 0.7} and searcher.suggest("z") == "FINISHED"

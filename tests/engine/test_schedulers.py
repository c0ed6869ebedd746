"""The schedulers over the study's trials, driven through Ray's TrialScheduler interface (no Ray start)."""

from __future__ import annotations

import math
import pickle
import random
from collections.abc import Callable

import optuna
import pytest
from optuna.trial import TrialState, create_trial
from ray.tune.experiment import Trial
from ray.tune.schedulers import FIFOScheduler, MedianStoppingRule, TrialScheduler

from hpo.engine.schedulers import StudyASHAScheduler, StudyHyperBandScheduler, StudyMedianStoppingRule, build_scheduler
from hpo.spec.sections import spec_from_text
from tests.conftest import VALID_SPEC, spec_error

CONTINUE, STOP, PAUSE = TrialScheduler.CONTINUE, TrialScheduler.STOP, TrialScheduler.PAUSE


def make_scheduler(study: optuna.Study | None = None, mode: str = "max", **options) -> StudyASHAScheduler:
    settings = {"max_t": 6, "grace_period": 1, "reduction_factor": 3, **options}
    study = study or optuna.create_study(direction="maximize" if mode == "max" else "minimize")
    return StudyASHAScheduler(study, metric="val_acc", mode=mode, **settings)


def trial(number: int) -> Trial:
    return Trial("run_trial", config={"trial_number": number}, stub=True)


def epoch(scheduler: TrialScheduler, of: Trial, number: int, value: float) -> str:
    return scheduler.on_trial_result(None, of, {"epoch": number, "training_iteration": number, "val_acc": value})


def test_the_top_third_of_a_rung_continues_and_the_best_while_it_holds_fewer():
    scheduler = make_scheduler()
    values = [0.9, 0.5, 0.7, 0.6, 0.95, 0.8, 0.92, 0.91]
    decisions = [epoch(scheduler, trial(i), 1, value) for i, value in enumerate(values)]
    # n=1..5: the best only; n=6..8: the top two
    assert decisions == [CONTINUE, STOP, STOP, STOP, CONTINUE, STOP, CONTINUE, STOP]


def test_a_tie_at_the_boundary_stops_the_later_trial():
    scheduler = make_scheduler()
    assert epoch(scheduler, trial(0), 1, 0.1) == CONTINUE
    assert epoch(scheduler, trial(1), 1, 0.1) == STOP
    assert epoch(scheduler, trial(2), 1, 0.1) == STOP
    assert epoch(scheduler, trial(3), 1, 0.2) == CONTINUE


@pytest.mark.parametrize("recheck", [False, True])
def test_a_trial_alone_at_its_rungs_continues_though_its_score_dropped(recheck):
    """Its score after three epochs is compared with no other trial's after one."""
    scheduler = make_scheduler(recheck_rung_below=recheck)  # rungs at epochs 1 and 3
    assert epoch(scheduler, trial(0), 1, 0.900) == CONTINUE
    assert epoch(scheduler, trial(0), 3, 0.895) == CONTINUE


def test_the_recheck_of_the_rung_below_is_off_by_default():
    scheduler = make_scheduler()
    epoch(scheduler, trial(0), 1, 0.12)
    for number, value in ((1, 0.10), (2, 0.50), (3, 0.30)):
        epoch(scheduler, trial(number), 1, value)
    assert epoch(scheduler, trial(0), 3, 0.99) == CONTINUE  # alone at epoch 3
    assert spec_from_text(VALID_SPEC, "spec.yaml").scheduler.recheck_rung_below is False
    text = VALID_SPEC.replace("reduction_factor: 2}", "reduction_factor: 2, recheck_rung_below: true}")
    assert spec_from_text(text, "spec.yaml").scheduler.recheck_rung_below is True


def test_past_the_first_rung_a_trial_stops_if_it_would_no_longer_be_promoted_below():
    scheduler = make_scheduler(recheck_rung_below=True)  # rungs at epochs 1 and 3
    assert epoch(scheduler, trial(0), 1, 0.12) == CONTINUE  # alone at its rung: it learnt nothing, yet
    for number, value in ((1, 0.10), (2, 0.50), (3, 0.30)):
        epoch(scheduler, trial(number), 1, value)
    # alone at epoch 3, but with 0.50 there epoch 1's top one (of four) is no longer trial 0
    assert epoch(scheduler, trial(0), 3, 0.99) == STOP
    assert epoch(scheduler, trial(2), 3, 0.40) == STOP  # behind 0.99 at epoch 3
    assert epoch(scheduler, trial(4), 1, 0.45) == STOP
    assert epoch(scheduler, trial(5), 1, 0.60) == CONTINUE  # six at epoch 1 now: the top two
    assert epoch(scheduler, trial(5), 3, 0.995) == CONTINUE


def test_a_trial_tied_below_by_later_arrivals_keeps_its_place():
    scheduler = make_scheduler(recheck_rung_below=True)
    for number, value in ((0, 0.5), (1, 0.5), (2, 0.5)):
        epoch(scheduler, trial(number), 1, value)
    assert epoch(scheduler, trial(0), 3, 0.6) == CONTINUE  # the first of the three at 0.5 holds the place


def test_the_rung_below_follows_the_mode():
    scheduler = make_scheduler(mode="min", recheck_rung_below=True)
    for number, loss in ((0, 0.9), (1, 0.4), (2, 0.8)):
        epoch(scheduler, trial(number), 1, loss)
    assert epoch(scheduler, trial(0), 3, 0.1) == STOP  # alone at epoch 3, but 0.4 beat its 0.9 at epoch 1
    assert epoch(scheduler, trial(1), 3, 0.3) == STOP  # behind 0.1 at epoch 3
    scheduler = make_scheduler(mode="min", recheck_rung_below=True)
    assert epoch(scheduler, trial(0), 1, 0.40) == CONTINUE
    assert epoch(scheduler, trial(0), 3, 0.41) == CONTINUE  # higher than it was, and alone


def test_mode_min_keeps_the_lowest():
    scheduler = make_scheduler(mode="min")
    decisions = [epoch(scheduler, trial(i), 1, value) for i, value in enumerate([0.5, 0.6, 0.3, 0.9])]
    assert decisions == [CONTINUE, STOP, CONTINUE, STOP]


def test_nan_is_the_worst_value():
    scheduler = make_scheduler()
    assert epoch(scheduler, trial(0), 1, float("nan")) == STOP  # even first at its rung
    for i in range(1, 5):
        epoch(scheduler, trial(i), 1, float("nan"))
    assert epoch(scheduler, trial(5), 1, 0.1) == CONTINUE


def test_between_rungs_continue_and_at_max_t_stop():
    scheduler = make_scheduler()
    assert epoch(scheduler, trial(0), 2, 0.1) == CONTINUE
    assert epoch(scheduler, trial(0), 6, 0.1) == STOP


def test_a_result_without_the_metric_continues():
    """The trainer's error report: the trial ends by itself and the searcher records why."""
    scheduler = make_scheduler()
    assert scheduler.on_trial_result(None, trial(0), {"training_iteration": 1, "hpo_error_type": "X"}) == CONTINUE


def test_a_retried_trial_is_counted_once_per_rung():
    scheduler = make_scheduler()
    for i, value in enumerate([0.5, 0.6, 0.7]):
        epoch(scheduler, trial(i), 1, value)
    retried = trial(2)  # its worker died after epoch 1; Ray runs it again from the start
    assert epoch(scheduler, retried, 1, 0.1) == CONTINUE
    assert "epoch 1: 3 trials" in scheduler.debug_string()


def test_rungs_start_from_the_finished_trials_of_the_study():
    """A resumed run compares its trials with the study's, not only its own."""
    study = optuna.create_study(direction="maximize")
    curves = {TrialState.COMPLETE: [0.8, 0.9, 0.95, 0.96, 0.97, 0.97], TrialState.PRUNED: [0.6]}
    for state, curve in curves.items():
        study.add_trial(
            create_trial(
                state=state, value=max(curve) if state == TrialState.COMPLETE else None, intermediate_values=dict(enumerate(curve, start=1))
            )
        )
    running = study.ask()  # interrupted by a crash, then failed by the runner: not counted
    running.report(0.99, 1)
    study.tell(running, state=TrialState.FAIL)
    scheduler = make_scheduler(study, recheck_rung_below=True)
    assert scheduler.debug_string() == "ASHA: epoch 1: 2 trials, epoch 3: 1 trials"
    assert epoch(scheduler, trial(3), 1, 0.85) == CONTINUE  # best of 0.8, 0.6, 0.85
    assert epoch(scheduler, trial(4), 3, 0.9) == STOP  # below 0.95 at epoch 3, the only other
    assert epoch(scheduler, trial(5), 3, 0.99) == CONTINUE  # with no score at epoch 1, judged at epoch 3 only


@pytest.mark.parametrize("recheck", [False, True])
def test_concurrent_trials_each_decided_against_the_ones_before_it(recheck):
    """Trials interleave at random; every decision equals the rule applied to the arrivals
    at that rung so far and, with the recheck, past the first rung, to the trial's place
    among the arrivals at the rung below as they are now; each trial arrives once per
    rung, and a stopped trial gets no further results from Ray."""
    rng = random.Random(0)
    scheduler = make_scheduler(max_t=10, recheck_rung_below=recheck)
    curves = {n: sorted(rng.random() for _ in range(10)) for n in range(30)}
    arrivals: dict[int, list[tuple[int, float]]] = {1: [], 3: [], 9: []}  # (trial, value), in order
    rung_below, stopped_by_rung_below = {3: 1, 9: 3}, 0

    def decide(n: int, ray_trial: Trial, reached: int, value: float) -> str:
        nonlocal stopped_by_rung_below
        decision = epoch(scheduler, ray_trial, reached, value)
        if reached in arrivals:
            arrivals[reached].append((n, value))
            rung = arrivals[reached]
            promoted_below = not recheck or reached not in rung_below or top_third(arrivals[rung_below[reached]], n)
            stopped_by_rung_below += top_third(rung, n) and not promoted_below
            assert decision == (CONTINUE if top_third(rung, n) and promoted_below else STOP)
        return decision

    run_interleaved(rng, curves, decide)
    assert (stopped_by_rung_below > 0) == recheck
    assert len(arrivals[1]) == 30 and 0 < len(arrivals[9]) < len(arrivals[3]) < 30
    expected = ", ".join(f"epoch {k}: {len(v)} trials" for k, v in arrivals.items())
    assert scheduler.debug_string() == f"ASHA: {expected}"


def run_interleaved(rng: random.Random, curves: dict[int, list[float]], decide: Callable[[int, Trial, int, float], str]) -> None:
    """Run the trials of ``curves`` (trial number → its value at each epoch from 1) four at
    a time, the next starting as one ends: a trial picked at random reports its next epoch's
    value to ``decide(number, trial, epoch, value)``, and ends when stopped (Ray sends a
    stopped trial no further results) or when its curve is done."""
    running = {n: (trial(n), 0) for n in range(4)}
    started = len(running)
    while running:
        n = rng.choice(list(running))
        ray_trial, done = running[n]
        if decide(n, ray_trial, done + 1, curves[n][done]) == STOP or done + 1 == len(curves[n]):
            del running[n]
            if started < len(curves):
                running[started] = (trial(started), 0)
                started += 1
        else:
            running[n] = (ray_trial, done + 1)


def top_third(arrived: list[tuple[int, float]], number: int) -> bool:
    return ranks_in_top(arrived, number, 3)


def ranks_in_top(arrived: list[tuple[int, float]], number: int, eta: int) -> bool:
    """Whether trial ``number`` ranks in the top ⌊n / η⌋ (at least one) of the ``n``
    (trial, value) arrivals at a rung, a tie going to the trial that arrived first."""
    position = [n for n, _ in arrived].index(number)
    value = arrived[position][1]
    ahead = sum(other > value for _, other in arrived) + sum(other == value for _, other in arrived[:position])
    return ahead < max(1, len(arrived) // eta)


def test_the_scheduler_pickles_without_the_study():
    """Ray pickles the Tuner with its scheduler; a database handle would not survive that."""
    scheduler = make_scheduler()
    epoch(scheduler, trial(0), 1, 0.5)
    assert pickle.loads(pickle.dumps(scheduler)).debug_string() == scheduler.debug_string()


# ---------------------------------------------------------------- built from the spec


@pytest.mark.parametrize(
    ("section", "kind", "state"),
    [
        ("{type: asha, grace_period: 1, reduction_factor: 2}", StudyASHAScheduler, "ASHA: epoch 1: 0 trials, epoch 2: 0 trials"),
        ("{type: median, grace_period: 2, min_samples_required: 4}", StudyMedianStoppingRule, "median stopping rule: 0 trials"),
        ("{type: median}", StudyMedianStoppingRule, "median stopping rule: 0 trials"),
        ("{type: hyperband, reduction_factor: 3}", StudyHyperBandScheduler, "Using HyperBand: num_stopped=0 total_brackets=0\nRound #0:"),
        ("{type: none}", FIFOScheduler, None),
    ],
)
def test_each_scheduler_is_built_from_its_section(section, kind, state):
    spec = spec_from_text(VALID_SPEC.replace("{type: asha, grace_period: 1, reduction_factor: 2}", section), "spec.yaml")
    scheduler = build_scheduler(spec, optuna.create_study(direction="maximize"))
    assert type(scheduler) is kind
    if state is not None:
        assert scheduler.debug_string() == state


def test_the_median_rule_takes_its_options_from_the_spec():
    spec = spec_from_text(VALID_SPEC.replace("{type: asha, grace_period: 1, reduction_factor: 2}", "{type: median}"), "spec.yaml")
    assert (spec.scheduler.grace_period, spec.scheduler.min_samples_required) == (1, 3)  # as ASHA's grace period; Ray's sample count


@pytest.mark.parametrize(
    ("section", "rule"), [("{type: asha, grace_period: 3}", "ASHA"), ("{type: median, grace_period: 3}", "the median rule")]
)
def test_a_grace_period_of_all_the_epochs_is_refused(tmp_path, section, rule):
    spec_file = tmp_path / "spec.yaml"
    spec_file.write_text(VALID_SPEC.replace("{type: asha, grace_period: 1, reduction_factor: 2}", section))
    spec_error(spec_file, "scheduler.grace_period", f"grace_period (3) must be below train.epochs (3), or {rule} can never stop")


def test_the_median_rule_refuses_an_unknown_option(tmp_path):
    spec_file = tmp_path / "spec.yaml"
    spec_file.write_text(VALID_SPEC.replace("{type: asha, grace_period: 1, reduction_factor: 2}", "{type: median, reduction_factor: 2}"))
    spec_error(spec_file, "scheduler.reduction_factor", "valid: grace_period, min_samples_required, type")


# ---------------------------------------------------------------- the median stopping rule


def make_median(study: optuna.Study | None = None, mode: str = "max", grace_period: int = 1, min_samples_required: int = 2):
    study = study or optuna.create_study(direction="maximize" if mode == "max" else "minimize")
    return StudyMedianStoppingRule(study, metric="val_acc", mode=mode, grace_period=grace_period, min_samples_required=min_samples_required)


def test_a_trial_whose_best_is_below_the_median_of_the_others_running_means_stops():
    scheduler = make_median()
    for number, curve in enumerate([[0.5, 0.7], [0.7, 0.9]]):
        for step, value in enumerate(curve, start=1):
            assert epoch(scheduler, trial(number), step, value) == CONTINUE  # fewer than two others to judge it by
    assert epoch(scheduler, trial(2), 1, 0.65) == CONTINUE  # the others' means at epoch 1: 0.5, 0.7; median 0.6
    assert epoch(scheduler, trial(2), 2, 0.68) == STOP  # at epoch 2: 0.6, 0.8; median 0.7
    assert epoch(scheduler, trial(3), 1, 0.75) == CONTINUE
    assert epoch(scheduler, trial(3), 2, 0.1) == CONTINUE  # its best so far, 0.75, against 0.6, 0.665, 0.8
    assert scheduler.debug_string() == "median stopping rule: 4 trials"


def test_the_median_rule_waits_for_the_grace_period_and_averages_from_it():
    scheduler = make_median(grace_period=2)
    for number in range(2):
        for step, value in enumerate([0.1, 0.8, 0.8], start=1):
            epoch(scheduler, trial(number), step, value)
    assert epoch(scheduler, trial(2), 1, 0.01) == CONTINUE  # within the grace period
    assert epoch(scheduler, trial(2), 2, 0.79) == STOP  # the others' means from epoch 2: 0.8, not 0.45
    assert epoch(scheduler, trial(3), 2, 0.8) == CONTINUE  # a tie goes on: only a strictly worse best stops


def test_the_median_rule_follows_the_mode():
    scheduler = make_median(mode="min")
    for number in range(2):
        epoch(scheduler, trial(number), 1, 0.5)
    assert epoch(scheduler, trial(2), 1, 0.6) == STOP
    assert epoch(scheduler, trial(3), 1, 0.4) == CONTINUE


def test_the_median_rule_stops_a_nan_and_leaves_a_nan_mean_out():
    scheduler = make_median()
    for number in range(2):
        epoch(scheduler, trial(number), 1, 0.5)
    assert epoch(scheduler, trial(2), 1, math.nan) == STOP  # NaN is the worst value
    # three others, one of them NaN: two means, 0.5 and 0.5
    assert epoch(scheduler, trial(3), 1, 0.49) == STOP
    assert epoch(make_median(min_samples_required=4), trial(4), 1, 0.0) == CONTINUE


def test_a_retried_trial_replaces_its_curve_in_the_median_rule():
    scheduler = make_median(min_samples_required=1)
    epoch(scheduler, trial(0), 1, 0.9)
    epoch(scheduler, trial(0), 2, 0.9)
    retried = trial(0)  # Ray runs the trial again after its worker died: the same number
    assert epoch(scheduler, retried, 1, 0.2) == CONTINUE  # judged by no other trial: itself, first attempt included, is not one
    assert scheduler.debug_string() == "median stopping rule: 1 trials"
    assert epoch(scheduler, trial(1), 2, 0.5) == CONTINUE  # trial 0 no longer reached epoch 2


def test_the_median_rule_starts_from_the_finished_trials_of_the_study():
    """A resumed run judges its trials by the study's curves, not only its own."""
    study = optuna.create_study(direction="maximize")
    for state, curve in ((TrialState.COMPLETE, [0.8, 0.9, 0.95]), (TrialState.PRUNED, [0.6])):
        value = max(curve) if state == TrialState.COMPLETE else None
        study.add_trial(create_trial(state=state, value=value, intermediate_values=dict(enumerate(curve, start=1))))
    failed = study.ask()  # interrupted by a crash, then failed by the runner: not counted
    failed.report(0.01, 1)
    study.tell(failed, state=TrialState.FAIL)
    scheduler = make_median(study)
    assert scheduler.debug_string() == "median stopping rule: 2 trials"
    assert epoch(scheduler, trial(3), 1, 0.65) == STOP  # the means at epoch 1: 0.8, 0.6; median 0.7
    assert epoch(scheduler, trial(4), 1, 0.75) == CONTINUE  # 0.8, 0.6, 0.65 (trial 3): median 0.65
    assert epoch(scheduler, trial(4), 2, 0.8) == CONTINUE  # only trial 0 reached epoch 2: too few to judge
    assert epoch(scheduler, trial(5), 1, 0.76) == CONTINUE
    assert epoch(scheduler, trial(5), 2, 0.8) == STOP  # at epoch 2: 0.85 (trial 0), 0.775 (trial 4): median 0.8125


def test_the_median_rule_decides_as_rays_on_interleaved_trials():
    """Every decision equals that of Ray's MedianStoppingRule with the same options (which
    never pauses here: no other trial is pending), trials reporting in random order."""

    class Controller:
        def get_live_trials(self) -> list[Trial]:
            return []

    rng = random.Random(1)
    ours = make_median(grace_period=2, min_samples_required=3)
    rays = MedianStoppingRule(time_attr="epoch", metric="val_acc", mode="max", grace_period=2, min_samples_required=3)
    curves = {n: [rng.random() for _ in range(6)] for n in range(20)}
    decisions: list[str] = []

    def decide(n: int, ray_trial: Trial, reached: int, value: float) -> str:
        result = {"epoch": reached, "training_iteration": reached, "val_acc": value}
        decisions.append(ours.on_trial_result(None, ray_trial, result))
        assert decisions[-1] == rays.on_trial_result(Controller(), ray_trial, result)
        return decisions[-1]

    run_interleaved(rng, curves, decide)
    assert 0 < decisions.count(STOP) < len(curves)


def test_the_median_rule_pickles_without_the_study():
    scheduler = make_median()
    epoch(scheduler, trial(0), 1, 0.5)
    assert pickle.loads(pickle.dumps(scheduler)).debug_string() == scheduler.debug_string()


# ---------------------------------------------------------------- HyperBand


class Controller:
    """What HyperBand asks of Ray's controller: to stop a paused trial."""

    def __init__(self) -> None:
        self.stopped: list[int] = []

    def stop_trial(self, trial: Trial) -> None:
        self.stopped.append(trial.config["trial_number"])
        trial.set_status(Trial.TERMINATED)


def hyperband_trials(scheduler: StudyHyperBandScheduler, count: int) -> list[Trial]:
    trials = [trial(n) for n in range(count)]
    for each in trials:
        scheduler.on_trial_add(None, each)
        each.set_status(Trial.RUNNING)
    return trials


@pytest.mark.parametrize(("mode", "values", "kept"), [("max", [0.4, 0.6], 3), ("min", [0.4, 0.6], 2), ("max", [math.nan, 0.1], 3)])
def test_hyperband_pauses_at_a_milestone_then_keeps_the_best_of_its_bracket(mode, values, kept):
    """Three epochs, η=3: trials 0 and 1 fill a bracket that runs them in full, trials 2-4
    one that halves at epoch 1 (trials 2 and 3 alone in it here); NaN is the worst value."""
    scheduler = StudyHyperBandScheduler(metric="val_acc", mode=mode, max_t=3, reduction_factor=3)
    controller, trials = Controller(), hyperband_trials(scheduler, 4)
    assert epoch(scheduler, trials[2], 1, values[0]) == PAUSE  # trial 3 has not reached epoch 1
    trials[2].set_status(Trial.PAUSED)
    decision = scheduler.on_trial_result(controller, trials[3], {"epoch": 1, "val_acc": values[1]})
    if kept == 3:
        assert (decision, controller.stopped) == (CONTINUE, [2])
    else:
        assert (decision, controller.stopped) == (STOP, [])
        assert scheduler.choose_trial_to_run(controller) is trials[2]  # the paused trial is the next Ray runs: it resumes
    assert "num_stopped=1" in scheduler.debug_string()


def test_hyperband_stops_a_trial_at_its_last_epoch_and_skips_reports_without_the_metric():
    scheduler = StudyHyperBandScheduler(metric="val_acc", mode="max", max_t=3, reduction_factor=3)
    trials = hyperband_trials(scheduler, 2)
    assert epoch(scheduler, trials[0], 1, 0.5) == CONTINUE  # a bracket that runs its trials in full
    assert scheduler.on_trial_result(None, trials[0], {"hpo_error_type": "ValueError"}) == CONTINUE
    assert epoch(scheduler, trials[0], 3, 0.5) == STOP  # not paused there for trial 1: it has run all it will
    assert (
        scheduler.on_trial_result(None, trials[1], {"epoch": 2, "val_acc": 0.5, "finished": True}) == STOP
    )  # the trainer's own early stop


def test_a_pausing_scheduler_needs_a_trainer_that_resumes_and_checkpoints(tmp_path):
    hyperband = VALID_SPEC.replace("{type: asha, grace_period: 1, reduction_factor: 2}", "{type: hyperband}")
    assert spec_from_text(hyperband, "spec.yaml").scheduler.reduction_factor == 3  # the built-in trainer resumes
    spec_file = tmp_path / "spec.yaml"
    spec_file.write_text("trainer: tests.e2e.failing_trainer:train\n" + hyperband)
    spec_error(spec_file, "scheduler.type", "hyperband pauses trials and resumes them from their checkpoints, and the trainer tests.e2e")
    spec_file.write_text(hyperband + "checkpoint: false\n")
    spec_error(spec_file, "checkpoint", "remove `checkpoint: false`")


def test_hyperband_says_which_trials_are_paused_for_the_searcher_to_count_them_out():
    """A trial waiting for its bracket holds no place of max_concurrent (the searcher keeps it)."""
    scheduler = StudyHyperBandScheduler(metric="val_acc", mode="max", max_t=3, reduction_factor=3)
    trials = hyperband_trials(scheduler, 4)
    assert epoch(scheduler, trials[2], 1, 0.5) == PAUSE
    trials[2].set_status(Trial.PAUSED)
    assert [scheduler.is_paused(n) for n in range(5)] == [False, False, True, False, False]

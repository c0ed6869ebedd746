"""Population Based Training over the spec's space: the mutations Ray is given, the values
put back in the space, the scheduler's decisions and exploits (driven through Ray's
TrialScheduler interface, no Ray start), and which checkpoints a population keeps."""

from __future__ import annotations

import math
import random
from pathlib import Path

import optuna
import pytest
from ray import tune
from ray.tune.experiment import Trial
from ray.tune.schedulers import TrialScheduler
from ray.tune.search.sample import Categorical, Float, Integer

from hpo.engine.checkpoints import SharedCheckpoints
from hpo.engine.population import StudyPopulationBasedTraining, mutations, within_space
from hpo.engine.schedulers import build_scheduler
from hpo.spec.params import ChoiceParam, FloatParam, IntParam
from hpo.spec.sections import PBTSection, spec_from_text
from tests.conftest import VALID_SPEC

CONTINUE, STOP = TrialScheduler.CONTINUE, TrialScheduler.STOP

LR = FloatParam("optimizer.lr", 1e-4, 0.3, log=True)
DROPOUT = FloatParam("model.dropout", 0.0, 0.5, step=0.1)
MOMENTUM = FloatParam("optimizer.momentum", 0.0, 0.95)
WARMUP = IntParam("schedule.warmup_epochs", 0, 4, step=2)
BATCH = ChoiceParam("batch_size", ((32, 32), (64, 64), (128, 128)))


@pytest.mark.parametrize(
    ("param", "kind", "bounds"),
    [
        (LR, Float, (1e-4, 0.3)),
        (DROPOUT, Float, (0.0, 0.5)),
        (MOMENTUM, Float, (0.0, 0.95)),
        (WARMUP, Integer, (0, 4)),
        (IntParam("hidden", 8, 64, log=True), Integer, (8, 65)),
    ],
)
def test_each_number_mutates_within_the_distribution_the_sampler_draws_it_from(param, kind, bounds):
    *parents, leaf = param.path.split(".")
    node = mutations((param,))
    for key in parents:
        node = node[key]
    domain = node[leaf]
    assert isinstance(domain, kind) and (domain.lower, domain.upper) == bounds
    draws = [domain.sample(None) for _ in range(50)]
    assert all(param.low <= d <= param.high for d in draws)
    if getattr(param, "step", None):
        assert all(math.isclose((d - param.low) / param.step, round((d - param.low) / param.step), abs_tol=1e-9) for d in draws)


def test_paths_nest_as_the_train_config_does_and_a_choice_moves_among_its_options():
    nested = mutations((LR, MOMENTUM, BATCH))
    assert set(nested) == {"optimizer", "batch_size"} and set(nested["optimizer"]) == {"lr", "momentum"}
    assert nested["batch_size"] == [32, 64, 128] and not isinstance(nested["batch_size"], Categorical)


@pytest.mark.parametrize(
    ("param", "perturbed", "kept"),
    [(LR, 0.36, 0.3), (LR, 5e-5, 1e-4), (LR, 0.0012, 0.0012), (DROPOUT, 0.36, 0.4), (DROPOUT, 0.6, 0.5), (WARMUP, 3, 4), (WARMUP, -1, 0)],
)
def test_a_perturbed_value_is_put_back_in_its_range_and_on_its_step(param, perturbed, kept):
    *parents, leaf = param.path.split(".")
    train: dict = {}
    node = train
    for key in parents:
        node = node.setdefault(key, {})
    node[leaf] = perturbed
    config = within_space((param,), {"config": train, "params": {"other": "x"}, "trial_number": 3})
    assert math.isclose(node[leaf], kept) and config["params"] == {"other": "x", param.path: node[leaf]}
    assert config["trial_number"] == 3


class Listener:
    def __init__(self) -> None:
        self.exploits: list[tuple[str, int, str, dict]] = []

    def record_exploit(self, trial_id, epoch, checkpoint, params, directory) -> None:
        self.exploits.append((trial_id, epoch, checkpoint, dict(params)))


class Controller:
    """What PBT asks of Ray's controller: the trials, to pause one, and a top trial's
    checkpoint (its latest, as a function trainable's save returns)."""

    def __init__(self, trials: list[Trial]) -> None:
        self.trials = trials
        self.paused: list[Trial] = []

    def get_trials(self) -> list[Trial]:
        return self.trials

    def pause_trial(self, trial: Trial, should_checkpoint: bool = True) -> None:
        self.paused.append(trial)
        trial.set_status(Trial.PAUSED)

    def _schedule_trial_save(self, trial: Trial, result: dict | None = None) -> tune.Checkpoint:
        return tune.Checkpoint(f"/ray/trial_{trial.config['trial_number']}/checkpoint_{result['epoch']:06d}")


def population(listener: Listener, count: int, **section) -> tuple[StudyPopulationBasedTraining, list[Trial]]:
    scheduler = StudyPopulationBasedTraining(
        metric="val_acc",
        mode="max",
        max_t=4,
        space=(LR, BATCH),
        section=PBTSection(type="pbt", perturbation_interval=1, **section),
    )
    scheduler.follow(listener)
    trials = []
    for n in range(count):
        config = {
            "config": {"optimizer": {"lr": 0.001 * (n + 1)}, "batch_size": 64},
            "params": {"optimizer.lr": 0.001 * (n + 1), "batch_size": 64},
            "trial_number": n,
            "log_file": f"trials/{n}/log.txt",
            "resume_from": f"/old/{n}",
        }
        trial = Trial("run_trial", config=config, stub=True)
        scheduler.on_trial_add(None, trial)  # Ray's refusal of a searcher is passed by
        trial.set_status(Trial.RUNNING)
        trials.append(trial)
    return scheduler, trials


@pytest.mark.parametrize("worst", [0.1, math.nan])
def test_the_bottom_trial_goes_on_from_the_top_ones_checkpoint_with_its_config_perturbed(worst):
    random.seed(0)
    listener = Listener()
    scheduler, trials = population(listener, 4)
    controller = Controller(trials)
    # trial 0 reports last of the three: the top one when it is compared, so its checkpoint is taken
    for trial, value in zip([trials[1], trials[2], trials[0]], [0.5, 0.6, 0.9]):
        assert scheduler.on_trial_result(controller, trial, {"epoch": 1, "val_acc": value}) == CONTINUE
    assert not listener.exploits
    scheduler.on_trial_result(controller, trials[3], {"epoch": 1, "val_acc": worst})  # NaN is the worst
    assert controller.paused == [trials[3]]
    [(trial_id, epoch, checkpoint, params)] = listener.exploits
    assert (trial_id, epoch, checkpoint) == (trials[3].trial_id, 1, "/ray/trial_0/checkpoint_000001")
    config = trials[3].config
    # its own number and log; trial 0's config and labels, perturbed; no earlier checkpoint to resume from
    assert (config["trial_number"], config["log_file"], "resume_from" in config) == (3, "trials/3/log.txt", False)
    assert config["params"] == params and params["optimizer.lr"] == config["config"]["optimizer"]["lr"] != 0.001
    assert 1e-4 <= params["optimizer.lr"] <= 0.3 and params["batch_size"] in (32, 64, 128)
    assert trials[3].checkpoint.path.endswith("trial_0/checkpoint_000001")


def test_pbt_stops_a_trial_at_its_last_epoch_and_lets_reports_without_the_metric_through():
    listener = Listener()
    scheduler, trials = population(listener, 2)
    controller = Controller(trials)
    assert scheduler.on_trial_result(controller, trials[0], {"hpo_error_type": "ValueError"}) == CONTINUE
    assert scheduler.on_trial_result(controller, trials[0], {"epoch": 4, "val_acc": 0.1}) == STOP
    assert scheduler.on_trial_result(controller, trials[1], {"epoch": 2, "val_acc": 0.1, "finished": True}) == STOP
    assert not listener.exploits and not controller.paused


def test_pbt_is_built_from_its_section():
    spec = spec_from_text(VALID_SPEC.replace("{type: asha, grace_period: 1, reduction_factor: 2}", "{type: pbt}"), "spec.yaml")
    assert type(build_scheduler(spec, optuna.create_study(direction="maximize"))) is StudyPopulationBasedTraining


# ---------------------------------------------------------------- checkpoints of a population


def checkpoint(root, trial: str, epoch: int) -> str:
    path = root / f"trial_{trial}" / f"checkpoint_{epoch:06d}"
    path.mkdir(parents=True)
    (path / "state.pt").write_text("x")
    return str(path)


def test_a_checkpoint_stays_while_it_may_be_copied_or_resumed_and_goes_after(tmp_path):
    shared = SharedCheckpoints(window=2)
    a = [checkpoint(tmp_path, "a", e) for e in (1, 2, 3, 4)]
    b = [checkpoint(tmp_path, "b", e) for e in (1, 2)]
    shared.written("a", a[0], 1)
    shared.written("b", b[0], 1)
    shared.written("a", a[1], 2)
    shared.sweep()
    assert all(map(exists, a[:2] + b[:1]))  # within a's window of two epochs
    shared.copied("b", a[1])  # b is exploited: it copies a's epoch-2 checkpoint and is paused
    shared.written("a", a[2], 3)
    shared.written("a", a[3], 4)
    shared.sweep()
    assert not exists(a[0]), "out of a's window and no one starts from it"
    assert exists(a[1]), "b starts from it"
    assert not exists(b[0]), "b's own, replaced by the copy it starts from"
    assert shared.origin(a[1]) == ("a", 2)
    shared.written("b", b[1], 3)  # b wrote its own: a's epoch 2 can go
    shared.sweep()
    assert not exists(a[1]) and exists(a[2]) and exists(b[1])
    shared.ended("a", interrupted=False)
    shared.sweep()
    assert not exists(str(tmp_path / "trial_a")), "its trial directory goes once it ended and no one uses it"
    shared.ended("b", interrupted=True)
    shared.sweep()
    assert exists(b[1]), "an interrupted trial's checkpoint stays: the next run resumes from it"


def test_an_earlier_runs_directory_goes_once_its_last_user_moved_on(tmp_path):
    shared = SharedCheckpoints(window=2)
    old = [checkpoint(tmp_path, "old", e) for e in (1, 2)]  # a killed run left two; its trial resumes from the second
    shared.start_from("new", old[1])
    shared.sweep()
    assert all(map(exists, old))
    shared.written("new", checkpoint(tmp_path, "new", 3), 3)
    shared.sweep()
    assert not exists(str(tmp_path / "trial_old"))


def exists(path: str) -> bool:
    return Path(path).exists()

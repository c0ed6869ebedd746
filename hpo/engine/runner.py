"""``hpo run``: open (or resume) the study, start Ray, run the trials, close cleanly.

Ray Tune schedules the trials (ASHA, resources, concurrency); the searcher in this
process asks and tells the Optuna study. Running the same spec again resumes: trials
left RUNNING by a crash are failed as "interrupted" and their parameters enqueued, and
the run stops at exactly ``study.trials`` finished trials. Ctrl-C (or SIGTERM) fails
the running trials as "interrupted" and leaves a consistent study to resume. A trial
queued again continues from its last checkpoint, where it has one (hpo.engine.checkpoints);
at the time budget, running trials that checkpoint are paused to continue in the next run. Before the
study is opened, the trainer's ``check`` sees every config the space can give
(hpo.spec.preflight); during the run, ``study.max_failures`` failed trials in a row end it
(hpo.engine.failures).

A run ends for one reason, said in its summary and stored in the study (STOP_REASON_ATTR,
shown by ``hpo status``): a stop rule fired (``study.target``, ``study.patience``:
hpo.study.stoprules), the time budget was spent, the study has its trials, trials kept
failing, or it was interrupted. The stop rules are judged on the stored trials, so a resumed
run of a study that met them starts nothing and gives the same reason.
"""

from __future__ import annotations

import logging
import math
import os
import threading
import warnings
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING, Any

import optuna
from optuna.trial import FrozenTrial, TrialState
from rich.console import Console

from hpo.engine.failures import FailureStreak
from hpo.engine.progress import StudyProgress
from hpo.engine.samplers import ConditionalGridSampler, build_sampler
from hpo.engine.tracking import check_installed, destinations
from hpo.errors import HpoError
from hpo.spec.preflight import preflight, prepare
from hpo.spec.sections import PBTSection, Spec
from hpo.spec.trackers import LogSection
from hpo.study.keys import STOP_REASON_ATTR
from hpo.study.locate import resolve_study
from hpo.study.records import INTERRUPTED, INTERRUPTED_TYPE, beat, is_warm_start, recover_orphans
from hpo.study.stoprules import StopRules
from hpo.study.storage import STUDIES_DIR, default_storage_url, open_storage, refused_as_error
from hpo.study.summary import Tally, versus_baseline
from hpo.study.versions import open_study_for_spec

if TYPE_CHECKING:
    from hpo.engine.searcher import PausedTrials, RungPauses, StudySearcher

HEARTBEAT_INTERVAL_S = 30.0

# Ray reads these when it starts; set before the first `import ray`.
_RAY_ENV = {
    "TUNE_DISABLE_SIGINT_HANDLER": "1",  # Ctrl-C reaches hpo, which fails running trials cleanly
    "TUNE_DISABLE_AUTO_CALLBACK_LOGGERS": "1",  # the study is the record; no CSV/JSON per trial
    # a trial's error report carries no metric; ASHA skips such a result and the searcher
    # records the error (the spec already checked that the metric is one the trainer reports)
    "TUNE_DISABLE_STRICT_METRIC_CHECKING": "1",
    "RAY_AIR_NEW_OUTPUT": "0",
    "RAY_DEDUP_LOGS": "0",
    "TUNE_WARN_INSUFFICENT_RESOURCE_THRESHOLD_S": "0",
    "RAY_USAGE_STATS_ENABLED": "0",  # nothing leaves the machine
}


@dataclass
class RunOutcome:
    study_name: str
    storage_url: str
    tally: Tally
    interrupted: bool
    budget_spent: bool
    recovered: list[int]
    paused: int = 0  # running trials paused at the time budget, queued to resume
    failures: str | None = None  # the summary, when study.max_failures trials in a row failed
    reason: str | None = None  # why the run ended, in words (also stored in the study: STOP_REASON_ATTR)
    versus_baseline: str | None = None  # the best trial against the baseline trial (hpo.study.summary)


def run_study(
    spec: Spec,
    *,
    address: str | None = None,
    new_version: bool = False,
    warm_start: bool = False,
    console: Console | None = None,
    download: bool = False,
    log: Sequence[str] = (),
) -> RunOutcome:
    """Run (or resume) the study of ``spec`` until it has ``study.trials`` finished trials, or a stop rule fires.

    Every trial calls the spec's trainer (``spec.trainer``, imported when the spec loaded)
    as ``train(config, report)``; a Ray instance already initialised in this process is
    used as it is (and left running). ``download``: the trainer's ``prepare`` may fetch what
    its trials read (a data set), here, once, before the first trial. ``log`` names trackers
    to send the trials to, beside those of the spec's ``log:`` (hpo.engine.tracking).
    ``warm_start`` (or the spec's ``study.warm_start``): a new version begins with the
    earlier version's trials that lie in its space (hpo.study.warmstart).
    """
    if warm_start and not new_version:
        raise HpoError(
            f"{spec.source}: --warm-start seeds a new version of study {spec.study.name!r} with the trials of the version "
            "before it, and only --new-version opens one: run with both, or without --warm-start"
        )
    trackers = spec.log.adding(log)
    check_installed(trackers)  # before anything is fetched or stored: a tracker that is not installed is refused
    console = console or Console()
    for line in prepare(spec, download):  # in the driver only: trials never fetch
        console.print(line, highlight=False)
    preflight(spec)  # before the study is opened: a study no trial can run gets none
    address = address or os.environ.get("RAY_ADDRESS") or "local"
    if address != "local":
        check_head_reachable(address)  # likewise: an unreachable cluster leaves no new, empty study
    quiet_optuna()
    storage_url = spec.study.storage or default_storage_url(spec.study.name)
    storage = open_storage(storage_url)
    sampler = build_sampler(spec)
    with refused_as_error(storage_url):  # the first writes: a read-only database says no here
        study = open_study_for_spec(
            spec, storage, sampler, new_version=new_version, console=console, warm_start=warm_start or spec.study.warm_start
        )
        recovered = recover_orphans(study, storage, study.get_trials(deepcopy=False, states=(TrialState.RUNNING,)))
    trials = study.get_trials(deepcopy=False)
    asked = sum(t.state != TrialState.WAITING and not is_warm_start(t) for t in trials)  # a queue, or a warm start, alone is no resume
    if asked:  # a resumed study: a fresh random stream, not the one its first run drew from
        sampler = study.sampler = build_sampler(spec, asked)
    if recovered:
        console.print(
            f"resuming: trials {recovered} were interrupted; their parameters run again, from their last checkpoint where they have one",
            highlight=False,
        )
    target = spec.study.trials
    if isinstance(sampler, ConditionalGridSampler) and sampler.size < target:
        console.print(f"the grid has {sampler.size} points: running {sampler.size} trials, not {target}", highlight=False)
        target = sampler.size
    tally = Tally.from_trials(trials, target, spec.modes)
    outcome = RunOutcome(study.study_name, storage_url, tally, False, False, recovered, versus_baseline=versus_baseline(tally.best, trials))
    rules = StopRules(spec.metric, spec.mode, spec.study.target, spec.study.patience)
    done = rules.verdict(trials)
    if done is not None:
        console.print(f"study {study.study_name} met its stop rule ({done}): no trial started", highlight=False)
    elif tally.finished >= target:
        console.print(f"study {study.study_name} already has {tally.finished} finished trials (target {target})", highlight=False)
        done = _trials_reason(tally.finished, target)
    if done is not None:
        outcome.reason = done
        _store_reason(study, done, storage_url)
        return outcome
    console.print(f"follow it: {dashboard_command(study.study_name, storage_url)}", highlight=False, soft_wrap=True)
    log_dir = STUDIES_DIR / study.study_name
    failures = FailureStreak(spec.study.max_failures)
    for line in destinations(trackers, study.study_name):
        console.print(line, highlight=False)
    # from here on the study has a live driver: `hpo status --watch` waits for it, `hpo delete` refuses
    stop_beating = _heartbeat(storage, storage.get_study_id_from_name(study.study_name))
    try:
        with ray_session(address, log_dir):
            concurrency = max_concurrent(spec)
            progress = StudyProgress(study.study_name, tally, console, concurrency=concurrency, time_budget_s=spec.study.time_budget)
            with progress:
                outcome.interrupted, outcome.budget_spent, outcome.reason, outcome.paused, trials = _tune(
                    spec, study, storage, target, progress, failures, trackers, concurrency, rules
                )
    finally:
        stop_beating()
    outcome.tally = Tally.from_trials(trials, target, spec.modes)
    outcome.versus_baseline = versus_baseline(outcome.tally.best, trials)
    if outcome.interrupted:
        outcome.reason = "interrupted"
    elif failures.stop:  # Ctrl-C's own failures say nothing of the trainer
        outcome.failures = failures.summary()
        outcome.reason = failures.headline()
    elif outcome.reason is None:
        outcome.reason = "the time budget was spent" if outcome.budget_spent else _trials_reason(outcome.tally.finished, target)
    _store_reason(study, outcome.reason, storage_url)
    return outcome


def _trials_reason(finished: int, target: int) -> str:
    return f"{finished}/{target} trials"


def _store_reason(study: optuna.Study, reason: str, storage_url: str) -> None:
    """Record why the run ended, for ``hpo status``. An unchanged reason is not written
    again: a resumed run of a finished study needs no write."""
    if study.user_attrs.get(STOP_REASON_ATTR) != reason:
        with refused_as_error(storage_url):
            study.set_user_attr(STOP_REASON_ATTR, reason)


def dashboard_command(study_name: str, storage_url: str) -> str:
    """``hpo dashboard NAME``, with ``--storage URL`` where hpo would not find the study by its name alone."""
    import shlex

    try:
        found = resolve_study(study_name)[1] == storage_url  # as `hpo dashboard NAME` looks it up
    except HpoError:
        found = False
    return f"hpo dashboard {shlex.quote(study_name)}" + ("" if found else f" --storage {shlex.quote(storage_url)}")


def quiet_optuna() -> None:
    """hpo prints its own progress; Optuna's per-trial log lines and its notes about
    experimental sampler options would only repeat it."""
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    warnings.filterwarnings("ignore", category=optuna.exceptions.ExperimentalWarning)


def _tune(
    spec: Spec,
    study: optuna.Study,
    storage: optuna.storages.BaseStorage,
    target: int,
    progress: StudyProgress,
    failures: FailureStreak,
    trackers: LogSection,
    concurrency: int,
    rules: StopRules,
) -> tuple[bool, bool, str | None, int, list[FrozenTrial]]:
    """Run Ray Tune until the searcher says the study is done; returns (interrupted,
    budget_spent, the verdict of the stop rule that fired, the trials paused at the time
    budget, the study's trials at the end)."""
    from ray import tune

    from hpo.engine.checkpoints import ray_storage_path
    from hpo.engine.population import StudyPopulationBasedTraining
    from hpo.engine.promotion import StudyPromotionScheduler
    from hpo.engine.schedulers import StudyHyperBandScheduler, build_scheduler
    from hpo.engine.trainable import run_trial

    scheduler = build_scheduler(spec, study)
    # Ray's limit counts paused trials as live, and waits for ever once they fill it: for a
    # scheduler that pauses, the searcher keeps it, counting running trials only
    paused = scheduler if isinstance(scheduler, StudyPromotionScheduler | StudyHyperBandScheduler) else None
    resumes_from_checkpoints = isinstance(scheduler, StudyPromotionScheduler | StudyHyperBandScheduler | StudyPopulationBasedTraining)
    pauses = scheduler if isinstance(scheduler, StudyPromotionScheduler) else None
    searcher = _searcher(spec, study, storage, target, progress, failures, rules, paused, pauses, concurrency)
    if isinstance(scheduler, StudyPromotionScheduler | StudyPopulationBasedTraining):
        scheduler.follow(searcher)  # whether the study is ending; each exploit, to record
    resources = spec.resources
    tuner = tune.Tuner(
        tune.with_resources(run_trial, {"cpu": resources.cpus_per_trial, "gpu": resources.gpus_per_trial}),
        param_space={
            "trainer": spec.trainer,
            "trial_timeout_s": spec.study.trial_timeout,
            "workdir": os.getcwd(),
            "checkpoint_every": spec.checkpoint.every,
            "checkpoint_overhead": None if resumes_from_checkpoints else spec.checkpoint.max_overhead,  # hpo.engine.trainable
            "keep_weights": spec.checkpoint.keep > 0,
            "fidelity": spec.fidelity_schedule,  # (train's keyword, its value per epoch): hpo.spec.fidelity
        },
        tune_config=tune.TuneConfig(
            search_alg=searcher,
            scheduler=scheduler,
            num_samples=-1,  # the searcher decides when the study is done
            max_concurrent_trials=None if paused is not None else concurrency,
            reuse_actors=True,  # one worker runs trial after trial: no torch import per trial
            trial_name_creator=_trial_name,
            trial_dirname_creator=partial(_trial_dirname, study.study_name),
        ),
        run_config=tune.RunConfig(
            name=study.study_name,
            storage_path=ray_storage_path(study.study_name),
            verbose=0,
            callbacks=_callbacks(spec, searcher) + _loggers(trackers, study.study_name),
            # a retry starts from the trial's latest checkpoint; the searcher deletes the ones before
            # (Ray's num_to_keep would also save Ray's experiment state, which hpo never reads, at each one)
            failure_config=tune.FailureConfig(max_failures=spec.study.retries),
        ),
    )
    interrupted = False
    try:
        tuner.fit()
    except KeyboardInterrupt:
        interrupted = True
    finally:
        searcher.fail_unfinished(INTERRUPTED_TYPE, INTERRUPTED)
    return interrupted, searcher.budget_spent, searcher.stopped, searcher.paused, searcher.study_trials()


def _searcher(
    spec: Spec,
    study: optuna.Study,
    storage: optuna.storages.BaseStorage,
    target: int,
    progress: StudyProgress,
    failures: FailureStreak,
    rules: StopRules,
    paused: PausedTrials | None,
    pauses: RungPauses | None,
    concurrency: int,
) -> StudySearcher:
    from hpo.engine.searcher import StudySearcher

    sampler = study.sampler
    return StudySearcher(
        study,
        storage,
        spec.space,
        spec.train,
        metric=spec.metric,
        mode=spec.mode,
        reported=tuple(spec.contract.metrics),
        objectives=spec.metrics[1:],
        constraints=spec.constraints,
        objective=spec.trial_objective,  # the last epoch's under pbt and fidelity: resolution
        target=target,
        time_budget_s=spec.study.time_budget,
        pause_at_budget=bool(spec.checkpoint.every) and not spec.study.finish_running,
        observer=progress,
        grid=sampler if isinstance(sampler, ConditionalGridSampler) else None,
        failures=failures,
        rules=rules,
        keep=spec.checkpoint.keep,
        paused=paused,
        max_concurrent=concurrency if paused is not None else None,
        pauses=pauses,
        # a top trial's checkpoint from its last comparison, up to this many epochs back, may be copied
        clone_window=spec.scheduler.perturbation_interval + 1 if isinstance(spec.scheduler, PBTSection) else None,
    )


def _callbacks(spec: Spec, searcher: StudySearcher) -> list[Any]:
    """The callbacks that hand Ray's errors and checkpoints to the searcher, and enforce study.trial_timeout."""
    from hpo.engine.callbacks import TrialErrorCallback, TrialTimeoutWatchdog
    from hpo.engine.checkpoints import CheckpointRecorder

    errors = TrialErrorCallback(searcher)
    callbacks: list[Any] = [errors, CheckpointRecorder(searcher)]
    if spec.study.trial_timeout:
        callbacks.append(TrialTimeoutWatchdog(errors, spec.study.trial_timeout))
    return callbacks


def _loggers(trackers: LogSection, study_name: str) -> list[Any]:
    """Ray's logger callbacks of the trackers the run sends its trials to (none: no import)."""
    if not trackers.trackers:
        return []
    from hpo.engine.loggers import loggers

    return loggers(trackers, study_name)


def _trial_name(trial: Any) -> str:
    return f"trial_{trial.trial_id}"


def _trial_dirname(study_name: str, trial: Any) -> str:
    """The trial's directory in Ray's storage, by its number in the study (hpo.engine.checkpoints)."""
    from hpo.engine.checkpoints import ray_trial_directory

    return Path(ray_trial_directory(study_name, trial.config["trial_number"])).name


def max_concurrent(spec: Spec) -> int:
    """Trials at once: the spec's limit, else what the cluster's resources allow."""
    import ray

    if spec.resources.max_concurrent:
        return spec.resources.max_concurrent
    available = ray.cluster_resources()
    fits = math.floor(available.get("CPU", 1) / spec.resources.cpus_per_trial + 1e-9)
    if spec.resources.gpus_per_trial > 0:
        fits = min(fits, math.floor(available.get("GPU", 0) / spec.resources.gpus_per_trial + 1e-9))
    return max(1, fits)


def _heartbeat(storage: optuna.storages.BaseStorage, study_id: int):
    """Beat every HEARTBEAT_INTERVAL_S in a thread; returns the function that stops it.
    A beat that fails (the database busy or briefly unreachable) is logged and the next
    one tried: a thread that stopped would let other drivers take this live driver for
    dead and fail its trials."""
    stop = threading.Event()

    def loop() -> None:
        while True:
            try:
                beat(storage, study_id)
            except Exception as exc:
                logging.getLogger(__name__).warning("heartbeat not recorded: %s", exc)
            if stop.wait(HEARTBEAT_INTERVAL_S):
                return

    thread = threading.Thread(target=loop, name="hpo-heartbeat", daemon=True)
    thread.start()

    def stop_beating() -> None:
        stop.set()
        thread.join()

    return stop_beating


RAY_CONNECT_TIMEOUT_S = 10.0  # a head that takes longer to accept a TCP connection is taken as unreachable


def set_ray_environment(*, local: bool) -> None:
    """Set what Ray reads as it is imported: :data:`_RAY_ENV`, and for a ``local``
    instance, loopback only."""
    import sys

    imported = "ray" in sys.modules  # e.g. by the trainer's module: Ray has read its settings
    for key, value in _RAY_ENV.items():
        os.environ.setdefault(key, value)
    if local:
        # Else a local instance advertises the machine's outward address and listens on
        # every interface.
        os.environ["RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER"] = "0"
        if not imported:  # else Ray turns it on itself, in its settings and the environment alike
            os.environ.setdefault("RAY_AUTH_MODE", "token")  # Ray's default, said explicitly: no notice


@contextmanager
def ray_session(address: str, log_dir: Path) -> Iterator[None]:
    """Join a cluster, use a Ray already started in this process, or start a local one;
    shut down only what was started here.

    ``address`` is what run_study resolved: ``--address`` (HOST:PORT of a head, or ``auto``
    for the one ``ray start`` last started on this machine), else ``RAY_ADDRESS`` (which
    ``ray job submit`` sets), else ``local``: a local instance on loopback only, never a
    cluster that happens to run on this machine. Ray's log lines go to ``log_dir/ray.log``,
    not the console.
    """
    set_ray_environment(local=address == "local")
    import ray

    log_dir.mkdir(parents=True, exist_ok=True)
    _send_ray_logs_to(log_dir / "ray.log")  # after the import: importing ray sets up its loggers
    started = False
    if not ray.is_initialized():
        common: dict[str, Any] = {"log_to_driver": False, "logging_level": logging.WARNING, "configure_logging": False}
        try:
            if address == "local":  # said explicitly, or Ray joins the last `ray start` on this machine
                ray.init(address="local", _node_ip_address="127.0.0.1", include_dashboard=False, **common)
            else:  # reachable: run_study checked it
                ray.init(address=address, **common)
        except (ConnectionError, ray.exceptions.AuthenticationError) as exc:
            raise HpoError(_cannot_join(address, exc)) from None
        started = True
    try:
        yield
    finally:
        if started:
            ray.shutdown()


def check_head_reachable(address: str) -> None:
    """Fail in seconds with a clear error: Ray itself retries an unreachable head forever.
    ``auto`` is left to Ray, which looks up the cluster `ray start` last started here and
    says at once when there is none."""
    import socket

    if address == "auto":
        return
    host, _, port = address.rpartition(":")
    if not host or not port.isdigit():
        raise HpoError(f"--address {address}: expected HOST:PORT of the Ray head, or auto")
    try:
        socket.create_connection((host, int(port)), timeout=RAY_CONNECT_TIMEOUT_S).close()
    except OSError as exc:
        raise HpoError(
            f"cannot reach the Ray cluster at {address}: {exc.strerror or exc}. Is `ray start --head "
            f"--port {port}` running there, and is that address reachable from this machine?"
        ) from None


def _cannot_join(address: str, exc: Exception) -> str:
    reason = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
    if address == "local":
        return f"cannot start a local Ray instance: {reason}"
    message = f"cannot join the Ray cluster at {address}: {reason}"
    if os.environ.get("RAY_AUTH_MODE", "").lower() != "token":
        message += (
            ". If the cluster uses token authentication (Ray's default for `ray start`), run with "
            "RAY_AUTH_MODE=token and the cluster's token in ~/.ray/auth_token (or RAY_AUTH_TOKEN_PATH)"
        )
    return message


def _send_ray_logs_to(path: Path) -> None:
    handler = logging.FileHandler(path)
    handler.setFormatter(logging.Formatter("%(asctime)s %(name)s %(levelname)s %(message)s"))
    for name in ("ray", "ray.tune", "ray.train", "ray.air"):
        logger = logging.getLogger(name)
        for old in list(logger.handlers):
            logger.removeHandler(old)
        logger.addHandler(handler)
        logger.propagate = False

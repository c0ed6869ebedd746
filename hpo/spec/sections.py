"""Load and validate a search-space spec: ``trainer``, ``study``, ``sampler``, ``scheduler``,
``resources``, ``log``, ``train`` and ``space``.

A spec is a training config with holes, for the trainer it names. Loading checks each
section with pydantic, imports the trainer and judges ``train:`` and ``study.metric`` by
its contract (:mod:`hpo.spec.trainer`), parses ``space:``, and then fills the space at its
extremes and judges each result by the contract too: a path the trainer would not read
is an error here, never a silent no-op at run time. Every failure is a
:class:`~hpo.errors.SpecError` naming the file and the key path.
"""

from __future__ import annotations

import hashlib
import json
import math
import re
from collections.abc import Callable
from pathlib import Path
from typing import Annotated, Any, Literal

import pydantic
from pydantic import Field, field_validator, model_validator

from hpo.contract import Contract, Mode, StrictModel, takes_keywords, takes_resume, validate_strict
from hpo.errors import SpecError
from hpo.spec.fidelity import FIDELITIES
from hpo.spec.messages import validation_error
from hpo.spec.objectives import Constraint, parse_constraints, resolve_objectives
from hpo.spec.population import check_population
from hpo.spec.queue import check_assignment
from hpo.spec.space import Scalar, Space, assignments, parse_space
from hpo.spec.trackers import LogSection, named_trackers
from hpo.spec.trainer import DEFAULT_TRAINER, check_epochs, check_space, check_train_config, load_trainer
from hpo.spec.yamlfile import parse_yaml, read_yaml

STUDY_NAME_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9_.-]*$"  # one plain path component: never ../x, a/b or /x

_DURATION = re.compile(r"^\s*(?:(\d+)d)?\s*(?:(\d+)h)?\s*(?:(\d+)m)?\s*(?:(\d+)s)?\s*$")


def parse_duration(value: Any) -> float:
    """``90m``, ``2h``, ``1h30m``, ``45s``, ``1d`` or a number of seconds -> seconds."""
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        if value <= 0:
            raise ValueError(f"must be positive, got {value}")
        return float(value)
    match = _DURATION.match(value) if isinstance(value, str) else None
    if not match or not any(match.groups()):
        raise ValueError(f"expected a duration like 90m, 2h, 1h30m or 45s, got {value!r}")
    days, hours, minutes, seconds = (int(g or 0) for g in match.groups())
    total = ((days * 24 + hours) * 60 + minutes) * 60 + seconds
    if total <= 0:
        raise ValueError(f"must be positive, got {value!r}")
    return float(total)


Duration = Annotated[float, pydantic.BeforeValidator(parse_duration)]


def _one_or_list(what: str, valid: type | tuple[str, ...]) -> Callable[[Any], Any]:
    """A check of a key that takes one value or a list of them (one per objective), whose
    error names the key itself rather than a branch of the union."""

    def ok(item: Any) -> bool:
        return isinstance(item, valid) if isinstance(valid, type) else item in valid

    def check(value: Any) -> Any:
        if value is None or ok(value) or (isinstance(value, list) and value and all(ok(item) for item in value)):
            return value
        raise ValueError(f"expected {what}, or a list of them (one per objective), got {value!r}")

    return check


class StudySection(StrictModel):
    """What is searched for, how long, and where it is recorded."""

    name: str = Field(pattern=STUDY_NAME_PATTERN, max_length=100)  # names studies/<name>/
    # the trainer's per-epoch key to optimise, and whether higher is better; both follow the
    # trainer's declared metrics when it has any (hpo.spec.objectives). A list of metrics (and
    # of modes) makes the study multi-objective; the first is pruned on and judged by the stop rules
    metric: Annotated[str | list[str] | None, pydantic.BeforeValidator(_one_or_list("a metric name", str))] = None
    mode: Annotated[Mode | list[Mode] | None, pydantic.BeforeValidator(_one_or_list("'max' or 'min'", ("max", "min")))] = None
    objective: Literal["best", "last"] = "best"  # a complete trial's value: best epoch or last
    trials: int = Field(ge=1)  # finished (complete + pruned) trials to reach
    # stop launching trials after this; running trials that checkpoint are paused at their next
    # report, to resume in the next run (hpo.engine.trainable)
    time_budget: Duration | None = None
    finish_running: bool = False  # at the time budget, let running trials finish instead of pausing them
    # stop launching trials once a complete trial's value reaches this (>= for max, <= for min)
    target: float | None = Field(None, strict=True)  # strict: `true` or "0.9" is a mistake, not a number
    # stop launching trials after this many finished trials in a row without a better complete value
    patience: int | None = Field(None, ge=1, strict=True)
    trial_timeout: Duration | None = None  # a trial running longer fails with reason "timeout"
    retries: int = Field(0, ge=0)  # re-run a trial whose worker died this many times
    # failed trials in a row that end the run (hpo.engine.failures): enough that a few diverging
    # corners never end it, few enough that a cause shared by every trial costs minutes; 0/null: never
    max_failures: int | None = Field(10, ge=0)
    seed: int = 0  # sampler seed: the same spec proposes the same first trials
    baseline: bool = True  # run `train:` as it is as the first trial, to compare the search against (hpo.spec.queue)
    # a new version (--new-version) begins with the earlier version's trials that lie in its space (hpo.study.warmstart)
    warm_start: bool = False
    storage: str | None = None  # SQLAlchemy URL; default sqlite:///studies/<name>.db

    @model_validator(mode="after")
    def _objectives_pair_up(self) -> StudySection:
        if isinstance(self.metric, list):
            if len(self.metric) < 2:
                raise ValueError("metric: a list names two or more objectives; one metric is written as it is (metric: val_acc)")
            twice = [m for i, m in enumerate(self.metric) if m in self.metric[:i]]
            if twice:
                raise ValueError(f"metric: {twice[0]!r} is listed twice")
            if self.mode is not None and (not isinstance(self.mode, list) or len(self.mode) != len(self.metric)):
                raise ValueError(f"mode: expected a list of {len(self.metric)} modes (max or min), one per metric, got {self.mode!r}")
        elif isinstance(self.mode, list):
            raise ValueError(f"mode: a list of modes needs a list of metrics; metric is {self.metric!r}")
        return self

    @field_validator("target")
    @classmethod
    def _finite_target(cls, value: float | None) -> float | None:
        if value is not None and not math.isfinite(value):
            raise ValueError(f"must be a finite number, got {value}")
        return value


class TPESection(StrictModel):
    type: Literal["tpe"]
    n_startup_trials: int = Field(10, ge=0)  # random trials before the model is trusted
    multivariate: bool = True  # model parameters jointly: they interact (lr x batch size)
    group: bool | None = None  # per conditional sub-space; default: on when multivariate
    constant_liar: bool = True  # running trials count as bad, so parallel asks spread out
    n_ei_candidates: int = Field(24, ge=1)

    @model_validator(mode="after")
    def _group_follows_multivariate(self) -> TPESection:
        if self.group is None:
            self.group = self.multivariate
        elif self.group and not self.multivariate:
            raise ValueError("group: true needs multivariate: true")
        return self


class RandomSection(StrictModel):
    type: Literal["random"]


class GridSection(StrictModel):
    type: Literal["grid"]


class CmaEsSection(StrictModel):
    type: Literal["cmaes"]
    n_startup_trials: int = Field(1, ge=0)
    sigma0: float | None = Field(None, gt=0)
    with_margin: bool = False  # CMA-ES with margin: keeps discrete parameters from collapsing
    use_separable_cma: bool = False


class GPSection(StrictModel):
    type: Literal["gp"]
    n_startup_trials: int = Field(10, ge=0)
    deterministic_objective: bool = False


class NSGA2Section(StrictModel):
    type: Literal["nsga2"]
    population_size: int = Field(50, ge=2)  # trials per generation; the first generation is random
    mutation_prob: float | None = Field(None, ge=0, le=1)  # None: 1 / number of parameters
    crossover_prob: float = Field(0.9, ge=0, le=1)
    swapping_prob: float = Field(0.5, ge=0, le=1)


class QMCSection(StrictModel):
    type: Literal["qmc"]
    qmc_type: Literal["sobol", "halton"] = "sobol"
    scramble: bool = True


SamplerSection = Annotated[
    TPESection | RandomSection | GridSection | CmaEsSection | GPSection | NSGA2Section | QMCSection,
    Field(discriminator="type"),
]


class ASHASection(StrictModel):
    type: Literal["asha"]
    grace_period: int = Field(1, ge=1)  # epochs every trial runs before it can be stopped
    reduction_factor: int = Field(3, ge=2)  # keep the top 1/reduction_factor at each rung
    # past the first rung, also stop a trial whose place at the rung below later trials
    # took; off: it did not make TPE + ASHA find good configs sooner (benchmarks/)
    recheck_rung_below: bool = False
    # pause a trial at a rung and resume it from its checkpoint once it ranks in the top
    # 1/reduction_factor there, instead of deciding on arrival (hpo.engine.promotion)
    promotion: bool = False
    # what a rung saves: epochs (each trains on all the data), data_fraction (before the last rung,
    # epochs train on 1/reduction_factor of the data per rung still ahead) or resolution (on images
    # with 1/reduction_factor of the pixels per rung still ahead): hpo.spec.fidelity
    fidelity: Literal["epochs", "data_fraction", "resolution"] = "epochs"

    @model_validator(mode="after")
    def _recheck_stops_on_arrival(self) -> ASHASection:
        if self.promotion and self.recheck_rung_below:
            raise ValueError("recheck_rung_below takes back a promotion made on arrival, and promotion: true makes none: use one of them")
        return self


class MedianSection(StrictModel):
    """The median stopping rule (hpo.engine.schedulers.StudyMedianStoppingRule)."""

    type: Literal["median"]
    grace_period: int = Field(1, ge=1)  # epochs every trial runs before it can be stopped; the running means start there
    min_samples_required: int = Field(3, ge=1)  # other trials that must have reached an epoch before a trial is judged at it


class HyperBandSection(StrictModel):
    """Ray Tune's HyperBand (hpo.engine.schedulers.StudyHyperBandScheduler): it pauses trials
    at a bracket's milestone and resumes the best from their checkpoints."""

    type: Literal["hyperband"]
    reduction_factor: int = Field(3, ge=2)  # η: the top 1/η of a bracket's trials go on at each milestone


class PBTSection(StrictModel):
    """Ray Tune's Population Based Training (hpo.engine.population): at every
    ``perturbation_interval`` epochs a trial in the bottom quantile continues from the
    checkpoint of one in the top quantile, with that trial's parameters perturbed."""

    type: Literal["pbt"]
    # epochs between a trial's comparisons with the others: 2 lets a perturbed value show its
    # effect before it is judged, on the short runs a search gives each trial
    perturbation_interval: int = Field(2, ge=1, strict=True)
    quantile_fraction: float = Field(0.25, gt=0, le=0.5)  # the bottom share copies the top share (Ray's default)
    resample_probability: float = Field(0.25, ge=0, le=1)  # a perturbed key is drawn afresh, else scaled by 0.8 or 1.2
    # the space keys an exploit may change on a copied checkpoint; default: every float outside `when:`
    # (a float rarely sets a shape; ints and choices often do: channels, kernel sizes, layers)
    perturb: list[str] | None = None


class NoScheduler(StrictModel):
    type: Literal["none"]


SchedulerSection = Annotated[ASHASection | MedianSection | HyperBandSection | PBTSection | NoScheduler, Field(discriminator="type")]
PAUSING_SCHEDULERS = ("hyperband", "pbt")  # they pause trials and resume them from their checkpoints; so does asha with promotion


def pauses_trials(scheduler: SchedulerSection) -> bool:
    """Whether ``scheduler`` pauses trials and resumes them from their checkpoints."""
    return scheduler.type in PAUSING_SCHEDULERS or (isinstance(scheduler, ASHASection) and scheduler.promotion)


class ResourcesSection(StrictModel):
    cpus_per_trial: float = Field(1.0, gt=0)
    gpus_per_trial: float = Field(0.0, ge=0)  # 0.25 packs four trials on one GPU
    max_concurrent: int | None = Field(None, ge=1)  # default: as many as resources allow

    @field_validator("gpus_per_trial")
    @classmethod
    def _whole_above_one(cls, value: float) -> float:
        if value > 1 and value != int(value):
            raise ValueError(f"above 1 a trial takes whole GPUs, got {value}")
        return value


def _checkpoint_switch(value: Any) -> Any:
    """``checkpoint: false`` is ``{every: 0, keep: 0}`` (nothing written), ``checkpoint: true`` the default."""
    if value is False:
        return {"every": 0, "keep": 0}
    if value is True:
        return {}
    return value


class CheckpointSection(StrictModel):
    """How often a trial's state is checkpointed, so that an interrupted trial continues
    where it stopped (only trainers that take ``resume`` hand a state: hpo.contract), and
    how many of the best trials keep their final weights."""

    # every N-th epoch; 0: never. Every epoch: an interrupted trial loses at most the epoch it was in,
    # and only the latest checkpoint of a trial is kept, so the disk it takes does not grow with it
    every: int = Field(1, ge=0, strict=True)
    # the most of a trial's time its checkpoints take: a due one is left out until the trial has trained
    # long enough after the last one for its cost to be that share (hpo.engine.trainable). 1: every due one.
    # Not under a scheduler that pauses or copies trials, which resume from them
    max_overhead: float = Field(0.05, gt=0, le=1)
    # the best K COMPLETE trials keep their final weights as Optuna artifacts (hpo.study.weights); 0: none.
    # Three: the best to export, and two behind it to compare, at three models' size on disk
    keep: int = Field(3, ge=0, strict=True)


# Field names of the sampler sections are the samplers' keyword arguments (hpo.engine.samplers).


class SpecFile(StrictModel):
    """The whole file; ``train`` and ``space`` are checked separately (see module doc)."""

    trainer: str | None = None  # module:function; default hpo.spec.trainer.DEFAULT_TRAINER
    study: StudySection
    sampler: SamplerSection = Field(default_factory=lambda: TPESection(type="tpe"))
    scheduler: SchedulerSection = Field(default_factory=lambda: ASHASection(type="asha"))
    resources: ResourcesSection = Field(default_factory=ResourcesSection)
    log: Annotated[LogSection, pydantic.BeforeValidator(named_trackers)] = Field(default_factory=LogSection)  # hpo.spec.trackers
    checkpoint: Annotated[CheckpointSection, pydantic.BeforeValidator(_checkpoint_switch)] = Field(default_factory=CheckpointSection)
    train: dict[str, Any]
    space: Any = None
    enqueue: list[Any] = Field(default_factory=list)  # configs run first, after the baseline (hpo.spec.queue)
    constraints: list[Any] = Field(default_factory=list)  # "params <= 2e6": what a trial must meet to count (hpo.spec.objectives)


class Spec:
    """A loaded, fully validated spec.

    Attributes:
        source: The file it was read from (for messages).
        text: The file's text, stored in the study so it knows what it searched.
        sections: The validated sections (``study``, ``sampler``, ...).
        trainer: The ``module:function`` its trials call.
        contract: What that trainer declared (schema, metrics, check, probe).
        train: The base training config, as written.
        space: The parsed search space.
        enqueue: The ``enqueue:`` configs as labels of the space, checked against it.
        constraints: The parsed ``constraints:``, each naming a metric the trainer reports.
    """

    def __init__(
        self,
        source: str,
        text: str,
        sections: SpecFile,
        space: Space,
        trainer: str,
        contract: Contract,
        enqueue: tuple[dict[str, Scalar], ...] = (),
        constraints: tuple[Constraint, ...] = (),
    ) -> None:
        self.source = source
        self.text = text
        self.sections = sections
        self.trainer = trainer
        self.contract = contract
        self.study = sections.study
        self.sampler = sections.sampler
        self.scheduler = sections.scheduler
        self.resources = sections.resources
        self.log = sections.log
        self.checkpoint = sections.checkpoint
        self.train = sections.train
        self.raw_space = sections.space or {}
        self.space = space
        self.enqueue = enqueue
        self.constraints = constraints

    @property
    def epochs(self) -> int:
        """The most epochs a trial runs (``train.epochs``, checked when the spec loaded)."""
        return int(self.train["epochs"])

    @property
    def metric(self) -> str:
        """The metric optimised (the first of several): ``study.metric``, or the trainer's
        first declared one. Trials are pruned on it; progress and stop rules judge by it."""
        return self.metrics[0]

    @property
    def mode(self) -> Mode:
        """``max`` or ``min`` of :attr:`metric`: as written, or the direction the trainer declares."""
        return self.modes[0]

    @property
    def metrics(self) -> tuple[str, ...]:
        """Every objective's metric, in the spec's order: one for a single-objective study."""
        metric = self.study.metric
        assert metric is not None, "filled in when the spec loaded"
        return tuple(metric) if isinstance(metric, list) else (metric,)

    @property
    def modes(self) -> tuple[Mode, ...]:
        """The direction of each of :attr:`metrics`."""
        mode = self.study.mode
        assert mode is not None, "filled in when the spec loaded"
        return tuple(mode) if isinstance(mode, list) else (mode,)

    @property
    def fidelity_schedule(self) -> tuple[str, tuple[float, ...]] | None:
        """(the fidelity, its value for each epoch of a trial from epoch 1) under a cheaper
        ``scheduler.fidelity`` (hpo.spec.fidelity): ``data_fraction``, the share of the
        training split, or ``resolution``, the scale of an image's side. The name is also the
        trainer's keyword and the search definition's key. None: every epoch is a full one."""
        scheduler = self.scheduler
        if not isinstance(scheduler, ASHASection) or scheduler.fidelity == "epochs":
            return None
        return scheduler.fidelity, FIDELITIES[scheduler.fidelity].schedule(scheduler.grace_period, scheduler.reduction_factor, self.epochs)

    @property
    def trial_objective(self) -> Literal["best", "last"]:
        """How a complete trial's value is taken from its epochs: ``study.objective``, but the
        last epoch's under pbt (a curve goes on from copied weights with changed parameters)
        and under ``fidelity: resolution`` (the epochs before the last rung are scored on
        smaller images: their values are not the config's at full resolution, and may be higher)."""
        resolution = isinstance(self.scheduler, ASHASection) and self.scheduler.fidelity == "resolution"
        return "last" if isinstance(self.scheduler, PBTSection) or resolution else self.study.objective

    def search_hash(self) -> str:
        """Hash of what defines the search (trainer, train, space, every metric and mode,
        objective, constraints).

        Changing trials, time budget, target, patience, resources, sampler or checkpoints keeps the hash,
        so such a change resumes the study; anything else would mix incomparable trials.
        """
        return hashlib.sha256(_canonical(self.search_definition()).encode()).hexdigest()[:16]

    def search_definition(self) -> dict[str, Any]:
        """What a trial's value means. Another trainer gives the same config another
        meaning, so a trainer is part of it; the default trainer is left out, so that a
        study of it has one hash whether its spec names the trainer or not, and resumes."""
        definition = {
            "metric": self.study.metric,
            "mode": self.study.mode,
            "objective": self.study.objective,
            "train": self.train,
            "space": self.raw_space,
        }
        if self.trainer != DEFAULT_TRAINER:
            definition["trainer"] = self.trainer
        if self.constraints:  # absent when there are none: a study of before constraints keeps its hash
            definition["constraints"] = [c.text for c in self.constraints]
        schedule = self.fidelity_schedule
        if schedule is not None:  # the same config trained on less data, or smaller images, is another value
            definition[schedule[0]] = list(schedule[1])
        return definition


def _canonical(value: Any) -> str:
    return json.dumps(value, sort_keys=True, separators=(",", ":"), default=str)


def load_spec(path: str | Path, trainer: str | None = None) -> Spec:
    """Read and validate a spec file. Raises :class:`SpecError` on any problem.

    ``trainer`` (``module:function``) overrides the spec's ``trainer:`` key.
    """
    source = str(path)
    raw = read_yaml(path)
    return spec_from_data(raw, source, Path(path).read_text(encoding="utf-8"), trainer)


def load_study_section(path: str | Path) -> StudySection:
    """Only the ``study:`` section of a spec file: enough to find its stored study without
    importing the trainer (``hpo status spec.yaml`` on a machine that only reads results)."""
    source = str(path)
    raw = read_yaml(path)
    if not isinstance(raw, dict) or "study" not in raw:
        raise SpecError(source, "study", "missing required key: a spec's study section names its study")
    try:
        return validate_strict(StudySection, raw["study"])
    except pydantic.ValidationError as exc:
        raise validation_error(source, "study", exc) from None


def spec_from_text(text: str, source: str, trainer: str | None = None) -> Spec:
    """Validate a spec given as text (e.g. the copy stored in a study)."""
    return spec_from_data(parse_yaml(text, source), source, text, trainer)


def spec_from_data(raw: Any, source: str, text: str, trainer: str | None = None) -> Spec:
    if not isinstance(raw, dict):
        got = "an empty file" if raw is None else f"{type(raw).__name__}"
        raise SpecError(source, "", f"expected a mapping with study, train and space sections, got {got}")
    try:
        sections = validate_strict(SpecFile, raw)
    except pydantic.ValidationError as exc:
        raise validation_error(source, "", exc) from None
    reference = trainer or sections.trainer or DEFAULT_TRAINER
    train, contract = load_trainer(reference, source)
    resolve_objectives(sections.study, contract, reference, source)
    constraints = parse_constraints(sections.constraints, contract, reference, source)
    _check_sampler(sections.sampler, sections.study, source)
    check_train_config(sections.train, contract, source, "train")
    epochs = check_epochs(sections.train, source, "train.epochs")
    space = parse_space(sections.space, source)
    check_space(space, sections.train, contract, source)
    _check_scheduler(sections.scheduler, epochs, source)
    _check_pausing(sections.scheduler, sections.checkpoint, reference, takes_resume(train), source)
    _check_fidelity(sections.scheduler, reference, train, source)
    if isinstance(sections.scheduler, PBTSection):
        check_population(sections.scheduler, sections, space, source)
    enqueue = tuple(check_assignment(space, entry, source, f"enqueue.{i}") for i, entry in enumerate(sections.enqueue))
    if sections.sampler.type == "grid":
        assignments(space, source)  # a float without `step` has no grid: refused here, before any study is opened
    return Spec(source, text, sections, space, reference, contract, enqueue, constraints)


MULTI_OBJECTIVE_SAMPLERS = ("tpe", "nsga2", "gp", "random", "qmc", "grid")  # Optuna's CMA-ES optimises one objective


def _check_sampler(sampler: SamplerSection, study: StudySection, source: str) -> None:
    if isinstance(study.metric, list) and sampler.type not in MULTI_OBJECTIVE_SAMPLERS:
        raise SpecError(
            source,
            "sampler.type",
            f"{sampler.type} optimises one objective, and study.metric names {len(study.metric)} ({', '.join(study.metric)}): "
            f"use one of {', '.join(MULTI_OBJECTIVE_SAMPLERS)} (tpe and nsga2 are made for several objectives)",
        )


def _check_scheduler(scheduler: SchedulerSection, epochs: int, source: str) -> None:
    if isinstance(scheduler, ASHASection | MedianSection) and scheduler.grace_period >= epochs:
        rule = "ASHA" if scheduler.type == "asha" else "the median rule"
        raise SpecError(
            source,
            "scheduler.grace_period",
            f"grace_period ({scheduler.grace_period}) must be below train.epochs ({epochs}), "
            f"or {rule} can never stop a trial early (use type: none)",
        )


def _check_fidelity(scheduler: SchedulerSection, trainer: str, train: Any, source: str) -> None:
    """A cheaper fidelity tells the trainer, through the keyword of its name, what each
    epoch trains on; a trainer that cannot be told would train on all of it at full
    resolution, and the rungs would cost what they cost without it."""
    if not isinstance(scheduler, ASHASection) or scheduler.fidelity == "epochs" or takes_keywords(train, (scheduler.fidelity,)):
        return
    fidelity = FIDELITIES[scheduler.fidelity]
    raise SpecError(
        source,
        "scheduler.fidelity",
        f"{scheduler.fidelity} {fidelity.does}, and the trainer {trainer} cannot be given {fidelity.given} (its train function takes no "
        f"`{scheduler.fidelity}` keyword: see docs/trainer-contract.md): use fidelity: epochs, or a trainer that takes it",
    )


def _check_pausing(scheduler: SchedulerSection, checkpoint: CheckpointSection, trainer: str, resumable: bool, source: str) -> None:
    """A scheduler that pauses trials resumes them from their checkpoints: without them, a
    paused trial would start again from epoch 1, and its curve would be run twice."""
    if not pauses_trials(scheduler):
        return
    name = "asha with promotion: true" if scheduler.type == "asha" else scheduler.type
    where = "scheduler.promotion" if scheduler.type == "asha" else "scheduler.type"
    instead = "asha without promotion, median or none" if scheduler.type == "asha" else "asha, median or none"
    if not resumable:
        raise SpecError(
            source,
            where,
            f"{name} pauses trials and resumes them from their checkpoints, and the trainer {trainer} "
            "cannot resume (its train function takes no `resume` keyword: see docs/trainer-contract.md): "
            f"use {instead}, or a trainer that resumes",
        )
    if not checkpoint.every:
        raise SpecError(
            source,
            "checkpoint",
            f"{name} pauses trials and resumes them from their checkpoints, and checkpoint is false: "
            f"remove `checkpoint: false` (a checkpoint every epoch is the default), or use {instead}",
        )

"""Load and validate a search-space spec: ``study``, ``sampler``, ``scheduler``,
``resources``, ``train`` and ``space``.

A spec is a training config with holes. Loading checks each section with pydantic,
checks ``train:`` with the trainer's own config model, parses ``space:``, and then fills
the space at its extremes and validates each result with the trainer's model too: a
path the trainer would not read is an error here, never a silent no-op at run time.
Every failure is a :class:`~hpo.errors.SpecError` naming the file and the key path.
"""

from __future__ import annotations

import hashlib
import json
import re
from pathlib import Path
from typing import Annotated, Any, Literal

import pydantic
from pydantic import Field, field_validator, model_validator

from hpo.contract import StrictModel, did_you_mean, validate_strict
from hpo.errors import SpecError
from hpo.spec.space import Space, fill_partial, parse_space, variants
from hpo.spec.yamlfile import parse_yaml, read_yaml
from trainers.config import validate_train_config

STUDY_NAME_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9_.-]*$"  # one plain path component: never ../x, a/b or /x

METRICS = {"val_acc": "max", "val_loss": "min", "train_acc": "max", "train_loss": "min"}
"""What the trainer reports each epoch, and the direction that is better."""

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


class StudySection(StrictModel):
    """What is searched for, how long, and where it is recorded."""

    name: str = Field(pattern=STUDY_NAME_PATTERN, max_length=100)  # names studies/<name>/
    metric: str = "val_acc"  # the trainer's per-epoch key to optimise
    mode: Literal["max", "min"] = "max"
    objective: Literal["best", "last"] = "best"  # a complete trial's value: best epoch or last
    trials: int = Field(ge=1)  # finished (complete + pruned) trials to reach
    time_budget: Duration | None = None  # stop launching trials after this
    trial_timeout: Duration | None = None  # a trial running longer fails with reason "timeout"
    retries: int = Field(0, ge=0)  # re-run a trial whose worker died this many times
    # failed trials in a row that end the run (hpo.engine.failures): enough that a few diverging
    # corners never end it, few enough that a cause shared by every trial costs minutes; 0/null: never
    max_failures: int | None = Field(10, ge=0)
    seed: int = 0  # sampler seed: the same spec proposes the same first trials
    storage: str | None = None  # SQLAlchemy URL; default sqlite:///studies/<name>.db

    @model_validator(mode="after")
    def _metric_matches_mode(self) -> StudySection:
        if self.metric not in METRICS:
            raise ValueError(f"{did_you_mean(self.metric, list(METRICS), 'metric')}: the trainer reports {', '.join(METRICS)}")
        if METRICS[self.metric] != self.mode:
            raise ValueError(
                f"metric {self.metric} is better when {'higher' if METRICS[self.metric] == 'max' else 'lower'}: "
                f"use mode: {METRICS[self.metric]}"
            )
        return self


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


class QMCSection(StrictModel):
    type: Literal["qmc"]
    qmc_type: Literal["sobol", "halton"] = "sobol"
    scramble: bool = True


SamplerSection = Annotated[
    TPESection | RandomSection | GridSection | CmaEsSection | GPSection | QMCSection,
    Field(discriminator="type"),
]


class ASHASection(StrictModel):
    type: Literal["asha"]
    grace_period: int = Field(1, ge=1)  # epochs every trial runs before it can be stopped
    reduction_factor: int = Field(3, ge=2)  # keep the top 1/reduction_factor at each rung
    # past the first rung, also stop a trial whose place at the rung below later trials
    # took; off: it did not make TPE + ASHA find good configs sooner (benchmarks/)
    recheck_rung_below: bool = False


class NoScheduler(StrictModel):
    type: Literal["none"]


SchedulerSection = Annotated[ASHASection | NoScheduler, Field(discriminator="type")]


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


# Field names of the sampler sections are the samplers' keyword arguments (hpo.engine.samplers).


class SpecFile(StrictModel):
    """The whole file; ``train`` and ``space`` are checked separately (see module doc)."""

    study: StudySection
    sampler: SamplerSection = Field(default_factory=lambda: TPESection(type="tpe"))
    scheduler: SchedulerSection = Field(default_factory=lambda: ASHASection(type="asha"))
    resources: ResourcesSection = Field(default_factory=ResourcesSection)
    train: dict[str, Any]
    space: Any = None


class Spec:
    """A loaded, fully validated spec.

    Attributes:
        source: The file it was read from (for messages).
        text: The file's text, stored in the study so it knows what it searched.
        sections: The validated sections (``study``, ``sampler``, ...).
        train: The base training config, as written.
        space: The parsed search space.
    """

    def __init__(self, source: str, text: str, sections: SpecFile, space: Space) -> None:
        self.source = source
        self.text = text
        self.sections = sections
        self.study = sections.study
        self.sampler = sections.sampler
        self.scheduler = sections.scheduler
        self.resources = sections.resources
        self.train = sections.train
        self.raw_space = sections.space or {}
        self.space = space

    @property
    def epochs(self) -> int:
        return int(validate_train_config(self.train).epochs)

    def search_hash(self) -> str:
        """Hash of what defines the search (train, space, metric, mode, objective).

        Changing trials, time budget, resources or sampler keeps the hash, so such a
        change resumes the study; anything else would mix incomparable trials.
        """
        return hashlib.sha256(_canonical(self.search_definition()).encode()).hexdigest()[:16]

    def search_definition(self) -> dict[str, Any]:
        return {
            "metric": self.study.metric,
            "mode": self.study.mode,
            "objective": self.study.objective,
            "train": self.train,
            "space": self.raw_space,
        }


def _canonical(value: Any) -> str:
    return json.dumps(value, sort_keys=True, separators=(",", ":"), default=str)


def load_spec(path: str | Path) -> Spec:
    """Read and validate a spec file. Raises :class:`SpecError` on any problem."""
    source = str(path)
    raw = read_yaml(path)
    return spec_from_data(raw, source, Path(path).read_text(encoding="utf-8"))


def spec_from_text(text: str, source: str) -> Spec:
    """Validate a spec given as text (e.g. the copy stored in a study)."""
    return spec_from_data(parse_yaml(text, source), source, text)


def spec_from_data(raw: Any, source: str, text: str) -> Spec:
    if not isinstance(raw, dict):
        got = "an empty file" if raw is None else f"{type(raw).__name__}"
        raise SpecError(source, "", f"expected a mapping with study, train and space sections, got {got}")
    try:
        sections = validate_strict(SpecFile, raw)
    except pydantic.ValidationError as exc:
        raise validation_error(source, "", exc) from None
    check_train_config(sections.train, source, "train")
    space = parse_space(sections.space, source)
    _check_space_against_trainer(space, sections.train, source)
    _check_scheduler(sections, source)
    return Spec(source, text, sections, space)


def check_train_config(config: Any, source: str, prefix: str) -> Any:
    """Validate a training config with the trainer's model; errors name ``prefix.key``."""
    if not isinstance(config, dict):
        raise SpecError(source, prefix, "expected a mapping (a complete training config)")
    try:
        return validate_train_config(config)
    except pydantic.ValidationError as exc:
        raise validation_error(source, prefix, exc) from None


def _check_space_against_trainer(space: Space, train: dict[str, Any], source: str) -> None:
    """Fill each parameter at its extremes (under the options it depends on) and let the
    trainer's config model judge: an unknown path or a value it refuses is an error."""
    for assignment in variants(space):
        try:
            config = fill_partial(space, train, assignment)
        except KeyError as exc:
            path = next(reversed(assignment))
            raise SpecError(source, f"space.{path}", f"cannot be set in train: {exc.args[0]}") from None
        try:
            validate_train_config(config)
        except pydantic.ValidationError as exc:
            error = exc.errors()[0]
            where = _join(*error["loc"])
            culprit = param_for(where, assignment)
            values = ", ".join(f"{k}={v!r}" for k, v in assignment.items())
            raise SpecError(
                source,
                f"space.{culprit}",
                f"with {values}, the training config is invalid at train.{where}: {_message(error)}",
            ) from None


def param_for(where: str, assignment: dict[str, Any]) -> str:
    """The searched path that the failing config location lies in (or the last one)."""
    matches = [p for p in assignment if where == p or where.startswith(p + ".") or p.startswith(where + ".")]
    return max(matches, key=len) if matches else next(reversed(assignment))


def _check_scheduler(sections: SpecFile, source: str) -> None:
    scheduler = sections.scheduler
    if isinstance(scheduler, ASHASection):
        epochs = validate_train_config(sections.train).epochs
        if scheduler.grace_period >= epochs:
            raise SpecError(
                source,
                "scheduler.grace_period",
                f"grace_period ({scheduler.grace_period}) must be below train.epochs ({epochs}), "
                "or ASHA can never stop a trial early (use type: none)",
            )


# ----------------------------------------------------------------------------- errors


def validation_error(source: str, prefix: str, exc: pydantic.ValidationError) -> SpecError:
    """Turn the first error of :func:`validate_strict` into a SpecError naming its key."""
    error = exc.errors()[0]
    return SpecError(source, _join(prefix, *error["loc"]), _message(error))


def _join(*parts: object) -> str:
    return ".".join(str(p) for p in parts if p != "")


def _message(error: dict[str, Any]) -> str:
    kind = error["type"]
    ctx = error.get("ctx") or {}
    if kind == "missing":
        return "missing required key"
    if kind == "union_tag_invalid":
        expected = [t.strip(" '") for t in str(ctx.get("expected_tags", "")).split(",")]
        return did_you_mean(str(ctx.get("tag")), expected, str(ctx.get("discriminator", "type")).strip("'"))
    if kind == "union_tag_not_found":
        return f"missing required key {ctx.get('discriminator', 'type')!s}"
    message = error["msg"]
    message = message.removeprefix("Value error, ").removeprefix("Assertion failed, ")
    if kind.startswith(("greater", "less", "int_", "float_", "bool_", "string_", "literal", "dict_", "list_", "too_", "multiple")):
        message = f"{message} (got {error.get('input')!r})"
    return message

"""The contract between hpo and a trainer: what a trainer is given, what it reports, and
what it may declare about itself.

A trainer is a function ``train(config, report)``; a spec names it with its top-level key
``trainer: module:function``. hpo calls it once per trial with a complete training config
(the spec's ``train:`` block with the trial's values filled in, always holding ``epochs``,
a positive integer: the most epochs the trial runs) and a ``report`` callable. The trainer
calls ``report`` once per epoch with a mapping that holds at least

- ``epoch``: the epoch just finished, counting from 1;
- the metric the spec optimises (``study.metric``), as a finite number;
- ``finished: True`` on its last report, whether it ran all ``train.epochs`` or stopped
  early on its own;
- optionally ``device``: where it trains (``"cuda:0"``), recorded with the trial in place
  of the GPUs Ray assigned it.

The metric and the other metrics a trainer declares are stored, per epoch, with the
trial's history. An exception, a NaN or an out-of-memory error inside ``train`` fails
that trial only, with the error recorded. A trainer may also stop when ``report`` raises:
that is hpo stopping the trial. ``hpo train`` retrains a config over seeds with the same
function (setting ``seed`` in its config); a trainer that also takes the keywords
``final`` and ``output_dir`` is called with them (train on train+val and evaluate on
test; save the model there). What ``train`` returns may hold ``misclassified``: evaluated
images it got wrong, a mapping with ``images`` (uint8 [N, H, W, C] or [N, H, W]),
``predicted`` and ``true`` (N class indices) and optionally ``index`` (their positions in
the evaluated split) and ``confidence``; ``hpo train`` keeps the first seed's beside its
summary and ``hpo report`` shows them.

Resumable trainers. ``report`` also takes the keyword ``state`` (:class:`Report`):
``report(metrics, state=state)`` hands hpo what the trainer needs to go on after this
epoch. A state is a mapping that ``torch.save`` writes and ``torch.load(weights_only=True)``
reads back: tensors, numbers, strings, bools, None, and lists, tuples and dicts of them (a
model's or an optimizer's ``state_dict()``, a ``torch.Generator``'s ``get_state()``); not
numpy arrays or other objects (hand ``torch.from_numpy(a)`` or ``a.tolist()``). hpo keeps
it on its checkpoint schedule, not necessarily every epoch, and writes it before
``report`` returns, so a trainer hands its live tensors without copying them. The
optional entry ``model`` (:data:`MODEL`), a model's ``state_dict()``, is the model's
weights: what ``hpo export --weights`` writes as model.pt.

A trainer whose signature takes the keyword ``resume`` (:func:`takes_resume`) is called
with ``resume=`` the last state it reported when its trial resumes, and None when the
trial starts. It restores what the state holds and continues: its next report is the
epoch after the state's (there is none when the state came with its ``finished``
report). A state comes back with its tensors on the CPU; ``load_state_dict`` copies them
to the model's device. A trainer without the keyword is never given a state: a resumed
trial of it starts again from epoch 1. Opting in takes a few lines::

    def train(config, report, resume=None):
        model, optimizer = build(config)
        first = 1
        if resume is not None:  # go on after the state's epoch
            model.load_state_dict(resume["model"])
            optimizer.load_state_dict(resume["optimizer"])
            first = resume["epoch"] + 1
        for epoch in range(first, config["epochs"] + 1):
            metrics = fit_one_epoch(model, optimizer, epoch)
            state = {"model": model.state_dict(), "optimizer": optimizer.state_dict(), "epoch": epoch}
            report(metrics, state=state)

To end with the very numbers of the uninterrupted run, a state also holds the random
generators the trainer draws from (the built-in trainer's: trainers/state.py).

Cheaper rungs. A trainer whose signature takes the keyword ``data_fraction``
(:func:`takes_data_fraction`) can run under ``scheduler: {type: asha, fidelity:
data_fraction}``: its trials are called with ``data_fraction=`` a tuple of floats in (0, 1],
one per epoch from epoch 1 (``data_fraction[epoch - 1]``), the share of the training split
that epoch trains on; the shares never shrink, and the last epochs take all of it. The
trainer trains each epoch on the first part of one fixed order of its training split
(drawn from its seed, so each share holds the one before and a resumed trial draws the
same), at least one batch, and evaluates on the whole validation split as always. It is
never given outside a search (``hpo train`` trains on everything), and a trial without the
fidelity is called without the keyword, so it defaults to None: all the data.

Likewise a trainer whose signature takes the keyword ``resolution``
(:func:`takes_resolution`) can run under ``fidelity: resolution``: its trials are called
with ``resolution=`` a tuple of floats in (0, 1], one per epoch from epoch 1, the scale of
an image's side that epoch trains and validates at (its pixels: the square of it); the
scales never shrink, and the last epochs are at full resolution (1). The trainer resizes
each batch after its augmentations, training and validation batches alike, so trials
compared at a rung are compared at one resolution; the built-in one floors a side at 8
pixels, so that a small image still goes through its net's poolings. Its model must take
any input size (global pooling before the head): a trainer may refuse, before any trial,
a config whose model cannot, by taking the keyword ``resolution`` in its ``check`` (below).
A trial without the fidelity, and ``hpo train``, are called without it: full resolution.

What a trainer declares, all optional, with :func:`trainer`:

- ``schema``: a pydantic model of its config. hpo validates ``train:`` and every corner
  of the search space with it before the first trial, so a typo is an error naming its
  key, not a silent no-op at run time. :class:`StrictModel` refuses unknown keys with a
  did-you-mean. Without a schema the ``train:`` block is passed through as written and
  only the space's paths are checked (each must exist in ``train:``).
- ``metrics``: the names it reports with the direction that is better (``"max"`` or
  ``"min"``). A spec then must name one of them, and its ``mode`` follows. Without it any
  name is accepted and the spec must give ``study.mode``.
- ``check``: ``check(config)`` raising ``ValueError`` (or ``FileNotFoundError``,
  ``ImportError``) for a config that cannot run on this machine (data missing, weights
  absent). hpo calls it on the spec's corners before the study opens. A check that takes
  the keyword ``resolution`` is called a second time under ``fidelity: resolution``, with
  the smallest side scale of the schedule, and raises for a config whose model cannot
  train at it (a head sized for the full image): hpo refuses the spec at
  ``scheduler.fidelity``.
- ``probe``: ``probe(config, batch_size)`` building the config's model and running one
  forward and backward pass on a random batch, with no data on disk; it returns
  ``parameters``, ``output_shape`` and ``activation_bytes``, and may return
  ``trainable_parameters`` (those not frozen). ``hpo validate`` calls it on the spec's
  corners (its dry run), so a shape error shows before any trial. A probe that takes the
  keyword ``resolution`` is called again under ``fidelity: resolution`` with the smallest
  side scale, resizing its batch to it, so that a model that cannot take it fails there.
- ``prepare``: ``prepare(config, download)`` making what a trial of ``config`` reads ready
  on this machine, once, in the driver, before ``check`` and before any trial: typically
  fetching a missing data set. ``download`` is True when the user asked hpo to fetch
  (``hpo run --download``, ``hpo train --download``); a trainer may also honour a key of
  its own config (the built-in one reads ``data.download``). It returns lines to show
  (what it fetched), or None; what it raises ends the command before any trial, with its
  message. Trials never call it, so several workers never race to write one file.
- ``preview``: ``preview(config, count)`` returning ``count`` training images as the
  config's augmentations make them for training: a mapping with ``images``, a uint8 array
  [count, H, W, C] (C 1 or 3) or [count, H, W], and optionally ``labels``, each image's
  class name. The same images and random draws for every config, so that previews differ
  only where the configs' augmentations do. ``hpo report`` shows them as a gallery, a row
  per value of each searched parameter that changes them.
- ``evaluate``: ``evaluate(config, weights, split)`` scoring the saved weights of
  ``config``'s model without training: ``weights`` is the path of the file the trainer
  saved in ``output_dir`` (the built-in one's ``model.pt``; the trainer reads its own
  format, the built-in one with ``torch.load(weights_only=True)``), ``split`` one of
  :data:`SPLITS`: ``"test"``, the held-out split ``final`` evaluates on, or ``"val"``, the
  validation split a trial of ``config`` is scored on. It returns ``<split>_acc``
  (``test_acc``) and may return ``<split>_loss`` and, as ``train`` does, ``per_class_acc``,
  ``confusion`` (rows: true class) and ``classes``. It raises ``ValueError`` for weights
  that are not such a file or do not fit the config's model, with a message naming the
  file and the keys that differ, and ``FileNotFoundError`` for data missing. ``hpo
  evaluate`` calls it.

This module imports only pydantic, so a trainer can depend on it and on nothing else of hpo.
"""

from __future__ import annotations

import difflib
import inspect
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal, Protocol, TypeVar

import pydantic
from pydantic import model_validator

if TYPE_CHECKING:
    from pydantic_core import InitErrorDetails

__all__ = [
    "DATA_FRACTION",
    "EPOCH",
    "FINISHED",
    "MODEL",
    "RESOLUTION",
    "RESUME",
    "SPLITS",
    "Contract",
    "Evaluate",
    "Mode",
    "Prepare",
    "Report",
    "StrictModel",
    "Trainer",
    "UnknownKeyError",
    "contract_of",
    "did_you_mean",
    "takes_data_fraction",
    "takes_keywords",
    "takes_resolution",
    "takes_resume",
    "trainer",
    "validate_strict",
]

EPOCH = "epoch"  # report key: the epoch just finished, from 1
FINISHED = "finished"  # report key: true on a trainer's last report
MODEL = "model"  # state key: the model's state_dict, its weights
RESUME = "resume"  # train's keyword: the state to go on from
DATA_FRACTION = "data_fraction"  # train's keyword: the share of the training split each epoch trains on
RESOLUTION = "resolution"  # train's (and check's) keyword: the scale of an image's side each epoch trains and validates at
SPLITS = ("test", "val")  # what an `evaluate` hook scores weights on; the first is the default

Mode = Literal["max", "min"]
Prepare = Callable[[dict[str, Any], bool], Iterable[str] | None]  # prepare(config, download) -> lines to show
Evaluate = Callable[[dict[str, Any], str, str], Mapping[str, Any]]  # evaluate(config, weights, split) -> <split>_acc, ...


class Report(Protocol):
    """``report(metrics, state=None)``: one epoch's metrics, and optionally the trainer's
    state after it, to resume from (see the module doc)."""

    def __call__(self, metrics: Mapping[str, Any], state: Mapping[str, Any] | None = None) -> None: ...


class Trainer(Protocol):
    """``train(config, report)``: runs one config, reporting once per epoch."""

    def __call__(self, config: dict[str, Any], report: Report) -> Any: ...


def takes_keywords(function: Callable[..., Any], names: Iterable[str]) -> bool:
    """Whether ``function`` names every one of ``names`` among the parameters it accepts by
    keyword: how hpo tells which optional parts of the contract a trainer takes part in. A
    bare ``**kwargs`` does not count: it would swallow the keyword without acting on it."""
    try:
        parameters = inspect.signature(function).parameters
    except (TypeError, ValueError):  # a callable without a signature Python can read: the plain contract
        return False
    keyword = (inspect.Parameter.POSITIONAL_OR_KEYWORD, inspect.Parameter.KEYWORD_ONLY)
    return all(name in parameters and parameters[name].kind in keyword for name in names)


def takes_resume(train: Callable[..., Any]) -> bool:
    """Whether ``train`` takes the keyword ``resume``: hpo then gives a resumed trial the
    last state it reported, else it starts the trial again from epoch 1."""
    return takes_keywords(train, (RESUME,))


def takes_data_fraction(train: Callable[..., Any]) -> bool:
    """Whether ``train`` takes the keyword ``data_fraction``: only then can a spec make its
    early rungs train on a share of the data (``scheduler.fidelity: data_fraction``)."""
    return takes_keywords(train, (DATA_FRACTION,))


def takes_resolution(function: Callable[..., Any]) -> bool:
    """Whether ``function`` (a trainer's ``train`` or ``check``) takes the keyword
    ``resolution``: only then can a spec make its early rungs train on smaller images
    (``scheduler.fidelity: resolution``), or the check judge a config at them."""
    return takes_keywords(function, (RESOLUTION,))


@dataclass(frozen=True)
class Contract:
    """What a trainer declared about itself; each part may be absent (see the module doc)."""

    schema: type[pydantic.BaseModel] | None = None
    metrics: Mapping[str, Mode] = field(default_factory=dict)
    check: Callable[[dict[str, Any]], None] | None = None
    probe: Callable[[dict[str, Any], int], Mapping[str, Any]] | None = None
    prepare: Prepare | None = None
    preview: Callable[[dict[str, Any], int], Mapping[str, Any]] | None = None
    evaluate: Evaluate | None = None


_CONTRACT_ATTR = "__hpo_contract__"
F = TypeVar("F", bound=Callable[..., Any])


def trainer(
    *,
    schema: type[pydantic.BaseModel] | None = None,
    metrics: Mapping[str, Mode] | None = None,
    check: Callable[[dict[str, Any]], None] | None = None,
    probe: Callable[[dict[str, Any], int], Mapping[str, Any]] | None = None,
    prepare: Prepare | None = None,
    preview: Callable[[dict[str, Any], int], Mapping[str, Any]] | None = None,
    evaluate: Evaluate | None = None,
) -> Callable[[F], F]:
    """Declare what a trainer function validates, reports and checks; returns it unchanged.

    ::

        @trainer(schema=MyConfig, metrics={"val_acc": "max", "val_loss": "min"})
        def train(config, report): ...
    """
    for name, mode in (metrics or {}).items():
        if mode not in ("max", "min"):
            raise ValueError(f"metric {name!r}: direction must be 'max' or 'min', got {mode!r}")
    contract = Contract(
        schema=schema, metrics=dict(metrics or {}), check=check, probe=probe, prepare=prepare, preview=preview, evaluate=evaluate
    )

    def declare(function: F) -> F:
        setattr(function, _CONTRACT_ATTR, contract)
        return function

    return declare


def contract_of(function: Callable[..., Any]) -> Contract:
    """What ``function`` declared with :func:`trainer`; an empty contract if nothing."""
    return getattr(function, _CONTRACT_ATTR, None) or Contract()


# ----------------------------------------------------------------------------------------------
# Config schemas: strict pydantic models whose errors name the offending key


def did_you_mean(word: str, choices: list[str] | tuple[str, ...], what: str = "key") -> str:
    """`unknown key 'chanels' (did you mean 'channels'?)`, or the valid choices if none is close."""
    close = difflib.get_close_matches(word, choices, n=1)
    if close:
        return f"unknown {what} '{word}' (did you mean '{close[0]}'?)"
    return f"unknown {what} '{word}' (valid: {', '.join(sorted(choices)) or 'none'})"


class UnknownKeyError(ValueError):
    """An unknown key in a config mapping; `validate_train_config` puts `key` in the error loc."""

    def __init__(self, key: str, valid: list[str]):
        super().__init__(did_you_mean(key, valid))
        self.key = key


class StrictModel(pydantic.BaseModel):
    """Base of every config model: unknown keys are errors that suggest the closest valid key."""

    model_config = pydantic.ConfigDict(extra="forbid", validate_default=True)

    @model_validator(mode="before")
    @classmethod
    def _reject_unknown_keys(cls, data: Any) -> Any:
        if isinstance(data, dict):
            valid = [name for name in cls.model_fields] + [f.alias for f in cls.model_fields.values() if f.alias]
            for key in data:
                if key not in valid:
                    raise UnknownKeyError(str(key), valid)
        return data


def _input_loc(loc: tuple, data: Any, missing: bool) -> tuple:
    """Drop the union tags pydantic puts in error locations, keeping the keys of the input.

    `('model', 'cnn', 'channels')` -> `('model', 'channels')`. The last part of a `missing`
    error names the absent key, so it stays.
    """
    out: list = []
    for i, part in enumerate(loc):
        last = i == len(loc) - 1
        if isinstance(data, dict) and part in data:
            data = data[part]
        elif isinstance(data, list) and isinstance(part, int) and 0 <= part < len(data):
            data = data[part]
        elif isinstance(data, dict) and not (last and missing):
            continue  # a union tag, not a key of the input
        elif out and part == out[-1] and not last:
            continue  # {rotate: 10}: the tag repeats the key
        else:
            data = None
        out.append(part)
    return tuple(out)


def validate_strict(model: type[pydantic.BaseModel], data: Any) -> Any:
    """Validate ``data`` with ``model``; error locations are key paths into ``data``.

    Raises pydantic.ValidationError whose locs drop the union tags and end with the
    offending key of an unknown-key error (``model.chanels``). hpo's spec sections use
    this too, so every config error names its key the same way.
    """
    try:
        return model.model_validate(data)
    except pydantic.ValidationError as error:
        errors: list[InitErrorDetails] = []
        for e in error.errors(include_url=False):
            loc = _input_loc(e["loc"], data, e["type"] == "missing")
            cause = e.get("ctx", {}).get("error")
            if isinstance(cause, UnknownKeyError):
                loc += (cause.key,)
            line: InitErrorDetails = {"type": e["type"], "loc": loc, "input": e["input"]}
            if "ctx" in e:
                line["ctx"] = e["ctx"]
            errors.append(line)
        raise pydantic.ValidationError.from_exception_data(error.title, errors) from None

"""A spec's trainer: which function its trials call, and what its contract asks of the spec.

A spec names its trainer with the top-level key ``trainer: module:function`` (default:
:data:`DEFAULT_TRAINER`, the built-in image trainer); ``--trainer`` on the command line
overrides it. Loading the spec imports that function and reads what it declared with
:func:`hpo.contract.trainer` (:func:`hpo.contract.contract_of`). The spec is then judged
by that declaration, never by one trainer's config model:

- ``train:`` and each corner of the space are validated with the declared schema; without
  a schema every searched path must already be in ``train:`` (the keys hpo can see are all
  it can judge), and ``train:`` is passed through as written;
- ``study.metric`` (each of them, when it lists several) and every constraint must name a
  declared metric, and ``study.mode`` follows its direction; without declared metrics any
  name is accepted and ``study.mode`` must be given (hpo.spec.objectives);
- ``train.epochs``, a positive integer, is required of every trainer: it is the most
  epochs a trial runs, ASHA's ``max_t`` and the base of the progress estimate.

The reference string is what travels to Ray's workers, which import the function again.
"""

from __future__ import annotations

import importlib
import re
from collections.abc import Callable
from typing import Any

import pydantic

from hpo.contract import Contract, contract_of, validate_strict
from hpo.errors import SpecError
from hpo.spec.messages import error_message, join_path, param_for, validation_error
from hpo.spec.params import Space
from hpo.spec.space import fill_partial, variants

DEFAULT_TRAINER = "trainers.loop:train"
TRAINER_KEY = "trainer"

_REFERENCE = re.compile(r"^[A-Za-z_]\w*(?:\.[A-Za-z_]\w*)*:[A-Za-z_]\w*$")


def load_trainer(reference: str, source: str = "", key: str = TRAINER_KEY) -> tuple[Callable[..., Any], Contract]:
    """Import ``module:function``; returns the function and its declared :class:`Contract`.

    Raises SpecError naming ``source`` and ``key`` when the reference is malformed, the
    module does not import (whatever it raised) or has no such callable.
    """
    if not isinstance(reference, str) or not _REFERENCE.match(reference):
        raise SpecError(source, key, f"expected module:function (e.g. {DEFAULT_TRAINER}), got {reference!r}")
    module_name, _, name = reference.partition(":")
    try:
        module = importlib.import_module(module_name)
    except Exception as exc:  # whatever the module raised while importing: one line, --debug shows the traceback
        reason = str(exc).strip() or type(exc).__name__
        raise SpecError(source, key, f"cannot import {reference} ({reason}); is its module on the Python path?") from exc
    function = getattr(module, name, None)
    if not callable(function):
        found = "nothing" if function is None else f"a {type(function).__name__}, not a function"
        raise SpecError(source, key, f"{module_name} has {found} named {name!r}; expected train(config, report)")
    return function, contract_of(function)


def check_train_config(config: Any, contract: Contract, source: str, prefix: str) -> None:
    """Validate a training config with the trainer's schema, if it declares one; errors name ``prefix.key``."""
    if not isinstance(config, dict):
        raise SpecError(source, prefix, "expected a mapping (a complete training config)")
    if contract.schema is None:
        return
    try:
        validate_strict(contract.schema, config)
    except pydantic.ValidationError as exc:
        raise validation_error(source, prefix, exc) from None


def check_epochs(config: dict[str, Any], source: str, where: str) -> int:
    """``epochs`` of a training config: required of every trainer, a positive integer."""
    epochs = config.get("epochs")
    if "epochs" not in config:
        problem = "missing required key"
    elif isinstance(epochs, bool) or not isinstance(epochs, int) or epochs < 1:
        problem = f"expected a positive integer, got {epochs!r}"
    else:
        return epochs
    raise SpecError(source, where, f"{problem}: every trainer is given train.epochs, the most epochs a trial runs (ASHA's max_t)")


def check_space(space: Space, train: dict[str, Any], contract: Contract, source: str) -> None:
    """Fill each parameter at its extremes (under the options it depends on) and judge the
    config: with the trainer's schema when it has one, else only that each path is in
    ``train:``. An unknown path or a value the schema refuses is an error naming it."""
    schema = contract.schema
    for assignment in variants(space):
        if not assignment:  # an empty space: train: itself, judged already
            continue
        culprit = next(reversed(assignment))  # variants puts a parameter after the choices it lives under
        try:
            config = fill_partial(space, train, assignment, create=schema is not None)
        except KeyError as exc:
            rule = "" if schema else "; without a config schema every searched path must be in train:, with its value when not searched"
            raise SpecError(source, f"space.{culprit}", f"cannot be set in train: {exc.args[0]}{rule}") from None
        if "epochs" in assignment:
            check_epochs(config, source, "space.epochs")
        if schema is None:
            continue
        try:
            validate_strict(schema, config)
        except pydantic.ValidationError as exc:
            error = exc.errors()[0]
            where = join_path(*error["loc"])
            values = ", ".join(f"{k}={v!r}" for k, v in assignment.items())
            raise SpecError(
                source,
                f"space.{param_for(where, assignment)}",
                f"with {values}, the training config is invalid at train.{where}: {error_message(error)}",
            ) from None

"""Before a study's first trial: ask the trainer whether its trials can start at all.

A trial that cannot find its data fails, a failed trial does not count toward
``study.trials``, and so a study whose every trial fails for want of a file would propose
trial after trial. Only the trainer knows what its configs need on disk; only hpo knows
which configs the space gives. So a trainer may declare, with
:func:`hpo.contract.trainer`, a check::

    @trainer(check=check)
    def train(config, report): ...

    def check(config: dict) -> None: ...

``config`` is a complete training config, as a trial would get it. ``check`` returns
nothing when a trial of it can start, and raises otherwise: any exception, whose message
says what is missing and what was expected. An optional ``key`` attribute on the
exception (a dotted path into the config, e.g. ``"data.root"``) names the key to change.
It should only look (stat files, no loading): it is called once per distinct config
below, in the driver, in the directory ``hpo run`` runs in (where trials resolve relative
paths too). A trainer that declares no check is not checked.

The configs checked are the spec's ``train:`` as written, then each corner of the space
(:func:`hpo.spec.space.variants`, as the spec's validation and ``hpo validate`` fill them).
What a trial needs from disk is named by strings (a folder, a weights file), and a
string in a space can only come from a ``choice``, every option of which is put in at
least one corner: so each path the space can give is checked, at one call per option
rather than one per combination of all the choices.

Before the check, a trainer may make what its trials read ready: its declared
``prepare(config, download)`` (:func:`prepare`) is called on the same configs, in the
driver only, and may fetch a missing data set once. ``download`` is the user's
``--download``; a trainer may honour a key of its own config too (the built-in one:
``data.download``). Trials never fetch: eight workers starting at once would race to
write one archive.

Under ``scheduler.fidelity: resolution`` a check that takes the keyword ``resolution`` is
called again on each config with the smallest side scale of the schedule: a model sized
for the full image (a head that flattens its feature maps) cannot train on smaller ones,
and every trial would fail on its first epoch. Its refusal names ``scheduler.fidelity``.
"""

from __future__ import annotations

import copy
import json
from collections.abc import Iterable, Iterator
from typing import Any

from hpo.contract import RESOLUTION, Contract, takes_resolution
from hpo.errors import HpoError, SpecError
from hpo.spec.messages import param_for
from hpo.spec.sections import Spec
from hpo.spec.space import fill_partial, variants


def preflight(spec: Spec) -> None:
    """Raise SpecError, naming the key, if the trainer's declared ``check`` refuses a config of ``spec``,
    or, under ``fidelity: resolution``, refuses it at the schedule's smallest scale (see module doc)."""
    check = spec.contract.check
    if check is None:
        return
    smallest = smallest_scale(spec) if takes_resolution(check) else None
    for assignment, config in _configs(spec):
        try:
            check(config)
        except Exception as exc:  # the check's verdict, whatever its type: shown, never a traceback
            raise _refusal(spec, assignment, exc) from exc
        if smallest is None:
            continue
        try:
            check(config, **{RESOLUTION: smallest})
        except Exception as exc:  # the config can start, but not on the smaller images: the fidelity is the culprit
            raise _fidelity_refusal(spec, assignment, smallest, exc) from exc


def smallest_scale(spec: Spec) -> float | None:
    """The smallest side scale a trial trains at under ``fidelity: resolution``; None otherwise."""
    schedule = spec.fidelity_schedule
    return min(schedule[1]) if schedule is not None and schedule[0] == RESOLUTION and min(schedule[1]) < 1 else None


def prepare(spec: Spec, download: bool = False) -> list[str]:
    """Call the trainer's declared ``prepare`` on each config of ``spec`` (as :func:`preflight`
    checks them); returns the lines it gave to show. See :func:`prepare_configs`."""
    return prepare_configs(spec.contract, spec.trainer, (config for _, config in _configs(spec)), download, spec.source)


def prepare_configs(contract: Contract, reference: str, configs: Iterable[dict[str, Any]], download: bool, source: str) -> list[str]:
    """Let the trainer ``reference`` make each config ready on this machine (fetch its data).

    Raises HpoError: ``download`` asked of a trainer that declares no ``prepare`` (nothing
    would be fetched, and the run would fail for want of the data it was asked to fetch), or
    the message of what ``prepare`` raised (an unreachable host, a checksum that does not
    match), prefixed with ``source``.
    """
    hook = contract.prepare
    if hook is None:
        if download:
            raise HpoError(
                f"--download: {reference} declares no prepare hook (hpo.contract.trainer(prepare=...)), so hpo has no way "
                "to fetch what its trials read; put the data in place yourself and run without --download"
            )
        return []
    lines: list[str] = []
    for config in configs:
        try:
            lines += [str(line) for line in hook(config, download) or ()]
        except Exception as exc:  # the trainer's own failure (network, checksum, disk): its message, one paragraph
            raise HpoError(f"{source}: {str(exc).strip() or type(exc).__name__}") from exc
    return lines


def _configs(spec: Spec) -> Iterator[tuple[dict[str, Any], dict[str, Any]]]:
    """(searched values, config): ``train:`` first (no values), then each distinct corner."""
    seen: set[str] = set()
    for assignment in [{}, *variants(spec.space)]:
        config = fill_partial(spec.space, spec.train, assignment) if assignment else copy.deepcopy(spec.train)
        key = json.dumps(config, sort_keys=True, default=str)
        if key not in seen:
            seen.add(key)
            yield assignment, config


def _fidelity_refusal(spec: Spec, assignment: dict[str, Any], scale: float, exc: Exception) -> SpecError:
    values = ", ".join(f"{path}={value!r}" for path, value in assignment.items())
    which = f"with {values}, the model" if values else "the model of train"
    return SpecError(
        spec.source,
        "scheduler.fidelity",
        f"resolution trains and validates the epochs before the last rung on images scaled to {scale:.3g} of their side, "
        f"and {which} cannot take them: {str(exc).strip() or type(exc).__name__}; or use fidelity: epochs or data_fraction",
    )


def _refusal(spec: Spec, assignment: dict[str, Any], exc: Exception) -> SpecError:
    reason = str(exc).strip() or type(exc).__name__
    key = getattr(exc, "key", None)
    key = key if isinstance(key, str) and key else None
    if not assignment:
        return SpecError(spec.source, f"train.{key}" if key else "train", f"every trial would fail: {reason}")
    values = ", ".join(f"{path}={value!r}" for path, value in assignment.items())
    culprit = param_for(key, assignment) if key else next(reversed(assignment))
    return SpecError(spec.source, f"space.{culprit}", f"with {values}, trials would fail: {reason}")

"""Which keys of the space Population Based Training may change, checked against the space.

An exploit copies another trial's checkpoint and config and perturbs some of its values
before the trial goes on from that checkpoint (hpo.engine.population). A value can change
there only if the copied weights still fit the model and the key is in every config:

- a float outside any ``when:`` branch is perturbable by default (learning rate, momentum,
  weight decay, dropout, augmentation strengths): a float rarely sets a shape;
- an int or a choice may be listed in ``perturb:`` when it leaves the model's shape alone
  (``batch_size``, ``epochs`` of a warmup); a choice only with plain options (its label is
  its value) and without ``when:``, since its value is what the config holds and a branch
  would add or remove keys;
- a key inside a ``when:`` branch cannot be perturbed: the config copied may have chosen
  another option and not hold it; nor a path through a list index (``model.channels.0``).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from hpo.contract import did_you_mean
from hpo.errors import SpecError
from hpo.spec.params import ChoiceParam, FloatParam, Param, Space, walk

if TYPE_CHECKING:
    from hpo.spec.sections import PBTSection

__all__ = ["check_population", "perturbable"]


def perturbable(space: Space, section: PBTSection, source: str = "the spec") -> tuple[Param, ...]:
    """The parameters an exploit may perturb: those ``perturb:`` lists, else every float
    outside ``when:``. Raises SpecError for a key that is not in the space or cannot change
    on a copied checkpoint (see module doc)."""
    if section.perturb is None:
        chosen = tuple(param for param in space if isinstance(param, FloatParam) and not _through_list(param.path))
        if not chosen:
            raise SpecError(
                source,
                "scheduler.perturb",
                "the space has no float outside a `when:` branch for pbt to perturb by default: "
                "list the keys it may change (an int or a plain choice that leaves the model's shape alone, like batch_size)",
            )
        return chosen
    if not section.perturb:
        raise SpecError(source, "scheduler.perturb", "expected at least one key of the space; leave it out to perturb every float")
    top = {param.path: param for param in space}
    nested = {param.path for param, chain in walk(space, ()) if chain}
    chosen_params: list[Param] = []
    for i, key in enumerate(section.perturb):
        where = f"scheduler.perturb.{i}"
        if key in nested and key not in top:
            raise SpecError(
                source, where, f"{key} is searched under a `when:` branch: a copied config may not hold it, so pbt cannot perturb it"
            )
        param = top.get(key)
        if param is None:
            raise SpecError(source, where, did_you_mean(str(key), list(top), "space key"))
        if _through_list(key):
            raise SpecError(source, where, f"{key} goes through a list index: pbt perturbs keys of mappings only")
        if isinstance(param, ChoiceParam) and (param.branches or any(not _plain(label, value) for label, value in param.options)):
            raise SpecError(
                source,
                where,
                f"{key} is a choice with named options or `when:` branches: pbt perturbs a choice only among plain values "
                "(choice: [32, 64, 128]), without branches",
            )
        if key in (p.path for p in chosen_params):
            raise SpecError(source, where, f"{key} is listed twice")
        chosen_params.append(param)
    return tuple(chosen_params)


def check_population(section: PBTSection, sections: Any, space: Space, source: str) -> None:
    """Refuse a pbt section that could never exploit, or a key it cannot perturb."""
    perturbable(space, section, source)
    study, resources, checkpoint = sections.study, sections.resources, sections.checkpoint
    population = min(study.trials, resources.max_concurrent or study.trials)
    if population < 2:
        raise SpecError(
            source,
            "scheduler.type",
            f"pbt compares trials that run together, and at most {population} runs at once "
            "(study.trials, resources.max_concurrent): run two or more at once, or use asha, median or none",
        )
    if checkpoint.every and section.perturbation_interval % checkpoint.every:
        raise SpecError(
            source,
            "scheduler.perturbation_interval",
            f"{section.perturbation_interval} is not a multiple of checkpoint.every ({checkpoint.every}): "
            "a trial is copied from the checkpoint of the epoch it was compared at, so one must be written then",
        )


def _through_list(path: str) -> bool:
    return any(segment.isdigit() for segment in path.split("."))


def _plain(label: Any, value: Any) -> bool:
    return label == value and type(label) is type(value)

"""Put a user's configs at the head of a study's queue: the baseline, the spec's
``enqueue:`` list and ``hpo enqueue``'s files.

Each is one ``Study.enqueue_trial`` (Optuna's public queue, the one interrupted trials are
requeued through): the next trials the study asks for take them, oldest first, and the
sampler fills in the keys a partial config leaves out. The spec's own (its baseline and
``enqueue:``) are enqueued only into a study that has no trials yet, so a resumed study,
or a second driver joining it, never queues them again. Of two drivers opening a new
study at the same moment, only the one that created it queues them (hpo.study.versions);
the other waits until it has.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path

import optuna

from hpo.errors import HpoError
from hpo.spec.queue import NotInSpace, baseline_params, check_assignment
from hpo.spec.sections import Spec
from hpo.spec.space import Scalar, parse_space
from hpo.spec.yamlfile import parse_yaml, read_yaml
from hpo.study.keys import BASELINE_ATTR, ENQUEUED_ATTR, SPEC_SOURCE_ATTR, SPEC_TEXT_ATTR, WARM_START_ATTR
from hpo.study.records import is_warm_start


def enqueue_from_spec(study: optuna.Study, spec: Spec) -> list[str]:
    """Queue the baseline (unless ``study.baseline: false``) and the ``enqueue:`` configs
    of a study that has no trials yet (a warm start's aside); returns the lines that say what
    was queued, or why the baseline was not. A warm start that took the baseline's config
    (marked as the baseline, hpo.study.warmstart) has measured it: it is not run again."""
    trials = study.get_trials(deepcopy=False)
    if any(not is_warm_start(t) for t in trials):
        return []  # resumed, or another driver queued them first
    lines = []
    measured = next((t for t in trials if t.user_attrs.get(BASELINE_ATTR)), None)
    if measured is not None:
        origin = measured.user_attrs.get(WARM_START_ATTR, {})
        lines.append(
            f"trial {measured.number} is your baseline: train: as it is, run as trial {origin.get('number')} of "
            f"{origin.get('study')} and taken by the warm start, so not run again"
        )
    elif spec.study.baseline:
        try:
            params = baseline_params(spec.space, spec.train)
        except NotInSpace as exc:
            lines.append(f"no baseline trial: {exc}; set study.baseline: false to silence this")
        else:
            study.enqueue_trial(params, user_attrs={BASELINE_ATTR: True, ENQUEUED_ATTR: spec.source})
            lines.append(f"trial {len(trials)} is your baseline: train: as it is")
    enqueue(study, [(spec.source, params) for params in spec.enqueue])
    if spec.enqueue:
        lines.append(f"queued {len(spec.enqueue)} config(s) from enqueue: to run next")
    return lines


def enqueue(study: optuna.Study, configs: Sequence[tuple[str, Mapping[str, Scalar]]]) -> None:
    """Queue checked configs (source file, labels) in order, each marked with its file."""
    for source, params in configs:
        study.enqueue_trial(dict(params), user_attrs={ENQUEUED_ATTR: source})


def enqueue_files(study: optuna.Study, paths: Sequence[Path]) -> int:
    """Check every config file against the space of the spec the study last ran, then
    queue them all; one that does not fit refuses all (nothing is queued). Returns how many."""
    text = study.user_attrs.get(SPEC_TEXT_ATTR)
    if not text:
        raise HpoError(
            f"study {study.study_name!r} holds no spec (`hpo run` did not make it): there is no space to check the configs against"
        )
    source = study.user_attrs.get(SPEC_SOURCE_ATTR, "stored spec")
    space = parse_space(parse_yaml(text, source).get("space"), source)
    configs = [(str(path), check_assignment(space, read_yaml(path), str(path))) for path in paths]
    enqueue(study, configs)
    return len(configs)

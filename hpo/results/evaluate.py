"""``hpo evaluate``: score a config's saved weights on its test split, without training.

``hpo train`` (each seed's ``model.pt``) and ``hpo export --weights`` save a model's
weights beside its config; this scores them again, on this machine's copy of the data:

    hpo evaluate best.yaml --weights model.pt               # the held-out test split
    hpo evaluate best.yaml --weights model.pt --split val   # the validation split of its seed

The config is read and validated as ``hpo train`` reads it (an exported config, whose
``# trainer:`` header names the trainer, or a spec, whose ``train:`` is taken;
``--trainer`` overrides). The trainer's declared ``evaluate(config, weights, split)`` hook
(hpo.contract) builds the model, loads the weights and scores the split; a trainer that
declares none cannot be asked. Its ``prepare`` runs first, as before ``hpo train``
(``--download``); its ``check`` does not: the hook says itself what it lacks, and weights
that replace the pretrained ones do not need that file.

The accuracy prints as a line; the accuracy per class and the confusion matrix, when the
hook returns them, as the tables ``hpo train`` prints (hpo.results.retrain.class_tables).
``--json PATH`` also writes what the hook returned, with the files and the trainer.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from rich.console import Console

from hpo.contract import SPLITS
from hpo.errors import HpoError
from hpo.format import format_value
from hpo.results.retrain import class_tables, load_train_config, trainer_of
from hpo.spec.preflight import prepare_configs


def evaluate_weights(
    config_file: Path,
    weights: Path,
    *,
    split: str = SPLITS[0],
    trainer: str | None = None,
    download: bool = False,
    console: Console,
) -> dict[str, Any]:
    """Score ``weights`` of the model of ``config_file`` on ``split``; print and return the
    scores (what the trainer's hook returned, with ``config_file``, ``weights``, ``trainer``
    and ``split``). Raises HpoError, naming the file, for anything that cannot be scored."""
    if split not in SPLITS:
        raise HpoError(f"--split: expected {' or '.join(SPLITS)}, got {split!r}")
    config = load_train_config(config_file, trainer)
    reference, _, contract = trainer_of(config_file, trainer)
    if contract.evaluate is None:
        raise HpoError(
            f"{config_file}: {reference} declares no evaluate hook (hpo.contract.trainer(evaluate=...)), so hpo cannot score "
            "saved weights with it; hpo train retrains the config instead"
        )
    if not weights.is_file():
        raise HpoError(
            f"{weights}: no such file; --weights takes the model.pt that hpo train saves in each seed's folder, "
            "or that hpo export --weights writes beside its config"
        )
    for line in prepare_configs(contract, reference, [config], download, str(config_file)):
        console.print(line, highlight=False)
    try:
        returned = contract.evaluate(config, str(weights), split)
    except Exception as exc:  # the trainer's verdict (weights that do not fit, data missing), whatever its type: one paragraph
        raise HpoError(f"{config_file}: {str(exc).strip() or type(exc).__name__}") from exc
    key = f"{split}_acc"
    accuracy = returned.get(key) if isinstance(returned, Mapping) else None
    if not isinstance(accuracy, (int, float)) or isinstance(accuracy, bool):
        raise HpoError(f"{config_file}: the evaluate hook of {reference} returned no number named {key}")
    scores = {"config_file": str(config_file), "weights": str(weights), "trainer": reference, "split": split, **returned}
    _print_scores(console, scores, key)
    return scores


def _print_scores(console: Console, scores: dict[str, Any], key: str) -> None:
    """The accuracy (and the loss, if given) as a line; per class and confusion as tables."""
    split = scores["split"]
    loss = scores.get(f"{split}_loss")
    confusion = scores.get("confusion")
    images = f" ({sum(map(sum, confusion))} images)" if confusion else ""
    loss_text = f", {split}_loss {format_value(loss)}" if loss is not None else ""
    console.print(f"{key} of {scores['weights']}: {format_value(scores[key])}{images}{loss_text}")
    per_class = scores.get("per_class_acc")
    if per_class is None or confusion is None:
        return
    classes = scores.get("classes") or [str(i) for i in range(len(per_class))]
    for table in class_tables(split, classes, per_class, confusion):
        console.print(table)


def write_scores(scores: dict[str, Any], path: Path) -> None:
    """``--json PATH``: the scores as JSON."""
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(scores, indent=1, default=str))
    except OSError as exc:
        raise HpoError(f"--json {path}: cannot write it ({exc.strerror or exc}); the scores are printed above") from exc

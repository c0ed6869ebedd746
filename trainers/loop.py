"""The training loop: `train(config, report)`, the trainer hpo runs unless a spec names another,
and `prepare` and `check`, which it declares (hpo.contract) for hpo to call before a study's
first trial, and `evaluate_weights`, which scores saved weights for `hpo evaluate`.

    metrics = train(config, report)                # report(metrics, state=...) once per epoch
    metrics = train(config, report, resume=state)  # go on after the epoch of a reported state
    metrics = train(config, report, data_fraction=(1/9, 1/3, 1/3, 1.0))  # a share of the data per epoch
    metrics = train(config, report, resolution=(1/3, 3**-0.5, 3**-0.5, 1.0))  # a scale of the side per epoch
    metrics = train(config, report, final=True, output_dir="runs/best")   # train+val -> test
    prepare(config, download=True)                 # fetches the data set if it is missing
    check(config)                                  # raises if a trial of config cannot start
    check(config, resolution=1/3)                  # ... or cannot train on images a third the side
    scores = evaluate_weights(config, "runs/best/model.pt", "test")   # no training

Reads top to bottom: set-up (and, when resuming, the state put back), then the epoch loop
(train, evaluate, report with the state, stop), then the final evaluation and the files of
`output_dir`. `set_up` and `class_scores` are shared with `evaluate_weights`, so that saved
weights are scored exactly as `train` scored them. What a state holds, and why a resumed run
ends with the very numbers of an uninterrupted one: trainers/state.py.
"""

from __future__ import annotations

import json
import os
import random
import time
from collections.abc import Mapping, Sequence
from typing import Any, NamedTuple

import numpy as np
import torch
import torch.nn.functional as F

from hpo.contract import SPLITS, Report, trainer
from trainers.augment import Pipeline
from trainers.config import METRICS, TrainConfig, augment_ops, validate_train_config
from trainers.cost import LATENCY_BATCH, model_cost
from trainers.data import Splits, check_data, load_data
from trainers.download import fetch_data
from trainers.models import create_model, features
from trainers.optim import create_optimizer, create_schedule, scale_lr
from trainers.preview import preview
from trainers.probe import probe
from trainers.resolution import check_any_size, check_smallest_size, resized, scaled_size
from trainers.state import Progress, capture, restore
from trainers.weights import check_pretrained, load_weights, train_mode

__all__ = [
    "NonFiniteLossError",
    "Setup",
    "check",
    "class_scores",
    "evaluate",
    "evaluate_weights",
    "most_confident_mistakes",
    "pick_device",
    "prepare",
    "seed_everything",
    "set_up",
    "train",
]

FEATURE_SAMPLES = 2000  # evaluation images whose penultimate features go to features.npz
MISCLASSIFIED = 32  # wrong evaluation images returned (the most confident ones): a grid in hpo's report


class NonFiniteLossError(FloatingPointError):
    """The training loss became NaN or infinite (usually: learning rate too high)."""


def pick_device(name: str) -> torch.device:
    if name == "auto":
        name = "cuda" if torch.cuda.is_available() else "cpu"
    return torch.device(name)


def seed_everything(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)


def set_threads() -> None:
    """Use as many threads as OMP_NUM_THREADS says (Ray sets it to each trial's CPUs)."""
    threads = os.environ.get("OMP_NUM_THREADS", "")
    if threads.isdigit() and int(threads) > 0:
        torch.set_num_threads(int(threads))


class Setup(NamedTuple):
    """What training a config and scoring its saved weights both start from."""

    device: torch.device
    autocast: torch.autocast  # bf16 on CUDA, a no-op on CPU
    memory_format: torch.memory_format
    data: Splits
    pipeline: Pipeline
    model: torch.nn.Module  # freshly built (with its pretrained weights, if any), on the device
    eval_batch_size: int


def set_up(cfg: TrainConfig, final: bool) -> Setup:
    """Threads, seeds, the device, the data (evaluated on test when `final`, else on the
    validation split `cfg.seed` carves) and the model for the data's image shape and classes."""
    set_threads()
    seed_everything(cfg.seed)
    device = pick_device(cfg.device)
    cuda = device.type == "cuda"
    if cuda:
        torch.backends.cudnn.benchmark = True
    autocast = torch.autocast(device.type, dtype=torch.bfloat16, enabled=cuda)
    memory_format = torch.channels_last if cuda else torch.contiguous_format
    data = load_data(cfg.data, cfg.seed, device, final)
    pipeline = Pipeline(augment_ops(cfg), data.mean, data.std, device)
    in_shape = pipeline.output_shape(*data.train_x.shape[1:])
    model = create_model(cfg.model, in_shape, len(data.classes)).to(device).to(memory_format=memory_format)
    return Setup(device, autocast, memory_format, data, pipeline, model, 2 * cfg.batch_size)


@torch.no_grad()
def evaluate(model, pipeline: Pipeline, x: torch.Tensor, y: torch.Tensor, batch_size: int, autocast, size: tuple[int, int] | None = None):
    """(mean cross-entropy, accuracy, predictions, their softmax probabilities) over a uint8
    image tensor, in eval mode; at ``size`` (height, width) after the pipeline, if given."""
    model.eval()
    loss, preds, probs = torch.zeros((), device=x.device), [], []
    for i in range(0, len(x), batch_size):
        with autocast:
            logits = model(resized(pipeline.eval(x[i : i + batch_size]), size))
        loss += F.cross_entropy(logits.float(), y[i : i + batch_size], reduction="sum")
        prob, pred = logits.float().softmax(1).max(1)
        preds.append(pred)
        probs.append(prob)
    predictions = torch.cat(preds)
    return loss.item() / len(y), (predictions == y).float().mean().item(), predictions, torch.cat(probs)


def class_scores(y: torch.Tensor, preds: torch.Tensor, classes: list[str]) -> dict:
    """per_class_acc (recall of each class), confusion (counts; rows: true class, columns:
    predicted) and classes, of predictions `preds` of labels `y`."""
    k = len(classes)
    confusion = torch.bincount(y * k + preds, minlength=k * k).view(k, k).cpu()
    per_class = confusion.diag() / confusion.sum(1).clamp(min=1)
    return {"per_class_acc": per_class.tolist(), "confusion": confusion.tolist(), "classes": classes}


def most_confident_mistakes(x: torch.Tensor, y: torch.Tensor, preds: torch.Tensor, confidence: torch.Tensor, count: int) -> dict:
    """The `count` evaluation images predicted wrong with the highest confidence, most
    confident first: images (uint8 numpy [N, H, W, C]), index (in the evaluation split),
    predicted and true class, confidence (the predicted class's probability)."""
    wrong = (preds != y).nonzero().squeeze(1)
    order = torch.sort(confidence[wrong], descending=True, stable=True).indices[:count]
    worst = wrong[order]
    return {
        "images": x[worst].permute(0, 2, 3, 1).cpu().numpy(),
        "index": worst.tolist(),
        "predicted": preds[worst].tolist(),
        "true": y[worst].tolist(),
        "confidence": confidence[worst].tolist(),
    }


def check(config: dict, resolution: float | None = None) -> None:
    """Raise if a trial of `config` would fail for want of a file: the data set's files under
    `data.root`, the `model.pretrained` weights. A missing file fails every trial alike, so
    hpo asks before the first one rather than failing trial after trial. With `resolution`
    (a side scale below 1: hpo's `fidelity: resolution`), raise ValueError if the model
    cannot take images smaller than the full ones (`ModelBase.fixed_input_size`).

    Only looks (a few stat calls, nothing is read or built), so it is cheap to call for each
    config a search space can give. The exceptions are the ones `train` would raise
    (DatasetNotFoundError, PretrainedWeightsError); their `key` attribute is the config key
    to change, their message says what was expected.
    """
    cfg = validate_train_config(config)
    check_data(cfg.data)
    check_pretrained(cfg.model)
    if resolution is not None and resolution < 1:
        check_any_size(cfg)


def prepare(config: dict, download: bool) -> list[str]:
    """Fetch the data set of `config` if it is missing and the user asked (`download`, from
    `--download`, or the config's `data.download`); returns what was done, as lines to show.

    hpo calls it in the driver, once per config, before `check` and before any trial; the
    trials themselves never download (trainers.download).
    """
    cfg = validate_train_config(config)
    return fetch_data(cfg.data) if download or cfg.data.download else []


def evaluate_weights(config: dict, weights: str, split: str = "test") -> dict:
    """Score saved weights of `config`'s model on a split, without training (`hpo evaluate`).

    The model is built and the split loaded as `train` does (`set_up`), the weights loaded
    strictly, and the split scored with `evaluate` at `train`'s batch size: weights `train`
    saved score exactly what it reported for them. `model.pretrained` is not read: the
    weights replace it, so that file need not be on this machine.

    Args:
        config: the training config the weights were trained with.
        weights: a state_dict file, as `train` saves it in output_dir/model.pt.
        split: "test", the held-out split `final=True` evaluates on, or "val", the
            validation split carved from train with the config's `seed` (a trial's).

    Returns:
        <split>_acc and <split>_loss (test_acc, test_loss), and class_scores: per_class_acc,
        confusion (rows: true class), classes.

    Raises:
        WeightsError: the file is missing, not a state_dict of tensors, or does not fit the model.
        DatasetNotFoundError: the data set's files are not under `data.root`.
    """
    if split not in SPLITS:
        raise ValueError(f"split must be one of {', '.join(SPLITS)}, not {split!r}")
    cfg = validate_train_config(config)
    cfg = cfg.model_copy(update={"model": cfg.model.model_copy(update={"pretrained": None})})
    run = set_up(cfg, final=split == "test")
    load_weights(run.model, weights)
    loss, acc, preds, _ = evaluate(run.model, run.pipeline, run.data.eval_x, run.data.eval_y, run.eval_batch_size, run.autocast)
    return {f"{split}_acc": acc, f"{split}_loss": loss, **class_scores(run.data.eval_y, preds, run.data.classes)}


@trainer(schema=TrainConfig, metrics=METRICS, check=check, probe=probe, prepare=prepare, preview=preview, evaluate=evaluate_weights)
def train(
    config: dict,
    report: Report,
    *,
    final: bool = False,
    output_dir: str | None = None,
    resume: Mapping[str, Any] | None = None,
    data_fraction: Sequence[float] | None = None,
    resolution: Sequence[float] | None = None,
) -> dict:
    """Train the config; report(metrics, state=...) after every epoch; return the last metrics.

    Args:
        config: a training config dict (see trainers.config.TrainConfig).
        report: called once per epoch with epoch, train_loss, train_acc, val_loss, val_acc, lr,
            seconds, images_per_second, device, the model's cost (params, macs, latency_ms:
            trainers.cost) and finished (True only on the last report: all epochs ran, or early
            stopping ended training); and the state to resume from after that epoch
            (trainers.state.capture), its `model` entry the weights.
        final: train on train+val and evaluate on the test split (val_* then hold test metrics,
            also given as test_*). Early stopping is off: there is no validation split to watch.
        output_dir: if given, save model.pt, config.yaml, metrics.json and features.npz there.
        resume: a state this config reported: go on with the epoch after its own (none after
            its finished report), restoring everything that state holds.
        data_fraction: the share of the training split each epoch trains on, one per epoch
            (hpo.spec.fidelity): the first part, at least a batch, of one fixed order of the
            split drawn from the seed, so a larger share holds a smaller one; reported as
            data_fraction. None: all of it.
        resolution: the scale of an image's side each epoch trains and validates at, one per
            epoch (hpo.spec.fidelity): each batch is resized after its augmentations
            (trainers.resolution: at least 8 pixels a side); reported as resolution, the
            scale of the height actually trained at. None, or 1: full resolution. The
            values of an epoch on smaller images are not the config's: best_val_acc and
            early stopping count only the epochs at full resolution.

    Returns:
        The last report plus per_class_acc, confusion (rows: true class), classes and
        misclassified (most_confident_mistakes of the last evaluation).

    Raises:
        NonFiniteLossError: the training loss became NaN or infinite.
        ValueError: a resolution below 1 for a model that cannot take smaller images.
    """
    # ------------------------------------------------------------------ set-up
    cfg = validate_train_config(config)
    smallest = min(resolution or (1.0,))  # the smallest side scale (hpo's fidelity: resolution); 1: full resolution
    if smallest < 1:
        check_any_size(cfg)
    device, autocast, memory_format, data, pipeline, model, eval_batch_size = set_up(cfg, final)
    _, height, width = pipeline.output_shape(*data.train_x.shape[1:])
    optimizer = create_optimizer(model, cfg.optimizer)
    schedule = create_schedule(cfg.schedule, cfg.epochs)
    generator = torch.Generator(device).manual_seed(cfg.seed)  # shuffling and augmentation

    n = len(data.train_y)
    batch_size = min(cfg.batch_size, n)
    # the order whose first part an epoch trains on when it takes a share of the data; its own
    # generator, so that the pipeline's draws are those of a run on all of it
    kept = None if data_fraction is None else torch.randperm(n, device=device, generator=torch.Generator(device).manual_seed(cfg.seed))
    patience = cfg.early_stopping if not final else None
    history: list[dict] = []  # every report
    last, best_acc, stopping_best, bad_epochs = 0, 0.0, -1.0, 0  # last: the last epoch finished
    if resume is not None:  # everything back as it was after the state's epoch
        last, best_acc, stopping_best, bad_epochs, history = restore(resume, model, optimizer, schedule, generator)
    epochs = range(last + 1, cfg.epochs + 1)
    if history and history[-1]["finished"]:  # resumed from its finished report (early stopping): nothing left to train
        epochs = range(0)
    # params, macs, latency_ms: measured once (they do not change as weights train), reported every epoch
    cost = model_cost(model, pipeline.eval(data.eval_x[:LATENCY_BATCH]).contiguous(memory_format=memory_format), autocast)
    if smallest < 1:
        check_smallest_size(model, pipeline.eval(data.eval_x[:2]), scaled_size(height, width, smallest), autocast)

    # ------------------------------------------------------------------ epochs
    for epoch in epochs:
        start = time.perf_counter()
        train_mode(model)  # frozen batch norm layers stay in eval mode
        rows = n if data_fraction is None else max(batch_size, round(data_fraction[epoch - 1] * n))
        shuffled = torch.randperm(rows, device=device, generator=generator)
        order = shuffled if kept is None or rows == n else kept[shuffled]  # all of it: drawn as without a share
        steps = rows // batch_size  # the last partial batch is dropped (a batch of 1 breaks batch norm)
        size = None if resolution is None else scaled_size(height, width, resolution[epoch - 1])
        losses = torch.zeros(steps, device=device)
        correct = torch.zeros((), device=device, dtype=torch.long)
        for step in range(steps):
            idx = order[step * batch_size : (step + 1) * batch_size]
            x = resized(pipeline.train(data.train_x[idx], generator), size).contiguous(memory_format=memory_format)
            y = data.train_y[idx]
            scale_lr(optimizer, schedule(epoch - 1 + step / steps))
            with autocast:
                logits = model(x)
                loss = F.cross_entropy(logits.float(), y, label_smoothing=cfg.label_smoothing)
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            if cfg.grad_clip:
                torch.nn.utils.clip_grad_norm_(model.parameters(), cfg.grad_clip)
            optimizer.step()
            losses[step] = loss.detach()
            correct += (logits.argmax(1) == y).sum()
        bad_steps = (~torch.isfinite(losses)).nonzero()
        if len(bad_steps):
            bad_step = int(bad_steps[0].item())
            raise NonFiniteLossError(
                f"training loss is {losses[bad_step].item()} at epoch {epoch}, step {bad_step + 1} of {steps} "
                f"(lr {optimizer.param_groups[0]['lr']:.3g}); try a lower learning rate or grad_clip"
            )
        train_seconds = time.perf_counter() - start

        val_loss, val_acc, preds, confidence = evaluate(model, pipeline, data.eval_x, data.eval_y, eval_batch_size, autocast, size)
        schedule.end_of_epoch(val_acc if not final else correct.item() / (steps * batch_size))
        if size is None or size == (height, width):  # a value on smaller images is not the config's: not the best, no patience used
            best_acc = max(best_acc, val_acc)
            improved = val_acc > stopping_best + (patience.min_delta if patience else 0.0)
            stopping_best, bad_epochs = (val_acc, 0) if improved else (stopping_best, bad_epochs + 1)
        stop = patience is not None and bad_epochs >= patience.patience and epoch >= patience.min_epochs
        metrics = {
            "epoch": epoch,
            "train_loss": losses.mean().item(),
            "train_acc": correct.item() / (steps * batch_size),
            "val_loss": val_loss,
            "val_acc": val_acc,
            "best_val_acc": best_acc,
            "lr": optimizer.param_groups[0]["lr"],
            "seconds": time.perf_counter() - start,
            "images_per_second": steps * batch_size / train_seconds,
            "finished": stop or epoch == cfg.epochs,
            "device": str(device),
            **cost,
            **({"data_fraction": rows / n} if kept is not None else {}),
            **({"resolution": size[0] / height} if size is not None else {}),
        }
        if final:
            metrics.update(test_loss=val_loss, test_acc=val_acc)
        history.append(metrics)
        state = capture(Progress(epoch, best_acc, stopping_best, bad_epochs, history), model, optimizer, schedule, generator)
        report(dict(metrics), state=state)
        if metrics["finished"]:
            break

    # ------------------------------------------------------------------ final metrics and files
    if not epochs:  # resumed from its finished report: nothing trained, the restored model evaluated
        metrics = history[-1]
        *_, preds, confidence = evaluate(model, pipeline, data.eval_x, data.eval_y, eval_batch_size, autocast)
    result = {
        **metrics,
        **class_scores(data.eval_y, preds, data.classes),
        "misclassified": most_confident_mistakes(data.eval_x, data.eval_y, preds, confidence, MISCLASSIFIED),
    }
    if output_dir is not None:
        save_run(output_dir, model, cfg, result, history, pipeline, data, eval_batch_size)
    return result


def save_run(output_dir, model, cfg, result, history, pipeline, data, batch_size) -> None:
    """model.pt (state_dict), config.yaml (the validated config), metrics.json (without the
    misclassified images), features.npz."""
    import yaml

    os.makedirs(output_dir, exist_ok=True)
    torch.save({k: v.cpu() for k, v in model.state_dict().items()}, os.path.join(output_dir, "model.pt"))
    with open(os.path.join(output_dir, "config.yaml"), "w") as f:
        yaml.safe_dump(cfg.model_dump(mode="json"), f, sort_keys=False)
    with open(os.path.join(output_dir, "metrics.json"), "w") as f:
        mistakes = {k: v for k, v in result["misclassified"].items() if k != "images"}
        json.dump({**result, "misclassified": mistakes, "history": history}, f, indent=1)
    model.eval()
    feats = []
    x, y = data.eval_x[:FEATURE_SAMPLES], data.eval_y[:FEATURE_SAMPLES]
    with torch.no_grad():
        for i in range(0, len(x), batch_size):
            feats.append(features(model, pipeline.eval(x[i : i + batch_size]))[0].float().cpu())
    np.savez_compressed(os.path.join(output_dir, "features.npz"), features=torch.cat(feats).numpy(), labels=y.cpu().numpy())

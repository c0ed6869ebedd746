"""A dry run for `hpo validate`: build the config's model and push one random batch through it.

    probe({"model": {"name": "cnn", "kernel_sizes": [7, 7, 7]}, ...})
    -> {"parameters": 1210407, "trainable_parameters": 1210407, "input_shape": (2, 3, 32, 32), ...}

No data is read: the batch is random uint8 images of the data set's shape, passed through the
config's augmentations (so `resize` and crops change it as in training). The optimizer is built
too, so a module name in `optimizer.group_lr` is checked like one in `model.trainable`. Shape
errors (a kernel larger than its feature map...) propagate as the exceptions torch raises.
"""

from __future__ import annotations

import torch

from trainers.augment import Pipeline
from trainers.config import augment_ops, validate_train_config
from trainers.data import dataset_shape
from trainers.models import create_model
from trainers.optim import create_optimizer
from trainers.resolution import check_any_size, resized, scaled_size
from trainers.weights import train_mode

__all__ = ["probe"]

PROBE_BATCH = 2  # the smallest batch batch norm accepts in training mode


def probe(config: dict, batch_size: int | None = None, resolution: float | None = None) -> dict:
    """One forward and backward pass on CPU of a random batch, with the model in training mode
    and its optimizer built; sizes of what ran.

    Args:
        config: a training config dict.
        batch_size: images in the batch; default 2 (cheap, enough for batch norm).
        resolution: a side scale below 1 (hpo's ``fidelity: resolution``): the batch is
            resized to it after its augmentations, as in training, and a model sized for the
            full image raises ValueError saying what to change.

    Returns:
        parameters: trainable and frozen parameter count.
        trainable_parameters: the parameters that train (freeze_until, trainable).
        input_shape: the batch as the model sees it, after augmentation (B, C, H, W).
        output_shape: the logits' shape (B, num_classes).
        activation_bytes: bytes of every module's forward output for this batch (an estimate
            of the activations kept for the backward pass).
        activation_bytes_per_sample: the same for one image; times config.batch_size it
            estimates a training step's activations.
    """
    cfg = validate_train_config(config)
    c, h, w, num_classes = dataset_shape(cfg.data)
    b = batch_size or PROBE_BATCH
    g = torch.Generator().manual_seed(cfg.seed)
    pipeline = Pipeline(augment_ops(cfg), mean=(0.5,) * c, std=(0.25,) * c, device="cpu")
    x = pipeline.train(torch.randint(0, 256, (b, c, h, w), dtype=torch.uint8, generator=g), g)
    _, c_in, h_in, w_in = x.shape
    model = train_mode(create_model(cfg.model, (c_in, h_in, w_in), num_classes))
    if resolution is not None and resolution < 1:
        check_any_size(cfg)
        x = resized(x, scaled_size(h_in, w_in, resolution))
    create_optimizer(model, cfg.optimizer)  # raises for a group_lr module the model lacks

    total = 0

    def count(module, args, output):
        nonlocal total
        for t in output if isinstance(output, (tuple, list)) else (output,):
            if isinstance(t, torch.Tensor):
                total += t.numel() * t.element_size()

    leaves = [m for m in model.modules() if not list(m.children())]
    hooks = [m.register_forward_hook(count) for m in leaves]
    try:
        logits = model(x)
    finally:
        for hook in hooks:
            hook.remove()
    logits.float().logsumexp(1).mean().backward()
    return {
        "parameters": sum(p.numel() for p in model.parameters()),
        "trainable_parameters": sum(p.numel() for p in model.parameters() if p.requires_grad),
        "input_shape": tuple(x.shape),
        "output_shape": tuple(logits.shape),
        "activation_bytes": total,
        "activation_bytes_per_sample": total // b,
    }

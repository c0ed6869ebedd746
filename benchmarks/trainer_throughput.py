"""Does our data pipeline keep the model fed? Training throughput measured three ways, in one run:

    compute  pre-made, already normalised batches: the model alone (the ceiling)
    ours     trainers' pipeline: uint8 images on the device, batched per-sample augmentation
    classic  the usual torchvision way: PIL transforms per image in DataLoader workers

Model: a CIFAR-sized CNN (conv 32/64/128, kernel 3, batch norm, 2x2 average pooling, FC
512/128), batch 128, CIFAR-shaped synthetic data, augmentation random crop (padding 4) +
horizontal flip + colour jitter (brightness, contrast, saturation 0.2). The three are measured
in interleaved rounds (rotating their order) so machine noise hits them alike.

    python benchmarks/trainer_throughput.py            # ~1.5 min on 2 CPU cores
    python benchmarks/trainer_throughput.py --rounds 7 --steps 30 --workers 2

The last line is `trainer/compute=R1 trainer/classic=R2`: images/s of ours divided by compute
(1.0 = augmentation is free) and by classic (> 1: faster than the usual way), each the median
of the per-round ratios.
"""

from __future__ import annotations

import argparse
import time

import numpy as np
import torch
import torch.nn.functional as F

from trainers.augment import Pipeline
from trainers.config import augment_ops, validate_train_config
from trainers.data import load_data
from trainers.models import create_model

CONFIG = {
    "data": {"name": "synthetic", "shape": [3, 32, 32], "num_classes": 10, "size": 5000, "test_size": 10},
    "model": {"name": "cnn", "channels": [32, 64, 128], "kernel_sizes": [3, 3, 3], "pool": "avg", "batch_norm": True, "hidden": [512, 128]},
    "optimizer": {"name": "adam", "lr": 1e-3},
    "augment": [
        {"random_crop": {"padding": 4}},
        "hflip",
        {"color_jitter": {"brightness": 0.2, "contrast": 0.2, "saturation": 0.2, "hue": 0.0}},
    ],
    "batch_size": 128,
    "device": "cpu",
}
MEAN, STD = (0.4914, 0.4822, 0.4465), (0.2470, 0.2435, 0.2616)  # CIFAR-10's


def make_step(model, optimizer):
    """One training step, as in trainers/loop.py."""

    def step(x, y):
        loss = F.cross_entropy(model(x), y)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()

    return step


class Compute:
    """Pre-made normalised batches: no data work at all."""

    def __init__(self, images, labels, batch):
        g = torch.Generator().manual_seed(1)
        pipe = Pipeline([], MEAN, STD, "cpu")
        self.batches = []
        for _ in range(8):
            idx = torch.randint(0, len(labels), (batch,), generator=g)
            self.batches.append((pipe.train(images[idx], g), labels[idx]))

    def run(self, step, steps):
        for i in range(steps):
            step(*self.batches[i % len(self.batches)])


class Ours:
    """trainers' pipeline: shuffle indices, gather uint8 images, augment the batch, normalise."""

    def __init__(self, images, labels, batch, ops):
        self.images, self.labels, self.batch = images, labels, batch
        self.pipe = Pipeline(ops, MEAN, STD, "cpu")
        self.g = torch.Generator().manual_seed(0)

    def run(self, step, steps):
        order = torch.randperm(len(self.labels), generator=self.g)
        for i in range(steps):
            idx = order[i * self.batch : (i + 1) * self.batch]
            step(self.pipe.train(self.images[idx], self.g), self.labels[idx])


class Classic:
    """PIL images through torchvision transforms in DataLoader worker processes."""

    def __init__(self, images, labels, batch, workers):
        from PIL import Image
        from torchvision import transforms

        hwc = images.permute(0, 2, 3, 1).numpy()
        transform = transforms.Compose(
            [
                transforms.RandomCrop(32, padding=4),
                transforms.RandomHorizontalFlip(),
                transforms.ColorJitter(brightness=0.2, contrast=0.2, saturation=0.2),
                transforms.ToTensor(),
                transforms.Normalize(MEAN, STD),
            ]
        )

        class Dataset(torch.utils.data.Dataset):
            def __len__(self):
                return len(hwc)

            def __getitem__(self, i):
                return transform(Image.fromarray(hwc[i])), int(labels[i])

        self.loader = torch.utils.data.DataLoader(Dataset(), batch_size=batch, shuffle=True, num_workers=workers, drop_last=True)

    def run(self, step, steps):
        batches = iter(self.loader)  # a fresh epoch: workers start, as in every epoch of a run
        for _ in range(steps):
            step(*next(batches))
        del batches


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rounds", type=int, default=5, help="interleaved rounds of the three")
    parser.add_argument("--steps", type=int, default=20, help="training steps per method per round")
    parser.add_argument("--workers", type=int, default=2, help="DataLoader workers for classic")
    parser.add_argument("--threads", type=int, default=0, help="torch threads (0: torch's default)")
    parser.add_argument("--images", type=int, default=5000, help="synthetic training images")
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)

    cfg = validate_train_config({**CONFIG, "data": {**CONFIG["data"], "size": args.images}})
    data = load_data(cfg.data, seed=0)
    torch.manual_seed(0)
    model = create_model(cfg.model, (3, 32, 32), 10)
    step = make_step(model.train(), torch.optim.Adam(model.parameters(), lr=1e-3))
    batch = cfg.batch_size
    methods = {
        "compute": Compute(data.train_x, data.train_y, batch),
        "ours": Ours(data.train_x, data.train_y, batch, augment_ops(cfg)),
        "classic": Classic(data.train_x, data.train_y, batch, args.workers),
    }
    print(
        f"CNN conv 32/64/128, batch {batch}, 32x32x3, crop+flip+jitter; torch threads {torch.get_num_threads()}, "
        f"classic workers {args.workers}; {args.rounds} rounds x {args.steps} steps each"
    )
    for method in methods.values():  # warm-up: allocator, kernels, worker start-up code paths
        method.run(step, 3)

    names = list(methods)
    rates: dict[str, list[float]] = {name: [] for name in names}
    for r in range(args.rounds):
        for name in names[r % 3 :] + names[: r % 3]:  # rotate the order every round
            start = time.perf_counter()
            methods[name].run(step, args.steps)
            rates[name].append(args.steps * batch / (time.perf_counter() - start))
        print(f"  round {r + 1}: " + "  ".join(f"{n} {rates[n][-1]:7.0f}" for n in names))

    # medians over rounds: a round measures the three close in time, so its ratios are paired
    median = lambda values: float(np.median(values))  # noqa: E731
    for name in names:
        print(f"{name:8s} {median(rates[name]):8.0f} images/s (median of {args.rounds} rounds)")
    to_compute = median([o / c for o, c in zip(rates["ours"], rates["compute"])])
    to_classic = median([o / c for o, c in zip(rates["ours"], rates["classic"])])
    print(f"trainer/compute={to_compute:.3f} trainer/classic={to_classic:.3f}")


if __name__ == "__main__":
    main()

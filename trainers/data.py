"""Data sets: one registry, read offline, held as one uint8 tensor on the training device.

    @register_dataset("digits", mean=(0.305,), std=(0.375,))
    def digits(config, root) -> Raw: ...

A loader returns the publisher's train and test splits as uint8 [N, C, H, W] images with
int64 labels; `load_data` carves the validation split from train with the config's seed and
moves everything to the device. The test split is only used when `final=True`.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import torch

from trainers.config import STL10_CLASSES
from trainers.registry import Registry

__all__ = ["DatasetNotFoundError", "Files", "Raw", "Splits", "check_data", "list_datasets", "load_data", "register_dataset"]


class DatasetNotFoundError(FileNotFoundError):
    """A data set's files are not under `data.root`; the message says what to put where."""

    key = "data.root"  # the config key to change (hpo names it in its error)


@dataclass(frozen=True)
class Files:
    """What a file-backed data set needs under `data.root`: declared once, so that a trial's
    loader and a check before any trial (`check_data`) expect the very same files."""

    folder: str  # under data.root
    names: tuple[str, ...]
    how: str  # where to get them; `{root}` stands for data.root


@dataclass
class Raw:
    """A data set as published: uint8 images [N, C, H, W], int64 labels [N]."""

    train_x: torch.Tensor
    train_y: torch.Tensor
    test_x: torch.Tensor
    test_y: torch.Tensor
    classes: list[str]


@dataclass
class Splits:
    """What the training loop uses: train and evaluation tensors on the device."""

    train_x: torch.Tensor  # uint8 [N, C, H, W]
    train_y: torch.Tensor  # int64 [N]
    eval_x: torch.Tensor  # validation split, or test when final
    eval_y: torch.Tensor
    classes: list[str]
    mean: tuple[float, ...]  # per channel, in [0, 1]
    std: tuple[float, ...]


@dataclass
class _Entry:
    load: Callable
    mean: tuple[float, ...]
    std: tuple[float, ...]
    files: Files | None  # None: made in memory, nothing to read


_DATASETS = Registry("data set")
list_datasets = _DATASETS.names


def register_dataset(name: str, mean: tuple[float, ...], std: tuple[float, ...], files: Files | None = None):
    """Register `load(config) -> Raw` under `name`, with its normalisation constants and the
    files it reads (`load_data` checks they are there before calling `load`)."""

    def wrap(fn: Callable) -> Callable:
        _DATASETS.register(name)(_Entry(fn, mean, std, files))
        return fn

    return wrap


def check_data(config) -> None:
    """Raise DatasetNotFoundError unless the data set's files are under `config.root`.

    Cheap (a few stat calls, no read): hpo runs it before a study's first trial.
    """
    files = _DATASETS.get(config.name).files
    if files is not None:
        _require(config, files)


# ----------------------------------------------------------------------------------------------
# Data sets that need no files


@register_dataset("digits", mean=(0.305,), std=(0.375,))
def _digits(config) -> Raw:
    """scikit-learn's 1797 8x8 digits (0..16 scaled to 0..255). They have no official test
    split, so a fixed 20% (independent of the config's seed) plays that part."""
    from sklearn.datasets import load_digits

    digits = load_digits()
    x = torch.from_numpy(np.round(digits.images * (255 / 16)).astype(np.uint8)).unsqueeze(1)
    y = torch.from_numpy(digits.target.astype(np.int64))
    order = torch.randperm(len(y), generator=torch.Generator().manual_seed(1797))
    test, train = order[:360], order[360:]
    return Raw(x[train], y[train], x[test], y[test], [str(i) for i in range(10)])


@register_dataset("synthetic", mean=(0.5,), std=(0.25,))
def _synthetic(config) -> Raw:
    """Learnable images of any shape: each class is a smooth random pattern (random values on
    a 4x4 grid, upsampled), each image that pattern plus pixel noise, then shifted by a few
    pixels. A function of `config.seed` only."""
    g = torch.Generator().manual_seed(config.seed)
    c, h, w = config.shape
    k, n = config.num_classes, config.size + config.test_size
    patterns = torch.rand(k, c, 4, 4, generator=g) * 2 - 1
    patterns = torch.nn.functional.interpolate(patterns, size=(h, w), mode="bilinear", align_corners=False)
    y = torch.cat([torch.arange(m) % k for m in (config.size, config.test_size)])  # balanced splits
    y = torch.cat([y[: config.size][torch.randperm(config.size, generator=g)], y[config.size :]])
    x = patterns[y] + config.noise * torch.randn(n, c, h, w, generator=g)
    x = (0.5 + 0.25 * x).clamp(0, 1).mul(255).round().to(torch.uint8)
    split = config.size
    return Raw(x[:split], y[:split], x[split:], y[split:], [f"class{i}" for i in range(k)])


# ----------------------------------------------------------------------------------------------
# Data sets read from the publishers' files with torchvision (download=False)


def _require(config, files: Files) -> None:
    """DatasetNotFoundError naming the folder, the files it must hold and the missing ones."""
    path = os.path.join(config.root, files.folder)
    missing = [f for f in files.names if not os.path.isfile(os.path.join(path, f))]
    if missing:
        shown = "all of them" if len(missing) == len(files.names) else ", ".join(missing)
        raise DatasetNotFoundError(
            f"data set '{config.name}' not found: {path}/ must hold {', '.join(files.names)} "
            f"(missing: {shown}). {files.how.format(root=config.root)} Nothing is "
            f"downloaded: data.root is '{config.root}', relative to the working directory."
        )


def _torchvision(cls, config, **kwargs):
    try:
        return cls(config.root, download=False, **kwargs)
    except RuntimeError as error:  # files present but failed torchvision's checksum check
        raise DatasetNotFoundError(f"data set '{config.name}' under {config.root}: {error}") from error


_MNIST_FILES = ("train-images-idx3-ubyte", "train-labels-idx1-ubyte", "t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte")


def _mnist_files(folder: str, source: str) -> Files:
    return Files(os.path.join(folder, "raw"), _MNIST_FILES, f"Get the four .gz files from {source} and gunzip them there.")


def _mnist_like(config, cls) -> Raw:
    train, test = _torchvision(cls, config, train=True), _torchvision(cls, config, train=False)
    return Raw(train.data.unsqueeze(1), train.targets.long(), test.data.unsqueeze(1), test.targets.long(), list(train.classes))


@register_dataset(
    "mnist",
    mean=(0.1307,),
    std=(0.3081,),
    files=_mnist_files("MNIST", "the MNIST distribution (https://yann.lecun.com/exdb/mnist/)"),
)
def _mnist(config) -> Raw:
    from torchvision.datasets import MNIST

    return _mnist_like(config, MNIST)


@register_dataset(
    "fashion_mnist",
    mean=(0.2860,),
    std=(0.3530,),
    files=_mnist_files("FashionMNIST", "https://github.com/zalandoresearch/fashion-mnist (data/fashion)"),
)
def _fashion_mnist(config) -> Raw:
    from torchvision.datasets import FashionMNIST

    return _mnist_like(config, FashionMNIST)


def _cifar_files(folder: str, names: tuple[str, ...], archive: str) -> Files:
    how = (
        f"Download {archive} from https://www.cs.toronto.edu/~kriz/cifar.html and extract it "
        f"into {{root}}/ (tar xzf {archive} -C {{root}})."
    )
    return Files(folder, names, how)


def _cifar(config, cls) -> Raw:
    train, test = _torchvision(cls, config, train=True), _torchvision(cls, config, train=False)

    def images(d) -> torch.Tensor:
        return torch.from_numpy(d.data).permute(0, 3, 1, 2).contiguous()  # NHWC -> NCHW

    def labels(d) -> torch.Tensor:
        return torch.tensor(d.targets, dtype=torch.int64)

    return Raw(images(train), labels(train), images(test), labels(test), list(train.classes))


@register_dataset(
    "cifar10",
    mean=(0.4914, 0.4822, 0.4465),
    std=(0.2470, 0.2435, 0.2616),
    files=_cifar_files(
        "cifar-10-batches-py",
        (*(f"data_batch_{i}" for i in range(1, 6)), "test_batch", "batches.meta"),
        "cifar-10-python.tar.gz",
    ),
)
def _cifar10(config) -> Raw:
    from torchvision.datasets import CIFAR10

    return _cifar(config, CIFAR10)


@register_dataset(
    "cifar100",
    mean=(0.5071, 0.4865, 0.4409),
    std=(0.2673, 0.2564, 0.2762),
    files=_cifar_files("cifar-100-python", ("train", "test", "meta"), "cifar-100-python.tar.gz"),
)
def _cifar100(config) -> Raw:
    from torchvision.datasets import CIFAR100

    return _cifar(config, CIFAR100)


@register_dataset(
    "stl10",
    mean=(0.4467, 0.4398, 0.4066),
    std=(0.2603, 0.2566, 0.2713),
    files=Files(
        "stl10_binary",
        ("train_X.bin", "train_y.bin", "test_X.bin", "test_y.bin", "unlabeled_X.bin"),
        "Download stl10_binary.tar.gz from https://cs.stanford.edu/~acoates/stl10/ and extract it "
        "into {root}/ (torchvision checks every file, the unlabelled one too).",
    ),
)
def _stl10(config) -> Raw:
    """The 5000 labelled train and 8000 test images; `classes` picks a subset, relabelled 0..k-1
    in the order given."""
    from torchvision.datasets import STL10

    train, test = _torchvision(STL10, config, split="train"), _torchvision(STL10, config, split="test")
    x_train, y_train = torch.from_numpy(train.data), torch.from_numpy(train.labels.astype(np.int64))
    x_test, y_test = torch.from_numpy(test.data), torch.from_numpy(test.labels.astype(np.int64))
    if not config.classes:
        return Raw(x_train, y_train, x_test, y_test, list(STL10_CLASSES))
    return Raw(*_subset(x_train, y_train, config.classes), *_subset(x_test, y_test, config.classes), list(config.classes))


def _subset(x: torch.Tensor, y: torch.Tensor, names: list[str]) -> tuple[torch.Tensor, torch.Tensor]:
    """Keep the images of the named STL-10 classes, relabelled 0..k-1 in the order of `names`."""
    remap = torch.full((len(STL10_CLASSES),), -1, dtype=torch.int64)
    for new, name in enumerate(names):
        remap[STL10_CLASSES.index(name)] = new
    keep = remap[y] >= 0
    return x[keep], remap[y[keep]]


# ----------------------------------------------------------------------------------------------
# Splits


def load_data(config, seed: int, device: torch.device | str = "cpu", final: bool = False) -> Splits:
    """Load `config` (a data config model), carve validation from train with `seed`, move to device.

    final=False: train on train minus validation, evaluate on validation (test untouched).
    final=True: train on all of train, evaluate on test.
    """
    entry = _DATASETS.get(config.name)
    check_data(config)
    raw = entry.load(config)
    if final:
        train_x, train_y, eval_x, eval_y = raw.train_x, raw.train_y, raw.test_x, raw.test_y
    else:
        n = len(raw.train_y)
        n_val = config.val_size if config.val_size is not None else round(config.val_fraction * n)
        if not 1 <= n_val < n:
            raise ValueError(f"data: a validation split of {n_val} leaves no training images out of {n}")
        order = torch.randperm(n, generator=torch.Generator().manual_seed(seed))
        val, train = order[:n_val], order[n_val:]
        train_x, train_y, eval_x, eval_y = raw.train_x[train], raw.train_y[train], raw.train_x[val], raw.train_y[val]
    channels = train_x.shape[1]  # constants given for one channel apply to every channel
    mean = entry.mean * channels if len(entry.mean) == 1 else entry.mean
    std = entry.std * channels if len(entry.std) == 1 else entry.std
    return Splits(train_x.to(device), train_y.to(device), eval_x.to(device), eval_y.to(device), raw.classes, mean, std)

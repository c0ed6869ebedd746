"""Data sets: one registry, read offline, held as one uint8 tensor on the training device.

Each data set is its config model and its loader, registered together::

    DigitsData = variant(DataBase, "digits")

    @register_dataset("digits", DigitsData, shape=(1, 8, 8, 10), mean=(0.305,), std=(0.375,))
    def _digits(config) -> Raw: ...

A loader returns the publisher's train and test splits as uint8 [N, C, H, W] images with
int64 labels; `load_data` carves the validation split from train with the config's seed and
moves everything to the device. The test split is only used when `final=True`.

Trials only read: the loaders pass `download=False` to torchvision whatever the config
says. A missing data set is fetched, when the user asks (`data.download: true`, `hpo run
--download`), by the driver before any trial (trainers.download).
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np
import pydantic
import torch
from pydantic import Field, field_validator, model_validator

from hpo.contract import StrictModel, did_you_mean
from trainers.registry import Registry, variant

__all__ = [
    "DATASETS",
    "DataBase",
    "DEFAULT_ROOT",
    "DatasetNotFoundError",
    "DatasetOnDisk",
    "Files",
    "Raw",
    "Splits",
    "check_data",
    "dataset_shape",
    "datasets_on_disk",
    "list_datasets",
    "load_data",
    "missing_files",
    "register_dataset",
]


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
    source: str  # the torchvision.datasets class that reads them, whose URLs and checksums a download uses


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
    shape: tuple[int, int, int, int] | None  # (channels, height, width, classes) as published
    mean: tuple[float, ...]
    std: tuple[float, ...]
    files: Files | None  # None: made in memory, nothing to read


DATASETS = Registry("data set", default="digits")  # digits ship with scikit-learn: a config runs with no files
list_datasets = DATASETS.names


def register_dataset(
    name: str,
    config: type[StrictModel],
    shape: tuple[int, int, int, int] | None,
    mean: tuple[float, ...],
    std: tuple[float, ...],
    files: Files | None = None,
):
    """Register `load(config) -> Raw` under `name` with its config model, its shape as
    published (None: the config gives it), its normalisation constants and the files it
    reads (`load_data` checks they are there before calling `load`)."""

    def wrap(fn: Callable) -> Callable:
        DATASETS.register(name, config)(_Entry(fn, shape, mean, std, files))
        return fn

    return wrap


DEFAULT_ROOT = "data"  # relative to the working directory, as every path of a config


class DataBase(StrictModel):
    """The fields every data set has: where its files are and how validation is held out."""

    root: str = DEFAULT_ROOT  # folder holding the publishers' files
    download: bool = False  # let the driver fetch missing files once, checksummed, before any trial (trials never do)
    val_fraction: float | None = Field(0.1, gt=0, lt=1)  # share of train held out for validation
    val_size: int | None = Field(None, ge=1)  # or an exact count (e.g. 5000); not both

    @model_validator(mode="after")
    def _one_val_split(self):
        if self.val_size is not None:
            if "val_fraction" in self.model_fields_set and self.val_fraction is not None:
                raise ValueError("give val_fraction or val_size, not both")
            self.val_fraction = None
        elif self.val_fraction is None:
            raise ValueError("give val_fraction or val_size")
        return self

    def dataset_shape(self, published: tuple[int, int, int, int] | None) -> tuple[int, int, int, int]:
        """(channels, height, width, classes) of this config's images, given the data set's
        registered shape; a config whose fields change the shape says so here."""
        if published is None:
            raise TypeError(f"data set '{getattr(self, 'name', '?')}' registers no shape, so its config must give it")
        return published


def dataset_shape(data: Any) -> tuple[int, int, int, int]:
    """(channels, height, width, num_classes) of a data config (dict or model), without disk."""
    if isinstance(data, dict):
        data = pydantic.TypeAdapter(DATASETS.union()).validate_python(data)
    return data.dataset_shape(DATASETS.get(data.name).shape)


def check_data(config) -> None:
    """Raise DatasetNotFoundError unless the data set's files are under `config.root`.

    Cheap (a few stat calls, no read): hpo runs it before a study's first trial.
    """
    files = DATASETS.get(config.name).files
    if files is not None:
        _require(config, files)


# ----------------------------------------------------------------------------------------------
# Data sets that need no files

DigitsData = variant(DataBase, "digits", "scikit-learn's 1797 8x8 digits: the data set that needs no files.")


@register_dataset("digits", DigitsData, shape=(1, 8, 8, 10), mean=(0.305,), std=(0.375,))
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


class SyntheticData(DataBase):
    name: Literal["synthetic"] = "synthetic"
    shape: tuple[int, int, int] = (3, 32, 32)  # channels, height, width
    num_classes: int = Field(10, ge=2)
    size: int = Field(1000, ge=2)  # training images (validation is carved from these)
    test_size: int = Field(200, ge=1)  # held-out test images
    noise: float = Field(0.5, ge=0)  # pixel noise relative to the class patterns; higher is harder
    seed: int = 0  # the data are a function of this seed alone

    @field_validator("shape")
    @classmethod
    def _positive_shape(cls, shape: tuple[int, int, int]) -> tuple[int, int, int]:
        if min(shape) < 1:
            raise ValueError(f"shape {list(shape)} must be positive [channels, height, width]")
        return shape

    def dataset_shape(self, published):
        return (*self.shape, self.num_classes)


@register_dataset("synthetic", SyntheticData, shape=None, mean=(0.5,), std=(0.25,))
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


def missing_files(root: str, files: Files) -> list[str]:
    """The names of `files` that are not under `root`/`files.folder` (stat calls only)."""
    path = os.path.join(root, files.folder)
    return [f for f in files.names if not os.path.isfile(os.path.join(path, f))]


def _require(config, files: Files) -> None:
    """DatasetNotFoundError naming the folder, the files it must hold, the missing ones and
    the two ways to get them: by hand, or fetched by hpo's driver when asked."""
    path = os.path.join(config.root, files.folder)
    missing = missing_files(config.root, files)
    if missing:
        shown = "all of them" if len(missing) == len(files.names) else ", ".join(missing)
        raise DatasetNotFoundError(
            f"data set '{config.name}' not found: {path}/ must hold {', '.join(files.names)} "
            f"(missing: {shown}). {files.how.format(root=config.root)} Or let hpo fetch it once, before any trial: "
            f"data.download: true in the config, or --download. data.root is '{config.root}', relative to the working directory."
        )


def _read(class_name: str, config, **kwargs):
    """torchvision.datasets.<class_name> over the files under data.root."""
    import torchvision.datasets

    try:
        return getattr(torchvision.datasets, class_name)(config.root, download=False, **kwargs)
    except RuntimeError as error:  # files present but failed torchvision's checksum check
        raise DatasetNotFoundError(f"data set '{config.name}' under {config.root}: {error}") from error


def _mnist_like(name: str, class_name: str, source: str, mean: float, std: float) -> None:
    """Register an MNIST-format data set: torchvision reads it from <root>/<class_name>/raw."""
    names = ("train-images-idx3-ubyte", "train-labels-idx1-ubyte", "t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte")
    files = Files(os.path.join(class_name, "raw"), names, f"Get the four .gz files from {source} and gunzip them there.", class_name)

    @register_dataset(name, variant(DataBase, name), shape=(1, 28, 28, 10), mean=(mean,), std=(std,), files=files)
    def load(config) -> Raw:
        train, test = _read(class_name, config, train=True), _read(class_name, config, train=False)
        return Raw(train.data.unsqueeze(1), train.targets.long(), test.data.unsqueeze(1), test.targets.long(), list(train.classes))


_mnist_like("mnist", "MNIST", "the MNIST distribution (https://yann.lecun.com/exdb/mnist/)", mean=0.1307, std=0.3081)
_mnist_like("fashion_mnist", "FashionMNIST", "https://github.com/zalandoresearch/fashion-mnist (data/fashion)", mean=0.2860, std=0.3530)


def _cifar(name: str, class_name: str, folder: str, names: tuple[str, ...], classes: int, mean, std) -> None:
    """Register a CIFAR data set, read from the python version of its archive."""
    archive = f"cifar-{classes}-python.tar.gz"
    how = f"Download {archive} from https://www.cs.toronto.edu/~kriz/cifar.html and extract it into {{root}}/ "
    how += f"(tar xzf {archive} -C {{root}})."

    files = Files(folder, names, how, class_name)

    @register_dataset(name, variant(DataBase, name), shape=(3, 32, 32, classes), mean=mean, std=std, files=files)
    def load(config) -> Raw:
        train, test = _read(class_name, config, train=True), _read(class_name, config, train=False)

        def images(d) -> torch.Tensor:
            return torch.from_numpy(d.data).permute(0, 3, 1, 2).contiguous()  # NHWC -> NCHW

        def labels(d) -> torch.Tensor:
            return torch.tensor(d.targets, dtype=torch.int64)

        return Raw(images(train), labels(train), images(test), labels(test), list(train.classes))


_CIFAR10_FILES = (*(f"data_batch_{i}" for i in range(1, 6)), "test_batch", "batches.meta")
_cifar("cifar10", "CIFAR10", "cifar-10-batches-py", _CIFAR10_FILES, 10, mean=(0.4914, 0.4822, 0.4465), std=(0.2470, 0.2435, 0.2616))
_cifar(
    "cifar100", "CIFAR100", "cifar-100-python", ("train", "test", "meta"), 100, mean=(0.5071, 0.4865, 0.4409), std=(0.2673, 0.2564, 0.2762)
)


STL10_CLASSES = ("airplane", "bird", "car", "cat", "deer", "dog", "horse", "monkey", "ship", "truck")


class Stl10Data(DataBase):
    name: Literal["stl10"] = "stl10"
    classes: list[str] | None = None  # a subset by name, e.g. [car, deer, horse, monkey, truck]

    @field_validator("classes")
    @classmethod
    def _known_classes(cls, classes: list[str] | None) -> list[str] | None:
        if classes is not None:
            if len(classes) < 2:
                raise ValueError("a class subset needs at least 2 classes")
            for c in classes:
                if c not in STL10_CLASSES:
                    raise ValueError(did_you_mean(c, STL10_CLASSES, "stl10 class"))
            if len(set(classes)) != len(classes):
                raise ValueError("classes has duplicates")
        return classes

    def dataset_shape(self, published):
        return (*published[:3], len(self.classes)) if self.classes else published


@register_dataset(
    "stl10",
    Stl10Data,
    shape=(3, 96, 96, 10),
    mean=(0.4467, 0.4398, 0.4066),
    std=(0.2603, 0.2566, 0.2713),
    files=Files(
        "stl10_binary",
        ("train_X.bin", "train_y.bin", "test_X.bin", "test_y.bin", "unlabeled_X.bin"),
        "Download stl10_binary.tar.gz from https://cs.stanford.edu/~acoates/stl10/ and extract it "
        "into {root}/ (torchvision checks every file, the unlabelled one too).",
        "STL10",
    ),
)
def _stl10(config) -> Raw:
    """The 5000 labelled train and 8000 test images; `classes` picks a subset, relabelled 0..k-1
    in the order given."""
    train, test = _read("STL10", config, split="train"), _read("STL10", config, split="test")
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
# What is on disk


@dataclass(frozen=True)
class DatasetOnDisk:
    """A registered data set and its files under one root (`hpo data list` shows these)."""

    name: str
    folder: str | None  # root/folder it is read from; None: made in memory, nothing to read
    needed: int  # files it reads
    missing: int  # of those, not on disk
    size: int  # bytes under folder, whatever they are
    shape: tuple[int, int, int, int] | None  # (channels, height, width, classes) as published; None: the config gives it


def datasets_on_disk(root: str = DEFAULT_ROOT) -> list[DatasetOnDisk]:
    """Every registered data set, whether its files are under `root` and their size (stat calls only)."""
    found = []
    for name in list_datasets():
        entry = DATASETS.get(name)
        if entry.files is None:
            found.append(DatasetOnDisk(name, None, 0, 0, 0, entry.shape))
            continue
        folder = os.path.join(root, entry.files.folder)
        size = sum(os.path.getsize(os.path.join(path, f)) for path, _, names in os.walk(folder) for f in names)
        found.append(DatasetOnDisk(name, folder, len(entry.files.names), len(missing_files(root, entry.files)), size, entry.shape))
    return found


# ----------------------------------------------------------------------------------------------
# Splits


def load_data(config, seed: int, device: torch.device | str = "cpu", final: bool = False) -> Splits:
    """Load `config` (a data config model), carve validation from train with `seed`, move to device.

    final=False: train on train minus validation, evaluate on validation (test untouched).
    final=True: train on all of train, evaluate on test.
    """
    entry = DATASETS.get(config.name)
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

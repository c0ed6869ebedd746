"""trainers/data.py: every data set, offline loading from the publishers' formats, splits."""

from __future__ import annotations

import pickle

import numpy as np
import pytest
import torch

from tests.trainers.publishers import CIFAR10_BATCHES, CIFAR10_CLASSES, expect_md5s, write_cifar, write_mnist
from trainers.config import validate_train_config
from trainers.data import DatasetNotFoundError, check_data, dataset_shape, list_datasets, load_data

FILE_BACKED = ["mnist", "fashion_mnist", "cifar10", "cifar100", "stl10"]


def data_config(data: dict):
    return validate_train_config({"data": data}).data


def test_registry_covers_every_configurable_data_set():
    assert list_datasets() == sorted(FILE_BACKED + ["digits", "synthetic"])


@pytest.mark.parametrize("name", FILE_BACKED)
def test_missing_data_set_says_which_files_to_put_where(name, tmp_path):
    with pytest.raises(DatasetNotFoundError) as info:
        load_data(data_config({"name": name, "root": str(tmp_path)}), seed=0)
    message = str(info.value)
    assert f"data set '{name}' not found" in message
    assert str(tmp_path) in message and "missing:" in message
    assert "Download" in message or "Get" in message


@pytest.mark.parametrize("name", FILE_BACKED)
def test_check_data_expects_what_the_loader_expects(name, tmp_path):
    """One declaration of each data set's files serves the check before a study and the loader."""
    config = data_config({"name": name, "root": str(tmp_path)})
    with pytest.raises(DatasetNotFoundError) as checked:
        check_data(config)
    with pytest.raises(DatasetNotFoundError) as loaded:
        load_data(config, seed=0)
    assert str(checked.value) == str(loaded.value)
    assert "missing: all of them" in str(checked.value)
    assert checked.value.key == "data.root"


def test_check_data_names_only_the_missing_files(tmp_path):
    folder = tmp_path / "cifar-100-python"
    folder.mkdir()
    (folder / "train").touch()
    with pytest.raises(DatasetNotFoundError, match=r"must hold train, test, meta \(missing: test, meta\)"):
        check_data(data_config({"name": "cifar100", "root": str(tmp_path)}))
    (folder / "test").touch()
    (folder / "meta").touch()
    check_data(data_config({"name": "cifar100", "root": str(tmp_path)}))  # present: no reading, no error


@pytest.mark.parametrize("name", ["digits", "synthetic"])
def test_check_data_of_data_sets_made_in_memory_needs_nothing(name, tmp_path):
    check_data(data_config({"name": name, "root": str(tmp_path / "nowhere")}))


@pytest.mark.parametrize("name", ["digits", "synthetic"])
def test_built_in_data_sets_have_their_declared_shape(name):
    config = data_config({"name": name})
    splits = load_data(config, seed=0)
    c, h, w, k = dataset_shape(config)
    assert splits.train_x.dtype == torch.uint8 and splits.train_x.shape[1:] == (c, h, w)
    assert splits.train_y.dtype == torch.int64 and int(splits.train_y.max()) == k - 1
    assert len(splits.classes) == k and len(splits.mean) == len(splits.std) == c


def test_digits_split_sizes():
    config = data_config({"name": "digits", "val_fraction": 0.1})
    splits = load_data(config, seed=0)
    assert (len(splits.train_y), len(splits.eval_y)) == (1437 - 144, 144)
    final = load_data(config, seed=0, final=True)
    assert (len(final.train_y), len(final.eval_y)) == (1437, 360)


def test_validation_split_follows_the_seed():
    config = data_config({"name": "digits", "val_size": 100})
    a, b, c = load_data(config, seed=1), load_data(config, seed=1), load_data(config, seed=2)
    assert len(a.eval_y) == 100
    assert torch.equal(a.eval_x, b.eval_x) and not torch.equal(a.eval_x, c.eval_x)
    # validation and training images are disjoint parts of train; test is untouched
    test = load_data(config, seed=1, final=True)
    assert len(a.train_y) + len(a.eval_y) == len(test.train_y)


def test_synthetic_is_a_function_of_its_seed():
    a = load_data(data_config({"name": "synthetic", "shape": [2, 5, 7], "num_classes": 3, "size": 50}), seed=0)
    b = load_data(data_config({"name": "synthetic", "shape": [2, 5, 7], "num_classes": 3, "size": 50}), seed=0)
    c = load_data(data_config({"name": "synthetic", "shape": [2, 5, 7], "num_classes": 3, "size": 50, "seed": 1}), seed=0)
    assert a.train_x.shape == (45, 2, 5, 7) and len(a.eval_y) == 5
    assert torch.equal(a.train_x, b.train_x) and not torch.equal(a.train_x, c.train_x)
    assert (
        torch.bincount(load_data(data_config({"name": "synthetic", "num_classes": 4, "size": 400}), 0, final=True).train_y).tolist()
        == [100] * 4
    )


def test_validation_that_leaves_nothing_to_train_on_is_an_error():
    with pytest.raises(ValueError, match="leaves no training images"):
        load_data(data_config({"name": "synthetic", "size": 10, "val_size": 10}), seed=0)


# ----------------------------------------------------------------------------------------------
# The publishers' formats, written small, read through torchvision with download=False


@pytest.mark.parametrize("name, folder", [("mnist", "MNIST"), ("fashion_mnist", "FashionMNIST")])
def test_mnist_format(name, folder, tmp_path):
    write_mnist(tmp_path / folder / "raw", train=30, test=10)
    splits = load_data(data_config({"name": name, "root": str(tmp_path), "val_size": 5}), seed=0)
    assert splits.train_x.shape == (25, 1, 28, 28) and splits.train_x.dtype == torch.uint8
    assert len(splits.eval_y) == 5 and len(splits.classes) == 10
    assert len(load_data(data_config({"name": name, "root": str(tmp_path)}), 0, final=True).eval_y) == 10


def test_cifar10_format(tmp_path, monkeypatch):
    from torchvision.datasets import CIFAR10

    folder = tmp_path / "cifar-10-batches-py"
    write_cifar(folder, CIFAR10_BATCHES, "labels", "batches.meta", "label_names", CIFAR10_CLASSES)
    expect_md5s(monkeypatch, CIFAR10, unpacked=folder)  # torchvision checks the md5 sums of the real files
    splits = load_data(data_config({"name": "cifar10", "root": str(tmp_path), "val_size": 6}), seed=0)
    assert splits.train_x.shape == (24, 3, 32, 32) and splits.classes == CIFAR10_CLASSES
    raw = pickle.loads((folder / "test_batch").read_bytes())["data"]
    final = load_data(data_config({"name": "cifar10", "root": str(tmp_path)}), 0, final=True)
    assert torch.equal(final.eval_x[0], torch.from_numpy(raw[0].reshape(3, 32, 32)))  # NCHW, untouched


def test_cifar100_format(tmp_path, monkeypatch):
    from torchvision.datasets import CIFAR100

    folder = tmp_path / "cifar-100-python"
    write_cifar(folder, ["train", "test"], "fine_labels", "meta", "fine_label_names", [f"c{i}" for i in range(100)])
    expect_md5s(monkeypatch, CIFAR100, unpacked=folder)
    splits = load_data(data_config({"name": "cifar100", "root": str(tmp_path), "val_size": 2}), seed=0)
    assert splits.train_x.shape == (4, 3, 32, 32) and len(splits.classes) == 100


def test_stl10_format_and_class_subset(tmp_path, monkeypatch):
    from torchvision.datasets import STL10

    folder = tmp_path / "stl10_binary"
    folder.mkdir()
    labels = np.arange(20) % 10 + 1  # STL-10 labels are 1-based
    for split in ("train", "test"):
        np.zeros((20, 3, 96, 96), np.uint8).tofile(folder / f"{split}_X.bin")
        labels.astype(np.uint8).tofile(folder / f"{split}_y.bin")
    (folder / "unlabeled_X.bin").write_bytes(b"")
    monkeypatch.setattr(STL10, "_check_integrity", lambda self: True)
    config = data_config({"name": "stl10", "root": str(tmp_path), "classes": ["truck", "car"], "val_size": 1})
    splits = load_data(config, seed=0, final=True)
    assert splits.classes == ["truck", "car"]
    assert splits.train_x.shape == (4, 3, 96, 96)
    assert sorted(splits.train_y.tolist()) == [0, 0, 1, 1]  # truck -> 0, car -> 1
    everything = load_data(data_config({"name": "stl10", "root": str(tmp_path)}), 0, final=True)
    assert len(everything.train_y) == 20 and len(everything.classes) == 10

"""trainers/download.py: a missing data set fetched once (from a loopback server here),
verified, and put where the real loader reads it; every failure leaves nothing in place."""

from __future__ import annotations

import socket

import pytest

from tests.trainers.conftest import tiny_config
from tests.trainers.publishers import (
    CIFAR10_CLASSES,
    MNIST_FILES,
    cifar10_archive,
    expect_md5s,
    files_under,
    mnist_archives,
    serve,
)
from trainers.config import validate_train_config
from trainers.data import DatasetNotFoundError, check_data, load_data
from trainers.download import MIRROR_ENV, DatasetDownloadError, fetch_data, published
from trainers.loop import prepare, train

CIFAR10_URL_PATH = "/cifar10/cifar-10-python.tar.gz"


def data_config(name: str, root, **extra):
    return validate_train_config({"data": {"name": name, "root": str(root), **extra}}).data


@pytest.fixture
def cifar10_mirror(tmp_path, monkeypatch):
    """A loopback mirror serving a small CIFAR-10 archive; torchvision expects its md5 sums."""
    from torchvision.datasets import CIFAR10

    archive = cifar10_archive(tmp_path / "build", tmp_path / "served" / "cifar10")
    expect_md5s(monkeypatch, CIFAR10, [archive], unpacked=tmp_path / "build" / "cifar-10-batches-py")
    with serve(tmp_path / "served") as mirror:
        monkeypatch.setenv(MIRROR_ENV, mirror.url)
        yield mirror


def test_the_mirror_replaces_the_publishers_servers(monkeypatch):
    monkeypatch.delenv(MIRROR_ENV, raising=False)
    (cifar,) = published("cifar10")
    assert cifar.urls == ("https://www.cs.toronto.edu/~kriz/cifar-10-python.tar.gz",) and cifar.md5 == "c58f30108f718f92721af3b95e74349a"
    assert len(published("mnist")) == 4 and all(len(a.urls) == 2 for a in published("mnist"))  # torchvision's two mirrors
    monkeypatch.setenv(MIRROR_ENV, "https://files.example.org/datasets/")
    assert [a.urls for a in published("fashion_mnist")][0] == (
        "https://files.example.org/datasets/fashion_mnist/train-images-idx3-ubyte.gz",
    )
    assert published("stl10")[0].urls == ("https://files.example.org/datasets/stl10/stl10_binary.tar.gz",)


def test_cifar10_is_fetched_verified_and_read_by_the_real_loader(tmp_path, cifar10_mirror):
    root = tmp_path / "data"
    config = data_config("cifar10", root, val_size=6)
    with pytest.raises(DatasetNotFoundError):
        check_data(config)

    lines = fetch_data(config)

    assert cifar10_mirror.paths == [CIFAR10_URL_PATH]
    assert lines == [
        f"data set 'cifar10': downloaded cifar-10-python.tar.gz, md5 verified, 7 missing file(s) put in {root}/cifar-10-batches-py/"
    ]
    assert files_under(root) == ["cifar-10-batches-py", *sorted(f"cifar-10-batches-py/{n}" for n in ("batches.meta", *_cifar10_batches()))]
    check_data(config)
    splits = load_data(config, seed=0)  # torchvision's CIFAR10 reads them, checking each file's md5
    assert splits.train_x.shape == (24, 3, 32, 32) and splits.classes == CIFAR10_CLASSES
    asked = len(cifar10_mirror.requests)
    assert fetch_data(config) == [] and len(cifar10_mirror.requests) == asked  # there: not fetched again


def _cifar10_batches():
    return [f"data_batch_{i}" for i in range(1, 6)] + ["test_batch"]


def test_mnist_files_are_fetched_one_by_one_and_gunzipped(tmp_path, monkeypatch):
    from torchvision.datasets import MNIST

    archives = mnist_archives(tmp_path / "build", tmp_path / "served" / "mnist")
    expect_md5s(monkeypatch, MNIST, archives)
    with serve(tmp_path / "served") as mirror:
        monkeypatch.setenv(MIRROR_ENV, mirror.url)
        config = data_config("mnist", tmp_path / "data", val_size=5)
        fetch_data(config)
    assert mirror.paths == [f"/mnist/{name}.gz" for name in MNIST_FILES]
    assert files_under(tmp_path / "data") == ["MNIST", "MNIST/raw", *sorted(f"MNIST/raw/{name}" for name in MNIST_FILES)]
    splits = load_data(config, seed=0)
    assert splits.train_x.shape == (25, 1, 28, 28) and len(splits.eval_y) == 5


def test_files_already_in_the_folder_are_kept_and_only_the_missing_ones_added(tmp_path, cifar10_mirror):
    folder = tmp_path / "data" / "cifar-10-batches-py"
    folder.mkdir(parents=True)
    (folder / "data_batch_1").write_bytes(b"mine")
    (folder / "notes.txt").write_text("kept")
    lines = fetch_data(data_config("cifar10", tmp_path / "data"))
    assert "6 missing file(s)" in lines[0]
    assert (folder / "data_batch_1").read_bytes() == b"mine" and (folder / "notes.txt").read_text() == "kept"
    assert all((folder / name).is_file() for name in ("batches.meta", *_cifar10_batches()))


def test_a_checksum_mismatch_is_refused_and_leaves_nothing(tmp_path):
    """torchvision's real md5 for CIFAR-10 against a made-up archive: the verification refuses it."""
    cifar10_archive(tmp_path / "build", tmp_path / "served" / "cifar10")
    root = tmp_path / "data"
    with serve(tmp_path / "served") as mirror, pytest.MonkeyPatch.context() as patch:
        patch.setenv(MIRROR_ENV, mirror.url)
        with pytest.raises(DatasetDownloadError) as info:
            fetch_data(data_config("cifar10", root))
    message = str(info.value)
    assert message.startswith(f"could not download data set 'cifar10': {mirror.url}{CIFAR10_URL_PATH}: checksum mismatch: got ")
    assert "expected md5 c58f30108f718f92721af3b95e74349a" in message
    assert (
        f"Nothing was put under {root}/" in message
        and f"{MIRROR_ENV} is {mirror.url}, which must serve cifar10/cifar-10-python.tar.gz" in message
    )
    assert files_under(root) == []  # no archive, no staging folder, no half a data set


def test_a_transfer_cut_short_is_refused_and_leaves_nothing(tmp_path, cifar10_mirror):
    """The server closes the connection halfway: torchvision keeps what came, the md5 check refuses it."""
    cifar10_mirror.cut_short.add(CIFAR10_URL_PATH)
    half = (tmp_path / "served" / CIFAR10_URL_PATH.lstrip("/")).stat().st_size // 2
    with pytest.raises(DatasetDownloadError, match=rf"{CIFAR10_URL_PATH}: checksum mismatch: got {half:,} bytes with md5 ") as info:
        fetch_data(data_config("cifar10", tmp_path / "data"))
    assert "(a transfer cut short, or another file)" in str(info.value) and "\n" not in str(info.value)
    assert files_under(tmp_path / "data") == []


def test_a_missing_file_and_an_unreachable_host_are_named_with_their_url(tmp_path, monkeypatch):
    (tmp_path / "served").mkdir()
    with serve(tmp_path / "served") as mirror:
        monkeypatch.setenv(MIRROR_ENV, mirror.url)
        with pytest.raises(DatasetDownloadError, match=rf"'cifar100': {mirror.url}/cifar100/cifar-100-python.tar.gz: HTTP 404 "):
            fetch_data(data_config("cifar100", tmp_path / "data"))
    with socket.socket() as closed:  # a port nothing listens on
        closed.bind(("127.0.0.1", 0))
        port = closed.getsockname()[1]
    monkeypatch.setenv(MIRROR_ENV, f"http://127.0.0.1:{port}")
    with pytest.raises(DatasetDownloadError, match=rf"127.0.0.1:{port}/stl10/stl10_binary.tar.gz: unreachable \(.*refused"):
        fetch_data(data_config("stl10", tmp_path / "data"))
    assert files_under(tmp_path / "data") == []


def test_a_root_that_cannot_be_written_is_named_before_anything_is_fetched(tmp_path, cifar10_mirror):
    (tmp_path / "data").write_text("a file where the folder should be")
    with pytest.raises(DatasetDownloadError, match=rf"data set 'cifar10': cannot write under data.root {tmp_path}/data/: FileExistsError"):
        fetch_data(data_config("cifar10", tmp_path / "data"))
    assert cifar10_mirror.requests == []


def test_data_sets_made_in_memory_have_nothing_to_fetch(tmp_path):
    assert fetch_data(data_config("digits", tmp_path)) == []
    assert fetch_data(data_config("synthetic", tmp_path)) == [] and not any(tmp_path.iterdir())


# ----------------------------------------------------------------------------------------------
# The built-in trainer's prepare hook: only when asked; trials never download


def test_prepare_fetches_only_when_asked(tmp_path, cifar10_mirror):
    config = tiny_config(data={"name": "cifar10", "root": str(tmp_path / "a")})
    assert prepare(config, download=False) == [] and cifar10_mirror.requests == []
    assert len(prepare(config, download=True)) == 1  # hpo run --download
    assert (tmp_path / "a" / "cifar-10-batches-py").is_dir()
    asked = tiny_config(data={"name": "cifar10", "root": str(tmp_path / "b"), "download": True})
    assert len(prepare(asked, download=False)) == 1  # data.download: true
    assert (tmp_path / "b" / "cifar-10-batches-py").is_dir()


def test_a_trial_never_downloads_even_when_the_config_says_download(tmp_path, cifar10_mirror, recorder):
    config = tiny_config(data={"name": "cifar10", "root": str(tmp_path / "data"), "download": True})
    with pytest.raises(DatasetNotFoundError, match="data.download: true in the config, or --download"):
        train(config, recorder)
    with pytest.raises(DatasetNotFoundError):
        load_data(validate_train_config(config).data, seed=0)
    assert cifar10_mirror.requests == [] and not (tmp_path / "data").exists()

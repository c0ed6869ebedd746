"""The publishers' file formats, written small, and a loopback server standing in for the
publishers' sites: what the data loading and download tests read and fetch.

A download test serves an archive built here in the real on-disk format (CIFAR's pickled
batches in a tar.gz, MNIST's idx files gzipped) and, since torchvision's md5 sums are those
of the real files, tells torchvision's class the sums of these (`expect_md5s`): the code
that verifies them runs as it does for real data.
"""

from __future__ import annotations

import datetime
import gzip
import hashlib
import http.server
import os
import pickle
import tarfile
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import numpy as np

CIFAR10_CLASSES = ["airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck"]
CIFAR10_BATCHES = [f"data_batch_{i}" for i in range(1, 6)] + ["test_batch"]
MNIST_FILES = ("train-images-idx3-ubyte", "train-labels-idx1-ubyte", "t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte")


def md5_of(path: Path) -> str:
    return hashlib.md5(Path(path).read_bytes()).hexdigest()


def write_idx(path: Path, array: np.ndarray) -> None:
    """An MNIST idx file of unsigned bytes."""
    header = bytes([0, 0, 0x08, array.ndim]) + b"".join(int(d).to_bytes(4, "big") for d in array.shape)
    Path(path).write_bytes(header + array.astype(np.uint8).tobytes())


def write_mnist(folder: Path, train: int = 30, test: int = 10) -> None:
    """The four idx files (not gzipped) of an MNIST-format data set in `folder`."""
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(0)
    for prefix, n in (("train", train), ("t10k", test)):
        write_idx(folder / f"{prefix}-images-idx3-ubyte", rng.integers(0, 256, (n, 28, 28)))
        write_idx(folder / f"{prefix}-labels-idx1-ubyte", np.arange(n) % 10)


def write_cifar(folder: Path, files: list[str], label_key: str, meta_file: str, meta_key: str, classes: list[str], n: int = 6) -> None:
    """CIFAR's python version: each batch a pickled dict of uint8 rows (3072 = 3x32x32) and labels."""
    folder.mkdir(parents=True)
    rng = np.random.default_rng(0)
    for name in files:
        batch = {"data": rng.integers(0, 256, (n, 3072)).astype(np.uint8), label_key: list(range(n))}
        (folder / name).write_bytes(pickle.dumps(batch))
    (folder / meta_file).write_bytes(pickle.dumps({meta_key: classes}))


def cifar10_archive(build: Path, into: Path) -> Path:
    """cifar-10-python.tar.gz in `into`, holding cifar-10-batches-py/ as the real one does."""
    write_cifar(build / "cifar-10-batches-py", CIFAR10_BATCHES, "labels", "batches.meta", "label_names", CIFAR10_CLASSES)
    into.mkdir(parents=True, exist_ok=True)
    archive = into / "cifar-10-python.tar.gz"
    with tarfile.open(archive, "w:gz") as tar:
        tar.add(build / "cifar-10-batches-py", arcname="cifar-10-batches-py")
    return archive


def mnist_archives(build: Path, into: Path) -> list[Path]:
    """The four gzipped idx files MNIST's publisher serves, in `into`."""
    write_mnist(build)
    into.mkdir(parents=True, exist_ok=True)
    for name in MNIST_FILES:
        (into / f"{name}.gz").write_bytes(gzip.compress((build / name).read_bytes()))
    return [into / f"{name}.gz" for name in MNIST_FILES]


def expect_md5s(monkeypatch, cls, archives: list[Path] = (), unpacked: Path | None = None) -> None:
    """Make torchvision's class `cls` expect the md5 sums of `archives` (what a download
    fetches) and of the files in `unpacked` (what CIFAR's loader checks as it reads)."""
    sums = {path.name: md5_of(path) for path in archives}
    if sums and hasattr(cls, "resources"):
        monkeypatch.setattr(cls, "resources", [(name, sums[name]) for name, _ in cls.resources])
    elif sums:
        monkeypatch.setattr(cls, "tgz_md5", sums[cls.filename])
    if unpacked is not None:
        monkeypatch.setattr(cls, "train_list", [[name, md5_of(unpacked / name)] for name, _ in cls.train_list])
        monkeypatch.setattr(cls, "test_list", [[name, md5_of(unpacked / name)] for name, _ in cls.test_list])
        monkeypatch.setattr(cls, "meta", {**cls.meta, "md5": md5_of(unpacked / cls.meta["filename"])})


class Mirror:
    """A folder served over HTTP on 127.0.0.1, recording each path asked for."""

    def __init__(self, folder: Path, server: http.server.ThreadingHTTPServer) -> None:
        self.folder = folder
        self.url = f"http://127.0.0.1:{server.server_address[1]}"
        self.requests: list[str] = []  # torchvision asks twice for each file: once for redirects, once to read it
        self.times: list[datetime.datetime] = []  # when each request came
        self.cut_short: set[str] = set()  # paths whose transfer stops halfway through

    @property
    def paths(self) -> list[str]:
        """The distinct paths asked for, in order."""
        return list(dict.fromkeys(self.requests))


@contextmanager
def serve(folder: Path) -> Iterator[Mirror]:
    """Serve `folder` on a free loopback port until the block ends."""
    mirror: Mirror

    class Handler(http.server.SimpleHTTPRequestHandler):
        def __init__(self, *args, **kwargs):
            super().__init__(*args, directory=str(folder), **kwargs)

        def do_GET(self):
            mirror.requests.append(self.path)
            mirror.times.append(datetime.datetime.now())
            if self.path not in mirror.cut_short:
                return super().do_GET()
            body = (folder / self.path.lstrip("/")).read_bytes()
            self.send_response(200)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body[: len(body) // 2])  # then the connection closes

        def log_message(self, format, *args):
            pass

    class Server(http.server.ThreadingHTTPServer):
        def handle_error(self, request, client_address):
            pass  # a client closing early (torchvision's redirect check reads no body) is no error here

    server = Server(("127.0.0.1", 0), Handler)
    mirror = Mirror(folder, server)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield mirror
    finally:
        server.shutdown()
        server.server_close()
        thread.join()


def files_under(root: Path) -> list[str]:
    """Every file and folder under `root`, relative, sorted: what a download left behind."""
    return sorted(os.path.relpath(os.path.join(path, name), root) for path, dirs, files in os.walk(root) for name in dirs + files)

"""Fetching a data set once, in the driver, before any trial: download, verify, put in place.

    lines = fetch_data(config.data)    # a data config model; [] when its files are there

Only the driver calls this (through the trainer's `prepare`, hpo.contract), and only when
the user asked (`data.download: true`, `--download`). Trials read with `download=False`:
eight workers starting together would race to write one archive.

What is fetched is what torchvision's dataset class would fetch: the URLs and md5 sums are
that class's own (`CIFAR10.url`, `CIFAR10.tgz_md5`, `MNIST.mirrors`, `MNIST.resources`), and
torchvision's `download_url` and `extract_archive` do the transfer and the unpacking. The
layout is the one its loader reads, under `data.root`. Three rules keep a failure harmless:

- everything is written in a staging folder under `data.root` (`.cifar10-download-*`), and
  a file is moved into the data set's folder only when every archive's md5 matched, by
  rename: a later run never sees a half-written data set as complete;
- files already in the folder are kept, never overwritten;
- a failure is one `DatasetDownloadError` naming the data set, each URL tried and what went
  wrong there (unreachable host, HTTP status, checksum mismatch, a transfer cut short).

`HPO_DATA_MIRROR` (a URL base) replaces the publishers' servers: a file is then fetched from
`$HPO_DATA_MIRROR/<data set>/<file name>` (`.../cifar10/cifar-10-python.tar.gz`,
`.../mnist/train-images-idx3-ubyte.gz`), and from nowhere else. The files a mirror serves
are the publishers', checked against the same md5 sums.
"""

from __future__ import annotations

import os
import shutil
import socket
import tempfile
import urllib.error
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

from trainers.data import DATASETS, Files, missing_files

__all__ = ["MIRROR_ENV", "Archive", "DatasetDownloadError", "fetch_data", "published"]

MIRROR_ENV = "HPO_DATA_MIRROR"  # a URL base holding <data set>/<file name>, used instead of the publishers'
TIMEOUT_S = 60.0  # a host silent this long fails the download instead of hanging the driver


class DatasetDownloadError(RuntimeError):
    """A data set could not be fetched; the message names it, each URL tried and why."""


@dataclass(frozen=True)
class Archive:
    """One file a publisher distributes, where to get it and the md5 it must have."""

    filename: str
    urls: tuple[str, ...]  # tried in order
    md5: str
    into: str  # folder under data.root it unpacks into (a tar archive holds its own top folder)


def published(name: str) -> list[Archive]:
    """The files of data set `name` as torchvision's class for it fetches them, or from the
    mirror `HPO_DATA_MIRROR` names. A class with `resources` (the MNIST family) publishes
    one .gz per file at each of its `mirrors`; the others one archive at `url`."""
    import torchvision.datasets

    files = _files(name)
    source = getattr(torchvision.datasets, files.source)
    mirror = os.environ.get(MIRROR_ENV, "").strip().rstrip("/")
    if hasattr(source, "resources"):
        found = [(filename, md5, tuple(base + filename for base in source.mirrors), files.folder) for filename, md5 in source.resources]
    else:
        found = [(source.filename, source.tgz_md5, (source.url,), "")]
    return [Archive(filename, (f"{mirror}/{name}/{filename}",) if mirror else urls, md5, into) for filename, md5, urls, into in found]


def fetch_data(config) -> list[str]:
    """Download the data set of `config` (a data config model) under `config.root` unless its
    files are there, or it has none (made in memory); returns what was done, as lines to show.

    Raises DatasetDownloadError, with nothing new left in the data set's folder.
    """
    files = DATASETS.get(config.name).files
    missing = missing_files(config.root, files) if files is not None else []
    if files is None or not missing:
        return []
    try:
        os.makedirs(config.root, exist_ok=True)
        staging = tempfile.mkdtemp(prefix=f".{config.name}-download-", dir=config.root)
    except OSError as exc:  # data.root not writable, or a file in its way
        raise DatasetDownloadError(f"data set '{config.name}': cannot write under data.root {config.root}/: {_why(exc)}") from exc
    try:
        archives = published(config.name)
        with _timeout(TIMEOUT_S):
            for archive in archives:
                path = _download(config, archive, staging)
                _unpack(config, archive, path, os.path.join(staging, archive.into))
        folder = _put_in_place(config, files, staging)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    sources = ", ".join(archive.filename for archive in archives)
    return [f"data set '{config.name}': downloaded {sources}, md5 verified, {len(missing)} missing file(s) put in {folder}/"]


def _files(name: str) -> Files:
    files = DATASETS.get(name).files
    if files is None:
        raise ValueError(f"data set '{name}' is made in memory: there is nothing to download")
    return files


def _download(config, archive: Archive, staging: str) -> str:
    """Fetch `archive` into `staging` from the first of its URLs that gives the right md5."""
    from torchvision.datasets.utils import calculate_md5, download_url

    path = os.path.join(staging, archive.filename)
    failures = []
    for url in archive.urls:
        try:
            download_url(url, staging, archive.filename)
            md5 = calculate_md5(path)
            if md5 != archive.md5:
                size = os.path.getsize(path)
                raise DatasetDownloadError(
                    f"checksum mismatch: got {size:,} bytes with md5 {md5}, expected md5 {archive.md5} "
                    "(a transfer cut short, or another file)"
                )
            return path
        except Exception as exc:  # whatever the network, the server or the check said: named with its URL
            failures.append(f"{url}: {_why(exc)}")
            if os.path.exists(path):
                os.remove(path)  # download_url takes a file already there for the download
    mirror = os.environ.get(MIRROR_ENV, "").strip()
    where = f"{MIRROR_ENV} is {mirror}, which must serve" if mirror else f"To use a mirror, set {MIRROR_ENV} to a URL base serving"
    raise DatasetDownloadError(
        f"could not download data set '{config.name}': {'; '.join(failures)}. Nothing was put under {config.root}/ "
        f"(files are moved into place only once every checksum matches). {where} {config.name}/{archive.filename}."
    )


def _why(exc: Exception) -> str:
    if isinstance(exc, urllib.error.HTTPError):
        return f"HTTP {exc.code} {exc.reason}"
    if isinstance(exc, urllib.error.URLError):
        return f"unreachable ({exc.reason})"
    if isinstance(exc, DatasetDownloadError):
        return str(exc)
    return f"{type(exc).__name__}: {str(exc).strip() or 'no message'}"


def _unpack(config, archive: Archive, path: str, into: str) -> None:
    """torchvision's extract_archive: a tar unpacks its folder, a .gz decompresses its file."""
    from torchvision.datasets.utils import extract_archive

    try:
        os.makedirs(into, exist_ok=True)
        extract_archive(path, into, remove_finished=True)
    except Exception as exc:  # a full disk, an unreadable archive: named with the file
        raise DatasetDownloadError(
            f"data set '{config.name}': {archive.filename} was downloaded and verified, but unpacking it failed: {_why(exc)}; "
            f"nothing was put under {config.root}/"
        ) from exc


def _put_in_place(config, files: Files, staging: str) -> str:
    """Move the unpacked files into `root/folder`; returns that folder. An absent folder
    appears whole in one rename; one that holds files gains the missing ones only."""
    fetched = os.path.join(staging, files.folder)
    folder = os.path.join(config.root, files.folder)
    absent = missing_files(staging, files)
    if absent:
        raise DatasetDownloadError(
            f"data set '{config.name}': the verified download lacks {', '.join(absent)} under {files.folder}/; nothing was put in place"
        )
    os.makedirs(os.path.dirname(folder), exist_ok=True)
    try:
        os.replace(fetched, folder)
        return folder
    except OSError:
        pass  # the folder exists and holds files: keep them, add what is missing
    for name in sorted(os.listdir(fetched)):
        if not os.path.exists(os.path.join(folder, name)):
            os.replace(os.path.join(fetched, name), os.path.join(folder, name))
    return folder


@contextmanager
def _timeout(seconds: float) -> Iterator[None]:
    """torchvision opens its URLs without a timeout: give the sockets of the download one."""
    before = socket.getdefaulttimeout()
    socket.setdefaulttimeout(seconds)
    try:
        yield
    finally:
        socket.setdefaulttimeout(before)

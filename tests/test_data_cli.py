"""The data commands and flags: ``hpo data list``; ``hpo run --download`` and ``hpo train
--download`` fetching from a loopback mirror in the driver, before any trial; and each
refusal as one paragraph with exit code 2 and nothing left behind."""

from __future__ import annotations

import io
import os
import textwrap
from pathlib import Path

import pytest
import yaml
from optuna.trial import TrialState
from rich.console import Console

from hpo.data import datasets_table
from tests.results.conftest import ONE_THREAD, cli
from tests.trainers.publishers import MNIST_FILES, cifar10_archive, expect_md5s, files_under, mnist_archives, serve, write_mnist
from trainers.download import MIRROR_ENV

REPO = Path(__file__).resolve().parents[1]

SPEC = textwrap.dedent(
    """\
    study: {name: fetched, metric: val_acc, trials: 2, seed: 0}
    sampler: {type: random}
    scheduler: {type: none}
    resources: {cpus_per_trial: 1, max_concurrent: 1}   # one worker runs both: one torch import
    train:
      data: {name: DATA, root: data, val_size: 10, download: DOWNLOAD}
      model: {name: mlp, hidden: [16]}
      optimizer: {name: adam, lr: 1.0e-3}
      batch_size: 16
      epochs: 1
      device: cpu
    space:
      optimizer.lr: {float: [1.0e-3, 1.0e-2], log: true}
    """
)


def spec_text(data: str = "cifar10", download: bool = False) -> str:
    return SPEC.replace("DATA", data).replace("DOWNLOAD", str(download).lower())


@pytest.fixture
def workdir(tmp_path, monkeypatch):
    """A folder of its own, importable by Ray's workers, with the environment restored after
    (starting Ray sets a few of its variables)."""
    monkeypatch.chdir(tmp_path)
    for key, value in ONE_THREAD.items():
        monkeypatch.setenv(key, value)
    saved = dict(os.environ)
    os.environ["PYTHONPATH"] = os.pathsep.join(p for p in (str(REPO), os.environ.get("PYTHONPATH", "")) if p)
    yield tmp_path
    os.environ.clear()
    os.environ.update(saved)


@pytest.fixture
def mnist_mirror(workdir, monkeypatch):
    """A loopback mirror of a small MNIST (30 training, 10 test images); torchvision expects its md5 sums."""
    from torchvision.datasets import MNIST

    archives = mnist_archives(workdir / "build", workdir / "served" / "mnist")
    expect_md5s(monkeypatch, MNIST, archives)
    with serve(workdir / "served") as mirror:
        monkeypatch.setenv(MIRROR_ENV, mirror.url)
        yield mirror


# ----------------------------------------------------------------------------------------------
# hpo data list


def test_data_list_shows_what_is_on_disk_its_size_classes_and_shape(tmp_path):
    write_mnist(tmp_path / "MNIST" / "raw")
    (tmp_path / "cifar-100-python").mkdir()
    (tmp_path / "cifar-100-python" / "meta").write_bytes(b"x" * 2048)
    out = io.StringIO()
    Console(file=out, width=250).print(datasets_table(tmp_path))
    rows = {
        line.split("│")[1].strip(): [cell.strip() for cell in line.split("│")[2:-1]] for line in out.getvalue().splitlines() if "│" in line
    }
    mnist_bytes = sum(p.stat().st_size for p in (tmp_path / "MNIST" / "raw").iterdir())
    assert rows["mnist"] == ["yes", f"{mnist_bytes / 1024:.1f} KiB", "10", "1 x 28 x 28", f"{tmp_path}/MNIST/raw"]
    assert rows["cifar100"] == ["incomplete: 2 of 3 files missing", "2.0 KiB", "100", "3 x 32 x 32", f"{tmp_path}/cifar-100-python"]
    assert rows["cifar10"][:4] == ["no", "-", "10", "3 x 32 x 32"] and rows["stl10"][3] == "3 x 96 x 96"
    assert rows["digits"][:4] == ["needs no files", "-", "10", "1 x 8 x 8"]
    assert rows["synthetic"][2:4] == ["set by the config", "set by the config"]
    assert set(rows) == {"cifar10", "cifar100", "digits", "fashion_mnist", "mnist", "stl10", "synthetic"}


def test_data_list_command_defaults_to_the_data_root_and_names_the_mirror(workdir, capsys, monkeypatch):
    write_mnist(workdir / "data" / "MNIST" / "raw")
    monkeypatch.delenv(MIRROR_ENV, raising=False)
    result = cli(capsys, monkeypatch, "data", "list")
    assert result.code == 0, result.err
    assert "under data/" in result.out and "data/MNIST/raw" in result.out
    assert f"set {MIRROR_ENV} to use a mirror of your own" in result.out
    monkeypatch.setenv(MIRROR_ENV, "http://mirror.internal/datasets")
    elsewhere = cli(capsys, monkeypatch, "data", "list", "--root", "nowhere")
    assert "under nowhere/" in elsewhere.out and f"the mirror {MIRROR_ENV}=http://mirror.internal/datasets" in elsewhere.out


# ----------------------------------------------------------------------------------------------
# hpo run / hpo train: the refusals


def test_without_the_flag_the_missing_data_error_names_it(workdir, capsys, monkeypatch):
    Path("spec.yaml").write_text(spec_text())
    result = cli(capsys, monkeypatch, "run", "spec.yaml")
    assert result.code == 2 and "Traceback" not in result.err
    assert "spec.yaml: train.data.root: every trial would fail: data set 'cifar10' not found" in result.err
    assert "Or let hpo fetch it once, before any trial: data.download: true in the config, or --download." in result.err
    assert not Path("studies").exists()


def test_a_download_refused_by_its_checksum_ends_as_one_paragraph_leaving_nothing(workdir, capsys, monkeypatch):
    """torchvision's real md5 of CIFAR-10 against a made-up archive on the mirror."""
    cifar10_archive(workdir / "build", workdir / "served" / "cifar10")
    Path("spec.yaml").write_text(spec_text())
    with serve(workdir / "served") as mirror:
        monkeypatch.setenv(MIRROR_ENV, mirror.url)
        result = cli(capsys, monkeypatch, "run", "spec.yaml", "--download")
    assert mirror.paths == ["/cifar10/cifar-10-python.tar.gz"]
    assert result.code == 2 and "Traceback" not in result.err
    error = result.err.strip().splitlines()[-1]  # after torchvision's progress bar: one paragraph
    assert error.startswith(
        f"error: spec.yaml: could not download data set 'cifar10': {mirror.url}/cifar10/cifar-10-python.tar.gz: checksum mismatch: got "
    )
    assert "expected md5 c58f30108f718f92721af3b95e74349a" in error and "Nothing was put under data/" in error
    assert files_under(workdir / "data") == [] and not Path("studies").exists()


def test_download_with_a_trainer_that_declares_no_prepare_is_refused(workdir, capsys, monkeypatch):
    result = cli(capsys, monkeypatch, "run", str(REPO / "examples" / "sklearn_digits.yaml"), "--download")
    assert result.code == 2
    assert "error: --download: examples.sklearn_trainer:train declares no prepare hook" in result.err
    assert not Path("studies").exists()


def test_train_download_fetches_then_trains_on_what_it_fetched(mnist_mirror, capsys, monkeypatch):
    config = yaml.safe_load(spec_text("mnist"))["train"]
    Path("tiny.yaml").write_text(yaml.safe_dump(config))
    refused = cli(capsys, monkeypatch, "train", "tiny.yaml")
    assert refused.code == 2 and "--download" in refused.err and mnist_mirror.requests == []
    result = cli(capsys, monkeypatch, "train", "tiny.yaml", "--download")
    assert result.code == 0, result.err
    assert mnist_mirror.paths == [f"/mnist/{name}.gz" for name in MNIST_FILES]
    assert result.out.startswith("data set 'mnist': downloaded train-images-idx3-ubyte.gz, ")
    assert "saved to studies/tiny/retrain/tiny" in result.out


# ----------------------------------------------------------------------------------------------
# hpo run --download, end to end: fetched by the driver, read by the trials, fetched by no trial


@pytest.mark.slow
def test_run_downloads_once_before_any_trial_and_the_trials_read_it(mnist_mirror, capsys, monkeypatch):
    import optuna

    Path("spec.yaml").write_text(spec_text("mnist", download=True))  # the trials' configs say download: true too
    result = cli(capsys, monkeypatch, "run", "spec.yaml")
    assert result.code == 0, result.out + result.err
    study = optuna.load_study(study_name="fetched", storage="sqlite:///studies/fetched.db")
    assert [t.state for t in study.trials] == [TrialState.COMPLETE] * 2
    assert mnist_mirror.paths == [f"/mnist/{name}.gz" for name in MNIST_FILES]
    assert max(mnist_mirror.times) < min(t.datetime_start for t in study.trials)  # every request came before the first trial
    assert "data set 'mnist': downloaded" in result.out.splitlines()[0]

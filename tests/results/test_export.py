"""hpo export: the best trials as runnable training configs, and the trials table."""

from __future__ import annotations

from pathlib import Path

import optuna
import pandas as pd
import pytest
import yaml

from hpo.errors import HpoError
from hpo.results.export import best_trials, export_best, export_paths, trial_config
from hpo.results.retrain import load_train_config
from hpo.spec.sections import spec_from_text
from hpo.spec.space import replay
from tests.results.conftest import cli, make_study


def _header(path: Path) -> dict[str, str]:
    lines = [line[2:] for line in path.read_text().splitlines() if line.startswith("# ")]
    return dict(line.split(": ", 1) for line in lines)


def test_best_config_is_the_best_trials_config_with_a_header(fake_study, capsys, monkeypatch):
    result = cli(capsys, monkeypatch, "export", "fake", "-o", "configs/best.yaml")
    assert result.code == 0, result.err
    best = fake_study.best_trial
    path = Path("configs/best.yaml")
    assert yaml.safe_load(path.read_text()) == best.user_attrs["config"]
    header = _header(path)
    assert header["study"] == "fake"
    assert header["trainer"] == "trainers.loop:train"  # the study's trainer, which `hpo train` calls
    assert header["trial"] == f"{best.number} (rank 1 of 8 complete trials)"
    assert float(header["val_acc"].split()[0]) == pytest.approx(best.value, rel=1e-5)
    assert header["search hash"] == fake_study.user_attrs["search_hash"]
    assert {"trial finished", "exported", "params", "spec", "retrain"} <= set(header)
    assert load_train_config(path) == best.user_attrs["config"]  # what `hpo train` reads
    assert f"trial {best.number}" in result.out and "configs/best.yaml" in result.out


def test_top_k_files_are_numbered_best_first(fake_study, capsys, monkeypatch):
    assert cli(capsys, monkeypatch, "export", "fake", "--top", "3", "-o", "out/best.yaml").code == 0
    ranked = sorted((t for t in fake_study.trials if t.state.name == "COMPLETE"), key=lambda t: -t.value)
    for rank, trial in enumerate(ranked[:3], start=1):
        path = Path(f"out/best-{rank}.yaml")
        assert _header(path)["trial"].startswith(f"{trial.number} (rank {rank} of 8")
        assert yaml.safe_load(path.read_text()) == trial.user_attrs["config"]
    assert not Path("out/best.yaml").exists()


def test_default_output_is_under_the_study(fake_study, capsys, monkeypatch):
    assert cli(capsys, monkeypatch, "export", "fake").code == 0
    assert Path("studies/fake/best.yaml").is_file()


def test_study_is_found_from_its_spec_file(fake_study, capsys, monkeypatch):
    Path("fake.yaml").write_text(fake_study.user_attrs["spec_yaml"])
    assert cli(capsys, monkeypatch, "export", "fake.yaml", "-o", "b.yaml").code == 0
    assert _header(Path("b.yaml"))["trial"].startswith(f"{fake_study.best_trial.number} ")


def test_top_beyond_the_complete_trials_exports_what_there_is(fake_study, capsys, monkeypatch):
    result = cli(capsys, monkeypatch, "export", "fake", "--top", "20", "-o", "b.yaml")
    assert result.code == 0
    assert len(list(Path(".").glob("b-*.yaml"))) == 8
    assert "only 8 complete trial(s), not 20" in result.out


@pytest.mark.parametrize("table", ["trials.csv", "trials.parquet"])
def test_table_is_the_status_frame(fake_study, capsys, monkeypatch, table):
    assert cli(capsys, monkeypatch, "export", "fake", "--table", table).code == 0
    read = pd.read_csv(table) if table.endswith(".csv") else pd.read_parquet(table)
    assert len(read) == 14 and "params.optimizer.lr" in read.columns


def test_bad_table_name_is_refused_before_anything_is_written(fake_study, capsys, monkeypatch):
    result = cli(capsys, monkeypatch, "export", "fake", "--table", "trials.xlsx")
    assert result.code == 2
    assert "expected a file ending in .csv or .parquet" in result.err and "Traceback" not in result.err
    assert not Path("studies/fake/best.yaml").exists()


@pytest.mark.parametrize(
    "states",
    [
        {"complete": 0, "pruned": 0, "failed": 0, "running": 0},
        {"complete": 0, "pruned": 3, "failed": 2, "running": 1},
    ],
)
def test_study_without_a_finished_trial_is_refused(tmp_path, capsys, monkeypatch, states):
    monkeypatch.chdir(tmp_path)
    Path("studies").mkdir()
    make_study("sqlite:///studies/empty.db", "empty", **states)
    result = cli(capsys, monkeypatch, "export", "empty")
    assert result.code == 2
    assert "study empty has no finished trial to export yet" in result.err
    assert f"{states['pruned']} pruned, {states['failed']} failed, {states['running']} running" in result.err
    assert "Traceback" not in result.err and not Path("studies/empty/best.yaml").exists()


def test_unknown_study_and_storage_are_refused(fake_study, capsys, monkeypatch):
    assert "no study named 'nope'" in cli(capsys, monkeypatch, "export", "nope").err
    result = cli(capsys, monkeypatch, "export", "nope", "--storage", "sqlite:///studies/fake.db")
    assert result.code == 2 and "studies there: fake" in result.err


def test_storage_option_reads_any_url(fake_study, tmp_path, capsys, monkeypatch):
    other = tmp_path / "elsewhere.db"
    optuna.copy_study(from_study_name="fake", from_storage="sqlite:///studies/fake.db", to_storage=f"sqlite:///{other}")
    assert cli(capsys, monkeypatch, "export", "fake", "--storage", f"sqlite:///{other}", "-o", "x.yaml").code == 0
    assert _header(Path("x.yaml"))["trial"].startswith(f"{fake_study.best_trial.number} ")


def test_config_is_rebuilt_from_the_spec_when_a_trial_does_not_store_it(fake_study):
    best = fake_study.best_trial
    spec = spec_from_text(fake_study.user_attrs["spec_yaml"], "fake.yaml")
    stripped = optuna.trial.create_trial(params=best.params, distributions=best.distributions, value=best.value, user_attrs={})
    assert trial_config(fake_study, stripped) == replay(spec.space, spec.train, best.params) == best.user_attrs["config"]


def test_top_must_be_positive(fake_study):
    with pytest.raises(HpoError, match="at least 1"):
        best_trials(fake_study, 0)


@pytest.mark.parametrize(
    ("count", "names"),
    [(1, ["best.yaml"]), (3, ["best-1.yaml", "best-2.yaml", "best-3.yaml"]), (2, ["best-1.yaml", "best-2.yaml"])],
)
def test_export_paths(count, names):
    assert [p.name for p in export_paths(Path("c/best.yaml"), count)] == names


def test_export_best_returns_written_files(fake_study, tmp_path):
    written = export_best(fake_study, tmp_path / "b.yaml", top=2)
    assert [p.name for p, _ in written] == ["b-1.yaml", "b-2.yaml"]
    assert written[0][1].number == fake_study.best_trial.number

"""hpo.results.table: the trials table shared by status, export and report."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pandas as pd
import pytest
from rich.console import Console

from hpo.errors import HpoError
from hpo.results.table import check_table_path, print_status, ranked_trials, study_metric, trials_frame, write_table
from hpo.study.summary import study_mode


def test_frame_has_one_row_per_trial_with_states_params_and_workers(fake_study):
    frame = trials_frame(fake_study)
    assert len(frame) == 14
    assert frame.state.value_counts().to_dict() == {"COMPLETE": 8, "PRUNED": 4, "FAIL": 1, "RUNNING": 1}
    for column in ("value", "epochs", "seconds", "datetime_start", "datetime_complete", "node_id", "hostname", "pid", "error"):
        assert column in frame.columns
    assert {"params.optimizer.lr", "params.batch_size", "params.model.kernel_sizes", "params.optimizer.momentum"} <= set(frame.columns)
    assert frame.loc[frame.state == "FAIL", "error"].item().startswith("NonFiniteLossError: ")


def test_ranked_trials_are_complete_best_first(fake_study):
    ranked = ranked_trials(fake_study)
    assert [t.state.name for t in ranked] == ["COMPLETE"] * 8
    assert [t.value for t in ranked] == sorted((t.value for t in ranked), reverse=True)
    assert ranked[0].number == fake_study.best_trial.number
    assert (study_mode(fake_study), study_metric(fake_study)) == ("max", "val_acc")


@pytest.mark.parametrize("name", ["trials.csv", "trials.parquet", "sub/dir/trials.CSV"])
def test_table_round_trips(fake_study, tmp_path: Path, name: str):
    path = tmp_path / name
    write_table(trials_frame(fake_study), path)
    read = pd.read_csv(path) if path.suffix.lower() == ".csv" else pd.read_parquet(path)
    assert read.number.tolist() == list(range(14))
    assert read.state.tolist() == trials_frame(fake_study).state.tolist()


@pytest.mark.parametrize("name", ["trials.xlsx", "trials", "trials.json"])
def test_unknown_table_format_is_refused(tmp_path: Path, name: str):
    with pytest.raises(HpoError, match=r"expected a file ending in \.csv or \.parquet"):
        check_table_path(tmp_path / name)


def test_parquet_without_pyarrow_names_the_install(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: None if name == "pyarrow" else real(name, *a))
    with pytest.raises(HpoError, match=r"pip install pyarrow"):
        check_table_path(tmp_path / "trials.parquet")
    check_table_path(tmp_path / "trials.csv")  # CSV needs nothing


def test_status_still_prints_summary_and_failures(fake_study):
    console = Console(record=True, width=200)
    print_status(fake_study, console)
    text = console.export_text()
    assert "12/5 finished (8 complete, 4 pruned), 1 running, 1 failed" in text
    assert "top 10 trials" in text
    assert "FAIL: NonFiniteLossError" in text
    assert "ranked at one epoch" not in text  # 8 complete trials: the top table compares them at their end


def test_status_ranks_trials_at_one_epoch_while_few_are_complete(hard_pruned_study):
    console = Console(record=True, width=250)
    print_status(hard_pruned_study, console)
    text = console.export_text()
    heading = "ranked at one epoch: val_acc at epoch 1, 12 trials (1 complete, 11 pruned); the top 10"
    assert heading in text
    rows = [line.split("│")[1:5] for line in text.split(heading)[1].splitlines() if line.startswith("│")]
    shown = [(int(number), state.strip(), float(value)) for number, state, value, _ in rows]
    at_epoch_1 = sorted(
        (
            (t.number, t.state.name, t.intermediate_values[1])
            for t in hard_pruned_study.get_trials()
            if t.state.name in ("COMPLETE", "PRUNED")
        ),
        key=lambda row: -row[2],
    )
    assert shown == [(n, state, pytest.approx(v, abs=5e-5)) for n, state, v in at_epoch_1[:10]]
    complete = next(t for t in hard_pruned_study.get_trials() if t.state.name == "COMPLETE")
    finals = {int(r[0]): r[3].strip() for r in rows}
    assert all(final == "-" for number, final in finals.items() if number != complete.number)

"""hpo confirm end to end: a real study on digits, its two trials trained again over two
seeds through Ray, recorded in the study, exported by the bound; a rerun runs nothing."""

from __future__ import annotations

import pytest
import yaml

from hpo.results.header import read_header
from hpo.study.confirm import confirm_records
from hpo.study.storage import confirm_log_path
from tests.e2e.conftest import hpo, load_study, shortened_quickstart, write_spec

pytestmark = pytest.mark.slow


def test_run_confirm_export_and_a_rerun_that_runs_nothing(workdir):
    spec = shortened_quickstart(trials=2, epochs=1)
    spec["scheduler"] = {"type": "none"}
    run = hpo("run", str(write_spec(workdir, spec)), cwd=workdir)
    assert run.returncode == 0, run.stdout + run.stderr

    confirm = hpo("confirm", "quickstart", "--top", "2", "--seeds", "1", "2", cwd=workdir)
    assert confirm.returncode == 0, confirm.stdout + confirm.stderr
    assert "4 run(s) to do, 0 stored already" in confirm.stdout
    assert "confirm: 4/4 runs done, 0 running, 0 failed" in confirm.stdout
    study = load_study(workdir, "quickstart")
    assert len(study.trials) == 2  # runs are records of the study, not trials of it
    records = confirm_records(study.user_attrs)
    assert {trial: list(runs) for trial, runs in records.items()} == {0: [1, 2], 1: [1, 2]}
    for trial, runs in records.items():
        for seed, run in runs.items():
            assert run.value is not None and 0 < run.value <= 1 and run.epochs == 1, run
            assert f"trial {trial} seed {seed}: val_acc" in confirm.stdout
            assert confirm_log_path("quickstart", trial, seed).exists()
    assert "by the bound over its 2 seeds" in confirm.stdout

    again = hpo("confirm", "quickstart", "--top", "2", "--seeds", "1", "2", cwd=workdir)
    assert again.returncode == 0, again.stdout + again.stderr
    assert "0 run(s) to do, 4 stored already" in again.stdout and "runs done" not in again.stdout
    assert load_study(workdir, "quickstart").user_attrs == study.user_attrs

    export = hpo("export", "quickstart", "--confirmed", "-o", "win.yaml", cwd=workdir)
    assert export.returncode == 0, export.stdout + export.stderr
    header = read_header(workdir / "win.yaml")
    winner = int(header["trial"].split()[0])
    assert header["confirmed"].startswith("#1 by the lower bound (95%)")
    assert yaml.safe_load((workdir / "win.yaml").read_text()) == study.trials[winner].user_attrs["config"]

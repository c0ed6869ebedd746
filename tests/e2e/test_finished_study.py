"""What comes after one real run of a shortened quickstart: the record of its baseline and
of the spec's ``enqueue:`` config, a rerun that runs nothing, a changed space refused or
started as a new version beside it (cold or warm-started), ``hpo confirm``, and the best
trial's weights (kept by the run, written by ``hpo export --weights``, scored by ``hpo
evaluate`` without training, listed and served by optuna-dashboard).

The run (baseline, the enqueued config, one sampled trial; two epochs each, all complete)
happens once for the module, as each of these tests started the same run of their own (each
run is a Ray start-up); each test works on its own copy of the run's folder. What starts Ray
(a run with trials to run, a confirm with runs to do) is a subprocess, as a user starts it;
the commands that only read or write the study run in this process (``hpo_here``), as
tests/results runs them: a Python start-up fewer each.
"""

from __future__ import annotations

import shutil
import subprocess
import urllib.request
from dataclasses import dataclass
from pathlib import Path

import pytest
import yaml
from optuna.trial import TrialState

from hpo.results.header import read_header
from hpo.results.retrain import load_train_config
from hpo.results.table import ranked_trials
from hpo.study.confirm import confirm_records
from hpo.study.keys import BASELINE_ATTR, CONFIG_ATTR, WARM_START_ATTR
from hpo.study.records import FINISHED_STATES, is_warm_start
from hpo.study.storage import confirm_log_path
from hpo.study.summary import versus_baseline
from tests.e2e.conftest import dashboard, hpo, load_study, shortened_quickstart, write_spec
from tests.reliability.conftest import hpo_here
from trainers.loop import evaluate_weights

pytestmark = pytest.mark.slow

ENQUEUED = {"model.kernel_sizes": "k53", "optimizer.lr": 0.01}
EPOCHS = 2  # a last epoch that is not the first: the kept weights are the last epoch's


def study_spec() -> dict:
    """Three trials of EPOCHS, each run in full: the baseline, ENQUEUED, one sampled; the
    best one's weights kept."""
    spec = shortened_quickstart(trials=3, epochs=EPOCHS)
    spec["scheduler"] = {"type": "none"}  # every trial COMPLETE: each ranks for the one place
    spec["enqueue"] = [dict(ENQUEUED)]
    spec["checkpoint"] = {"keep": 1}
    return spec


@dataclass
class FirstRun:
    """The module's run: its folder (spec.yaml, studies/) and what it printed."""

    folder: Path
    run: subprocess.CompletedProcess

    def copy_to(self, workdir: Path) -> Path:
        """A copy of the run's folder in ``workdir`` (the working directory); its spec file."""
        shutil.copytree(self.folder, workdir, dirs_exist_ok=True)
        return workdir / "spec.yaml"


@pytest.fixture(scope="module")
def first_run(tmp_path_factory: pytest.TempPathFactory) -> FirstRun:
    folder = tmp_path_factory.mktemp("finished_study")
    run = hpo("run", str(write_spec(folder, study_spec())), cwd=folder)
    assert run.returncode == 0, run.stdout + run.stderr
    return FirstRun(folder, run)


def test_the_baseline_runs_first_then_the_enqueued_config_and_a_rerun_queues_nothing(first_run, workdir, capsys, monkeypatch):
    spec_file = first_run.copy_to(workdir)
    assert "trial 0 is your baseline: train: as it is" in first_run.run.stdout
    study = load_study(workdir, "quickstart")
    baseline, enqueued, sampled = study.trials
    assert baseline.user_attrs[BASELINE_ATTR] is True and baseline.user_attrs[CONFIG_ATTR] == study_spec()["train"]
    assert enqueued.params["model.kernel_sizes"] == "k53" and enqueued.params["optimizer.lr"] == 0.01
    assert {"batch_size", "optimizer.name"} <= set(enqueued.params)  # the keys it left out, sampled
    assert BASELINE_ATTR not in sampled.user_attrs
    versus = versus_baseline(study.best_trial, study.trials)
    assert versus is not None and "your baseline" in versus and versus in first_run.run.stdout

    again = hpo_here(capsys, monkeypatch, "run", str(spec_file))
    assert again.code == 0, again.out + again.err
    assert "your baseline: train" not in again.out and "queued" not in again.out
    assert len(load_study(workdir, "quickstart").trials) == 3
    status = hpo_here(capsys, monkeypatch, "status", "quickstart")
    assert versus in status.out


def test_rerun_resumes_a_changed_space_is_refused_and_new_version_starts_beside_it(first_run, workdir, capsys, monkeypatch):
    spec_file = first_run.copy_to(workdir)
    spec = study_spec()
    again = hpo_here(capsys, monkeypatch, "run", str(spec_file))  # a finished study: nothing to run, no Ray started
    assert again.code == 0
    assert "already has 3 finished trials" in again.out
    assert len(load_study(workdir, "quickstart").trials) == 3
    spec["space"]["batch_size"] = {"choice": [16, 32]}
    write_spec(workdir, spec)
    refused = hpo_here(capsys, monkeypatch, "run", str(spec_file))
    assert refused.code == 2
    assert "searched a different space" in refused.err and "--new-version" in refused.err
    assert "-    - 128" in refused.err or "- 128" in refused.err
    spec["study"]["trials"] = 2  # a changed trial count alone would resume; the space change still needs v2
    write_spec(workdir, spec)
    v2 = hpo("run", str(spec_file), "--new-version", cwd=workdir)
    assert v2.returncode == 0, v2.stdout + v2.stderr
    assert len(load_study(workdir, "quickstart").trials) == 3
    assert len(load_study(workdir, "quickstart-v2", database="quickstart").trials) == 2


def test_a_changed_space_begins_with_the_earlier_trials_inside_it_and_runs_its_own_trials_after_them(
    first_run, workdir, capsys, monkeypatch
):
    first_run.copy_to(workdir)
    earlier = load_study(workdir, "quickstart")
    spec = study_spec()
    del spec["enqueue"]  # the new version's own trials come from its sampler alone
    spec["space"]["optimizer.lr"]["float"] = [1.0e-3, 1.0e-2]  # train:'s 1e-3 stays inside: the baseline is taken
    spec["study"]["trials"] = 2
    second = hpo("run", str(write_spec(workdir, spec)), "--new-version", "--warm-start", cwd=workdir)
    assert second.returncode == 0, second.stdout + second.stderr
    v2 = load_study(workdir, "quickstart-v2", database="quickstart")
    taken = [t.number for t in earlier.get_trials(states=FINISHED_STATES) if 1.0e-3 <= t.params["optimizer.lr"] <= 1.0e-2]
    copied, own = [t for t in v2.trials if is_warm_start(t)], [t for t in v2.trials if not is_warm_start(t)]
    assert [t.user_attrs[WARM_START_ATTR]["number"] for t in copied] == taken and 0 in taken
    assert f"warm start from quickstart: took {len(taken)} trials" in second.stdout
    assert [t.user_attrs[BASELINE_ATTR] for t in copied if BASELINE_ATTR in t.user_attrs] == [True]
    assert "taken by the warm start, so not run again" in second.stdout
    assert [t.number for t in own] == [len(taken), len(taken) + 1]  # its own 2 trials, none for the baseline
    assert all(t.state in FINISHED_STATES and 1.0e-3 <= t.params["optimizer.lr"] <= 1.0e-2 for t in own)
    assert f"2/2 finished ({sum(t.state == TrialState.COMPLETE for t in own)} complete" in second.stdout
    status = hpo_here(capsys, monkeypatch, "status", "quickstart-v2")
    assert f"and {len(taken)} from a warm start" in status.out and "came from quickstart (its trials" in status.out


def test_confirm_records_export_and_a_rerun_that_runs_nothing(first_run, workdir, capsys, monkeypatch):
    """hpo confirm: the study's top two trials trained again over two seeds through Ray,
    recorded in the study, exported by the bound; a rerun runs nothing."""
    first_run.copy_to(workdir)
    top = sorted(t.number for t in ranked_trials(load_study(workdir, "quickstart"))[:2])
    confirm = hpo("confirm", "quickstart", "--top", "2", "--seeds", "1", "2", cwd=workdir)
    assert confirm.returncode == 0, confirm.stdout + confirm.stderr
    assert "4 run(s) to do, 0 stored already" in confirm.stdout
    assert "confirm: 4/4 runs done, 0 running, 0 failed" in confirm.stdout
    study = load_study(workdir, "quickstart")
    assert len(study.trials) == 3  # runs are records of the study, not trials of it
    records = confirm_records(study.user_attrs)
    assert {trial: list(runs) for trial, runs in records.items()} == {top[0]: [1, 2], top[1]: [1, 2]}
    for trial, runs in records.items():
        for seed, run in runs.items():
            assert run.value is not None and 0 < run.value <= 1 and run.epochs == EPOCHS, run
            assert f"trial {trial} seed {seed}: val_acc" in confirm.stdout
            assert confirm_log_path("quickstart", trial, seed).exists()
    assert "by the bound over its 2 seeds" in confirm.stdout

    again = hpo_here(capsys, monkeypatch, "confirm", "quickstart", "--top", "2", "--seeds", "1", "2")
    assert again.code == 0, again.out + again.err
    assert "0 run(s) to do, 4 stored already" in again.out and "runs done" not in again.out
    assert load_study(workdir, "quickstart").user_attrs == study.user_attrs

    export = hpo_here(capsys, monkeypatch, "export", "quickstart", "--confirmed", "-o", "win.yaml")
    assert export.code == 0, export.out + export.err
    header = read_header(workdir / "win.yaml")
    winner = int(header["trial"].split()[0])
    assert header["confirmed"].startswith("#1 by the lower bound (95%)")
    assert yaml.safe_load((workdir / "win.yaml").read_text()) == study.trials[winner].user_attrs["config"]


def test_the_best_weights_are_kept_exported_scored_and_shown_by_the_dashboard(first_run, workdir, capsys, monkeypatch):
    first_run.copy_to(workdir)
    study = load_study(workdir, "quickstart")
    assert [t.state for t in study.trials] == [TrialState.COMPLETE] * 3
    best = study.best_trial
    assert len(list((workdir / "studies" / "quickstart" / "artifacts").iterdir())) == 1  # keep: 1, whichever order they ended in
    assert not list((workdir / "studies" / "quickstart" / "ray").rglob("checkpoint_*"))  # the checkpoints went

    export = hpo_here(capsys, monkeypatch, "export", "quickstart", "--weights", "-o", "best.yaml")
    assert export.code == 0, export.out + export.err
    assert f"trial {best.number} " in export.out and (workdir / "best.model.pt").is_file()

    scored = hpo_here(capsys, monkeypatch, "evaluate", "best.yaml", "--weights", "best.model.pt")
    assert scored.code == 0, scored.out + scored.err
    assert "test_acc of best.model.pt: " in scored.out and "confusion" in scored.out.lower()
    # the very weights of the trial's last epoch: on its validation split they score what it reported there
    # (the hook `hpo evaluate --split val` calls)
    val = evaluate_weights(load_train_config(workdir / "best.yaml"), str(workdir / "best.model.pt"), "val")
    assert val["val_acc"] == pytest.approx(best.user_attrs["history"][-1]["val_acc"], abs=1e-6)

    with dashboard(workdir, "quickstart", "--port", "0") as server:
        served = next(t for t in server.study()["trials"] if t["number"] == best.number)
        [artifact] = served["artifacts"]
        assert artifact["filename"] == "model.pt"
        route = f"{server.base}/artifacts/{server.study_id}/{served['trial_id']}/{artifact['artifact_id']}"
        with urllib.request.urlopen(route, timeout=60) as response:
            assert response.read() == (workdir / "best.model.pt").read_bytes()

"""The Python API: ``hpo.run`` runs a real study (Ray, Optuna, the built-in trainer) and
returns it; ``hpo.load`` opens it again to read; both fail as the command line does."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
from optuna.trial import TrialState

import hpo
from hpo.errors import HpoError, SpecError
from hpo.spec.sections import load_spec

REPO = Path(__file__).resolve().parents[1]

TINY = textwrap.dedent(
    """\
    study: {name: tiny_api, metric: val_acc, trials: 2, seed: 0}
    sampler: {type: random}
    scheduler: {type: none}
    resources: {cpus_per_trial: 1, max_concurrent: 1}   # one worker runs both: one torch import
    train:
      data: {name: digits, val_fraction: 0.2}
      model: {name: cnn, channels: [8, 16], kernel_sizes: [3, 3], hidden: [32]}
      optimizer: {name: adam, lr: 1.0e-3}
      batch_size: 64
      epochs: 2
    space:
      optimizer.lr: {float: [1.0e-3, 1.0e-2], log: true}
    """
)


@pytest.fixture
def workdir(tmp_path, monkeypatch):
    """A folder of its own (studies/ is made under the working directory), with the repository
    importable by Ray's workers, and the environment as it was once the test ends (starting
    Ray sets a few of its variables)."""
    monkeypatch.chdir(tmp_path)
    saved = dict(os.environ)
    os.environ["PYTHONPATH"] = os.pathsep.join(p for p in (str(REPO), os.environ.get("PYTHONPATH", "")) if p)
    yield tmp_path
    os.environ.clear()
    os.environ.update(saved)


@pytest.mark.slow
def test_run_returns_the_study_and_load_reads_it_back(workdir):
    spec_file = workdir / "tiny.yaml"
    spec_file.write_text(TINY)

    study = hpo.run(spec_file)

    assert study.study_name == "tiny_api"
    assert [t.state for t in study.trials] == [TrialState.COMPLETE, TrialState.COMPLETE]
    assert study.user_attrs["stop_reason"] == "2/2 trials"  # why the run ended
    assert all(t.user_attrs["epochs"] == 2 and sorted(t.intermediate_values) == [1, 2] for t in study.trials)

    for target in ("tiny_api", spec_file, str(spec_file), load_spec(spec_file)):
        again = hpo.load(target)
        assert [(t.number, t.value) for t in again.trials] == [(t.number, t.value) for t in study.trials]
    frame = hpo.load("tiny_api").trials_dataframe()
    assert list(frame["state"]) == ["COMPLETE", "COMPLETE"] and "params_optimizer.lr" in frame

    assert hpo.run(load_spec(spec_file)).trials == study.trials  # it has its trials: nothing runs


def test_run_refuses_a_bad_spec_before_any_study(workdir):
    spec_file = workdir / "bad.yaml"
    spec_file.write_text(TINY.replace("[1.0e-3, 1.0e-2]", "[1.0e-2, 1.0e-3]"))
    with pytest.raises(SpecError, match=r"space\.optimizer\.lr\.float: low \(0\.01\) must be below high \(0\.001\)"):
        hpo.run(spec_file)
    spec_file.write_text(TINY)
    with pytest.raises(HpoError, match="trainer: cannot import no_such_module:train"):
        hpo.run(spec_file, trainer="no_such_module:train")
    assert not (workdir / "studies").exists()


def test_load_of_an_unknown_study_is_a_clear_error(workdir):
    with pytest.raises(HpoError, match="no study named 'nosuch'"):
        hpo.load("nosuch")
    with pytest.raises(HpoError, match="no study at"):
        hpo.load("nosuch", storage=f"sqlite:///{workdir}/elsewhere.db")
    assert not (workdir / "elsewhere.db").exists()


def test_importing_hpo_imports_none_of_the_heavy_libraries():
    code = "import sys, json, hpo; hpo.run, hpo.load; print(json.dumps(sorted(sys.modules)))"
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=REPO)
    assert not {"torch", "ray", "optuna", "pandas", "plotly", "sklearn"} & set(json.loads(result.stdout))

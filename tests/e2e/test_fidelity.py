"""``scheduler: {fidelity: data_fraction | resolution}`` through the real CLI, Ray, Optuna and
trainer: promotion ASHA on the quickstart space, three epochs, η=2 (rungs at epochs 1 and
2). Under data_fraction epoch 1 trains on a quarter of the training split, epoch 2 on half,
epoch 3 on all of it; under resolution on images of 1/2, 1/√2 and all of their side (a
quarter, half and all of their pixels). Four configs, two at a time: the trials paused at
a rung and promoted go on from their checkpoints onto more of the data, or larger images.
``hpo report`` runs in this process (no Ray)."""

from __future__ import annotations

from pathlib import Path

import pytest
from optuna.trial import FrozenTrial, TrialState

from hpo.study.keys import SEARCH_ATTR
from tests.e2e.conftest import hpo, load_study, shortened_quickstart, write_spec
from tests.e2e.test_promotion import CONFIGS
from tests.results.conftest import cli

pytestmark = pytest.mark.slow

SHARES = [1 / 4, 1 / 2, 1.0]
SCALES = [1 / 2, 2**-0.5, 1.0]
SIDE = 24  # the resolution study's images: 24x24, so that its scales are 12 and 17 pixels, above the 8-pixel floor
# digits' 8x8 images would stay whole at the 8-pixel floor; a cnn that flattens would be refused
SMALLER_IMAGES = {
    "data": {"name": "synthetic", "shape": [1, SIDE, SIDE], "num_classes": 4, "size": 320, "test_size": 16},
    "model": {"name": "cnn", "channels": [8, 16], "kernel_sizes": [3, 3], "hidden": [32], "global_pool": True},
}


def fidelity_spec(workdir: Path, fidelity: str, **train: object) -> Path:
    """The quickstart with promotion ASHA under ``fidelity``, the four configs of
    test_promotion enqueued, ``train`` replacing parts of its train: section."""
    spec = shortened_quickstart(trials=4, epochs=3, baseline=False)
    spec["scheduler"] = {"type": "asha", "grace_period": 1, "reduction_factor": 2, "promotion": True, "fidelity": fidelity}
    spec["resources"] = {"cpus_per_trial": 0.5, "max_concurrent": 2}
    spec["enqueue"] = CONFIGS
    spec["train"].update(train)
    return write_spec(workdir, spec)


def check_study(workdir: Path, key: str, schedule: list[float], within: float) -> list[FrozenTrial]:
    """The study stored ``schedule`` as ``key`` and every trial's history reports its
    epochs' values (``within`` the rounding to whole examples or pixels): whole curves,
    every epoch once; the promoted trials ran all three epochs. Returns them."""
    study = load_study(workdir, "quickstart")
    assert study.user_attrs[SEARCH_ATTR][key] == pytest.approx(schedule)
    trials = study.trials
    assert [t.state for t in trials].count(TrialState.COMPLETE) >= 1
    assert {t.state for t in trials} <= {TrialState.COMPLETE, TrialState.PRUNED}
    for trial in trials:
        history = trial.user_attrs["history"]
        assert [h["epoch"] for h in history] == sorted(trial.intermediate_values) == list(range(1, len(history) + 1))
        assert [h[key] for h in history] == pytest.approx(schedule[: len(history)], abs=within), trial.number
    promoted = [t for t in trials if t.state == TrialState.COMPLETE]
    assert all(len(t.user_attrs["history"]) == 3 for t in promoted)
    return promoted


def test_early_rungs_train_on_a_share_of_the_data_and_promoted_trials_on_more(workdir, capsys, monkeypatch):
    run = hpo("run", str(fidelity_spec(workdir, "data_fraction")), cwd=workdir, timeout=600)
    assert run.returncode == 0, run.stdout + run.stderr
    check_study(workdir, "data_fraction", SHARES, within=1e-3)

    report = cli(capsys, monkeypatch, "report", "quickstart", "-o", "report.html")
    assert report.code == 0, report.err
    assert "data seen (epochs of the whole training split" in (workdir / "report.html").read_text()


def test_early_rungs_train_on_smaller_images_and_promoted_trials_on_larger(workdir, capsys, monkeypatch):
    flattening = cli(capsys, monkeypatch, "run", str(fidelity_spec(workdir, "resolution")))  # the quickstart's cnn, sized for 8x8
    assert flattening.code == 2, flattening.out + flattening.err
    assert "scheduler.fidelity" in flattening.err and "set model.global_pool: true" in flattening.err
    assert not (workdir / "studies").exists() or not any((workdir / "studies").iterdir())  # refused before any trial

    run = hpo("run", str(fidelity_spec(workdir, "resolution", **SMALLER_IMAGES)), cwd=workdir, timeout=600)
    assert run.returncode == 0, run.stdout + run.stderr
    promoted = check_study(workdir, "resolution", SCALES, within=1 / SIDE)
    assert [t.value for t in promoted] == [t.intermediate_values[3] for t in promoted]  # at full resolution, whatever scored higher before

    report = cli(capsys, monkeypatch, "report", "quickstart", "-o", "report.html")
    assert report.code == 0, report.err
    assert "cost (epochs at full resolution" in (workdir / "report.html").read_text()

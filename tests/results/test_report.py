"""hpo report: one self-contained HTML page (the browser test is test_report_browser.py)."""

from __future__ import annotations

import json
import re
import warnings
from pathlib import Path

import numpy as np
import optuna
import pytest

from hpo.results.cost import study_cost
from hpo.results.figures import (
    CannotPlot,
    history_figure,
    importance_figure,
    learning_curves_figure,
    param_importances,
    rung_parallel_figure,
    rung_slice_figure,
    timeline_figure,
    tsne_figure,
)
from hpo.results.report import build_report
from hpo.results.retrain import summarize
from hpo.results.rungs import shared_rung
from hpo.spec.sections import spec_from_text
from hpo.study.keys import SEARCH_ATTR
from hpo.study.warmstart import add_warm_trials, plan_warm_start
from tests.results.conftest import SPEC, STUDY, cli, make_study


def fake_retrain(root: Path, name: str = "best-final", classes: int = 3, seeds=(0, 1)) -> Path:
    """A retrain run as `hpo train` saves it: summary.json and each seed's features.npz."""
    rng = np.random.default_rng(0)
    runs = []
    for seed in seeds:
        confusion = (np.eye(classes) * 18 + rng.integers(0, 3, (classes, classes))).astype(int)
        per_class = (confusion.diagonal() / confusion.sum(1)).tolist()
        runs.append(
            {
                "seed": seed,
                "val_acc": float(np.mean(per_class)),
                "epoch": 3,
                "per_class_acc": per_class,
                "confusion": confusion.tolist(),
                "classes": [f"c{i}" for i in range(classes)],
            }
        )
        labels = rng.integers(0, classes, 60)
        features = rng.normal(size=(60, 16)) + labels[:, None] * 4.0
        (root / name / f"seed{seed}").mkdir(parents=True)
        np.savez_compressed(root / name / f"seed{seed}" / "features.npz", features=features.astype("float32"), labels=labels)
    summary = {**summarize(runs, "test"), "config_file": "best.yaml"}
    (root / name / "summary.json").write_text(json.dumps(summary))
    return root


def figure_count(page: str) -> int:
    return len(re.findall(r'class="plotly-graph-div"', page))


def test_page_is_self_contained_with_every_section(fake_study, tmp_path):
    page = build_report(fake_study, fake_retrain(tmp_path / "retrain"))
    assert page.count("window.PlotlyConfig") == 1  # plotly.js embedded once, with the first figure
    assert "<script src" not in page and "<link" not in page  # nothing fetched: works offline
    for heading in (
        "Cost",
        "Augmentation gallery",
        "Optimization history",
        "Learning curves",
        "Parallel coordinates",
        "Hyperparameter importances",
        "Slices",
        "Timeline of trials per worker",
        "Top 10 trials",
        "Retrained: best-final",
    ):
        assert f"<h2>{heading}</h2>" in page
    # history, curves, parallel coordinates, importances, 5 slices, timeline, per class, confusion, t-SNE
    assert figure_count(page) == 13
    assert "search hash" in page and fake_study.user_attrs["search_hash"] in page
    assert "optimizer.lr: {float:" in page  # the stored spec


def test_too_few_trials_are_said_not_drawn(tmp_path):
    study = make_study(optuna.storages.InMemoryStorage(), "one", complete=1, pruned=0, failed=1, running=0)
    page = build_report(study, tmp_path / "none")
    assert "Importances need at least 4 trials at one epoch; at most 1 finished trial reached the same epoch (epoch 3)." in page
    assert "Parallel coordinates need at least 2 trials at one epoch; val_acc at epoch 3, 1 trial (1 complete, 0 pruned)." in page
    assert "No retrained model in" in page
    two = make_study(optuna.storages.InMemoryStorage(), "two", complete=1, pruned=1, failed=0, running=0)
    page = build_report(two, tmp_path / "none")
    assert "Compared at epoch 1, the epoch most reached: val_acc at epoch 1, 2 trials (1 complete, 1 pruned)." in page
    assert "at most 2 finished trials reached the same epoch (epoch 1)" in page


def test_a_hard_pruned_study_compares_its_trials_at_the_epoch_they_share(hard_pruned_study, tmp_path):
    page = build_report(hard_pruned_study, tmp_path / "none")
    shared = "val_acc at epoch 1, 12 trials (1 complete, 11 pruned)"
    assert f"Compared at epoch 1, the deepest epoch at least 4 finished trials (a third, and at least 4) reached: {shared}." in page
    assert "Importances at epoch 1, from the 12 trials that reached it." in page and "PED-ANOVA importance at epoch 1" in page
    assert "need at least" not in page
    # history, curves, parallel coordinates, importances, 5 slices, timeline
    assert figure_count(page) == 10 and page.count(f"{shared}, one line per trial") == 1
    # make_study: complete trials run 3 epochs, pruned and failed ones 1, the running one 2 so far
    assert "<th>epochs trained</th><td>17, summed over every trial</td>" in page
    assert "<th>without pruning</th><td>39 epochs: each pruned trial run to train.epochs</td>" in page
    assert "<th>pruning saved</th><td>22 epochs (56%)</td>" in page
    assert "trial time × resources.cpus_per_trial (1)" in page and "trial time × resources.gpus_per_trial (0)" in page


def test_rung_figures_colour_trials_by_state_beside_complete_final_values(hard_pruned_study):
    rung = shared_rung(hard_pruned_study.get_trials(), "max")
    complete = next(t for t in rung.trials if t.final is not None)
    fig = rung_parallel_figure(rung, "val_acc")
    traces = {t.name: t for t in fig.data}
    assert list(traces) == ["pruned", "complete", "complete: final val_acc"]
    assert traces["pruned"].line.color != traces["complete"].line.color
    axes = len(fig.layout.xaxis.tickvals)
    assert axes == 1 + 5 and fig.layout.xaxis.ticktext[0] == "val_acc<br>at epoch 1"
    assert [y is None for y in traces["pruned"].y].count(True) == 11  # one line per pruned trial
    assert traces["complete"].y[:axes].count(None) == 0 and len(traces["complete"].y) == axes + 1
    # the first axis spans the values at the epoch and the final value, low to high
    low, high = min(t.value for t in rung.trials + (complete,)), max([t.value for t in rung.trials] + [complete.final])
    assert traces["complete"].y[0] == pytest.approx((complete.value - low) / (high - low))
    assert traces["complete: final val_acc"].y == (pytest.approx((complete.final - low) / (high - low)),)
    assert "not sampled" in [a.text for a in fig.layout.annotations]  # optimizer.momentum is conditional

    for name in ("optimizer.lr", "optimizer.momentum", "batch_size"):
        fig = rung_slice_figure(rung, "val_acc", name)
        traces = {t.name: t for t in fig.data}
        sampled = [t for t in rung.trials if name in t.trial.params]
        assert len(traces["pruned, at epoch 1"].y) + len(traces["complete, at epoch 1"].y) == len(sampled)
        assert sorted(traces["pruned, at epoch 1"].y) == sorted(t.value for t in sampled if t.final is None)
        finals = traces["complete: final val_acc"].y
        assert list(finals) == ([complete.final] if name in complete.trial.params else [])
    assert rung_slice_figure(rung, "val_acc", "optimizer.lr").layout.xaxis.type == "log"
    assert list(rung_slice_figure(rung, "val_acc", "batch_size").layout.xaxis.categoryarray) == ["32", "64"]


def test_empty_study(tmp_path):
    study = optuna.create_study(study_name="empty", storage=f"sqlite:///{tmp_path}/e.db")
    page = build_report(study, tmp_path / "none")
    assert "The study has no trials yet." in page and figure_count(page) == 0


def test_importances_name_conditional_parameters_and_pass_on_caveats(fake_study, tmp_path):
    importances, caveats = param_importances(shared_rung(fake_study.get_trials(), "max"))
    assert set(importances) == {"optimizer.lr", "batch_size", "model.kernel_sizes", "optimizer.name", "optimizer.momentum"}
    fig = importance_figure(importances, {"optimizer.momentum"}, 3)
    assert "conditional, measured on the trials that sampled them: optimizer.momentum" in fig.layout.title.text
    assert fig.layout.title.text.startswith("PED-ANOVA importance at epoch 3 ")
    few = make_study(f"sqlite:///{tmp_path}/five.db", "five", complete=5, pruned=0, failed=0, running=0)
    page = build_report(few, tmp_path / "none")
    assert "PED-ANOVA importance" in page  # drawn, with Optuna's doubts written beneath
    assert "Optuna: Some regimes for parameter `optimizer.momentum` have less than 2 trials" in page


def test_equal_importances_are_not_drawn(fake_study, monkeypatch):
    def equal(study):
        warnings.warn("The number of trials is too small to compute importances. Parameter importances will be equal.", stacklevel=2)
        return {"optimizer.lr": 0.0}

    monkeypatch.setattr(optuna.importance, "get_param_importances", equal)
    with pytest.raises(CannotPlot, match="from these 8 trials at epoch 3: .*Parameter importances will be equal"):
        param_importances(shared_rung(fake_study.get_trials(), "max"))


def test_learning_curves_cut_pruned_trials(fake_study):
    trials = fake_study.get_trials()
    fig = learning_curves_figure(fake_study, trials)
    traces = {t.name: t for t in fig.data}
    assert traces["complete"].line.dash == "solid" and traces["pruned"].line.dash == "dash"
    pruned = [t for t in trials if t.state.name == "PRUNED"]
    ends = traces["pruned here"]
    assert ends.marker.symbol == "x" and len(ends.x) == len(pruned)
    assert list(ends.y) == [t.intermediate_values[max(t.intermediate_values)] for t in pruned]
    # one line per trial, split by gaps: as many points as epochs reported
    assert sum(y is not None for y in traces["complete"].y) == sum(len(t.intermediate_values) for t in trials if t.state.name == "COMPLETE")


def test_learning_curves_of_shares_of_the_data_are_drawn_against_the_data_seen(fake_study):
    shares = [0.25, 0.5, 1.0]  # fidelity: data_fraction, three epochs, rungs at 1 and 2
    fake_study.set_user_attr(SEARCH_ATTR, {**fake_study.user_attrs[SEARCH_ATTR], "data_fraction": shares})
    trials = fake_study.get_trials()
    fig = learning_curves_figure(fake_study, trials)
    complete = next(t for t in fig.data if t.name == "complete")
    assert {x for x in complete.x if x is not None} == {0.25, 0.75, 1.75}  # epochs 1, 2, 3
    assert fig.layout.xaxis.title.text.startswith("data seen")


def test_learning_curves_at_a_lower_resolution_are_drawn_against_their_cost_in_full_epochs(fake_study):
    scales = [0.5, 2**-0.5, 1.0]  # fidelity: resolution, three epochs, rungs at 1 and 2: pixels 1/4, 1/2, 1
    fake_study.set_user_attr(SEARCH_ATTR, {**fake_study.user_attrs[SEARCH_ATTR], "resolution": scales})
    fig = learning_curves_figure(fake_study, fake_study.get_trials())
    complete = next(t for t in fig.data if t.name == "complete")
    assert {x for x in complete.x if x is not None} == {0.25, 0.75, 1.75}  # epochs 1, 2, 3
    assert fig.layout.xaxis.title.text.startswith("cost (epochs at full resolution")


def test_history_best_so_far_only_improves(fake_study):
    fig = history_figure(fake_study, fake_study.get_trials())
    best = next(t for t in fig.data if t.name == "best so far")
    assert list(best.y) == sorted(best.y) and best.y[-1] == pytest.approx(fake_study.best_value)


def test_timeline_rows_are_workers(fake_study):
    fig = timeline_figure(fake_study.get_trials())
    rows = {y for trace in fig.data for y in trace.y}
    assert rows == {"host pid 1000", "host pid 1001"}


def test_tsne_maps_every_feature_vector(tmp_path):
    root = fake_retrain(tmp_path)
    summary = json.loads((root / "best-final" / "summary.json").read_text())
    fig = tsne_figure(root / "best-final", summary)
    assert sum(len(t.x) for t in fig.data) == 60 and {t.name for t in fig.data} == {"c0", "c1", "c2"}


def test_cli_writes_the_report_under_the_study(fake_study, capsys, monkeypatch):
    result = cli(capsys, monkeypatch, "report", "fake")
    assert result.code == 0, result.err
    assert Path("studies/fake/report.html").is_file() and "studies/fake/report.html" in result.out
    assert cli(capsys, monkeypatch, "report", "fake", "-o", "out/r.html").code == 0
    assert Path("out/r.html").read_text().startswith("<!DOCTYPE html>")


def test_a_retrain_over_one_seed_shows_its_value_not_a_spread(fake_study, tmp_path):
    page = build_report(fake_study, fake_retrain(tmp_path / "retrain", seeds=(0,)))
    summary = json.loads((tmp_path / "retrain" / "best-final" / "summary.json").read_text())
    assert f"<tr><td>0</td><td>{summary['acc'][0]:.4f}</td></tr></table>" in page and "mean ± std" not in page
    two = build_report(fake_study, fake_retrain(tmp_path / "two"))
    assert "<tr><th>mean ± std</th>" in two


def test_a_warm_started_study_shows_its_copied_trials_apart_and_counts_none_of_their_cost(tmp_path):
    earlier = make_study(optuna.storages.InMemoryStorage(), STUDY, complete=3, pruned=1, failed=0, running=0)
    spec = spec_from_text(SPEC, "new.yaml")
    warm = optuna.create_study(direction="maximize")
    warm.set_user_attr(SEARCH_ATTR, spec.search_definition())
    add_warm_trials(warm, plan_warm_start(earlier, spec, "tiny-v2"), spec)
    page = build_report(warm, tmp_path / "none")
    assert f"trials 0-3 came from {STUDY} (its trials 0-3) by a warm start" in page
    assert "0/0 finished (0 complete, 0 pruned), 0 running, 0 failed, and 4 from a warm start" in page
    assert study_cost(warm).trials == 0 and study_cost(earlier).trials == 4  # an earlier version paid for them
    assert "no trial has started yet" in timeline_figure(warm.trials).to_json()

"""The lines ``hpo status`` and ``hpo report`` show for a trial's exploits under pbt."""

from __future__ import annotations

import optuna
from optuna.distributions import CategoricalDistribution, FloatDistribution
from optuna.trial import TrialState, create_trial
from rich.console import Console

from hpo.results.perturbations import exploit_lines
from hpo.results.report import build_report
from hpo.results.table import status_view

PARAMS = {"optimizer.lr": 0.0001, "optimizer.name": "sgd"}
DISTRIBUTIONS = {"optimizer.lr": FloatDistribution(1e-4, 0.3, log=True), "optimizer.name": CategoricalDistribution(["sgd", "adam"])}
EXPLOITS = [
    {"epoch": 1, "cloned_from": 0, "from_epoch": 2, "params": {"optimizer.lr": 0.0012, "optimizer.name": "adam"}},
    {"epoch": 3, "cloned_from": 2, "from_epoch": 3, "params": {"optimizer.lr": 0.00096, "optimizer.name": "adam"}},
]


def exploited(number: int = 3) -> optuna.trial.FrozenTrial:
    trial = create_trial(
        state=TrialState.COMPLETE,
        value=0.9,
        params=PARAMS,
        distributions=DISTRIBUTIONS,
        intermediate_values={1: 0.1, 2: 0.8, 3: 0.85, 4: 0.9},
        user_attrs={"perturbations": EXPLOITS},
    )
    trial.number = number
    return trial


def test_each_exploit_says_when_from_where_and_what_changed_since_the_one_before():
    assert exploit_lines([exploited()]) == [
        "trial 3 at epoch 1: copied trial 0 (its epoch 2); optimizer.lr 0.0001 -> 0.0012, optimizer.name sgd -> adam",
        "trial 3 at epoch 3: copied trial 2 (its epoch 3); optimizer.lr 0.0012 -> 0.00096",
    ]


def test_a_trial_never_exploited_has_no_line_and_status_shows_the_others():
    study = optuna.create_study(direction="maximize")
    plain = create_trial(state=TrialState.COMPLETE, value=0.8, params=PARAMS, distributions=DISTRIBUTIONS)
    assert exploit_lines([plain]) == []
    study.add_trial(plain)
    study.add_trial(exploited())
    console = Console(width=200, record=True)
    console.print(status_view(study))
    assert "trial 1 at epoch 1: copied trial 0 (its epoch 2)" in console.export_text()


def test_the_report_lists_them_in_a_section_of_their_own(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    study = optuna.create_study(direction="maximize")
    study.add_trial(exploited())
    page = build_report(study)
    assert "Population Based Training" in page and "trial 0 at epoch 3: copied trial 2 (its epoch 3)" in page

"""A study of several objectives with a constraint, after the run: ``hpo status`` shows its
Pareto front and marks infeasible trials, ``hpo export`` writes the front and never an
infeasible trial, ``hpo report`` draws the front; and a spec with a bad objective or
constraint is refused with exit 2, the study untouched."""

from __future__ import annotations

import random
from pathlib import Path

import optuna
import pytest
import yaml

from hpo.results.header import header_metric, read_header
from hpo.results.report import build_report
from hpo.results.table import trials_frame
from hpo.spec.sections import spec_from_text
from hpo.spec.space import sample
from hpo.study.keys import SEARCH_ATTR, SEARCH_HASH_ATTR, SPEC_SOURCE_ATTR, SPEC_TEXT_ATTR
from hpo.study.summary import feasible, pareto_front, study_modes
from tests.results.conftest import SPEC, STUDY, cli, copied_study

NAME = "front"
PARETO_SPEC = (
    SPEC.replace(f"name: {STUDY}", f"name: {NAME}")
    .replace("metric: val_acc, mode: max", "metric: [val_acc, params], mode: [max, min]")
    .replace("space:", 'constraints: ["params <= 15000"]\nspace:')
)


def make_pareto_study(storage: str, seed: int = 0) -> optuna.Study:
    """A study shaped as ``hpo run`` writes one of val_acc (max) and params (min) with a
    constraint on params; values made up: wider kernels cost parameters and buy accuracy."""
    spec = spec_from_text(PARETO_SPEC, f"{NAME}.yaml")
    study = optuna.create_study(study_name=NAME, storage=storage, directions=["maximize", "minimize"])
    for key, value in (
        (SEARCH_HASH_ATTR, spec.search_hash()),
        (SEARCH_ATTR, spec.search_definition()),
        (SPEC_TEXT_ATTR, spec.text),
        (SPEC_SOURCE_ATTR, spec.source),
    ):
        study.set_user_attr(key, value)
    rng = random.Random(seed)
    for number in range(12):
        trial = study.ask()
        config = sample(trial, spec.space, spec.train)
        trial.set_user_attr("config", config)
        params = 9000 if config["model"]["kernel_sizes"] == [3, 3] else 20000
        params += rng.randrange(0, 3000, 1000)
        acc = round(0.8 + 0.1 * (params > 15000) + rng.random() / 20, 3)
        pruned = number % 4 == 3
        epochs = 1 if pruned else 3
        trial.set_user_attr("epochs", epochs)
        trial.set_user_attr("history", [{"epoch": e, "val_acc": acc, "params": params} for e in range(1, epochs + 1)])
        trial.set_constraint("params <= 15000", params - 15000)
        if pruned:
            study.tell(trial, state=optuna.trial.TrialState.PRUNED)
        else:
            study.tell(trial, [acc, params])
    return study


@pytest.fixture(scope="module")
def front_study_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """``make_pareto_study`` written once to a SQLite file (each write is a transaction: slow)."""
    path = tmp_path_factory.mktemp("front_study") / f"{NAME}.db"
    make_pareto_study(f"sqlite:///{path}")
    return path


@pytest.fixture
def front_study(front_study_file, tmp_path, monkeypatch) -> optuna.Study:
    """A fresh copy in ``studies/front.db``, with the working directory there."""
    return copied_study(front_study_file, NAME, tmp_path, monkeypatch)


def test_status_shows_the_front_and_marks_infeasible_trials(front_study, capsys, monkeypatch):
    front = pareto_front(front_study.trials, study_modes(front_study))
    infeasible = [t.number for t in front_study.trials if t.state.name == "COMPLETE" and not feasible(t)]
    assert front and infeasible  # the made-up study has both
    out = cli(capsys, monkeypatch, "status", NAME).out
    assert f"Pareto front: {len(front)} trials (val_acc max, params min)" in out
    for number in infeasible:
        assert f"trial {number} infeasible: breaks params <= 15000" in out
    assert "best params" not in out  # several objectives have no one best


def test_the_trials_table_has_each_objective_and_feasibility(front_study):
    frame = trials_frame(front_study).set_index("number")
    for trial in front_study.trials:
        row = frame.loc[trial.number]
        assert row["feasible"] == feasible(trial)
        if trial.state.name == "COMPLETE":
            assert [row["values.val_acc"], row["values.params"]] == trial.values
            assert row["value"] == trial.values[0]


def test_export_writes_the_front_ranked_by_the_first_objective(front_study, capsys, monkeypatch):
    result = cli(capsys, monkeypatch, "export", NAME, "-o", "out/best.yaml")
    assert result.code == 0, result.err
    front = pareto_front(front_study.trials, study_modes(front_study))
    paths = [f"out/best-{i}.yaml" for i in range(1, len(front) + 1)] if len(front) > 1 else ["out/best.yaml"]
    for path, trial in zip(paths, front):
        assert f"trial {trial.number} (value val_acc " in result.out
        header = read_header(Path(path))
        assert header["trial"].startswith(f"{trial.number} (rank ")
        assert header["params (objective 2)"] == f"{trial.values[1]:.6g} (min)"
        assert header_metric(header) == "val_acc"  # hpo train summarises the first objective
        assert yaml.safe_load(open(path)) == trial.user_attrs["config"]
    exported = {int(line.split()[1]) for line in result.out.splitlines() if line.startswith("trial ")}
    assert all(feasible(front_study.trials[n]) for n in exported)


def test_export_refuses_a_study_whose_complete_trials_all_break_a_constraint(tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    study = optuna.create_study(study_name="bad", storage="sqlite:///bad.db", directions=["maximize", "minimize"])
    trial = study.ask()
    trial.set_constraint("params <= 10", 5.0)
    study.tell(trial, [0.9, 15])
    result = cli(capsys, monkeypatch, "export", "bad", "--storage", "sqlite:///bad.db")
    assert result.code == 2
    assert "1 complete but breaking a constraint" in result.err


def test_report_draws_the_front(front_study):
    page = build_report(front_study)
    assert "<h2>Pareto front</h2>" in page
    assert "Pareto front of the complete trials" in page
    assert "val_acc (max), params (min)" in page
    assert "<h2>Top 10 trials</h2>" not in page


# ----------------------------------------------------------------------------- refused specs


@pytest.mark.parametrize(
    ("change", "words"),
    [
        (lambda text: text.replace('["params <= 15000"]', '["memory_mb <= 4000"]'), "constraints.0: unknown metric 'memory_mb'"),
        (
            lambda text: text.replace('["params <= 15000"]', '["params = 4000"]'),
            'constraints.0: expected a constraint "<metric> <= <number>"',
        ),
        (lambda text: text.replace("[val_acc, params]", "[val_acc, parameters]"), "study.metric.1: unknown metric 'parameters'"),
        (lambda text: text.replace("type: tpe, n_startup_trials: 3", "type: cmaes"), "sampler.type: cmaes optimises one objective"),
    ],
    ids=["unknown-metric", "malformed", "unknown-objective", "one-objective-sampler"],
)
def test_a_bad_spec_is_refused_with_exit_2_and_the_study_untouched(front_study, capsys, monkeypatch, tmp_path, change, words):
    database = tmp_path / "studies" / f"{NAME}.db"
    before = database.read_bytes()
    spec = tmp_path / f"{NAME}.yaml"
    spec.write_text(change(PARETO_SPEC))
    for command in ("validate", "run"):
        result = cli(capsys, monkeypatch, command, str(spec))
        assert result.code == 2
        assert words in result.err and "Traceback" not in result.err
    assert database.read_bytes() == before
    assert sorted(p.name for p in (tmp_path / "studies").iterdir()) == [f"{NAME}.db"]

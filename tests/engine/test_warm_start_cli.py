"""``hpo run --new-version --warm-start`` through the command line: what it says, and what it
refuses with nothing written (the trials it takes: tests/study/test_warmstart.py)."""

from __future__ import annotations

from pathlib import Path

import optuna
import pytest
from optuna.trial import TrialState

from hpo.study.keys import WARM_START_ATTR
from hpo.study.records import FINISHED_STATES, is_warm_start
from tests.results.conftest import SPEC, STUDY, cli, copied_study, make_study

NARROW_LR = SPEC.replace("[1.0e-3, 3.0e-2]", "[1.0e-3, 1.0e-2]")
OUTSIDE_LR = SPEC.replace("[1.0e-3, 3.0e-2]", "[5.0e-2, 1.0e-1]")


@pytest.fixture(scope="module")
def earlier_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The earlier version, written once (each write is a transaction: slow)."""
    path = tmp_path_factory.mktemp("earlier") / f"{STUDY}.db"
    make_study(f"sqlite:///{path}", STUDY, complete=3, pruned=2, failed=1, running=0)
    return path


@pytest.fixture
def earlier(earlier_file, tmp_path, monkeypatch) -> optuna.Study:
    """A copy of the earlier version in ``studies/``, with the working directory there."""
    return copied_study(earlier_file, STUDY, tmp_path, monkeypatch)


def stored(study: optuna.Study) -> tuple:
    """All a study holds, as read back from its storage."""
    again = optuna.load_study(study_name=study.study_name, storage=f"sqlite:///studies/{study.study_name}.db")
    return again.trials, again.user_attrs


@pytest.mark.parametrize(
    ("spec", "args", "says"),
    [
        (NARROW_LR, ("--warm-start",), "--warm-start seeds a new version of study 'tiny' with the trials of the version before it"),
        (OUTSIDE_LR, ("--new-version", "--warm-start"), "cannot warm-start tiny-v2 from study 'tiny': none of its 6 trials lies in"),
        (
            OUTSIDE_LR.replace("seed: 0}", "seed: 0, warm_start: true}"),
            ("--new-version",),
            "(5 with optimizer.lr not a number in [0.05, 0.1] (trials ",
        ),
        (
            NARROW_LR.replace("metric: val_acc, mode: max", "metric: val_loss, mode: min"),
            ("--new-version", "--warm-start"),
            "its trials' values mean something else in this spec (metric 'val_acc' there, 'val_loss' here; mode 'max' there, 'min' here)",
        ),
    ],
    ids=["without-new-version", "no-trial-in-the-space", "spec-key", "another-metric"],
)
def test_a_warm_start_that_cannot_be_is_refused_with_exit_2_and_the_study_untouched(earlier, capsys, monkeypatch, spec, args, says):
    before = stored(earlier)
    with open("spec.yaml", "w") as file:
        file.write(spec)
    result = cli(capsys, monkeypatch, "run", "spec.yaml", *args)
    assert result.code == 2, result.out + result.err
    assert says in result.err and "Traceback" not in result.err
    assert optuna.get_all_study_names(f"sqlite:///studies/{STUDY}.db") == [STUDY]
    assert stored(earlier) == before


def test_a_warm_started_version_says_what_it_took_and_status_shows_the_copied_trials(earlier, capsys, monkeypatch):
    """A copied trial already reaches study.target, so the run starts no trial: the command
    line end to end, without Ray (tests/e2e/test_finished_study.py runs trials)."""
    with open("spec.yaml", "w") as file:
        file.write(NARROW_LR.replace("seed: 0}", "seed: 0, target: 0.0}"))
    result = cli(capsys, monkeypatch, "run", "spec.yaml", "--new-version", "--warm-start")
    assert result.code == 0, result.out + result.err
    v2 = optuna.load_study(study_name=f"{STUDY}-v2", storage=f"sqlite:///studies/{STUDY}.db")
    taken = [t.number for t in earlier.get_trials(states=FINISHED_STATES) if t.params["optimizer.lr"] <= 1.0e-2]
    copied = [t for t in v2.trials if is_warm_start(t)]
    assert [t.user_attrs[WARM_START_ATTR]["number"] for t in copied] == taken
    assert f"trial {len(taken)} is your baseline" in result.out  # queued after them: the earlier one ran another train:
    assert f"warm start from {STUDY}: took {len(taken)} trials" in result.out
    first = min(t.number for t in copied if t.state == TrialState.COMPLETE)
    assert f"met its stop rule (target val_acc >= 0 reached by trial {first}): no trial started" in result.out
    assert f"0/5 finished (0 complete, 0 pruned), 0 running, 0 failed, and {len(taken)} from a warm start" in result.out
    status = cli(capsys, monkeypatch, "status", f"{STUDY}-v2")
    assert f"came from {STUDY} (its trials " in status.out and "(warm start)" in status.out

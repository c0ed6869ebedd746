"""A warm-started new version of the quickstart: one real run of each version."""

from __future__ import annotations

import pytest
from optuna.trial import TrialState

from hpo.study.keys import BASELINE_ATTR, WARM_START_ATTR
from hpo.study.records import FINISHED_STATES, is_warm_start
from tests.e2e.conftest import hpo, load_study, shortened_quickstart, write_spec

pytestmark = pytest.mark.slow


def test_a_changed_space_begins_with_the_earlier_trials_inside_it_and_runs_its_own_trials_after_them(workdir):
    spec = shortened_quickstart(trials=3, epochs=1)
    spec["scheduler"] = {"type": "none"}
    first = hpo("run", str(write_spec(workdir, spec)), cwd=workdir)
    assert first.returncode == 0, first.stdout + first.stderr
    earlier = load_study(workdir, "quickstart")

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
    status = hpo("status", "quickstart-v2", cwd=workdir)
    assert f"and {len(taken)} from a warm start" in status.stdout and "came from quickstart (its trials" in status.stdout

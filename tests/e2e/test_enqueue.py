"""Baseline first, then the spec's ``enqueue:`` configs, then the sampler: one real run."""

from __future__ import annotations

import pytest

from hpo.study.keys import BASELINE_ATTR, CONFIG_ATTR
from hpo.study.summary import versus_baseline
from tests.e2e.conftest import hpo, load_study, shortened_quickstart, write_spec

pytestmark = pytest.mark.slow


def test_the_baseline_runs_first_then_the_enqueued_config_and_a_rerun_queues_nothing(workdir):
    spec = shortened_quickstart(trials=3, epochs=1)
    spec["scheduler"] = {"type": "none"}
    spec["enqueue"] = [{"model.kernel_sizes": "k53", "optimizer.lr": 0.01}]
    spec_file = write_spec(workdir, spec)
    first = hpo("run", str(spec_file), cwd=workdir)
    assert first.returncode == 0, first.stdout + first.stderr
    assert "trial 0 is your baseline: train: as it is" in first.stdout
    study = load_study(workdir, "quickstart")
    baseline, enqueued, sampled = study.trials
    assert baseline.user_attrs[BASELINE_ATTR] is True and baseline.user_attrs[CONFIG_ATTR] == spec["train"]
    assert enqueued.params["model.kernel_sizes"] == "k53" and enqueued.params["optimizer.lr"] == 0.01
    assert {"batch_size", "optimizer.name"} <= set(enqueued.params)  # the keys it left out, sampled
    assert BASELINE_ATTR not in sampled.user_attrs
    versus = versus_baseline(study.best_trial, study.trials)
    assert versus is not None and "your baseline" in versus and versus in first.stdout

    again = hpo("run", str(spec_file), cwd=workdir)
    assert again.returncode == 0, again.stdout + again.stderr
    assert "your baseline: train" not in again.stdout and "queued" not in again.stdout
    assert len(load_study(workdir, "quickstart").trials) == 3
    status = hpo("status", "quickstart", cwd=workdir)
    assert versus in status.stdout

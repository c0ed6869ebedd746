"""benchmarks/search_efficiency.py's reading of a study's epochs and its choice of methods,
without running one."""

from __future__ import annotations

import pytest
from optuna.distributions import FloatDistribution
from optuna.trial import TrialState, create_trial

from benchmarks.search_efficiency import BASELINE, POOLED, epoch_ends, parse_args
from hpo.spec.fidelity import epoch_costs, resolution_scales
from hpo.study.keys import HISTORY_ATTR


def test_epochs_on_smaller_images_cost_their_pixels_and_find_nothing():
    scales = list(resolution_scales(1, 3, 4))  # 1/3, 1/√3, 1/√3, 1
    trial = create_trial(
        state=TrialState.COMPLETE,
        value=0.5,
        params={"lr": 0.1},
        distributions={"lr": FloatDistribution(0.01, 1.0)},
        intermediate_values={1: 0.9, 2: 0.8, 3: 0.7, 4: 0.5},  # smaller images scored higher
        user_attrs={HISTORY_ATTR: [{"seconds": 1.0}] * 4},
    )
    events = sorted(epoch_ends(trial, epoch_costs({"resolution": scales}), [scale == 1 for scale in scales]))
    assert [cost for _, cost, _ in events] == pytest.approx([1 / 9, 1 / 3, 1 / 3, 1])
    assert [value for *_, value in events] == [None, None, None, 0.5]


def test_the_resolution_method_runs_only_on_a_cnn_that_pools_globally(capsys):
    assert POOLED not in parse_args([]).methods and POOLED in parse_args(["--global-pool"]).methods
    assert parse_args(["--global-pool", "--methods", POOLED]).methods == [BASELINE, POOLED]
    with pytest.raises(SystemExit):
        parse_args(["--methods", POOLED])
    assert "only with --global-pool" in capsys.readouterr().err

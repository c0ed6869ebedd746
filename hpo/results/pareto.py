"""The Pareto front of a study of several objectives, drawn for the report.

Optuna's ``plot_pareto_front`` draws it: the front's trials in one colour, the dominated
feasible ones in another, and those that break a constraint (recorded with
``Trial.set_constraint``, which it reads) in grey. Axes are named by the spec's metrics.
"""

from __future__ import annotations

import optuna
import plotly.graph_objects as go
from optuna.trial import TrialState

from hpo.results.figures import CannotPlot
from hpo.results.table import study_metrics
from hpo.study.summary import study_modes

DRAWN = (2, 3)  # objectives a front plot has axes for


def pareto_figure(study: optuna.Study) -> go.Figure:
    """The study's trials in objective space, the Pareto front marked; CannotPlot for a
    study of one objective or one with more than three, or before a trial is complete."""
    count = len(study.directions)
    if count not in DRAWN:
        raise CannotPlot(f"The Pareto front is drawn for 2 or 3 objectives; the study has {count}.")
    if not study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,)):
        raise CannotPlot("No complete trial yet: the front is drawn from complete trials.")
    names = [f"{metric} ({mode})" for metric, mode in zip(study_metrics(study), study_modes(study))]
    fig = optuna.visualization.plot_pareto_front(study, target_names=names)
    fig.update_layout(title="Pareto front of the complete trials (grey: breaks a constraint)")
    return fig

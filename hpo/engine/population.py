"""Population Based Training over the spec's own space: Ray's ``PopulationBasedTraining``.

PBT (Jaderberg et al., "Population Based Training of Neural Networks", 2017) trains a
population of trials at once. Every ``perturbation_interval`` epochs a trial is compared
with the others by its last value of the metric; one in the bottom ``quantile_fraction``
is *exploited*: it is paused and goes on from the latest checkpoint of a trial in the top
quantile, with that trial's config, some values of which are *perturbed* (each drawn afresh
from its distribution with ``resample_probability``, else scaled by 0.8 or 1.2, or moved
to a neighbouring option of a choice), then put back inside the space.

What PBT may perturb (hpo.spec.population) is given to Ray as ``hyperparam_mutations``
under the Ray config's ``config`` (the train config the trainer reads), each key with the
distribution the sampler draws it from; the labels the trackers see (``params``) are set
to the same values. The trial keeps its own number and log: only the copied train config
and params replace its own. The trainable then starts it from the copied checkpoint
(``tune.get_checkpoint()``, hpo.engine.trainable) with the new config.

What differs from Ray's class, as for HyperBand (hpo.engine.schedulers): metric and mode
come from the spec; a result without the epoch or the metric goes past the scheduler; NaN
is the worst value (a diverged trial is the first to be replaced, where Ray would leave it
out); a trial is stopped at its last epoch, never exploited there, so that it ends
COMPLETE (these three: hpo.engine.gate). Ray refuses PBT beside a search algorithm, because the searcher would not know
of the configs PBT changes; here the searcher is told of every exploit
(:meth:`ExploitListener.record_exploit`) and records it in the study, so the refusal is
passed by.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Protocol

from ray import tune
from ray.tune.experiment import Trial
from ray.tune.schedulers import PopulationBasedTraining

from hpo.contract import EPOCH
from hpo.engine.gate import ResultGate
from hpo.spec.params import ChoiceParam, FloatParam, IntParam, Param, Space
from hpo.spec.population import perturbable
from hpo.spec.sections import PBTSection

__all__ = ["ExploitListener", "StudyPopulationBasedTraining", "mutations", "within_space"]

CONFIG_KEY = "config"  # of the Ray config: the train config the trainer reads
PARAMS_KEY = "params"  # of the Ray config: the trial's labels, for the trackers


class ExploitListener(Protocol):
    """Told of each exploit, to record it (hpo.engine.searcher)."""

    def record_exploit(self, trial_id: str, epoch: int, checkpoint: str, params: Mapping[str, Any], directory: str | None) -> None: ...


def mutations(params: tuple[Param, ...]) -> dict[str, Any]:
    """Ray's ``hyperparam_mutations`` for ``params``, nested as their dotted paths are, each
    with the distribution the sampler draws it from (a choice: its plain options)."""
    nested: dict[str, Any] = {}
    for param in params:
        *parents, leaf = param.path.split(".")
        node = nested
        for key in parents:
            node = node.setdefault(key, {})
        node[leaf] = _distribution(param)
    return nested


def _distribution(param: Param) -> Any:
    if isinstance(param, FloatParam):
        if param.log:
            return tune.loguniform(param.low, param.high)
        return tune.quniform(param.low, param.high, param.step) if param.step else tune.uniform(param.low, param.high)
    if isinstance(param, IntParam):
        if param.log:
            return tune.lograndint(param.low, param.high + 1)
        return tune.qrandint(param.low, param.high, param.step)
    return list(param.labels)


def within_space(params: tuple[Param, ...], config: dict[str, Any]) -> dict[str, Any]:
    """Put every perturbed value of a Ray config back in its range and on its step (a value
    scaled by 1.2 can leave them), and set the trial's labels to the values."""
    train = config[CONFIG_KEY]
    labels = dict(config.get(PARAMS_KEY) or {})
    for param in params:
        *parents, leaf = param.path.split(".")
        node = train
        for key in parents:
            node = node[key]
        if not isinstance(param, ChoiceParam):
            node[leaf] = _clip(param, node[leaf])
        labels[param.path] = node[leaf]
    return {**config, PARAMS_KEY: labels}


def _clip(param: FloatParam | IntParam, value: float) -> float | int:
    value = min(max(value, param.low), param.high)
    if isinstance(param, IntParam):
        return int(param.low + round((value - param.low) / param.step) * param.step)
    if param.step:
        value = min(round(param.low + round((value - param.low) / param.step) * param.step, 12), param.high)
    return float(value)


class _WithoutSearcher:
    """The controller as Ray's ``on_trial_add`` sees it here: without a search algorithm
    (see module doc: the searcher records every exploit)."""

    search_alg = None


class StudyPopulationBasedTraining(PopulationBasedTraining):
    """Ray's PBT over the spec's space, on the trainer's epochs (see module doc).

    Args:
        metric, mode: The per-epoch value trials are compared by, and its direction.
        max_t: Epochs of a full trial; a trial is stopped there.
        space: The spec's parsed space.
        section: The spec's ``scheduler:`` (interval, quantile, resampling, keys to perturb).

    Each exploit is told to the searcher, which :meth:`follow` names: it is built after the
    scheduler, as the promotion scheduler's searcher must be.
    """

    def __init__(self, *, metric: str, mode: str, max_t: int, space: Space, section: PBTSection) -> None:
        params = perturbable(space, section)
        super().__init__(
            time_attr=EPOCH,
            metric=metric,
            mode=mode,
            perturbation_interval=section.perturbation_interval,
            hyperparam_mutations={CONFIG_KEY: mutations(params)},
            quantile_fraction=section.quantile_fraction,
            resample_probability=section.resample_probability,
            custom_explore_fn=lambda config: within_space(params, config),
            log_config=False,  # the study records each exploit; Ray's policy files would repeat it
        )
        self._gate = ResultGate(metric, mode, max_t)
        self._listener: ExploitListener | None = None

    def follow(self, listener: ExploitListener) -> None:
        """Tell ``listener`` (the searcher) of each exploit."""
        self._listener = listener

    def set_search_properties(self, metric: str | None, mode: str | None, **spec: Any) -> bool:
        return True  # metric and mode come from the spec, never from Ray

    def on_trial_add(self, tune_controller: Any, trial: Trial) -> None:
        super().on_trial_add(_WithoutSearcher(), trial)  # type: ignore[arg-type]  # it reads search_alg only

    def on_trial_result(self, tune_controller: Any, trial: Trial, result: dict) -> str:
        compared = self._gate.admit(result)
        if isinstance(compared, str):
            return compared  # no metric to compare, or its last epoch: decided before Ray's rule (hpo.engine.gate)
        epoch = compared[EPOCH]
        before = trial.config
        decision = super().on_trial_result(tune_controller, trial, compared)
        if trial.config is not before and trial.checkpoint is not None:  # exploited: Ray set the copied config
            # its own number, log and time budget stay; it starts from the copied checkpoint, not the one it resumed from
            config = {key: value for key, value in before.items() if key != "resume_from"}
            config.update({CONFIG_KEY: trial.config[CONFIG_KEY], PARAMS_KEY: trial.config[PARAMS_KEY]})
            trial.set_config(config)
            directory = trial.path if trial.storage is not None else None  # its own trial directory (none before Ray starts it)
            if self._listener is None:
                raise RuntimeError("pbt exploited a trial before a searcher followed it: nothing would record the exploit")
            self._listener.record_exploit(trial.trial_id, epoch, str(trial.checkpoint.path), config[PARAMS_KEY], directory)
        return decision

"""Engine overhead: seconds per trivial trial through hpo versus plain Ray Tune.

    python benchmarks/engine_overhead.py                  # 32 trials x 11 repeats, ~3 min
    python benchmarks/engine_overhead.py --trials 4 --repeats 1
    python benchmarks/engine_overhead.py --ray-defaults   # against Ray Tune as it comes, ~10 min

The same N trials of a trainer that takes no time (`instant_train`: a few epochs,
reported at once) run at concurrency 2 with TPE + ASHA twice over: through hpo
(`run_study`, a spec made here, the study in SQLite) and through plain Ray Tune
(`OptunaSearch` with the same TPE sampler, `ASHAScheduler`, the same space). Both run
on one Ray instance started once, interleaved (hpo, raw, raw, hpo, hpo, raw, ...) so
that the machine's drifts hit both alike. Timed: each whole fit, from the spec or the
Tuner to the end of its trials (for hpo that includes creating the study), not Ray's
start-up; an untimed first pair pays for the imports. Plain Ray Tune gets the settings
hpo gives it (actor reuse, Ray's environment variables, no per-trial CSV/JSON
loggers), so the difference is hpo's own work: the study database, the searcher's
records, the spec. With ``--ray-defaults`` plain Ray Tune runs as it comes instead:
a new worker process per trial (``reuse_actors=False``), its loggers and settings.

The two may run a different number of epochs: TPE proposes differently when pruned
trials are recorded as PRUNED (hpo) rather than COMPLETE (OptunaSearch), and with
instant trials each epoch costs a round trip through Ray. So the seconds per epoch are
printed beside the seconds per trial.

With instant trials, one worker usually runs all of a fit's trials, for both engines
(by the workers' process ids: 7 of 8 hpo fits, 5 of 5 plain ones): a trial ends before
a second worker has started, and Ray gives the next trial to the worker it has. The
times of single fits are bimodal for both engines (about 2.0 s or 3.0 s for 32 trials
here), so the median needs more than a few repeats: 11 by default.

Last line: `overhead_s_per_trial=X raw_ray_s_per_trial=Y ratio=X/Y` (medians over
the repeats). Wall-clock numbers of a noisy machine: compare the ratio, measured here
side by side, not X against another day's X.
"""

from __future__ import annotations

import argparse
import io
import math
import os
import statistics
import sys
import time
from collections.abc import Callable
from functools import partial
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))  # the driver imports `benchmarks.engine_overhead` by name

TRAINER = "benchmarks.engine_overhead:instant_train"
EPOCHS = 4  # per trial; ASHA (grace 1, factor 2) stops most trials after 1 or 2
CONCURRENCY = 2
# What hpo sets for Ray beyond quiet logs; ``--ray-defaults`` runs plain Ray Tune without them.
_HPO_RAY_SETTINGS = ("TUNE_DISABLE_AUTO_CALLBACK_LOGGERS", "TUNE_DISABLE_STRICT_METRIC_CHECKING", "RAY_AIR_NEW_OUTPUT")


# ----------------------------------------------------------------------------- the trainer


def instant_train(config: dict[str, Any], report: Callable[[dict[str, Any]], None]) -> dict[str, Any]:
    """A trainer that takes no time: val_acc is a smooth function of the config (best
    near lr 1e-2 with adam), rising with the epochs, so TPE and ASHA have work to do."""
    lr = config["optimizer"]["lr"]
    quality = 0.95 - 0.1 * abs(math.log10(lr) + 2.0) - 0.05 * (config["optimizer"]["name"] == "sgd")
    quality -= 0.1 * config["model"]["dropout"] + 0.0002 * abs(config["batch_size"] - 64)
    epochs = config["epochs"]
    for epoch in range(1, epochs + 1):
        val_acc = quality * (1 - 0.5**epoch)
        metrics = {
            "epoch": epoch,
            "train_loss": 1 - val_acc,
            "train_acc": val_acc,
            "val_loss": 1 - val_acc,
            "val_acc": val_acc,
            "lr": lr,
            "seconds": 0.0,
            "finished": epoch == epochs,
        }
        report(dict(metrics))
    return metrics


def _raw_trial(config: dict[str, Any]) -> None:
    """Plain Ray Tune's trainable: the same trainer, reporting straight to Tune."""
    from ray import tune

    instant_train(config, tune.report)


# ----------------------------------------------------------------------------- the two engines


SPEC = f"""
trainer: {TRAINER}
study: {{name: NAME, metric: val_acc, mode: max, trials: TRIALS, seed: 0}}
sampler:   {{type: tpe, n_startup_trials: 5, multivariate: true, constant_liar: true}}
scheduler: {{type: asha, grace_period: 1, reduction_factor: 2}}
resources: {{cpus_per_trial: 1, max_concurrent: {CONCURRENCY}}}
train:
  data:      {{name: digits}}
  model:     {{name: cnn, channels: [16, 32], hidden: [64], dropout: 0.1}}
  optimizer: {{name: adam, lr: 1.0e-3}}
  batch_size: 64
  epochs: {EPOCHS}
space:
  optimizer.lr:   {{float: [1.0e-4, 1.0e-1], log: true}}
  optimizer.name: {{choice: [sgd, adam]}}
  batch_size:     {{choice: [32, 64, 128]}}
  model.dropout:  {{float: [0.0, 0.5], step: 0.1}}
"""


def make_spec(name: str, trials: int):
    from hpo.spec.sections import spec_from_text

    return spec_from_text(SPEC.replace("NAME", name).replace("TRIALS", str(trials)), f"{name}.yaml")


def run_hpo(name: str, trials: int) -> tuple[float, int, str]:
    """One study through hpo; returns (seconds, epochs run, what the study holds)."""
    import optuna
    from rich.console import Console

    from hpo.engine.runner import run_study

    spec = make_spec(name, trials)
    start = time.perf_counter()
    outcome = run_study(spec, console=Console(file=io.StringIO()))
    seconds = time.perf_counter() - start
    tally = outcome.tally
    if tally.finished != trials or tally.failed:
        raise RuntimeError(f"hpo study {name}: {tally.summary()}, expected {trials} finished and none failed")
    study = optuna.load_study(study_name=outcome.study_name, storage=outcome.storage_url)
    epochs = sum(len(t.intermediate_values) for t in study.get_trials(deepcopy=False))
    return seconds, epochs, f"{tally.complete} complete, {tally.pruned} pruned, {epochs} epochs"


def raw_param_space() -> dict[str, Any]:
    """The spec's space as plain Ray Tune writes it."""
    from ray import tune

    return {
        "optimizer": {"lr": tune.loguniform(1e-4, 1e-1), "name": tune.choice(["sgd", "adam"])},
        "batch_size": tune.choice([32, 64, 128]),
        "model": {"dropout": tune.quniform(0.0, 0.5, 0.1)},
        "epochs": EPOCHS,
    }


def run_raw(name: str, trials: int, storage: Path, ray_defaults: bool = False) -> tuple[float, int, str]:
    """The same trials through plain Ray Tune; returns (seconds, epochs run, what Tune reports).

    ``ray_defaults``: without the settings hpo gives Ray (see the module doc)."""
    from ray import tune
    from ray.tune.schedulers import ASHAScheduler
    from ray.tune.search.optuna import OptunaSearch

    from hpo.engine.samplers import build_sampler

    spec = make_spec(name, trials)  # only for the identical TPE sampler
    hpo_settings = {key: os.environ.pop(key) for key in _HPO_RAY_SETTINGS if ray_defaults and key in os.environ}
    start = time.perf_counter()
    tuner = tune.Tuner(
        _raw_trial,
        param_space=raw_param_space(),
        tune_config=tune.TuneConfig(
            metric="val_acc",
            mode="max",
            search_alg=OptunaSearch(sampler=build_sampler(spec)),
            scheduler=ASHAScheduler(time_attr="training_iteration", max_t=EPOCHS, grace_period=1, reduction_factor=2),
            num_samples=trials,
            max_concurrent_trials=CONCURRENCY,
            reuse_actors=not ray_defaults,
        ),
        run_config=tune.RunConfig(name=name, storage_path=str(storage), verbose=0),
    )
    try:
        results = tuner.fit()
    finally:
        os.environ.update(hpo_settings)
    seconds = time.perf_counter() - start
    errors = sum(r.error is not None for r in results)
    if len(results) != trials or errors:
        raise RuntimeError(f"raw Ray Tune {name}: {len(results)} trials, {errors} errors; expected {trials} and none")
    epochs = [r.metrics["training_iteration"] for r in results]
    full = epochs.count(EPOCHS)
    return seconds, sum(epochs), f"{full} complete, {trials - full} stopped, {sum(epochs)} epochs"


# ----------------------------------------------------------------------------- main


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--trials", type=int, default=32, help="trials per fit (default 32)")
    parser.add_argument("--repeats", type=int, default=11, help="hpo/raw pairs, interleaved (default 11)")
    parser.add_argument("--no-warm-up", action="store_true", help="skip the untimed first pair (imports, first workers)")
    parser.add_argument("--ray-defaults", action="store_true", help="plain Ray Tune as it comes (see the module doc)")
    parser.add_argument("--workdir", help="where the studies go (default: a temporary folder, removed at the end)")
    args = parser.parse_args(argv)

    from benchmarks.local_ray import local_ray

    baseline = "Ray Tune as it comes" if args.ray_defaults else "Ray Tune with hpo's Ray settings"
    hpo_runs, raw_runs = [], []
    # hpo's Ray settings hold for both engines; --ray-defaults lifts them for plain Ray Tune's fits
    workers_import_the_trainer = {"env_vars": {"PYTHONPATH": str(REPO)}}
    with local_ray(args.workdir, "hpo-engine-overhead-", CONCURRENCY, runtime_env=workers_import_the_trainer) as workdir:
        print(f"{args.trials} trivial trials x {args.repeats} repeats, concurrency {CONCURRENCY}, TPE + ASHA; against {baseline}")
        run_plain = partial(run_raw, storage=workdir / "raw", ray_defaults=args.ray_defaults)
        if not args.no_warm_up:
            run_hpo("warm_up", CONCURRENCY)  # imports and first worker start-up, not timed
            run_plain("warm_up", CONCURRENCY)
        for repeat in range(1, args.repeats + 1):
            if repeat % 2:  # hpo, raw, raw, hpo, hpo, raw, ...: neither always goes first
                hpo_runs.append(run_hpo(f"overhead_{repeat}", args.trials))
                raw_runs.append(run_plain(f"raw_{repeat}", args.trials))
            else:
                raw_runs.append(run_plain(f"raw_{repeat}", args.trials))
                hpo_runs.append(run_hpo(f"overhead_{repeat}", args.trials))
            (hpo_s, _, hpo_what), (raw_s, _, raw_what) = hpo_runs[-1], raw_runs[-1]
            print(
                f"repeat {repeat}: hpo {hpo_s:6.2f} s ({hpo_what}); raw Ray Tune {raw_s:6.2f} s ({raw_what})",
                flush=True,
            )
    per_epoch = statistics.median(s / e for s, e, _ in hpo_runs) / statistics.median(s / e for s, e, _ in raw_runs)
    print(f"seconds per epoch run: hpo/raw = {per_epoch:.3f}")
    x = statistics.median(s for s, _, _ in hpo_runs) / args.trials
    y = statistics.median(s for s, _, _ in raw_runs) / args.trials
    print(f"overhead_s_per_trial={x:.4f} raw_ray_s_per_trial={y:.4f} ratio={x / y:.3f}")


if __name__ == "__main__":
    main()

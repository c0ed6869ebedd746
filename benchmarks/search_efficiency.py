"""Search efficiency: TPE + ASHA (on epochs, on shares of the data, and on smaller images),
TPE + promotion ASHA and PBT against random search without pruning, on the same epoch budget.

    python benchmarks/search_efficiency.py                      # digits, 20 seeds, ~40 min
    python benchmarks/search_efficiency.py --seeds 3            # a first look, ~3 min
    python benchmarks/search_efficiency.py --methods tpe_asha   # random search and TPE + ASHA only
    python benchmarks/search_efficiency.py --data synthetic --shape 1 16 16 --num-classes 4
    python benchmarks/search_efficiency.py --data mnist --data-root data --budget-epochs 60
    python benchmarks/search_efficiency.py --global-pool --data synthetic --shape 1 32 32 --size 1000

For each seed every method runs through hpo's `run_study` with the real trainer
(`trainers.loop:train`) on the same space, the same data split and the same budget of
epochs: random search runs `budget / epochs` trials to the end; TPE + ASHA (grace 1
epoch, reduction factor 3) runs more, shorter trials; with `fidelity: data_fraction`
(`tpe_asha_data`) the same rungs, the epochs before the last one on 1/9 and 1/3 of the
training split, each costing that share of an epoch; with `fidelity: resolution`
(`tpe_asha_resolution`, only with `--global-pool`, which makes every method's cnn pool
globally so that it takes any size) on images of 1/3 and 1/√3 of their side, each costing
its scale squared, their values not counted as found (a value on smaller images is not
the config's; on digits' 8x8 images, kept whole by the 8-pixel floor, it would save
nothing while counting its epochs as cheaper); promotion ASHA the same rungs, each trial
paused at a rung until it ranks in the rung's top third; PBT a population of
`budget / epochs` trials, the weaker ones continuing from the stronger ones' checkpoints
with perturbed parameters. A method whose trials ended before it had spent the budget
(pruned or failed early) runs on: its study resumes with more trials. Every epoch spent is
read back from the Optuna study: each intermediate value is one epoch, ending where the
trial's recorded epoch lengths place it before the trial's end, and costing the share of
the data it trained on or its pixels (1 but under `data_fraction` and `resolution`); a failed trial (a NaN loss at a
high learning rate) also spent the epoch it failed in. Epochs past the budget are not
counted.

Printed: per seed the best random search found with the whole budget and the epochs each
other method needed to reach it; the best validation accuracy each method had reached
after a share of the budget (mean over seeds); then each method's R, the mean over seeds
of those epochs divided by the budget (R < 1: it got there with less; a seed where it did
not get there within the budget counts as 1, a lower bound, and is reported as such),
with its standard error over the seeds. Last line:
`epochs_to_match_random_best_ratio METHOD=R ...`.

The figures below are TPE + ASHA's. Its trials interleave differently from run to run, so
a seed's ratio differs between runs of the same code (digits, seed 2: 0.33, 0.41, and once
not reached within the budget).

Seeds differ more than runs: on digits a seed's ratio ranges from 0.03 (random search's
20 trials found little) to 1 (seed 2, where they found a 0.993), a standard deviation of
0.21-0.28. So the default is 20 seeds, a standard error near 0.05-0.06; with 3 it would
be near 0.14. In three runs, seeds 0-9 averaged 0.38, 0.38 and 0.46 where seeds 10-19
averaged 0.14 each time.

On smaller images: `--global-pool --data synthetic --shape 1 32 32 --size 1000 --seeds 3
--methods tpe_asha tpe_asha_data tpe_asha_resolution` (28 minutes on 2 shared cores) gave R
0.62 (standard error 0.10) for TPE + ASHA, 0.23 (0.09) on shares of the data and 0.29
(0.15) on smaller images (scales 1/3 and 1/√3: 11 and 18 pixels), which led early (best
0.59, 0.80, 0.87 after 12, 24, 40 epochs against 0.56, 0.61, 0.81 on shares of the data)
but ended lower (0.936 against 1.000 after 120). Three seeds: a first look, not a ranking.

TPE + ASHA's trials ran 2-3 epochs on average on digits, so its first study is sized at
2.5 epochs a trial; a study that spent less than the budget resumes with more trials.
With ``scheduler.recheck_rung_below: true``, TPE + ASHA did not find good configs
measurably sooner: the few trials the recheck stops change little in the search, which
is why it is off by default.

To compare two versions of TPE + ASHA, give both runs the same `--workdir` and remove its
`studies/tpe_asha_*` in between: a study that already has its trials runs none, so the
second run reuses random search's studies (half the time saved) and measures against the
same targets, seed by seed.
"""

from __future__ import annotations

import argparse
import io
import math
import statistics
import sys
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))  # `benchmarks.local_ray` by name

CONCURRENCY = 2  # trials at once, one CPU each
SHARES = (0.1, 0.2, 1 / 3, 0.5, 0.75, 1.0)  # of the budget: the table's columns

# Where tuning matters: a learning rate over seven decades (for any one optimizer most
# of it is far too low or too high: nothing learnt, or a NaN loss), three optimizers, a
# batch size up to 512 (two steps an epoch on digits), dropout up to 0.9, width.
SPACE: dict[str, Any] = {
    "optimizer.lr": {"float": [1.0e-6, 10.0], "log": True},
    "optimizer.name": {
        "choice": ["sgd", "adam", "rmsprop"],
        "when": {"sgd": {"optimizer.momentum": {"float": [0.0, 0.99]}}},
    },
    "batch_size": {"choice": [32, 64, 128, 256, 512]},
    "model.dropout": {"float": [0.0, 0.9]},
    "model.channels": {"choice": {"c4_8": [4, 8], "c8_16": [8, 16], "c16_32": [16, 32]}},
}

METHODS = {
    "random": {"sampler": {"type": "random"}, "scheduler": {"type": "none"}},
    # hpo's defaults (hpo.spec.sections), as a user gets them: TPE with 10 random start-up trials,
    # multivariate, constant liar; ASHA with grace period 1 and reduction factor 3
    "tpe_asha": {"sampler": {"type": "tpe"}, "scheduler": {"type": "asha"}},
    # the same, the epochs before the last rung on a share of the data (hpo.spec.fidelity)
    "tpe_asha_data": {"sampler": {"type": "tpe"}, "scheduler": {"type": "asha", "fidelity": "data_fraction"}},
    # the same, on images with that share of the pixels (needs --global-pool: a cnn that takes any size)
    "tpe_asha_resolution": {"sampler": {"type": "tpe"}, "scheduler": {"type": "asha", "fidelity": "resolution"}},
    # the same rungs, but a trial waits at a rung until it ranks in its top third (or the study ends)
    "tpe_promotion_asha": {"sampler": {"type": "tpe"}, "scheduler": {"type": "asha", "promotion": True}},
    # a population started at random, the weaker quarter taking the stronger's weights and perturbed
    # parameters every 2 epochs (hpo's defaults for type: pbt)
    "pbt": {"sampler": {"type": "random"}, "scheduler": {"type": "pbt"}},
}
BASELINE = "random"  # what the others are measured against
POOLED = "tpe_asha_resolution"  # needs a model that takes any input size: every method's then pools globally
# Each method its own sampler seed: with one seed, TPE's random start-up trials would be
# random search's first trials, and a lucky one would count for both.
SAMPLER_SEEDS = {method: 1000 * k for k, method in enumerate(METHODS)}  # + the seed
# Sizes a method's first study (see the module doc); a study that spent less resumes with more trials.
# On shares of the data, a trial stopped at the first rung costs 1/9 of an epoch, at the second 7/9.
EPOCHS_PER_TRIAL = {
    "tpe_asha": 2.5,
    "tpe_asha_data": 1.0,
    "tpe_asha_resolution": 1.0,
    "tpe_promotion_asha": 2.5,
}  # the others: every trial runs --epochs


def train_config(args: argparse.Namespace, seed: int) -> dict[str, Any]:
    data: dict[str, Any] = {"name": args.data, "root": args.data_root, "val_fraction": 0.3}
    if args.data == "synthetic":
        data.update({k: v for k, v in (("shape", args.shape), ("num_classes", args.num_classes), ("size", args.size)) if v})
    return {
        "seed": seed,  # the same split and initialisation for both methods of a seed
        "data": data,
        "model": {
            "name": "cnn",
            "channels": [16, 32],
            "hidden": [64],
            "dropout": 0.1,
            **({"global_pool": True} if args.global_pool else {}),
        },
        "optimizer": {"name": "adam", "lr": 1.0e-3},
        "schedule": {"name": "cosine"},
        "batch_size": 64,
        "epochs": args.epochs,
        "device": "cpu",
    }


def make_spec(args: argparse.Namespace, method: str, seed: int, trials: int):
    import yaml

    from hpo.spec.sections import spec_from_text

    name = f"{method}_{args.data}_seed{seed}"
    document = {
        # No baseline trial: the train: config run first by every method would measure it, not the search.
        "study": {
            "name": name,
            "metric": "val_acc",
            "mode": "max",
            "trials": trials,
            "seed": SAMPLER_SEEDS[method] + seed,
            "baseline": False,
        },
        **METHODS[method],
        "resources": {"cpus_per_trial": 1, "max_concurrent": CONCURRENCY},
        "train": train_config(args, seed),
        "space": SPACE,
    }
    return spec_from_text(yaml.safe_dump(document, sort_keys=False), f"{name}.yaml")


# ----------------------------------------------------------------------------- reading the study


def epochs_spent(study) -> list[tuple[float, float | None]]:
    """(cost in epochs, val_acc) of every epoch the study spent, in the order the epochs
    ended (val_acc None for the epoch in which a trial failed); with two trials at once,
    their epochs interleave. An epoch costs the share of the data it trained on."""
    from hpo.spec.fidelity import epoch_costs
    from hpo.study.keys import SEARCH_ATTR

    definition = study.user_attrs[SEARCH_ATTR]
    costs = epoch_costs(definition)
    # under fidelity: resolution a value scored on smaller images is not the config's: spent, but not found
    scored = None if definition.get("resolution") is None else [scale == 1 for scale in definition["resolution"]]
    events = [event for trial in study.get_trials(deepcopy=False) for event in epoch_ends(trial, costs, scored)]
    events.sort(key=lambda event: event[0])
    return [(cost, value) for _, cost, value in events]


def epoch_ends(trial, costs: list[float] | None, scored: list[bool] | None = None) -> list[tuple[float, float, float | None]]:
    """(when it ended, its cost, val_acc) for each epoch of a finished trial: the last at
    the trial's end, each earlier one its successor's length (`seconds` in the trial's
    history) before. Spread evenly from the trial's start instead, the epochs of a trial
    whose worker spent seconds starting up (an epoch of digits takes hundredths) would be
    placed too early. Epoch ``e`` costs ``costs[e - 1]`` of an epoch (hpo.spec.fidelity's
    epoch_costs: its share of the data, or its side scale squared), 1 without them; its
    value is None unless ``scored[e - 1]`` (when given)."""
    from optuna.trial import TrialState

    from hpo.study.keys import HISTORY_ATTR

    if trial.datetime_complete is None:
        return []
    values: list[float | None] = [trial.intermediate_values[step] for step in sorted(trial.intermediate_values)]
    if scored is not None:
        values = [value if scored[epoch] else None for epoch, value in enumerate(values)]
    lengths = [epoch["seconds"] for epoch in trial.user_attrs.get(HISTORY_ATTR, [])]
    if trial.state == TrialState.FAIL:
        values.append(None)
        lengths.append(0.0)  # its length is not recorded: the epoch before ends with it
    spent = [1.0 if costs is None else costs[epoch] for epoch in range(len(values))]
    end, events = trial.datetime_complete.timestamp(), []
    for value, length, cost in zip(reversed(values), reversed(lengths), reversed(spent), strict=True):
        events.append((end, cost, value))
        end -= length
    return events


def best_so_far(spent: list[tuple[float, float | None]], budget: int) -> list[float]:
    """best[k]: the best val_acc among the epochs spent within the first k + 1 epochs of
    the budget (0 before any value); an epoch that ends past the budget does not count."""
    best, curve, used = 0.0, [0.0] * budget, 0.0
    for cost, value in spent:
        used += cost
        if used > budget + 1e-9:
            break
        best = max(best, value) if value is not None else best
        first = math.ceil(used - 1e-9) - 1  # the first whole epoch of the budget that holds this one
        curve[first:] = [best] * (budget - first)
    return curve


def run_method(args: argparse.Namespace, method: str, seed: int, trials: int) -> tuple[list[float], str]:
    """Run one study until it has spent the budget; returns (best-so-far per epoch spent,
    within the budget, and a summary)."""
    import optuna
    from rich.console import Console

    from hpo.engine.runner import run_study

    while True:
        outcome = run_study(make_spec(args, method, seed, trials), console=Console(file=io.StringIO()))
        study = optuna.load_study(study_name=outcome.study_name, storage=outcome.storage_url)
        spent = epochs_spent(study)
        used = sum(cost for cost, _ in spent)
        if used >= args.budget_epochs:
            break
        # resume with as many more trials as the epochs per trial so far say are left
        trials += math.ceil((args.budget_epochs - used) * trials / max(used, 1))
    tally = outcome.tally
    summary = f"{tally.complete} complete, {tally.pruned} pruned, {tally.failed} failed, {used:g} epochs"
    return best_so_far(spent, args.budget_epochs), summary


# ----------------------------------------------------------------------------- main


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    from trainers.data import list_datasets

    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", default="digits", choices=list_datasets(), help="data set (default digits)")
    parser.add_argument("--data-root", default="data", help="folder of the data sets' files (data.root)")
    parser.add_argument("--shape", type=int, nargs=3, metavar=("C", "H", "W"), help="synthetic: image shape")
    parser.add_argument("--num-classes", type=int, help="synthetic: classes")
    parser.add_argument("--size", type=int, help="synthetic: training images")
    parser.add_argument("--seeds", type=int, default=20, help="seeds 0..N-1 (default 20)")
    parser.add_argument("--epochs", type=int, default=6, help="epochs of a full trial (default 6)")
    parser.add_argument("--budget-epochs", type=int, default=120, help="epochs per method and seed (default 120)")
    parser.add_argument(
        "--methods",
        nargs="+",
        choices=list(METHODS),
        help=f"what to compare (default all; {BASELINE} always runs; {POOLED} with --global-pool)",
    )
    parser.add_argument(
        "--global-pool", action="store_true", help=f"every method's cnn pools globally (model.global_pool), as {POOLED} needs"
    )
    parser.add_argument("--workdir", help="where the studies go (default: a temporary folder, removed at the end)")
    args = parser.parse_args(argv)
    if args.methods is not None and POOLED in args.methods and not args.global_pool:
        parser.error(f"--methods: {POOLED} trains on smaller images, which the cnn takes only with --global-pool")
    methods = args.methods or [method for method in METHODS if method != POOLED or args.global_pool]
    args.methods = [BASELINE] + [method for method in dict.fromkeys(methods) if method != BASELINE]
    if len(args.methods) < 2:
        parser.error(f"--methods: name at least one method beside {BASELINE}")
    if args.epochs < 2:
        parser.error("--epochs must be at least 2 (ASHA stops trials after their first epoch)")
    if args.budget_epochs < args.epochs:
        parser.error(f"--budget-epochs ({args.budget_epochs}) must allow one full trial (--epochs {args.epochs})")
    return args


def check_data(args: argparse.Namespace) -> None:
    """Load the data once here: a missing data set would otherwise fail every trial."""
    from trainers.config import validate_train_config
    from trainers.data import DatasetNotFoundError, load_data

    try:
        load_data(validate_train_config(train_config(args, 0)).data, seed=0)
    except DatasetNotFoundError as exc:
        raise SystemExit(f"search_efficiency: {exc}") from None


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    args.data_root = str(Path(args.data_root).resolve())  # the studies run in another folder
    check_data(args)
    from benchmarks.local_ray import local_ray

    budget = args.budget_epochs
    trials = {method: math.ceil(budget / EPOCHS_PER_TRIAL.get(method, args.epochs)) for method in args.methods}
    print(
        f"{args.data}: budget {budget} epochs per method and seed, full trials of {args.epochs} epochs; "
        + ", ".join(f"{method}: {n} trials at first" for method, n in trials.items())
        + f"; {args.seeds} seeds",
        flush=True,
    )
    curves: dict[str, list[list[float]]] = {method: [] for method in args.methods}
    ratios: dict[str, list[float]] = {method: [] for method in args.methods if method != BASELINE}
    with local_ray(args.workdir, "hpo-search-efficiency-", CONCURRENCY):
        for seed in range(args.seeds):
            summaries = {}
            for method in args.methods:
                curve, summaries[method] = run_method(args, method, seed, trials[method])
                curves[method].append(curve)
            target = curves[BASELINE][-1][-1]
            reached = []
            for method, per_seed in ratios.items():
                matched = next((k + 1 for k, best in enumerate(curves[method][-1]) if best >= target), None)
                per_seed.append(matched / budget if matched else 1.0)
                when = f"after {matched} epochs" if matched else f"never ({curves[method][-1][-1]:.4f}), ratio 1 at least"
                reached.append(f"{method} {when} ({summaries[method]})")
            print(f"seed {seed}: {BASELINE} {target:.4f} ({summaries[BASELINE]}); reached by " + "; ".join(reached), flush=True)
    print_table(curves, budget)
    print(f"epochs to match {BASELINE} search's best with the whole budget, divided by the budget (R), over {args.seeds} seeds:")
    for method, per_seed in ratios.items():
        spread = f", standard error {statistics.stdev(per_seed) / math.sqrt(len(per_seed)):.3f}" if len(per_seed) > 1 else ""
        print(f"{method:>20}: R {statistics.mean(per_seed):.3f}{spread}")
    print("epochs_to_match_random_best_ratio " + " ".join(f"{method}={statistics.mean(r):.3f}" for method, r in ratios.items()))


def print_table(curves: dict[str, list[list[float]]], budget: int) -> None:
    """Mean over seeds of the best val_acc reached after each share of the budget."""
    columns = [max(1, round(share * budget)) for share in SHARES]
    print("best val_acc after N epochs (mean over seeds)")
    print(f"{'epochs':>20} " + " ".join(f"{n:>7d}" for n in columns))
    for method, per_seed in curves.items():
        row = [statistics.mean(curve[min(n, len(curve)) - 1] for curve in per_seed) for n in columns]
        print(f"{method:>20} " + " ".join(f"{value:7.4f}" for value in row))


if __name__ == "__main__":
    main()

"""Warm start: epochs a changed space needs to match the earlier study's best, warm against cold.

    python benchmarks/warm_start.py                 # digits, 5 seeds: 15 studies the size of the quickstart
    python benchmarks/warm_start.py --seeds 2       # a first look

For each seed, through hpo's `run_study` with the real trainer on digits:

1. the earlier study: the quickstart's spec (search_spaces/quickstart.yaml: its space,
   trainer, TPE and ASHA), its study and training seeds set to the seed;
2. the space changed: the learning rate's range narrowed from [1e-4, 0.3] to [1e-3, 0.1];
   the same spec otherwise, run twice with the same sampler seed: warm, as the new version
   of the earlier study (`--new-version --warm-start`: it begins with the earlier trials
   whose learning rate lies in the new range), and cold, as a study of its own.

The figure is the epochs each of the two spent, counted over its own trials in the order
their epochs ended (a warm start's copied trials cost nothing here), until one of its own
trials reported a validation accuracy at least the earlier study's best; a seed where it
never got there within its trials counts as the whole budget (trials x epochs), a lower
bound, and is reported as such. Per seed both are printed side by side; the last line is
`warm_to_cold_epochs_ratio=R`, the mean over seeds of warm's epochs divided by the mean
of cold's (R < 1: the warm start got there with fewer).

Epochs are read back from the studies as `benchmarks/search_efficiency.py` reads them.
A study that has its trials runs none, so `--seeds 10` with the `--workdir` of a run of
`--seeds 5` runs seeds 5-9 only and reports all ten.
"""

from __future__ import annotations

import argparse
import copy
import io
import statistics
import sys
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))  # `benchmarks.local_ray`, `benchmarks.search_efficiency` by name

CONCURRENCY = 2  # trials at once, one CPU each, as the quickstart runs them
NEW_LR = [1.0e-3, 1.0e-1]  # the changed range of optimizer.lr


def quickstart(seed: int, trials: int, epochs: int) -> dict[str, Any]:
    import yaml

    document = yaml.safe_load((REPO / "search_spaces" / "quickstart.yaml").read_text())
    document["study"].update(name=f"warm_start_seed{seed}", trials=trials, seed=seed)
    document["train"].update(seed=seed, epochs=epochs, device="cpu")
    return document


def changed(document: dict[str, Any], name: str | None = None, warm: bool = False) -> dict[str, Any]:
    document = copy.deepcopy(document)
    document["space"]["optimizer.lr"]["float"] = NEW_LR
    document["study"].update(seed=document["study"]["seed"] + 1000, warm_start=warm)  # not the earlier study's first trials
    if name is not None:
        document["study"]["name"] = name
    return document


def run(document: dict[str, Any], new_version: bool = False) -> tuple[Any, str]:
    """Run the spec; returns its study and the warm start's line (empty for none)."""
    import optuna
    import yaml
    from rich.console import Console

    from hpo.engine.runner import run_study
    from hpo.spec.sections import spec_from_text

    name = document["study"]["name"]
    output = io.StringIO()
    spec = spec_from_text(yaml.safe_dump(document, sort_keys=False), f"{name}.yaml")
    outcome = run_study(spec, new_version=new_version, console=Console(file=output, width=400))
    said = next((line for line in output.getvalue().splitlines() if line.startswith("warm start from")), "")
    return optuna.load_study(study_name=outcome.study_name, storage=outcome.storage_url), said


def epochs_to_reach(study: Any, target: float) -> int | None:
    """Epochs the study's own trials spent until one reported ``target`` or better; None: never."""
    from benchmarks.search_efficiency import epoch_ends
    from hpo.study.records import is_warm_start

    # the quickstart's epochs train on all the data: each costs one
    events = sorted(event for trial in study.get_trials(deepcopy=False) if not is_warm_start(trial) for event in epoch_ends(trial, None))
    for spent, (_, _, value) in enumerate(events, start=1):
        if value is not None and value >= target:
            return spent
    return None


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seeds", type=int, default=5, help="seeds 0..N-1 (default 5)")
    parser.add_argument("--trials", type=int, default=16, help="trials of each study (default 16, the quickstart's)")
    parser.add_argument("--epochs", type=int, default=8, help="epochs of a full trial (default 8, the quickstart's)")
    parser.add_argument("--workdir", help="where the studies go (default: a temporary folder, removed at the end)")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    from benchmarks.local_ray import local_ray
    from hpo.study.summary import Tally

    budget = args.trials * args.epochs
    print(
        f"digits, quickstart space; optimizer.lr [1e-4, 0.3] -> {NEW_LR}; {args.trials} trials of up to {args.epochs} epochs "
        f"per study; {args.seeds} seeds; a seed that does not reach the earlier best counts {budget} epochs",
        flush=True,
    )
    spent: dict[str, list[int]] = {"warm": [], "cold": []}
    with local_ray(args.workdir, "hpo-warm-start-", CONCURRENCY):
        for seed in range(args.seeds):
            document = quickstart(seed, args.trials, args.epochs)
            earlier, _ = run(document)
            target = Tally.from_trials(earlier.get_trials(deepcopy=False), args.trials, "max").best
            assert target is not None and target.value is not None, f"seed {seed}: the earlier study has no complete trial"
            warm, said = run(changed(document, warm=True), new_version=True)
            cold, _ = run(changed(document, name=f"cold_seed{seed}"))
            reached = {"warm": epochs_to_reach(warm, target.value), "cold": epochs_to_reach(cold, target.value)}
            for method, epochs in reached.items():
                spent[method].append(budget if epochs is None else epochs)
            shown = {method: "not reached" if epochs is None else f"{epochs} epochs" for method, epochs in reached.items()}
            took = f" ({said})" if said else ""  # none when the warm study was run before, in this --workdir
            print(f"seed {seed}: earlier best {target.value:.4f}; warm {shown['warm']}, cold {shown['cold']}{took}", flush=True)
    warm_mean, cold_mean = statistics.mean(spent["warm"]), statistics.mean(spent["cold"])
    fewer = sum(warm < cold for warm, cold in zip(spent["warm"], spent["cold"], strict=True))
    print(
        f"epochs to reach the earlier best over {args.seeds} seeds: mean warm {warm_mean:.1f}, cold {cold_mean:.1f}; "
        f"median warm {statistics.median(spent['warm']):.1f}, cold {statistics.median(spent['cold']):.1f}; "
        f"warm took fewer in {fewer} of {args.seeds} seeds"
    )
    print(f"warm_to_cold_epochs_ratio={warm_mean / cold_mean:.3f}")


if __name__ == "__main__":
    main()

"""The searcher's own work per trial: hpo's, on a SQLite study, versus Ray's OptunaSearch.

    python benchmarks/study_work.py                  # 32 trials x 5 rounds, seconds
    python benchmarks/study_work.py --trials 8 --rounds 1

The part of `engine_overhead.py` that is the searchers' alone: what each does on Ray's
controller thread for each trial (ask, sample, record the epochs, tell), driven here
directly through Ray's Searcher interface, without Ray, with the trials of
`engine_overhead.py`: the same TPE sampler and space, 4 epochs each, half of them
stopped after 2. hpo's ``StudySearcher`` keeps the study in a SQLite file, as `hpo run`
does (with the config, the attributes and the epochs of each trial); plain Ray Tune's
``OptunaSearch`` keeps it in memory and writes nothing. Rounds alternate between the
two. Measured in CPU time of this process, so other work on the machine counts less.

Last line: `study_ms_per_trial=X optuna_search_ms_per_trial=Y ratio=X/Y` (medians).
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))  # `benchmarks.engine_overhead` by name

EPOCHS = 4


def searchers_ms_per_trial(folder: Path, name: str, trials: int) -> tuple[float, float]:
    """CPU milliseconds per trial of (hpo's searcher on a new SQLite study in ``folder``,
    Ray's OptunaSearch in memory), each driving the same ``trials`` trials."""
    import optuna
    from ray.tune.search.optuna import OptunaSearch

    from benchmarks.engine_overhead import make_spec, raw_param_space
    from hpo.engine.samplers import build_sampler
    from hpo.engine.searcher import StudySearcher
    from hpo.study.storage import open_storage

    spec = make_spec(name, trials)
    storage = open_storage(f"sqlite:///{folder / name}.db")
    study = optuna.create_study(storage=storage, direction="maximize", sampler=build_sampler(spec))
    ours = StudySearcher(study, storage, spec.space, spec.train, metric="val_acc", mode="max", objective="best", target=trials)
    theirs = OptunaSearch(sampler=build_sampler(spec))
    theirs.set_search_properties("val_acc", "max", raw_param_space())  # as Tuner hands it the space
    return _drive(ours, trials), _drive(theirs, trials)


def _drive(searcher, trials: int) -> float:
    where = {"node_id": "n", "node_ip": "127.0.0.1", "hostname": "h", "pid": 1}
    start = time.process_time()
    for number in range(trials):
        trial_id = f"t{number}"
        searcher.suggest(trial_id)
        last = EPOCHS if number % 2 else 2  # every other trial stopped at epoch 2, as ASHA would
        for epoch in range(1, last + 1):
            result = {
                "epoch": epoch,
                "training_iteration": epoch,
                "val_acc": 0.2 * epoch + 0.001 * number,
                "finished": epoch == EPOCHS,
                **where,
            }
            if epoch < last:
                searcher.on_trial_result(trial_id, result)
        searcher.on_trial_complete(trial_id, result)
    return (time.process_time() - start) / trials * 1000


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--trials", type=int, default=32, help="trials per study (default 32)")
    parser.add_argument("--rounds", type=int, default=5, help="hpo/OptunaSearch pairs (default 5)")
    parser.add_argument("--workdir", help="where the SQLite studies go (default: a temporary folder, removed at the end)")
    args = parser.parse_args(argv)

    from hpo.engine.runner import quiet_optuna

    quiet_optuna()
    folder = Path(args.workdir or tempfile.mkdtemp(prefix="hpo-study-work-")).resolve()
    folder.mkdir(parents=True, exist_ok=True)
    ours, theirs = [], []
    try:
        searchers_ms_per_trial(folder, "warm_up", 2)  # imports, not timed
        for round_ in range(1, args.rounds + 1):
            hpo_ms, optuna_search_ms = searchers_ms_per_trial(folder, f"round{round_}", args.trials)
            ours.append(hpo_ms)
            theirs.append(optuna_search_ms)
            print(
                f"round {round_}: hpo on SQLite {hpo_ms:6.1f} ms per trial; OptunaSearch in memory {optuna_search_ms:6.1f} ms", flush=True
            )
    finally:
        if not args.workdir:
            shutil.rmtree(folder, ignore_errors=True)
    x, y = statistics.median(ours), statistics.median(theirs)
    print(f"study_ms_per_trial={x:.2f} optuna_search_ms_per_trial={y:.2f} ratio={x / y:.2f}")


if __name__ == "__main__":
    main()

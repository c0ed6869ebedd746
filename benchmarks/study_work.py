"""The searcher's own work per trial: its study on SQLite versus in memory, without Ray.

    python benchmarks/study_work.py                  # 32 trials x 5 rounds, seconds
    python benchmarks/study_work.py --trials 8 --rounds 1

The part of `engine_overhead.py` that is hpo's alone: what ``StudySearcher`` does on
Ray's controller thread for each trial (ask, sample, record the config, one write per
epoch or per second of epochs, tell with the trial's attributes), driven here directly
through Ray's Searcher interface with the trials of `engine_overhead.py`: the same spec
(TPE + its space), 4 epochs each, half of them stopped after 2. The same sequence runs on
a study in a SQLite file, as `hpo run` keeps it, and on Optuna's in-memory storage,
which is what plain Ray Tune's OptunaSearch uses; rounds alternate between the two.
Measured in CPU time of this process, so other work on the machine counts less.

Last line: `study_ms_per_trial=X in_memory_ms_per_trial=Y ratio=X/Y` (medians).
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


def searcher_ms_per_trial(storage, trials: int) -> float:
    """CPU milliseconds per trial of the searcher driving ``trials`` trials on ``storage``."""
    import optuna

    from benchmarks.engine_overhead import make_spec
    from hpo.samplers import build_sampler
    from hpo.searcher import StudySearcher

    spec = make_spec("work", trials)
    study = optuna.create_study(storage=storage, direction="maximize", sampler=build_sampler(spec))
    searcher = StudySearcher(study, spec.space, spec.train, metric="val_acc", mode="max", objective="best", target=trials)
    where = {"node_id": "n", "node_ip": "127.0.0.1", "hostname": "h", "pid": 1}
    start = time.process_time()
    for number in range(trials):
        trial_id = f"t{number}"
        searcher.suggest(trial_id)
        last = EPOCHS if number % 2 else 2  # every other trial stopped at epoch 2, as ASHA would
        for epoch in range(1, last + 1):
            result = {"epoch": epoch, "val_acc": 0.2 * epoch + 0.001 * number, "finished": epoch == EPOCHS, **where}
            if epoch < last:
                searcher.on_trial_result(trial_id, result)
        searcher.on_trial_complete(trial_id, result)
    return (time.process_time() - start) / trials * 1000


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--trials", type=int, default=32, help="trials per study (default 32)")
    parser.add_argument("--rounds", type=int, default=5, help="SQLite/in-memory pairs (default 5)")
    parser.add_argument("--workdir", help="where the SQLite studies go (default: a temporary folder, removed at the end)")
    args = parser.parse_args(argv)

    import optuna

    from hpo.runner import _quiet_optuna
    from hpo.storage import open_storage

    _quiet_optuna()
    folder = Path(args.workdir or tempfile.mkdtemp(prefix="hpo-study-work-")).resolve()
    folder.mkdir(parents=True, exist_ok=True)
    searcher_ms_per_trial(optuna.storages.InMemoryStorage(), 2)  # imports, not timed
    on_disk, in_memory = [], []
    try:
        for round_ in range(1, args.rounds + 1):
            sqlite = open_storage(f"sqlite:///{folder / f'round{round_}.db'}")
            pair = [(on_disk, sqlite), (in_memory, optuna.storages.InMemoryStorage())]
            for times, storage in pair if round_ % 2 else reversed(pair):
                times.append(searcher_ms_per_trial(storage, args.trials))
            print(f"round {round_}: SQLite {on_disk[-1]:6.1f} ms per trial; in memory {in_memory[-1]:6.1f} ms", flush=True)
    finally:
        if not args.workdir:
            shutil.rmtree(folder, ignore_errors=True)
    x, y = statistics.median(on_disk), statistics.median(in_memory)
    print(f"study_ms_per_trial={x:.1f} in_memory_ms_per_trial={y:.1f} ratio={x / y:.2f}")


if __name__ == "__main__":
    main()

"""What a resumable trial pays per epoch for its checkpoint: the quickstart CNN, on the CPU.

    python benchmarks/checkpoint_cost.py             # about four minutes on 2 CPU cores
    python benchmarks/checkpoint_cost.py --epochs 60

Two parts, each comparing side by side within one run, so that a busy machine slows both
sides alike. The trainer config is the quickstart's (search_spaces/quickstart.yaml:
digits, a CNN with batch norm and dropout, Adam, cosine), with one torch thread, as a
quickstart trial has.

The state, in this process. The built-in `train` runs here; each state it hands its
report is written three ways in turn, per epoch:

    build     from the end of the epoch to the report: the loop captures the state
    write     `save_state(..., sync=False)` into a staging folder, as the trainable writes
              it for Ray to copy (hpo.engine.trainable)
    synced    `save_state` with its sync, as a state written to stay on disk is
    memory    torch.save of the same state into memory: the part that is not the disk

The whole path, through `hpo run`. A one-trial study, its trainer the built-in one with a
report that times hpo's `report`, run four ways in turn, twice each:

    default        `checkpoint: {}`: every epoch due, paced to at most 5% of the trial's
                   time (`max_overhead: 0.05`, hpo.engine.trainable)
    every epoch    `checkpoint: {max_overhead: 1}`: a checkpoint at every epoch
    one number     the same, with a state of one number instead of the trainer's
    none           `checkpoint: false`

With a checkpoint, `report` writes the state and hands it to `tune.report`; Ray copies it
into the run's storage, then asks the trial's actor for it in a second call, and the
driver hands its record in the study (the epochs, the history, the checkpoint's path) to
a thread of its own (hpo.engine.background_writes). The trial waits for all but that
write: Ray's function trainables report synchronously. Without, the driver writes the
epochs at most once a second. What a checkpoint adds is the difference of the reports:
every epoch's and the one number's by their medians (the one number's is the part the
same for any model), the default's by their means, over the epochs with a checkpoint and
those it left out.

The first epoch and the last are left out (warm-up; the last is checkpointed for the
weights the study keeps). Last line: `checkpoint_ms_per_epoch=X epoch_ms=Y ratio=X/Y
every_epoch_ratio=Z`: X what the default's checkpoints cost per epoch (the mean report
less the mean without, plus the state's build, counted at every epoch), Y the trials'
median epoch; Z the same ratio for a checkpoint at every epoch (the median build plus
the median report less the median without). The target is a ratio X/Y of at most 0.05.
"""

from __future__ import annotations

import argparse
import io
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import yaml

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))  # hpo and trainers from this checkout

from hpo.contract import trainer  # noqa: E402  (after the path above)
from trainers.config import METRICS, TrainConfig  # noqa: E402

TIMES_ENV = "HPO_BENCH_REPORT_TIMES"  # the file the timed trainer writes its rows to
ONE_NUMBER_ENV = "HPO_BENCH_ONE_NUMBER_STATE"  # set: the timed trainer hands a state of one number
EVERY_EPOCH = {"max_overhead": 1}  # a checkpoint at every epoch, whatever it costs


def quickstart_train(epochs: int) -> dict[str, Any]:
    return {**yaml.safe_load((REPO / "search_spaces" / "quickstart.yaml").read_text())["train"], "epochs": epochs, "device": "cpu"}


def ms(values: list[float]) -> float:
    return statistics.median(values) * 1e3


# ------------------------------------------------------------------ the state, in this process


def state_here(epochs: int, workdir: str | None) -> tuple[float, float]:
    """Runs the trainer here; prints each epoch; returns the median epoch and build, in ms."""
    import torch

    from hpo.checkpoint import save_state
    from trainers.loop import train

    folder = Path(tempfile.mkdtemp(prefix="hpo-checkpoint-cost-", dir=workdir))
    rows: list[dict[str, float]] = []
    returned = time.perf_counter()  # when the loop got control back from the last report

    def timed(write: Callable[[], object]) -> float:
        begun = time.perf_counter()
        write()
        return time.perf_counter() - begun

    def report(metrics: dict[str, Any], state: dict[str, Any] | None = None) -> None:
        nonlocal returned
        called = time.perf_counter()
        if state is None:
            raise RuntimeError("the built-in trainer hands its state with every report")
        row = {
            "epoch": metrics["seconds"],
            "build": called - returned - metrics["seconds"],
            "write": timed(lambda: save_state(state, folder / "state.pt", sync=False)),
            "synced": timed(lambda: save_state(state, folder / "synced.pt")),
            "memory": timed(lambda: torch.save(state, io.BytesIO())),
        }
        if 1 < metrics["epoch"] < epochs:
            rows.append(row)
            print(f"epoch {metrics['epoch']:3d}: " + ", ".join(f"{key} {value * 1e3:6.2f} ms" for key, value in row.items()))
        returned = time.perf_counter()

    try:
        train(quickstart_train(epochs), report)
        size = (folder / "state.pt").stat().st_size
    finally:
        shutil.rmtree(folder, ignore_errors=True)
    epoch, build = ms([r["epoch"] for r in rows]), ms([r["build"] for r in rows])
    print(f"state file {size / 1024:.0f} KiB; medians over {len(rows)} epochs:")
    for key in ("build", "write", "synced", "memory"):
        print(f"  {key:6s} {ms([r[key] for r in rows]):6.2f} ms  ({ms([r[key] for r in rows]) / epoch:.4f} of the epoch, {epoch:.1f} ms)")
    cost = build + ms([r["write"] for r in rows])
    print(f"state built and written: {cost:.2f} ms per epoch, ratio {cost / epoch:.4f}")
    return epoch, build


# ------------------------------------------------------------------ the whole path, through hpo run


@trainer(schema=TrainConfig, metrics=METRICS)
def timed_train(config: dict, report: Any, resume: Any = None) -> dict:
    """The built-in trainer, timing each call of hpo's ``report`` into $HPO_BENCH_REPORT_TIMES;
    with $HPO_BENCH_ONE_NUMBER_STATE set, its state is the epoch alone."""
    from trainers.loop import train

    rows: list[dict[str, float]] = []
    one_number = bool(os.environ.get(ONE_NUMBER_ENV))

    def timed_report(metrics: dict[str, Any], state: dict[str, Any] | None = None) -> None:
        if one_number and state is not None:
            state = {"epoch": metrics["epoch"]}
        begun = time.perf_counter()
        report(metrics, state=state)
        rows.append({"epoch": metrics["epoch"], "seconds": metrics["seconds"], "report": time.perf_counter() - begun})
        Path(os.environ[TIMES_ENV]).write_text(json.dumps(rows))

    return train(config, timed_report, resume=resume)


def whole_path(epochs: int, checkpoint: dict[str, float] | bool, one_number: bool, workdir: str | None) -> list[dict[str, float]]:
    """One trial through ``hpo run`` with the spec's ``checkpoint:`` (and a state of one
    number); the rows of its reports (epoch, its seconds, the seconds ``report`` took),
    first and last left out."""
    folder = Path(tempfile.mkdtemp(prefix="hpo-checkpoint-cost-run-", dir=workdir))
    times = folder / "reports.json"
    spec = yaml.safe_load((REPO / "search_spaces" / "quickstart.yaml").read_text())
    spec["study"].update(name="checkpoint_cost", trials=1)
    spec.update(
        trainer="checkpoint_cost:timed_train",
        scheduler={"type": "none"},
        resources={"cpus_per_trial": 1, "max_concurrent": 1},
        checkpoint=checkpoint,
    )
    spec["train"]["epochs"] = epochs
    (folder / "spec.yaml").write_text(yaml.safe_dump(spec, sort_keys=False))
    path = os.pathsep.join([str(REPO), str(REPO / "benchmarks"), os.environ.get("PYTHONPATH", "")])
    env = {**os.environ, "PYTHONPATH": path, TIMES_ENV: str(times), ONE_NUMBER_ENV: "1" if one_number else ""}
    try:
        run = subprocess.run([sys.executable, "-m", "hpo.cli", "run", "spec.yaml"], cwd=folder, capture_output=True, text=True, env=env)
        if run.returncode != 0:
            raise SystemExit(f"hpo run failed:\n{run.stdout}{run.stderr}")
        return [r for r in json.loads(times.read_text()) if 1 < r["epoch"] < epochs]
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--epochs", type=int, default=40, help="epochs of each run (default 40)")
    parser.add_argument("--repeats", type=int, default=2, help="pairs of hpo runs, with and without checkpoints (default 2)")
    parser.add_argument("--workdir", help="where the states and runs go (default: temporary folders, removed at the end)")
    args = parser.parse_args(argv)
    os.environ["OMP_NUM_THREADS"] = "1"  # the trainer sets torch's threads from it, as in a quickstart trial
    print(f"quickstart CNN on digits, {args.epochs} epochs, one torch thread")
    _, build = state_here(args.epochs, args.workdir)
    kinds = {"default": ({}, False), "every epoch": (EVERY_EPOCH, False), "one number": (EVERY_EPOCH, True), "none": (False, False)}
    runs: dict[str, list[dict[str, float]]] = {name: [] for name in kinds}
    for repeat in range(args.repeats):  # interleaved: a machine that gets busier slows all alike
        for name, (checkpoint, one_number) in kinds.items():
            rows = whole_path(args.epochs, checkpoint, one_number, args.workdir)
            runs[name] += rows
            epoch, report = ms([r["seconds"] for r in rows]), ms([r["report"] for r in rows])
            print(f"hpo run {repeat + 1}, checkpoint {name}: epoch {epoch:.1f} ms, report {report:.2f} ms")
    epoch = ms([r["seconds"] for rows in runs.values() for r in rows])
    checkpointed, plain = ms([r["report"] for r in runs["every epoch"]]), ms([r["report"] for r in runs["none"]])
    fixed = ms([r["report"] for r in runs["one number"]]) - plain
    every_epoch = build + checkpointed - plain
    paced = build + 1e3 * (statistics.mean(r["report"] for r in runs["default"]) - statistics.mean(r["report"] for r in runs["none"]))
    print(f"a checkpoint at every epoch: report {checkpointed:.2f} ms, without {plain:.2f} ms; the state built {build:.2f} ms")
    print(f"  of it {fixed:.2f} ms the same for any model (a state of one number), {every_epoch - fixed:.2f} ms the state's own")
    print(f"  {every_epoch:.2f} ms per epoch, ratio {every_epoch / epoch:.4f}")
    print(f"the default, paced to max_overhead 0.05: {paced:.2f} ms per epoch")
    print(f"checkpoint_ms_per_epoch={paced:.2f} epoch_ms={epoch:.2f} ratio={paced / epoch:.4f} every_epoch_ratio={every_epoch / epoch:.4f}")


if __name__ == "__main__":
    main()

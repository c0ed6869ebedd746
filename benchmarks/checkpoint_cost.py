"""What a resumable trial pays per epoch: building the built-in trainer's state and writing it.

    python benchmarks/checkpoint_cost.py             # 20 epochs, about half a minute on a CPU core
    python benchmarks/checkpoint_cost.py --epochs 40 --threads 2

The quickstart's trainer config (search_spaces/quickstart.yaml: digits, a CNN with batch
norm and dropout, Adam, cosine) runs with the built-in `train`, on the CPU, one torch
thread as a quickstart trial has. Its `report` writes every state it is handed with
`hpo.checkpoint.save_state` (torch.save to a temporary file, fsync, os.replace: what hpo
does on its checkpoint schedule) into --workdir. Per epoch, side by side in the same run:

    epoch  the epoch's training and evaluation, as the trainer measures it (`seconds`)
    build  from there to the report: the loop captures the state (trainers/state.py)
    save   save_state of that state
    bytes  torch.save of the same state into memory: the part of `save` that is not the disk

The first epoch is left out (warm-up). Last line: `checkpoint_ms_per_epoch=X epoch_ms=Y
ratio=X/Y`, X the median of build + save, Y the median epoch; the target is a ratio of at
most 0.05.
"""

from __future__ import annotations

import argparse
import io
import os
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import yaml

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))  # hpo and trainers from this checkout


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--epochs", type=int, default=20, help="epochs of the run (default 20)")
    parser.add_argument("--threads", type=int, default=1, help="torch threads (default 1, as a quickstart trial)")
    parser.add_argument("--workdir", help="where the states go (default: a temporary folder, removed at the end)")
    args = parser.parse_args(argv)
    os.environ["OMP_NUM_THREADS"] = str(args.threads)  # the trainer sets torch's threads from it, as in a trial

    import torch

    from hpo.checkpoint import save_state
    from trainers.loop import train

    config = {**yaml.safe_load((REPO / "search_spaces" / "quickstart.yaml").read_text())["train"], "epochs": args.epochs, "device": "cpu"}
    folder = Path(args.workdir or tempfile.mkdtemp(prefix="hpo-checkpoint-cost-")).resolve()
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "state.pt"
    rows: list[tuple[float, float, float, float]] = []  # (epoch, build, save, bytes) seconds
    returned = time.perf_counter()  # when the loop got control back from the last report

    def report(metrics: dict[str, Any], state: dict[str, Any] | None = None) -> None:
        nonlocal returned
        called = time.perf_counter()
        if state is None:
            raise RuntimeError("the built-in trainer hands its state with every report")
        save_state(state, path)
        saved = time.perf_counter()
        torch.save(state, io.BytesIO())
        in_memory = time.perf_counter() - saved
        if metrics["epoch"] > 1:
            epoch, build, save = metrics["seconds"], called - returned - metrics["seconds"], saved - called
            rows.append((epoch, build, save, in_memory))
            print(
                f"epoch {metrics['epoch']:3d}: {epoch * 1e3:7.1f} ms; state built {build * 1e3:5.2f} ms, "
                f"saved {save * 1e3:6.2f} ms (into memory {in_memory * 1e3:5.2f} ms)"
            )
        returned = time.perf_counter()

    try:
        print(f"quickstart CNN on digits, {args.epochs} epochs, torch threads {args.threads}; states written to {path}")
        train(config, report)
        size = path.stat().st_size
    finally:
        if not args.workdir:
            shutil.rmtree(folder, ignore_errors=True)
    epoch_ms = statistics.median(r[0] for r in rows) * 1e3
    cost_ms = statistics.median(r[1] + r[2] for r in rows) * 1e3
    bytes_ms = statistics.median(r[3] for r in rows) * 1e3
    print(f"state file {size / 1024:.0f} KiB; medians over {len(rows)} epochs; into memory alone {bytes_ms:.2f} ms")
    print(f"checkpoint_ms_per_epoch={cost_ms:.2f} epoch_ms={epoch_ms:.2f} ratio={cost_ms / epoch_ms:.4f}")


if __name__ == "__main__":
    main()

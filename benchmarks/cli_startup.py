"""How fast `hpo --help` starts, as a ratio to a bare `python -c pass`, measured side by side.

The CLI imports torch, ray and optuna only inside the commands that need them; this
keeps that honest. Runs are interleaved (hpo, python, hpo, ...) so machine noise hits
both alike; the medians are compared.

    python benchmarks/cli_startup.py [--repeats 15]
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import time


def timed(command: list[str]) -> float:
    start = time.perf_counter()
    subprocess.run(command, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=15)
    args = parser.parse_args()
    hpo_help = [sys.executable, "-m", "hpo.cli", "--help"]
    bare = [sys.executable, "-c", "pass"]
    timed(hpo_help)  # warm the file cache once
    hpo_times, bare_times = [], []
    for _ in range(args.repeats):
        hpo_times.append(timed(hpo_help))
        bare_times.append(timed(bare))
    hpo_s, bare_s = statistics.median(hpo_times), statistics.median(bare_times)
    print(f"hpo --help: {hpo_s * 1000:.0f} ms   python -c pass: {bare_s * 1000:.0f} ms   (medians of {args.repeats})")
    print(f"cli_startup_ratio={hpo_s / bare_s:.2f}")


if __name__ == "__main__":
    main()

#!/usr/bin/env bash
# What one GPU gives a study: a CIFAR-sized CNN (conv 32/64/128, kernel 3, batch norm, 2x2
# average pooling, FC 512/128) on CIFAR-shaped synthetic data (3x32x32, 10 classes, 45000
# training images per epoch, batch 64, crop+flip), trained by the trainers' own loop, which
# on CUDA uses bf16 autocast and channels_last.
#
#   1. one trial alone on the GPU (gpus_per_trial 1): seconds per epoch, images/s, memory
#   2. trials packed with gpus_per_trial 0.25: how many run at once, their images/s
#      together, the gain over one alone, and GPU memory per trial (PyTorch's peak, and
#      the process's total with the CUDA context, as nvidia-smi reports it)
#
# Both run through `hpo run`'s engine (its runner, Ray Tune on one GPU, the trainers' loop).
#
#   benchmarks/gpu.sh [EPOCHS]        # default 3 epochs per trial; the first is warm-up
#
# Measures the first visible GPU (CUDA_VISIBLE_DEVICES picks another). On a machine without a
# GPU it stops at once with exit code 1. GPU_SH_SMOKE=1 runs the same steps on the CPU with
# tiny sizes, to check the script itself where no GPU is at hand: its numbers mean nothing.
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON=${PYTHON:-.venv/bin/python}
EPOCHS=${1:-3}

no_gpu() {
    echo "gpu.sh: no CUDA GPU on this machine: $1 Run it on a machine with an NVIDIA GPU and a CUDA build of PyTorch. Nothing was measured." >&2
    exit 1
}
if [[ "${GPU_SH_SMOKE:-0}" != 1 ]]; then
    if ! command -v nvidia-smi >/dev/null && ! compgen -G "/dev/nvidia[0-9]*" >/dev/null; then
        no_gpu "no NVIDIA driver (no nvidia-smi, no /dev/nvidia*)."
    fi
    why=$("$PYTHON" -c 'import torch; print("" if torch.cuda.is_available() else f"PyTorch {torch.__version__} sees no CUDA device.")' 2>&1 | tail -n 1)
    [[ -z "$why" ]] || no_gpu "$why"
    export CUDA_VISIBLE_DEVICES=${CUDA_VISIBLE_DEVICES:-0}
    CUDA_VISIBLE_DEVICES=${CUDA_VISIBLE_DEVICES%%,*}  # one GPU: packing is per card
fi

export GPU_SH_WORK
GPU_SH_WORK=$(mktemp -d)
trap 'rm -rf "$GPU_SH_WORK"' EXIT
# Each trial writes what it measured here; Ray's workers import it from GPU_SH_WORK.
cat >"$GPU_SH_WORK/gpu_sh_trainer.py" <<'PY'
import json, os, time

import torch

from trainers.loop import train as _train


def train(config, report):
    cuda = torch.cuda.is_available()
    if cuda:
        torch.cuda.reset_peak_memory_stats()
    record = {"pid": os.getpid(), "start": time.time(), "epochs": []}

    def measured(metrics):
        record["epochs"].append({k: metrics[k] for k in ("seconds", "images_per_second")})
        report(metrics)

    try:
        return _train(config, measured)
    finally:
        record["end"] = time.time()
        record["peak_allocated"] = torch.cuda.max_memory_allocated() if cuda else 0
        record["peak_reserved"] = torch.cuda.max_memory_reserved() if cuda else 0
        with open(os.path.join(os.environ["GPU_SH_WORK"], "trials.jsonl"), "a") as f:
            f.write(json.dumps(record) + "\n")
PY

PYTHONPATH="$PWD:$GPU_SH_WORK${PYTHONPATH:+:$PYTHONPATH}" "$PYTHON" - "$EPOCHS" <<'PY'
import json, math, os, statistics, subprocess, sys, threading, time

import torch
import yaml

epochs = int(sys.argv[1])
smoke = os.environ.get("GPU_SH_SMOKE") == "1"
work = os.environ["GPU_SH_WORK"]
GPUS_PER_TRIAL = 0.25
per_gpu = math.floor(1 / GPUS_PER_TRIAL + 1e-9)

train_config = {
    "seed": 0,
    "device": "cpu" if smoke else "cuda",
    "data": {"name": "synthetic", "shape": [3, 32, 32], "num_classes": 10,
             "size": 512 if smoke else 50000, "test_size": 100, "val_fraction": 0.1},
    "model": {"name": "cnn", "channels": [32, 64, 128], "kernel_sizes": [3, 3, 3], "pool": "avg",
              "batch_norm": True, "dropout": 0.0, "hidden": [512, 128]},
    "optimizer": {"name": "adam", "lr": 1.0e-3},
    "schedule": {"name": "none"},
    "augment": [{"random_crop": {"padding": 4}}, "hflip"],
    "batch_size": 64,
    "epochs": epochs,
}


# ------------------------------------------------------------------ GPU memory by process
class ProcessMemory(threading.Thread):
    """Peak GPU memory of every process on the GPU (MiB, CUDA context included), sampled."""

    def __init__(self):
        super().__init__(daemon=True)
        self.peak, self.stop = {}, threading.Event()

    def run(self):
        while not self.stop.wait(0.5):
            try:
                out = subprocess.run(["nvidia-smi", "--query-compute-apps=pid,used_memory", "--format=csv,noheader,nounits"],
                                     capture_output=True, text=True, timeout=10).stdout
            except (OSError, subprocess.TimeoutExpired):
                return
            for line in out.strip().splitlines():
                pid, mib = (int(x) for x in line.split(","))
                self.peak[pid] = max(self.peak.get(pid, 0), mib)


def steady(records):
    """Per-epoch figures without each trial's first epoch (warm-up: cuDNN picks kernels)."""
    epochs = [e for r in records for e in (r["epochs"][1:] or r["epochs"])]
    return statistics.median(e["seconds"] for e in epochs), statistics.median(e["images_per_second"] for e in epochs)


def overlap(records):
    events = sorted([(r["start"], 1) for r in records] + [(r["end"], -1) for r in records])
    now = peak = 0
    for _, step in events:
        now += step
        peak = max(peak, now)
    return peak


def run(name, trials, gpus_per_trial):
    """A study of `trials` trials through hpo's engine (a local Ray on this machine), in the
    temp dir; returns what each trial measured."""
    from hpo.engine.runner import run_study
    from hpo.spec.sections import load_spec

    spec = {
        "study": {"name": name, "metric": "val_acc", "mode": "max", "trials": trials, "seed": 0},
        "sampler": {"type": "random"},
        "scheduler": {"type": "none"},
        "resources": {"cpus_per_trial": 1, "gpus_per_trial": 0 if smoke else gpus_per_trial, "max_concurrent": trials},
        "train": train_config,
        "space": {"optimizer.lr": {"float": [1.0e-3, 2.0e-3]}},
    }
    with open(f"{name}.yaml", "w") as f:
        yaml.safe_dump(spec, f, sort_keys=False)
    log = os.path.join(work, "trials.jsonl")
    if os.path.exists(log):
        os.remove(log)
    outcome = run_study(load_spec(f"{name}.yaml", trainer="gpu_sh_trainer:train"))
    records = [json.loads(line) for line in open(log)] if os.path.exists(log) else []
    if outcome.tally.finished != trials or len(records) != trials:
        sys.exit(f"gpu.sh: study {name} finished {outcome.tally.finished} of {trials} trials; see {work}/studies")
    return records


os.chdir(work)  # the studies' databases and Ray's files go to the temp dir
memory = ProcessMemory()
if not smoke:
    memory.start()
started = time.time()
print(f"1/2 one trial alone (gpus_per_trial 1), {epochs} epochs ...", flush=True)
alone = run("gpu_sh_alone", 1, 1.0)
print(f"2/2 {per_gpu} trials with gpus_per_trial {GPUS_PER_TRIAL}, {epochs} epochs each ...", flush=True)
packed = run("gpu_sh_packed", per_gpu, GPUS_PER_TRIAL)
memory.stop.set()

# ------------------------------------------------------------------ results
alone_s, alone_ips = steady(alone)
packed_s, packed_ips = steady(packed)
at_once = overlap(packed)
# together: every trial's steady images/s, summed over the trials that ran at once
together = packed_ips * at_once
gain = together / alone_ips
cpus = os.cpu_count() or 1


def mib(n):
    return f"{n / 2**20:,.0f} MiB"


def process_mib(records):
    seen = [memory.peak[r["pid"]] for r in records if r["pid"] in memory.peak]
    return f"{max(seen):,} MiB" if seen else "n/a"


if smoke:
    name = "CPU (GPU_SH_SMOKE=1: a check of this script, not a measurement)"
else:
    props = torch.cuda.get_device_properties(0)
    name = f"{props.name}, {props.total_memory / 2**30:.1f} GiB, CUDA {torch.version.cuda}, torch {torch.__version__}"
print()
print(f"device: {name}")
print(f"model: report 003 CNN, bf16 autocast + channels_last on CUDA; {train_config['data']['size'] * 0.9:,.0f} "
      f"training images of 3x32x32 per epoch, batch 64; medians over epochs 2..{epochs} of each trial")
print()
rows = [
    ("", "trials at once", "s/epoch", "img/s per trial", "img/s total", "peak torch memory", "process memory"),
    ("one trial alone", "1", f"{alone_s:.2f}", f"{alone_ips:,.0f}", f"{alone_ips:,.0f}",
     mib(alone[0]["peak_reserved"]), process_mib(alone)),
    (f"gpus_per_trial {GPUS_PER_TRIAL}", str(at_once), f"{packed_s:.2f}", f"{packed_ips:,.0f}", f"{together:,.0f}",
     mib(max(r["peak_reserved"] for r in packed)), process_mib(packed)),
]
widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
for row in rows:
    print("  ".join(cell.ljust(w) if i == 0 else cell.rjust(w) for i, (cell, w) in enumerate(zip(row, widths))))
print()
print(f"packing gain: {gain:.2f}x the images/s of one trial alone ({at_once} trials at once on one GPU)")
if at_once < per_gpu:
    print(f"note: {per_gpu} were allowed; fewer ran at once (this machine has {cpus} CPUs, one per trial)")
print(f"wall time: {time.time() - started:.0f} s for both studies")
PY

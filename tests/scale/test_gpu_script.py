"""benchmarks/gpu.sh stops at once, with a clear message and exit code 1, without a GPU."""

from __future__ import annotations

import os
import subprocess

import pytest

from tests.scale.conftest import REPO

GPU_SH = REPO / "benchmarks" / "gpu.sh"


def _has_gpu() -> bool:
    import torch

    return torch.cuda.is_available()


pytestmark = pytest.mark.skipif(_has_gpu(), reason="this machine has a GPU: gpu.sh would measure it")


def _run(path_dirs: list[str]) -> subprocess.CompletedProcess:
    env = {**os.environ, "PATH": os.pathsep.join([*path_dirs, os.environ["PATH"]])}
    env.pop("GPU_SH_SMOKE", None)
    return subprocess.run(["bash", str(GPU_SH)], env=env, capture_output=True, text=True, timeout=300)


@pytest.mark.skipif(any(os.path.exists(p) for p in ("/dev/nvidia0", "/dev/nvidiactl")), reason="an NVIDIA driver is here")
def test_without_a_driver_it_stops_before_anything_else():
    run = _run([])
    assert run.returncode == 1
    assert run.stdout == ""
    assert run.stderr.startswith("gpu.sh: no CUDA GPU on this machine: no NVIDIA driver")
    assert "Nothing was measured." in run.stderr


def test_with_a_driver_but_no_device_for_pytorch_it_says_so(tmp_path):
    fake = tmp_path / "nvidia-smi"  # a driver's tool, but no device PyTorch can use
    fake.write_text("#!/bin/sh\necho 'No devices were found'\n")
    fake.chmod(0o755)
    run = _run([str(tmp_path)])
    assert run.returncode == 1
    assert run.stdout == ""
    assert "gpu.sh: no CUDA GPU on this machine: PyTorch" in run.stderr and "sees no CUDA device" in run.stderr

"""What a run ran on: library versions, hardware, code version. Recorded with every run and benchmark."""

from __future__ import annotations

import copy
import functools
import hashlib
import platform
import subprocess
import sys
from pathlib import Path

import torch

import evalkit
from evalkit.config import REPO_ROOT


def _run(cmd: list[str], cwd: Path | None = None) -> str | None:
    try:
        out = subprocess.run(cmd, cwd=cwd, capture_output=True, text=True, timeout=10, check=True)
    except (OSError, subprocess.SubprocessError):
        return None
    return out.stdout.strip() or None


CODE_DIRS = ("evalkit", "conf", "hydra_plugins")


def git_commit() -> dict:
    """The code version: HEAD, whether tracked files have uncommitted changes, and a hash of those changes (so that a
    resumed run can tell whether it runs the same code: evalkit/run/resume.py)."""
    commit = _run(["git", "rev-parse", "HEAD"], REPO_ROOT)
    if commit is None:
        return {"commit": None, "dirty": None}
    status = _run(["git", "status", "--porcelain", "--untracked-files=no"], REPO_ROOT)
    out = {"commit": commit, "dirty": bool(status)}
    if status:
        diff = _run(["git", "diff", "HEAD", "--no-ext-diff", "--binary"], REPO_ROOT) or ""
        out["diff_sha256"] = hashlib.sha256(diff.encode()).hexdigest()
    # What answers depend on, apart from docs and tests: the committed trees of the code and config directories and
    # the uncommitted changes to them (a README edit or a new test between a stop and its resume changes neither).
    trees = _run(["git", "rev-parse", *(f"HEAD:{d}" for d in CODE_DIRS)], REPO_ROOT)
    code_diff = _run(["git", "diff", "HEAD", "--no-ext-diff", "--binary", "--", *CODE_DIRS], REPO_ROOT) or ""
    if trees is not None:
        out["code_sha256"] = hashlib.sha256((trees + "\n" + code_diff).encode()).hexdigest()
    return out


def cpu_name() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def gpu_info(device: int | None = None) -> dict:
    """The CUDA device this process runs on: the current device (cuda:LOCAL_RANK under torchrun, whatever
    torch.cuda.set_device chose), not device 0. `gpu_memory_mb` is in MiB (the field name predates the unit rule)."""
    if not torch.cuda.is_available():
        return {"cuda_available": False}
    index = torch.cuda.current_device() if device is None else device
    props = torch.cuda.get_device_properties(index)
    driver = _run(["nvidia-smi", f"--id={index}", "--query-gpu=driver_version", "--format=csv,noheader"])
    return {
        "cuda_available": True,
        "gpu_index": index,
        "gpu_name": props.name,
        "gpu_memory_mb": props.total_memory / 1024**2,
        "gpu_count": torch.cuda.device_count(),
        "compute_capability": f"{props.major}.{props.minor}",
        "cuda_version": torch.version.cuda,
        "driver_version": driver.splitlines()[0] if driver else None,
    }


def environment() -> dict:
    """Versions and hardware, as a fresh dict each call (callers add to it; the cache must not see that). The GPU
    part is read each call: the process may have moved to its own device (torch.cuda.set_device) since the first."""
    return {**copy.deepcopy(_software()), **gpu_info()}


@functools.lru_cache(maxsize=1)
def _software() -> dict:
    """What does not change within a process (git, library versions, CPU): read once."""
    import transformers

    from evalkit.phi3v.loading import flash_attn_version

    return {
        "evalkit_version": evalkit.__version__,
        "evalkit_git": git_commit(),
        "python": sys.version.split()[0],
        "platform": platform.platform(),
        "torch": torch.__version__,
        "transformers": transformers.__version__,
        "flash_attn": flash_attn_version(),
        "cpu": cpu_name(),
        "cpu_count": torch.get_num_threads(),
    }

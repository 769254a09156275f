"""Data parallel evaluation under torchrun: one process per device, the samples sharded, one run directory.

`torchrun --nproc-per-node=N -m evalkit ...` starts N copies of evalkit with WORLD_SIZE, RANK and LOCAL_RANK set.
Each rank loads the model on its own device (`cuda:LOCAL_RANK`; all on the CPU without CUDA), answers its shard of
the samples and writes its own shard file; rank 0 creates the run directory and merges the shards into one record
(evalkit/run/shard_files.py). The ranks talk only to coordinate (the run directory, the outcome of each rank): the process
group is `gloo` on the CPU, and `cuda:nccl` + `cpu:gloo` on CUDA, with the small coordination messages on gloo
(NCCL's watchdog would abort a rank that waits long for a slower one).

Nothing here turns on transformers' own parallelism: evalkit builds its model itself (no `from_pretrained`, so no
`device_map="auto"` / `tp_plan` reading WORLD_SIZE), and every generate() call passes `synced_gpus=False`.
"""

from __future__ import annotations

import os
import socket
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import timedelta
from typing import TYPE_CHECKING, Any

from evalkit.errors import ConfigError, EvalkitError

if TYPE_CHECKING:  # torch is imported where a device or a collective needs it: reading the rank (the CLI, the
    import torch  # signal handler) must not wait for it

# How long a rank may wait for the others in a collective (e.g. the fastest rank for the slowest at the end).
TIMEOUT_ENV = "EVALKIT_DIST_TIMEOUT_S"
DEFAULT_TIMEOUT_S = 12 * 3600


@dataclass(frozen=True)
class Dist:
    """This process's place in a torchrun job (world_size 1: not distributed)."""

    rank: int = 0
    world_size: int = 1
    local_rank: int = 0

    @property
    def enabled(self) -> bool:
        return self.world_size > 1

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    def place(self, device: torch.device) -> torch.device:
        """The device of this rank: `cuda` becomes `cuda:LOCAL_RANK` (each rank its own GPU)."""
        import torch

        if not self.enabled or device.type != "cuda":
            return device
        if device.index is not None:
            raise ConfigError(
                f"runtime.device={device} under torchrun: each rank uses cuda:LOCAL_RANK; use runtime.device=cuda "
                "(or auto) and choose the GPUs with CUDA_VISIBLE_DEVICES"
            )
        if self.local_rank >= torch.cuda.device_count():
            raise ConfigError(
                f"LOCAL_RANK {self.local_rank} but only {torch.cuda.device_count()} CUDA device(s) are visible: "
                "start at most one process per GPU (--nproc-per-node)"
            )
        torch.cuda.set_device(self.local_rank)
        return torch.device("cuda", self.local_rank)

    # -- collectives (no-ops when not distributed) ---------------------------------------------------------

    def broadcast(self, value: Any) -> Any:
        """Rank 0's `value` on every rank."""
        if not self.enabled:
            return value
        import torch.distributed

        box = [value if self.is_main else None]
        torch.distributed.broadcast_object_list(box, src=0, group=_State.group)
        return box[0]

    def gather(self, value: Any) -> list[Any]:
        """Every rank's `value`, in rank order, on every rank."""
        if not self.enabled:
            return [value]
        import torch.distributed

        out: list[Any] = [None] * self.world_size
        torch.distributed.all_gather_object(out, value, group=_State.group)
        return out

    def barrier(self) -> None:
        if self.enabled:
            import torch.distributed

            torch.distributed.barrier(group=_State.group)

    def on_main(self, work: Callable[[], Any]) -> Any:
        """evalkit's one rule for shared work: rank 0 alone does `work()`, and every rank gets its result, or the
        EvalkitError it raised (so every rank fails with the same line)."""
        value, error = None, None
        if self.is_main:
            try:
                value = work()
            except EvalkitError as exc:
                error = exc
        value, error = self.broadcast((value, error))
        if error is not None:
            raise error
        return value


class _State:
    group = None  # the gloo group for coordination (the default group on the CPU)


def _env_int(name: str, default: int) -> int:
    text = os.environ.get(name)
    if text is None or text == "":
        return default
    try:
        return int(text)
    except ValueError:
        raise ConfigError(f"environment variable {name}={text!r}: expected an integer") from None


def current() -> Dist:
    """This process's Dist from torchrun's environment (WORLD_SIZE, RANK, LOCAL_RANK): the one place evalkit reads
    it."""
    world = _env_int("WORLD_SIZE", 1)
    if world <= 1:
        return Dist()
    rank, local = _env_int("RANK", -1), _env_int("LOCAL_RANK", -1)
    if not 0 <= rank < world or local < 0:
        raise ConfigError(f"WORLD_SIZE={world} but RANK / LOCAL_RANK are missing or invalid: start with torchrun")
    return Dist(rank=rank, world_size=world, local_rank=local)


def speaks() -> bool:
    """Whether this process speaks for the run (prints its lines, sets its exit code, writes shared files): every
    process outside torchrun, rank 0 under it. An unreadable environment speaks: `current()` will say what is wrong."""
    try:
        return current().is_main
    except ConfigError:
        return True


def under_launcher() -> bool:
    """Started by torchrun (or another launcher) as one of several processes."""
    try:
        return current().enabled
    except ConfigError:
        return False


def setup(dist: Dist, device: torch.device) -> None:
    """Join the process group once per process (gloo on the CPU; nccl for CUDA tensors, gloo to coordinate)."""
    if not dist.enabled or _State.group is not None:
        return
    import torch.distributed

    timeout = timedelta(seconds=_env_int(TIMEOUT_ENV, DEFAULT_TIMEOUT_S))
    if not torch.distributed.is_initialized():
        backend = "cpu:gloo,cuda:nccl" if device.type == "cuda" else "gloo"
        torch.distributed.init_process_group(backend=backend, timeout=timeout)
    # A group of its own for coordination: gloo whatever the default group's backend is.
    _State.group = torch.distributed.new_group(backend="gloo", timeout=timeout)


def teardown() -> None:
    """Leave the process group (at process exit; a later setup() joins again)."""
    import torch.distributed

    if torch.distributed.is_available() and torch.distributed.is_initialized():
        torch.distributed.destroy_process_group()
    _State.group = None


def assign(costs: Sequence[int], world_size: int) -> list[int]:
    """The rank of each item: the most costly first, each to the rank with the least total cost so far (ties to the
    lower rank; equal costs in input order). Deterministic, so every rank computes the same shards."""
    loads = [0] * world_size
    ranks = [0] * len(costs)
    for i in sorted(range(len(costs)), key=lambda i: (-costs[i], i)):
        r = min(range(world_size), key=lambda r: (loads[r], r))
        ranks[i] = r
        loads[r] += max(int(costs[i]), 1)  # a sample costs something even when its length is unknown (0)
    return ranks


def host() -> str:
    return socket.gethostname()

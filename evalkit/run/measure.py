"""Timers and memory trackers; nothing here knows about models.

On CUDA, work is timed with CUDA events (recorded on the stream, read after one synchronize), so timing does not
serialise the GPU; on the CPU with `time.perf_counter`.

The timing rules a run follows (README "What a run measures"):
- one timed *request* is one greedy generation for a batch (evalkit.phi3v.decode), with what the mode puts around
  it: the preprocessing from the image files in latency mode, the copy of the prepared inputs to the device in
  throughput mode; scoring, text decoding and the untimed image check are never inside it (`timed_region` marks
  it, tests check it);
- a batch is timed once, so summaries count batches, not samples;
- with repeats, the batch's timings are those of its median request (lower median of the request's total), so the
  phases of a record always come from one request and add up;
- peak RSS is sampled by a separate process, so sampling takes no time from the process being measured.
"""

from __future__ import annotations

import contextlib
import ctypes
import gc
import logging
import statistics
import subprocess
import sys
import threading
import time
from collections import defaultdict
from dataclasses import dataclass

import psutil
import torch

from evalkit.phi3v.timing import GenerationTiming, Mark, synchronize
from evalkit.scoring.statistics import Stats

MB = 1024**2
log = logging.getLogger(__name__)
_timed = threading.local()


@contextlib.contextmanager
def timed_region():
    """Marks the code of a timed request (per thread), so tests can prove what runs outside it."""
    _timed.depth = getattr(_timed, "depth", 0) + 1
    try:
        yield
    finally:
        _timed.depth -= 1


def in_timed_region() -> bool:
    return getattr(_timed, "depth", 0) > 0


@dataclass(frozen=True)
class RequestTiming:
    """One timed request: a batch's generation and what the mode puts around it (ms)."""

    generation: GenerationTiming
    total_ms: float  # the whole timed request
    preprocess_ms: float | None  # inside the request (latency mode); None when it was done ahead (throughput)
    compiled: bool = False  # torch.compile built a graph during this request, so its time includes compiling

    @property
    def generate_ms(self) -> float:
        return self.generation.prefill_ms + self.generation.decode_ms

    def phases(self) -> dict[str, float]:
        """Phase -> ms. Latency mode: preprocess + prefill + decode <= end_to_end (the remainder is the copy to the
        device and bookkeeping). Throughput mode: the request starts from prepared inputs, so its total is called
        `generate` (copy to the device + prefill + decode), not end_to_end."""
        out = {"prefill": self.generation.prefill_ms, "decode": self.generation.decode_ms}
        if self.preprocess_ms is None:
            out["generate"] = self.total_ms
        else:
            out = {"preprocess": self.preprocess_ms, **out, "end_to_end": self.total_ms}
        return out


def median_request(runs: list[RequestTiming]) -> RequestTiming:
    """The request whose total is the (lower) median: a real request, so its phases add up."""
    if not runs:
        raise ValueError("median_request of no requests")
    target = statistics.median_low(r.total_ms for r in runs)
    return next(r for r in runs if r.total_ms == target)


class LatencyTracker:
    """`with tracker.track("preprocess"): ...` collects wall times per phase, in milliseconds."""

    def __init__(self, device: torch.device | str = "cpu"):
        self.device = torch.device(device)
        self.samples: dict[str, list[float]] = defaultdict(list)

    @contextlib.contextmanager
    def track(self, phase: str):
        start = Mark(self.device)
        try:
            yield
        finally:
            end = Mark(self.device)
            synchronize(self.device)
            self.samples[phase].append(start.ms_until(end))

    def last(self, phase: str) -> float:
        return self.samples[phase][-1]

    def stats(self) -> dict[str, Stats]:
        return {phase: Stats.from_values(values, "ms") for phase, values in self.samples.items()}


class LoopClock:
    """Wall time of an evaluation loop against the time spent inside the model's generate() calls.

    overhead = 1 - generate time / wall time: the share of the loop the model was not generating (preprocessing
    that was not overlapped, scoring, writing records, the image check, Python bookkeeping).
    """

    def __init__(self) -> None:
        self.started: float | None = None
        self.wall_s = 0.0
        self.generate_s = 0.0
        self.requests = 0

    def start(self) -> None:
        self.started = time.perf_counter()

    def add(self, timing: RequestTiming) -> None:
        self.generate_s += timing.generate_ms / 1000.0
        self.requests += 1

    def stop(self) -> None:
        if self.started is not None:
            self.wall_s = time.perf_counter() - self.started

    @property
    def overhead(self) -> float | None:
        return 1.0 - self.generate_s / self.wall_s if self.wall_s > 0 and self.requests else None


def compiled_graphs() -> int:
    """Graphs torch.compile has built in this process so far (a request that adds some was compiling)."""
    if "torch._dynamo" not in sys.modules:
        return 0
    from torch._dynamo.utils import counters

    return int(counters["stats"]["unique_graphs"])


def release_memory(device: torch.device | str = "cpu") -> None:
    """Give back what earlier work left before measuring a new setting: garbage, the CUDA cache, and the heap
    pages glibc keeps after free() (malloc_trim), so a setting's peak RSS does not depend on what ran before."""
    gc.collect()
    if torch.device(device).type == "cuda":
        torch.cuda.empty_cache()
    with contextlib.suppress(OSError, AttributeError):
        ctypes.CDLL("libc.so.6").malloc_trim(0)


# The sampler: a separate Python process polling this process's RSS, so the measured process spends no time (and
# holds no GIL) on sampling. It stops when its stdin closes and prints the peak in bytes.
_SAMPLER = """
import select, signal, sys, psutil
# Ctrl-C and `kill -- -PGID` reach the whole process group: the sampler ignores them and ends when evalkit closes its
# stdin (also when evalkit dies), so that a gracefully stopped run still gets its peak.
signal.signal(signal.SIGINT, signal.SIG_IGN)
signal.signal(signal.SIGTERM, signal.SIG_IGN)
proc, interval, peak = psutil.Process(int(sys.argv[1])), float(sys.argv[2]), 0
print("ready", flush=True)
while True:
    try:
        peak = max(peak, proc.memory_info().rss)
    except psutil.Error:
        break
    if select.select([sys.stdin], [], [], interval)[0]:
        break
print(peak, flush=True)
"""


class RssSampler:
    """Peak RSS of this process, sampled every `interval_s` by a child process."""

    def __init__(self, interval_s: float = 0.01):
        self.interval_s = interval_s
        self._proc: subprocess.Popen | None = None
        self.pid: int | None = None

    def start(self) -> None:
        self._proc = subprocess.Popen(
            [sys.executable, "-c", _SAMPLER, str(psutil.Process().pid), str(self.interval_s)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )
        self.pid = self._proc.pid
        if self._proc.stdout.readline().strip() != "ready":  # sampling has begun once this line arrives
            raise RuntimeError("the RSS sampler process did not start")

    def stop(self) -> float:
        """Peak RSS in bytes since start()."""
        proc, self._proc = self._proc, None
        if proc is None:
            raise RuntimeError("RssSampler.stop without start")
        out, _ = proc.communicate(input="stop\n", timeout=30)
        return float(out.strip().splitlines()[-1])


class MemoryTracker:
    """Peak process RSS and peak CUDA allocated / reserved memory over the `with` block, in MiB."""

    def __init__(self, device: torch.device | str = "cpu", interval_s: float = 0.01):
        self.device = torch.device(device)
        self.peak_rss_mb: float | None = 0.0
        self.start_rss_mb = 0.0
        self.peak_allocated_mb: float | None = None
        self.peak_reserved_mb: float | None = None
        self._process = psutil.Process()
        self._sampler = RssSampler(interval_s)
        self._sampling = False

    def _rss_mb(self) -> float:
        return self._process.memory_info().rss / MB

    def __enter__(self) -> MemoryTracker:
        if self.device.type == "cuda":
            torch.cuda.synchronize(self.device)
            torch.cuda.reset_peak_memory_stats(self.device)
        self.start_rss_mb = self.peak_rss_mb = self._rss_mb()
        try:
            self._sampler.start()
            self._sampling = True
        except (OSError, RuntimeError, subprocess.SubprocessError) as exc:
            log.warning("peak RSS will not be recorded: the sampler process failed to start (%s)", exc)
            self.peak_rss_mb = None
        return self

    def __exit__(self, *exc) -> None:
        if self._sampling:
            self._sampling = False
            try:
                self.peak_rss_mb = max(self.peak_rss_mb or 0.0, self._sampler.stop() / MB, self._rss_mb())
            except (OSError, ValueError, IndexError, RuntimeError, subprocess.SubprocessError) as err:
                log.warning("peak RSS not recorded: the sampler process failed (%s)", err)
                self.peak_rss_mb = None
        self.read_cuda()

    def read_cuda(self) -> None:
        if self.device.type == "cuda":
            torch.cuda.synchronize(self.device)
            self.peak_allocated_mb = torch.cuda.max_memory_allocated(self.device) / MB
            self.peak_reserved_mb = torch.cuda.max_memory_reserved(self.device) / MB

    def to_dict(self) -> dict[str, float | None]:
        return {
            "peak_allocated": self.peak_allocated_mb,
            "peak_reserved": self.peak_reserved_mb,
            "peak_rss": self.peak_rss_mb,
            "start_rss": self.start_rss_mb,
            # What the evaluation added on top of what the process already held (libraries, the loaded weights,
            # leftovers of earlier work): unlike peak_rss it does not depend on what ran before in the process.
            "rss_growth": None if self.peak_rss_mb is None else self.peak_rss_mb - self.start_rss_mb,
        }

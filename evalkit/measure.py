"""Timers and memory trackers as context managers; nothing here knows about models.

On CUDA, work is timed with CUDA events (recorded on the stream, read after one synchronize), so timing does not
serialise the GPU; on the CPU with `time.perf_counter`. Peak process RSS is sampled by a background thread, because
the kernel's ru_maxrss cannot be reset between the settings of a sweep.
"""

from __future__ import annotations

import contextlib
import threading
import time
from collections import defaultdict
from dataclasses import dataclass

import psutil
import torch
from transformers import LogitsProcessor

from evalkit.stats import Stats

MB = 1024**2


class _Mark:
    """A point in time: a recorded CUDA event, or a perf_counter reading."""

    def __init__(self, device: torch.device):
        if device.type == "cuda":
            self.event = torch.cuda.Event(enable_timing=True)
            self.event.record(torch.cuda.current_stream(device))
            self.t = None
        else:
            self.event = None
            self.t = time.perf_counter()

    def ms_until(self, later: _Mark) -> float:
        if self.event is not None:
            return float(self.event.elapsed_time(later.event))
        return (later.t - self.t) * 1000.0


def synchronize(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


class StepClock(LogitsProcessor):
    """Marks the start of a generate() call and every decoding step.

    Used as a logits processor: generate() calls it once per new token, right after the forward pass that produced
    the logits, so the first call closes the prefill and the remaining calls are decode steps.
    """

    def __init__(self, device: torch.device):
        self.device = device
        self.marks: list[_Mark] = []

    def start(self) -> None:
        self.marks = [_Mark(self.device)]

    def __call__(self, input_ids: torch.Tensor, scores: torch.Tensor) -> torch.Tensor:
        self.marks.append(_Mark(self.device))
        return scores

    def stop(self) -> GenerationTiming:
        self.marks.append(_Mark(self.device))
        synchronize(self.device)
        if len(self.marks) < 3:
            raise RuntimeError("StepClock saw no generation step; was it passed as a logits processor?")
        start, first, end = self.marks[0], self.marks[1], self.marks[-1]
        return GenerationTiming(
            prefill_ms=start.ms_until(first), decode_ms=first.ms_until(end), steps=len(self.marks) - 2
        )


@dataclass(frozen=True)
class GenerationTiming:
    prefill_ms: float  # time to first token: image encoding + prompt forward pass
    decode_ms: float  # every later step, up to generate() returning
    steps: int  # tokens generated (including one that may be a stop token)

    @property
    def decode_tokens_per_s(self) -> float | None:
        # The first token comes out of the prefill; the decode phase produced the other steps - 1.
        return (self.steps - 1) / (self.decode_ms / 1000.0) if self.steps > 1 and self.decode_ms > 0 else None


class LatencyTracker:
    """`with tracker.track("preprocess"): ...` collects wall times per phase, in milliseconds."""

    def __init__(self, device: torch.device | str = "cpu"):
        self.device = torch.device(device)
        self.samples: dict[str, list[float]] = defaultdict(list)

    @contextlib.contextmanager
    def track(self, phase: str):
        start = _Mark(self.device)
        try:
            yield
        finally:
            end = _Mark(self.device)
            synchronize(self.device)
            self.samples[phase].append(start.ms_until(end))

    def last(self, phase: str) -> float:
        return self.samples[phase][-1]

    def stats(self) -> dict[str, Stats]:
        return {phase: Stats.from_values(values, "ms") for phase, values in self.samples.items()}


class MemoryTracker:
    """Peak process RSS (sampled) and peak CUDA allocated / reserved memory over the `with` block, in MiB."""

    def __init__(self, device: torch.device | str = "cpu", interval_s: float = 0.01):
        self.device = torch.device(device)
        self.interval_s = interval_s
        self.peak_rss_mb = 0.0
        self.peak_allocated_mb: float | None = None
        self.peak_reserved_mb: float | None = None
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._process = psutil.Process()

    def _sample(self) -> None:
        self.peak_rss_mb = max(self.peak_rss_mb, self._process.memory_info().rss / MB)

    def _poll(self) -> None:
        while not self._stop.wait(self.interval_s):
            self._sample()

    def __enter__(self) -> MemoryTracker:
        if self.device.type == "cuda":
            torch.cuda.synchronize(self.device)
            torch.cuda.reset_peak_memory_stats(self.device)
        self._sample()
        self._stop.clear()
        self._thread = threading.Thread(target=self._poll, name="evalkit-rss", daemon=True)
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join()
        self._sample()
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
        }

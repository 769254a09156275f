"""Clock primitives of the decode loop, which times its own phases: a `Mark` is a recorded CUDA event on CUDA (read
after one synchronize, so timing does not serialise the GPU) or a perf_counter reading on the CPU; a
`GenerationTiming` is one generation's prefill (time to first token) and decode phases. evalkit.run.measure builds
requests' timings on them."""

from __future__ import annotations

import time
from dataclasses import dataclass

import torch


class Mark:
    """A point in time: a recorded CUDA event, or a perf_counter reading."""

    def __init__(self, device: torch.device):
        if device.type == "cuda":
            self.event = torch.cuda.Event(enable_timing=True)
            self.event.record(torch.cuda.current_stream(device))
            self.t = None
        else:
            self.event = None
            self.t = time.perf_counter()

    def ms_until(self, later: Mark) -> float:
        if self.event is not None:
            return float(self.event.elapsed_time(later.event))
        return (later.t - self.t) * 1000.0


def synchronize(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


@dataclass(frozen=True)
class GenerationTiming:
    prefill_ms: float  # time to first token: image encoding + prompt forward pass
    decode_ms: float  # every later step, up to the generation returning
    steps: int  # forward passes: tokens generated per row, including steps run past the last stop token

    @property
    def decode_tokens_per_s(self) -> float | None:
        # The first token comes out of the prefill; the decode phase produced the other steps - 1.
        return (self.steps - 1) / (self.decode_ms / 1000.0) if self.steps > 1 and self.decode_ms > 0 else None

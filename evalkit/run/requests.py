"""Timed requests: one batch's greedy generation with what the run's mode puts around it, and nothing else.

Generation is evalkit's own decode loop (evalkit.phi3v.decode): a static KV cache per batch/length bucket, reused
across requests; with runtime.compile the decode step is compiled whole (a CUDA graph on CUDA).

Latency mode: the request starts from the image files (decode, HD transform, tokenization are inside its timing).
Throughput mode: a background thread prepares the next batches (evalkit.run.batching.Prefetcher) and the request starts
from the prepared CPU tensors. Scoring, text decoding and the untimed image check are never part of a request.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import torch

from evalkit.config.settings import RuntimeConfig
from evalkit.phi3v.decode import decoder_for
from evalkit.phi3v.engine import LoadedModel
from evalkit.phi3v.images import load_image
from evalkit.run.batching import Prefetcher, Prepared, prepare
from evalkit.run.items import Item
from evalkit.run.measure import LatencyTracker, RequestTiming, compiled_graphs, timed_region


@dataclass
class Request:
    """One timed request: the batch's inputs (CPU), its new tokens and its timing."""

    inputs: dict[str, torch.Tensor]
    new_tokens: torch.Tensor
    timing: RequestTiming
    kv_columns: float | None = None  # KV cache columns a decode step read per row (mean; evalkit.run.roofline)


def timed_request(
    loaded: LoadedModel,
    items: Sequence[Item],
    *,
    runtime: RuntimeConfig,
    max_new_tokens: int,
    prepared: Prepared | None = None,
) -> Request:
    """Generate up to `max_new_tokens` for one batch, timed. Without `prepared` (latency mode) the request starts
    from the image files and preprocesses inside the timing; with it (throughput mode) it starts from the prepared
    CPU tensors."""
    device = loaded.device
    tracker, graphs = LatencyTracker(device), compiled_graphs()
    decoder = decoder_for(loaded.model, graph=runtime.compile)
    with timed_region(), tracker.track("total"):
        if prepared is None:
            with tracker.track("preprocess"):
                images = [[load_image(path) for path in item.sample.images] for item in items]
                cpu_inputs = loaded.processor([item.prompt for item in items], images)
        else:
            cpu_inputs = prepared.inputs
        inputs = {k: v.to(device, non_blocking=True) for k, v in cpu_inputs.items()}
        # The decoder times its own prefill (up to the first token) and decode phases, after the copy above.
        # Throughput mode runs every batch at the configured size (fixed shapes: one cache and graph per bucket).
        fixed = runtime.batch_size if runtime.mode == "throughput" else None
        output = decoder.generate(**inputs, max_new_tokens=max_new_tokens, pad_batch_to=fixed)
        generation = output.timing
        new_tokens = output.new_tokens.cpu()
    preprocess = tracker.last("preprocess") if prepared is None else None
    timing = RequestTiming(generation, tracker.last("total"), preprocess, compiled=compiled_graphs() > graphs)
    return Request(cpu_inputs, new_tokens, timing, output.kv_columns)


def prefetcher(loaded: LoadedModel, batches: Sequence[list[Item]]) -> Prefetcher:
    """Batches prepared one ahead: while batch k generates, k+1 waits ready and k+2 is being prepared (pinned
    memory on CUDA, so the copy to the GPU is asynchronous)."""
    pin = loaded.device.type == "cuda"
    return Prefetcher(batches, lambda batch: prepare(loaded.processor, batch, pin=pin), depth=1)


def request_round(loaded: LoadedModel, batches: Sequence[list[Item]], runtime: RuntimeConfig) -> list[Request]:
    """Preprocessing and generation of a sample set, nothing else (no image check, no decoding, no scoring): what
    the performance benchmark times. Throughput mode prefetches as a run does; the images must be readable."""
    if runtime.mode == "latency":
        return [timed_request(loaded, b, runtime=runtime, max_new_tokens=longest_budget(b)) for b in batches]
    out = []
    for _batch, prepared in prefetcher(loaded, batches):
        if isinstance(prepared, Exception):
            raise prepared
        if prepared.failures:
            raise prepared.failures[0][1]
        budget = longest_budget(prepared.items)
        out.append(timed_request(loaded, prepared.items, runtime=runtime, max_new_tokens=budget, prepared=prepared))
    return out


def longest_budget(items: Sequence[Item]) -> int:
    """A batch generates up to its longest budget; each answer is cut to its own afterwards."""
    return max(item.budget for item in items)

"""Timed requests: one batch's greedy generation with what the run's mode puts around it, and nothing else.

Generation is evalkit's own decode loop (evalkit.phi3v.decode): a static KV cache per batch/length bucket, reused
across requests; with runtime.compile the decode step is compiled whole (a CUDA graph on CUDA).

Latency mode: the request starts from the image files (decode, HD transform, tokenization are inside its timing).
Throughput mode: a background thread prepares the next batches (evalkit.pipeline.Prefetcher) and the request starts
from the prepared CPU tensors. Scoring, text decoding and the untimed image check are never part of a request.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import torch

from evalkit import metrics
from evalkit.measure import LatencyTracker, RequestTiming, compiled_graphs, timed_region
from evalkit.phi3v.decode import decoder_for
from evalkit.phi3v.hub import ModelSource
from evalkit.phi3v.images import load_image
from evalkit.phi3v.modeling import Phi3VForCausalLM
from evalkit.phi3v.processing import Phi3VProcessor, build_prompt
from evalkit.pipeline import Prefetcher, Prepared, prepare
from evalkit.settings import RuntimeConfig
from evalkit.suites import Sample, question_text


@dataclass
class LoadedModel:
    model: Phi3VForCausalLM
    processor: Phi3VProcessor
    source: ModelSource
    device: torch.device
    load_s: float
    weights: dict  # sha256 fingerprint of the weight files
    fingerprint_s: float | None = None  # seconds spent hashing them (0 when every hash was cached)


@dataclass
class Request:
    """One timed request: the batch's inputs (CPU), its new tokens and its timing."""

    inputs: dict[str, torch.Tensor]
    new_tokens: torch.Tensor
    timing: RequestTiming
    kv_columns: float | None = None  # KV cache columns a decode step read per row (mean; evalkit.roofline)


def timed_request(
    loaded: LoadedModel,
    samples: Sequence[Sample],
    prompts: list[str],
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
                cpu_inputs = loaded.processor(prompts, [[load_image(p) for p in s.images] for s in samples])
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


def prompts_of(samples: Sequence[Sample]) -> dict[str, str]:
    """Each sample's chat prompt: its question with the type's options and instruction, after its image tags."""
    return {s.id: build_prompt(question_text(s), len(s.images)) for s in samples}


def budgets(processor: Phi3VProcessor, samples: Sequence[Sample], runtime: RuntimeConfig) -> dict[str, int]:
    """Each sample's max_new_tokens: runtime.max_new_tokens when set (one override for every sample), else the
    sample's own budget from its labels, counted with this model's tokenizer (metrics.token_budget)."""
    if runtime.max_new_tokens is not None:
        return {s.id: runtime.max_new_tokens for s in samples}
    tokenizer = processor.tokenizer

    def count(text: str) -> int:
        return len(tokenizer(text, add_special_tokens=False)["input_ids"])

    return {s.id: metrics.token_budget(s, count) for s in samples}


def prefetcher(loaded: LoadedModel, batches: Sequence[list[Sample]]) -> Prefetcher:
    """Batches prepared one ahead: while batch k generates, k+1 waits ready and k+2 is being prepared (pinned
    memory on CUDA, so the copy to the GPU is asynchronous)."""
    pin = loaded.device.type == "cuda"
    return Prefetcher(batches, lambda batch: prepare(loaded.processor, batch, prompts_of(batch), pin=pin), depth=1)


def request_round(loaded: LoadedModel, batches: Sequence[list[Sample]], runtime: RuntimeConfig) -> list[Request]:
    """Preprocessing and generation of a sample set, nothing else (no image check, no decoding, no scoring): what
    the performance benchmark times. Throughput mode prefetches as a run does; the images must be readable."""

    def longest(batch: Sequence[Sample]) -> int:
        return max(budgets(loaded.processor, batch, runtime).values())

    if runtime.mode == "latency":
        return [
            timed_request(loaded, b, list(prompts_of(b).values()), runtime=runtime, max_new_tokens=longest(b))
            for b in batches
        ]
    out = []
    for _batch, prepared in prefetcher(loaded, batches):
        if isinstance(prepared, Exception):
            raise prepared
        if prepared.failures:
            raise prepared.failures[0][1]
        out.append(
            timed_request(
                loaded,
                prepared.samples,
                prepared.prompts,
                runtime=runtime,
                max_new_tokens=longest(prepared.samples),
                prepared=prepared,
            )  # fmt: skip
        )
    return out

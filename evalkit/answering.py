"""Answering samples: one batch at a time, each sample isolated (a bad image or prompt fails its sample alone, a
batch that fails is retried sample by sample), scored and timed; the batch plan and the warm-up before timing.

`predict()` and `request_round()` are what `pytest benchmarks/` reuses; evalkit/runner.py runs a whole setting
around them. `_generate_once` is the one place a batch reaches the model (tests replace it to inject failures).
"""

from __future__ import annotations

import logging
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field

import torch

from evalkit import metrics
from evalkit.errors import EvalkitError
from evalkit.measure import LoopClock, median_request
from evalkit.phi3v.decode import capacity_for
from evalkit.phi3v.images import CROP_SIZE
from evalkit.pipeline import Prepared, check_samples, estimate_prompt_tokens, plan_batches
from evalkit.records import (
    Prediction,
)
from evalkit.request import LoadedModel, Request, budgets, prefetcher, prompts_of, timed_request
from evalkit.roofline import BatchFigures
from evalkit.settings import RuntimeConfig
from evalkit.suites import Sample

log = logging.getLogger(__name__)


def _labels(sample: Sample) -> dict:
    labels: dict = {"type": sample.type}
    if sample.reference is not None:
        labels["reference"] = sample.reference
    if sample.answers:
        labels["answers"] = list(sample.answers)
    if sample.choices:
        labels["choices"] = list(sample.choices)
    if sample.type == "short_answer":
        labels["match"] = sample.match
    if sample.keywords:
        labels["keywords"] = [g.to_json() if hasattr(g, "to_json") else list(g) for g in sample.keywords]
    if sample.forbidden:
        labels["forbidden"] = list(sample.forbidden)
    return labels


def _tags(sample: Sample) -> dict[str, str]:
    # The question type is a tag of every prediction, so reports break scores down by it.
    return {**sample.tags, "type": sample.type}


def _prediction(sample: Sample, prompt: str, budget: int | None, **outcome) -> Prediction:
    """The one place a sample's Prediction is built: what the sample is (id, suite, images, labels) comes from the
    sample; the outcome (an answer with its scores, tokens and timings, or an error) from the caller."""
    return Prediction(
        sample_id=sample.id, suite=sample.suite, task=sample.task, tags=_tags(sample),
        images=[str(p) for p in sample.images], prompt=prompt, labels=_labels(sample), max_new_tokens=budget, **outcome,
    )  # fmt: skip


def _failed(sample: Sample, prompt: str, error: BaseException, budget: int | None = None) -> Prediction:
    return _prediction(
        sample, prompt, budget, answer=None, answer_token_ids=[], scores={}, timings_ms={}, tokens={},
        decode_tokens_per_s=None, error=f"{type(error).__name__}: {error}",
    )  # fmt: skip


@dataclass
class RunState:
    """What the evaluation loop accumulates: batch ids, the loop clock, per-batch figures for the roofline."""

    clock: LoopClock = field(default_factory=LoopClock)
    batches: int = 0
    compiled_requests: int = 0
    figures: list[BatchFigures] = field(default_factory=list)
    decode_start: dict = field(default_factory=dict)  # the decoder's counts when the run began (runner)
    energy: object = None  # evalkit.energy.EnergyWindow of the evaluation loop (runner)
    # Batch ids are unique within the run: rank r of N numbers its batches base + r, base + r + N, ...; a resumed
    # run starts past the ids its earlier attempts used.
    base: int = 0
    stride: int = 1
    offset: int = 0

    def new_batch_id(self) -> int:
        self.batches += 1
        return self.base + (self.batches - 1) * self.stride + self.offset


def _answer_ids(row: torch.Tensor, stop_ids: set[int], budget: int) -> tuple[list[int], bool]:
    """The answer's tokens, cut at the first stop token or at the sample's own budget, and whether it was cut
    off by the budget. A batch generates up to its largest budget; cutting each row to its own budget gives the
    tokens a batch of one would have produced (greedy decoding: a row does not depend on the others)."""
    ids = []
    for token in row.tolist()[:budget]:
        if token in stop_ids:
            return ids, False
        ids.append(token)
    return ids, len(ids) >= budget


# Errors a generate() call can end in: CUDA OOM and kernel failures are RuntimeErrors; inputs the per-sample check
# missed surface as ValueError or EvalkitError.
_GENERATION_ERRORS = (RuntimeError, ValueError, EvalkitError)


def _generate_once(loaded: LoadedModel, samples, prompts: list[str], max_new_tokens: int, **kwargs) -> Request:
    """One timed request (the seam tests use to make a generation fail)."""
    return timed_request(loaded, samples, prompts, max_new_tokens=max_new_tokens, **kwargs)


def _release(loaded: LoadedModel) -> None:
    if loaded.device.type == "cuda":
        torch.cuda.empty_cache()


def _timed_predictions(loaded, batch, prompts, runtime, limits, state, prepared=None, retry=None) -> dict:
    """Time `runtime.repeats` requests for the batch, then build (and score) its predictions outside the timing."""
    batch_prompts = [prompts[s.id] for s in batch]
    longest = max(limits[s.id] for s in batch)  # each answer is cut to its own budget afterwards
    requests = [
        _generate_once(loaded, batch, batch_prompts, longest, runtime=runtime, prepared=prepared)
        for _ in range(runtime.repeats)
    ]
    for request in requests:
        state.clock.add(request.timing)
        state.compiled_requests += request.timing.compiled
    return _predictions(loaded, batch, batch_prompts, requests, limits, state, prepared, retry)


def _answer(loaded, batch, prompts, runtime, limits, state: RunState, prepared: Prepared | None = None) -> dict:
    """Answer a batch whose samples passed their own check. One bad sample never fails another sample of its batch:
    if the batch's generation fails, each sample is generated alone to find the one(s) that fail, then the rest of
    the batch together again (the batch size closest to the configured one). If only the whole batch fails (e.g.
    out of memory), the samples keep their answers from being generated alone. Retries start from the image files
    (as in latency mode); every prediction records the batch it was generated in (`batch_size`, `retry`)."""
    try:
        return _timed_predictions(loaded, batch, prompts, runtime, limits, state, prepared)
    except _GENERATION_ERRORS as exc:
        _release(loaded)
        if len(batch) == 1:
            return {batch[0].id: _failed(batch[0], prompts[batch[0].id], exc, limits[batch[0].id])}
        cause = f"the batch of {len(batch)} failed ({type(exc).__name__}: {exc})"
        log.warning("%s; retrying its samples", cause)
    results, bad = {}, []
    for s in batch:
        try:
            results.update(
                _timed_predictions(loaded, [s], prompts, runtime, limits, state, retry=f"{cause}; generated alone")
            )
        except _GENERATION_ERRORS as exc:
            _release(loaded)
            results[s.id] = _failed(s, prompts[s.id], exc, limits[s.id])
            bad.append(s.id)
    rest = [s for s in batch if s.id not in bad]
    if bad and len(rest) > 1:
        note = f"{cause}; generated again without {', '.join(repr(b) for b in bad)}"
        try:
            results.update(_timed_predictions(loaded, rest, prompts, runtime, limits, state, retry=note))
        except _GENERATION_ERRORS:
            _release(loaded)  # the rest keep their answers from being generated alone
    return results


def _predictions(loaded, samples, prompts, requests: list[Request], limits, state: RunState, prepared, retry) -> dict:
    first, chosen = requests[0], median_request([r.timing for r in requests])
    stop_ids = set(loaded.processor.stop_token_ids) | {loaded.processor.pad_token_id}
    inputs = first.inputs
    image_positions = loaded.model.image_positions(inputs["input_ids"]).sum(dim=1).tolist()
    prompt_lengths = inputs["attention_mask"].sum(dim=1).tolist()
    timings = chosen.phases()
    if prepared is not None:
        timings["preprocess"] = prepared.preprocess_ms  # done ahead, in the background: not part of `generate`
    rate = chosen.generation.decode_tokens_per_s  # per sequence
    batch_id, out, generated = state.new_batch_id(), {}, []
    for i, (sample, prompt) in enumerate(zip(samples, prompts, strict=True)):
        budget = limits[sample.id]
        ids, truncated = _answer_ids(first.new_tokens[i], stop_ids, budget)
        differ = any(_answer_ids(r.new_tokens[i], stop_ids, budget)[0] != ids for r in requests[1:])
        answer = loaded.processor.decode(ids)
        generated.append(len(ids))
        out[sample.id] = _prediction(
            sample, prompt, budget, answer=answer, answer_token_ids=ids,
            scores=metrics.score_sample(sample, answer), timings_ms=dict(timings),
            tokens={"prompt": int(prompt_lengths[i]), "image": int(image_positions[i]), "generated": len(ids)},
            decode_tokens_per_s=rate, truncated=truncated, batch_size=len(samples), retry=retry, batch_id=batch_id,
            repeats_differ=differ,
        )  # fmt: skip
    if "image_sizes" in inputs:
        crops = int(sum(1 + (h // CROP_SIZE) * (w // CROP_SIZE) for h, w in inputs["image_sizes"].tolist()))
    else:
        crops = 0
    prompt_tokens = [int(n) for n in prompt_lengths]
    figures = BatchFigures(
        prompt_tokens, generated, crops, chosen.generation.prefill_ms, rate, int(sum(image_positions)), first.kv_columns
    )
    state.figures.append(figures)
    return out


def check_images(
    loaded: LoadedModel, samples: Sequence[Sample], prompts: dict[str, str], limits: dict[str, int] | None = None
) -> tuple[list[Sample], dict[str, Prediction]]:
    """Check each sample alone, untimed (images decoded and sized, prompt tokenized), so that a bad file or prompt
    fails its sample and not its batch. Returns the samples that passed and failed predictions for the others."""
    ready, _, failures = check_samples(loaded.processor, samples, prompts)
    limits = limits or {}
    return ready, {s.id: _failed(s, prompts[s.id], exc, limits.get(s.id)) for s, exc in failures}


def predict(
    loaded: LoadedModel, samples: Sequence[Sample], runtime: RuntimeConfig, state: RunState | None = None
) -> list[Prediction]:
    """Answer, score and time one batch (latency mode: the timed request decodes the image files again, because
    its latency is meant to start from them). Predictions come back in the order of `samples`."""
    state = state or RunState()
    prompts = prompts_of(samples)
    limits = budgets(loaded.processor, samples, runtime)
    ready, results = check_images(loaded, samples, prompts, limits)
    if ready:
        results.update(_answer(loaded, ready, prompts, runtime, limits, state))
    return [results[s.id] for s in samples]


def plan(loaded: LoadedModel, samples: Sequence[Sample], runtime: RuntimeConfig) -> list[list[Sample]]:
    """The batches of one suite's samples; bucketed by estimated prompt length when batch_size > 1."""
    if runtime.batch_size == 1 or not runtime.bucket:
        return plan_batches(samples, runtime.batch_size)
    prompts = prompts_of(samples)
    lengths = [estimate_prompt_tokens(loaded.processor, s, prompts[s.id]) for s in samples]
    return plan_batches(samples, runtime.batch_size, lengths)


def evaluate(loaded: LoadedModel, batches: Sequence[list[Sample]], runtime: RuntimeConfig, state: RunState) -> Iterator:
    """(batch, its predictions in batch order) for each batch, in the runtime's mode."""
    if runtime.mode == "latency":
        for batch in batches:
            yield batch, predict(loaded, batch, runtime, state)
        return
    for batch, prepared in prefetcher(loaded, batches):
        prompts = prompts_of(batch)
        limits = budgets(loaded.processor, batch, runtime)
        if isinstance(prepared, (EvalkitError, ValueError, RuntimeError)):  # e.g. an image the processor cannot crop
            results = {s.id: _failed(s, prompts[s.id], prepared, limits[s.id]) for s in batch}
        elif isinstance(prepared, Exception):  # anything else is a bug: fail loudly, as latency mode would
            raise prepared
        else:
            results = {s.id: _failed(s, prompts[s.id], exc, limits[s.id]) for s, exc in prepared.failures}
            if prepared.samples:
                results.update(_answer(loaded, prepared.samples, prompts, runtime, limits, state, prepared))
        yield batch, [results[s.id] for s in batch]


def warm_up(loaded: LoadedModel, batches: Sequence[list[Sample]], runtime: RuntimeConfig) -> None:
    """Untimed requests so that kernels are compiled and caches allocated before anything is measured. With
    runtime.compile, one batch per decode-loop shape (batch size x KV-cache capacity bucket, evalkit.phi3v.decode):
    each shape is one compiled graph, so the timed requests find theirs built (a request that still compiles, e.g.
    when the estimate missed a bucket, is counted in performance.harness.compiled_requests)."""
    picks = list(batches[:1])
    if runtime.compile and picks:

        def shape(batch: list[Sample]) -> tuple[int, int]:
            prompts = prompts_of(batch)
            longest = max(estimate_prompt_tokens(loaded.processor, s, prompts[s.id]) for s in batch)
            budget = max(budgets(loaded.processor, batch, runtime).values())
            rows = runtime.batch_size if runtime.mode == "throughput" else len(batch)
            return rows, capacity_for(longest + budget - 1)

        seen = {shape(picks[0])}
        for batch in batches[1:]:
            if shape(batch) not in seen:
                picks.append(batch)
                seen.add(shape(batch))
    for _ in range(runtime.warmup):
        for batch in picks:
            prompts = prompts_of(batch)
            ready, _ = check_images(loaded, batch, prompts)
            if not ready:
                continue
            limits = budgets(loaded.processor, ready, runtime)
            try:
                timed_request(
                    loaded, ready, [prompts[s.id] for s in ready], runtime=runtime,
                    max_new_tokens=max(limits.values()),
                )  # fmt: skip
            except _GENERATION_ERRORS as exc:
                log.warning("warm-up request failed (%s); the timed requests will show it too", exc)

"""The evaluation loop of one setting, batch by batch: plan → prepare → generate → score → record.

`plan` groups a suite's items (evalkit.run.items) into batches; `evaluate` answers them in the runtime's mode and
yields each batch's predictions for the runner to record. Answering a batch (`predict`, or the prefetched batch of
throughput mode) goes:
  check    each item alone, untimed: its images decoded, its prompt checked (a bad file fails its item alone);
  generate `runtime.repeats` timed requests for the batch (evalkit.run.requests; `_generate_once` is the one place a
           batch reaches the model); a batch that fails is retried item by item, so one bad sample never fails
           its batch-mates;
  score    outside the timing: each answer cut at its stop token and its own budget, decoded, scored
           (evalkit.scoring.metrics) and turned into its Prediction (`Item.prediction`).
`warm_up` runs untimed requests before anything is measured.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field

import torch

from evalkit.config.settings import RuntimeConfig
from evalkit.errors import EvalkitError
from evalkit.phi3v.decode import capacity_for
from evalkit.phi3v.engine import LoadedModel
from evalkit.phi3v.images import CROP_SIZE
from evalkit.records import LoopFigures, Prediction
from evalkit.run.batching import Prepared, check_items, estimate_prompt_tokens, plan_batches
from evalkit.run.items import Item
from evalkit.run.measure import LoopClock, median_request
from evalkit.run.requests import Request, longest_budget, prefetcher, timed_request
from evalkit.run.roofline import BatchFigures
from evalkit.scoring import metrics

log = logging.getLogger(__name__)

# Errors a generate() call can end in: CUDA OOM and kernel failures are RuntimeErrors; inputs the per-item check
# missed surface as ValueError or EvalkitError.
_GENERATION_ERRORS = (RuntimeError, ValueError, EvalkitError)


@dataclass
class RunState:
    """What the evaluation loop accumulates: batch ids, the loop clock, per-batch figures for the roofline."""

    clock: LoopClock = field(default_factory=LoopClock)
    batches: int = 0
    compiled_requests: int = 0
    figures: list[BatchFigures] = field(default_factory=list)
    decode_start: dict = field(default_factory=dict)  # the decoder's counts when the run began (runner)
    energy: object = None  # evalkit.run.energy.EnergyWindow of the evaluation loop (runner)
    # Batch ids are unique within the run: rank r of N numbers its batches base + r, base + r + N, ...; a resumed
    # run starts past the ids its earlier attempts used.
    base: int = 0
    stride: int = 1
    offset: int = 0

    def new_batch_id(self) -> int:
        self.batches += 1
        return self.base + (self.batches - 1) * self.stride + self.offset

    def loop_figures(self, mode: str, predictions: Sequence[Prediction]) -> LoopFigures:
        """This process's loop (`predictions`: those it answered, not those of earlier attempts)."""
        ok = [p for p in predictions if not p.failed]
        return LoopFigures(
            mode=mode, wall_s=self.clock.wall_s, busy_s=self.clock.wall_s, generate_s=self.clock.generate_s,
            requests=self.clock.requests, compiled_requests=self.compiled_requests, answered=len(ok),
            generated_tokens=sum(p.tokens.get("generated", 0) for p in ok),
        )  # fmt: skip


# ------------------------------------------------------------------------------------------------------ plan


def plan(loaded: LoadedModel, items: Sequence[Item], runtime: RuntimeConfig) -> list[list[Item]]:
    """The batches of one suite's items; bucketed by estimated prompt length when batch_size > 1."""
    if runtime.batch_size == 1 or not runtime.bucket:
        return plan_batches(items, runtime.batch_size)
    lengths = [estimate_prompt_tokens(loaded.processor, item) for item in items]
    return plan_batches(items, runtime.batch_size, lengths)


# -------------------------------------------------------------------------------------------------- the loop


def evaluate(loaded: LoadedModel, batches: Sequence[list[Item]], runtime: RuntimeConfig, state: RunState) -> Iterator:
    """(batch, its predictions in batch order) for each batch, in the runtime's mode."""
    if runtime.mode == "latency":
        for batch in batches:
            yield batch, predict(loaded, batch, runtime, state)
        return
    for batch, prepared in prefetcher(loaded, batches):
        if isinstance(prepared, (EvalkitError, ValueError, RuntimeError)):  # e.g. an image the processor cannot crop
            results = {item.id: item.failure(prepared) for item in batch}
        elif isinstance(prepared, Exception):  # anything else is a bug: fail loudly, as latency mode would
            raise prepared
        else:
            results = {item.id: item.failure(exc) for item, exc in prepared.failures}
            if prepared.items:
                results.update(_answer(loaded, prepared.items, runtime, state, prepared))
        yield batch, [results[item.id] for item in batch]


def predict(
    loaded: LoadedModel, batch: Sequence[Item], runtime: RuntimeConfig, state: RunState | None = None
) -> list[Prediction]:
    """Answer, score and time one batch (latency mode: the timed request decodes the image files again, because
    its latency is meant to start from them). Predictions come back in the order of `batch`."""
    state = state or RunState()
    ready, results = check_images(loaded, batch)
    if ready:
        results.update(_answer(loaded, ready, runtime, state))
    return [results[item.id] for item in batch]


# ------------------------------------------------------------------------------------------------ prepare


def check_images(loaded: LoadedModel, items: Sequence[Item]) -> tuple[list[Item], dict[str, Prediction]]:
    """Check each item alone, untimed (images decoded and sized, prompt tokenized), so that a bad file or prompt
    fails its item and not its batch. Returns the items that passed and failed predictions for the others."""
    ready, _, failures = check_items(loaded.processor, items)
    return ready, {item.id: item.failure(exc) for item, exc in failures}


# ----------------------------------------------------------------------------------------------- generate


def _generate_once(loaded: LoadedModel, items: Sequence[Item], max_new_tokens: int, **kwargs) -> Request:
    """One timed request (the seam tests use to make a generation fail)."""
    return timed_request(loaded, items, max_new_tokens=max_new_tokens, **kwargs)


def _release(loaded: LoadedModel) -> None:
    if loaded.device.type == "cuda":
        torch.cuda.empty_cache()


def _answer(loaded, batch: list[Item], runtime, state: RunState, prepared: Prepared | None = None) -> dict:
    """Answer a batch whose items passed their own check. One bad sample never fails another sample of its batch:
    if the batch's generation fails, each item is generated alone to find the one(s) that fail, then the rest of
    the batch together again (the batch size closest to the configured one). If only the whole batch fails (e.g.
    out of memory), the items keep their answers from being generated alone. Retries start from the image files
    (as in latency mode); every prediction records the batch it was generated in (`batch_size`, `retry`)."""
    try:
        return _timed_predictions(loaded, batch, runtime, state, prepared)
    except _GENERATION_ERRORS as exc:
        _release(loaded)
        if len(batch) == 1:
            return {batch[0].id: batch[0].failure(exc)}
        cause = f"the batch of {len(batch)} failed ({type(exc).__name__}: {exc})"
        log.warning("%s; retrying its samples", cause)
    results, bad = {}, []
    for item in batch:
        try:
            results.update(_timed_predictions(loaded, [item], runtime, state, retry=f"{cause}; generated alone"))
        except _GENERATION_ERRORS as exc:
            _release(loaded)
            results[item.id] = item.failure(exc)
            bad.append(item.id)
    rest = [item for item in batch if item.id not in bad]
    if bad and len(rest) > 1:
        note = f"{cause}; generated again without {', '.join(repr(b) for b in bad)}"
        try:
            results.update(_timed_predictions(loaded, rest, runtime, state, retry=note))
        except _GENERATION_ERRORS:
            _release(loaded)  # the rest keep their answers from being generated alone
    return results


def _timed_predictions(loaded, batch: list[Item], runtime, state: RunState, prepared=None, retry=None) -> dict:
    """Time `runtime.repeats` requests for the batch, then build (and score) its predictions outside the timing."""
    budget = longest_budget(batch)
    requests = [
        _generate_once(loaded, batch, budget, runtime=runtime, prepared=prepared) for _ in range(runtime.repeats)
    ]
    for request in requests:
        state.clock.add(request.timing)
        state.compiled_requests += request.timing.compiled
    return _predictions(loaded, batch, requests, state, prepared, retry)


# -------------------------------------------------------------------------------------------------- score


def _answer_ids(row: torch.Tensor, stop_ids: set[int], budget: int) -> tuple[list[int], bool]:
    """The answer's tokens, cut at the first stop token or at the item's own budget, and whether it was cut
    off by the budget. A batch generates up to its largest budget; cutting each row to its own budget gives the
    tokens a batch of one would have produced (greedy decoding: a row does not depend on the others)."""
    ids = []
    for token in row.tolist()[:budget]:
        if token in stop_ids:
            return ids, False
        ids.append(token)
    return ids, len(ids) >= budget


def _predictions(loaded, batch: list[Item], requests: list[Request], state: RunState, prepared, retry) -> dict:
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
    for i, item in enumerate(batch):
        ids, truncated = _answer_ids(first.new_tokens[i], stop_ids, item.budget)
        differ = any(_answer_ids(r.new_tokens[i], stop_ids, item.budget)[0] != ids for r in requests[1:])
        answer = loaded.processor.decode(ids)
        generated.append(len(ids))
        out[item.id] = item.prediction(
            answer=answer, answer_token_ids=ids, scores=metrics.score_sample(item.sample, answer),
            timings_ms=dict(timings),
            tokens={"prompt": int(prompt_lengths[i]), "image": int(image_positions[i]), "generated": len(ids)},
            decode_tokens_per_s=rate, truncated=truncated, batch_size=len(batch), retry=retry, batch_id=batch_id,
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


# ------------------------------------------------------------------------------------------------ warm-up


def warm_up(loaded: LoadedModel, batches: Sequence[list[Item]], runtime: RuntimeConfig) -> None:
    """Untimed requests so that kernels are compiled and caches allocated before anything is measured. With
    runtime.compile, one batch per decode-loop shape (batch size x KV-cache capacity bucket, evalkit.phi3v.decode):
    each shape is one compiled graph, so the timed requests find theirs built (a request that still compiles, e.g.
    when the estimate missed a bucket, is counted in performance.harness.compiled_requests)."""
    picks = list(batches[:1])
    if runtime.compile and picks:

        def shape(batch: list[Item]) -> tuple[int, int]:
            longest = max(estimate_prompt_tokens(loaded.processor, item) for item in batch)
            rows = runtime.batch_size if runtime.mode == "throughput" else len(batch)
            return rows, capacity_for(longest + longest_budget(batch) - 1)

        seen = {shape(picks[0])}
        for batch in batches[1:]:
            if shape(batch) not in seen:
                picks.append(batch)
                seen.add(shape(batch))
    for _ in range(runtime.warmup):
        for batch in picks:
            ready, _ = check_images(loaded, batch)
            if not ready:
                continue
            try:
                timed_request(loaded, ready, runtime=runtime, max_new_tokens=longest_budget(ready))
            except _GENERATION_ERRORS as exc:
                log.warning("warm-up request failed (%s); the timed requests will show it too", exc)

"""Latency per setting and suite with pytest-benchmark (pedantic: explicit rounds and warm-up, one load per setting).

Each round answers the same fixed sample set (the first --perf-samples samples of the suite, batched as a run
batches them) and times only what a request is: preprocessing from the image files and generation, batch by batch
(in throughput mode, with the next batch prepared in the background). The image check before the rounds, and the
text decoding and scoring after them, are outside the timed function. So `--benchmark-json`,
`--benchmark-autosave` and `--benchmark-compare-fail=median:50%` compare model latency, and time to first token,
tokens/s and peak memory go to `extra_info` (medians over the timed requests: n = batches x rounds).
"""

from __future__ import annotations

import statistics

import pytest
import torch

from evalkit.run import runner
from evalkit.run.measure import MemoryTracker, median_request
from evalkit.run.requests import Request

pytestmark = pytest.mark.performance


def test_latency(bench, setting, suite, benchmark):
    loaded = bench.loaded(setting)
    cfg, _ = bench.config(setting)
    samples = list(bench.suite(suite).samples[: bench.options.perf_samples])
    items = runner.make_items(loaded.processor, samples, cfg.runtime)
    batches = runner.plan(loaded, items, cfg.runtime)
    _, failed = runner.check_images(loaded, items)  # untimed, before the rounds
    assert not failed, f"{setting} {suite}: unreadable images: {[p.error for p in failed.values()][:3]}"
    rounds: list[list[Request]] = []

    def answer_sample_set():
        rounds.append(runner.request_round(loaded, batches, cfg.runtime))

    benchmark.group = suite
    with MemoryTracker(loaded.device) as memory:
        benchmark.pedantic(
            answer_sample_set, rounds=bench.options.perf_rounds, warmup_rounds=bench.options.perf_warmup, iterations=1
        )
    # Warm-up rounds come first; with --benchmark-disable pytest-benchmark runs the function once, untimed.
    timed_rounds = rounds[-bench.options.perf_rounds :]
    requests = [r.timing for rnd in timed_rounds for r in rnd]
    rates = [t.generation.decode_tokens_per_s for t in requests if t.generation.decode_tokens_per_s]
    stops = torch.tensor([*loaded.processor.stop_token_ids, loaded.processor.pad_token_id])
    generated = sum(int((~torch.isin(r.new_tokens, stops)).sum()) for rnd in timed_rounds for r in rnd)
    benchmark.extra_info.update(
        setting=setting, model=bench.options.model_name, **{k: cfg.runtime.__dict__[k] for k in ("dtype", "attn", "batch_size", "max_new_tokens", "mode", "compile")},
        num_crops=loaded.processor.num_crops, device=str(loaded.device), samples=len(samples), batches=len(batches),
        timed="preprocess + generate" if cfg.runtime.mode == "latency" else "generate (preprocessing prefetched)",
        time_to_first_token_ms=statistics.median(t.generation.prefill_ms for t in requests),
        decode_ms=statistics.median(t.generation.decode_ms for t in requests),
        decode_tokens_per_s=statistics.median(rates) if rates else None,
        median_request_ms=median_request(requests).total_ms,
        generated_tokens=generated / len(timed_rounds),
        compiled_requests=sum(t.compiled for t in requests),
        peak_rss_mb=memory.peak_rss_mb, peak_allocated_mb=memory.peak_allocated_mb, peak_reserved_mb=memory.peak_reserved_mb,
    )  # fmt: skip

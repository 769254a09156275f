"""Latency per setting and suite with pytest-benchmark (pedantic: explicit rounds and warm-up, one load per setting).

Each round answers the same fixed sample set (the first --perf-samples samples of the suite) from the image files,
so `--benchmark-json`, `--benchmark-autosave` and `--benchmark-compare-fail=median:50%` work as usual; tokens/s,
time to first token and peak memory go to `extra_info`.
"""

from __future__ import annotations

import statistics

import pytest

from evalkit import runner
from evalkit.measure import MemoryTracker

pytestmark = pytest.mark.performance


def test_latency(bench, setting, suite, benchmark):
    loaded = bench.loaded(setting)
    cfg, _ = bench.config(setting)
    samples = list(bench.suite(suite).samples[: bench.options.perf_samples])
    rounds: list[list] = []

    def answer_sample_set():
        predictions = []
        for batch in runner.batches(samples, cfg.runtime.batch_size):
            predictions += runner.predict(loaded, batch, cfg.runtime)
        rounds.append(predictions)

    benchmark.group = suite
    with MemoryTracker(loaded.device) as memory:
        benchmark.pedantic(
            answer_sample_set, rounds=bench.options.perf_rounds, warmup_rounds=bench.options.perf_warmup, iterations=1
        )
    # Warm-up rounds come first; with --benchmark-disable pytest-benchmark runs the function once, untimed.
    timed_rounds = rounds[-bench.options.perf_rounds :]
    timed = [p for preds in timed_rounds for p in preds]
    failed = [f"{p.sample_id}: {p.error}" for p in timed if p.failed]
    assert not failed, f"{setting} {suite}: samples failed while timing: {failed[:3]}"
    rates = [p.decode_tokens_per_s for p in timed if p.decode_tokens_per_s]
    benchmark.extra_info.update(
        setting=setting, model=bench.options.model_name, **{k: cfg.runtime.__dict__[k] for k in ("dtype", "attn", "batch_size", "max_new_tokens")},
        num_crops=loaded.processor.num_crops, device=str(loaded.device), samples=len(samples),
        time_to_first_token_ms=statistics.median(p.timings_ms["prefill"] for p in timed),
        decode_ms=statistics.median(p.timings_ms["decode"] for p in timed),
        decode_tokens_per_s=statistics.median(rates) if rates else None,
        generated_tokens=sum(p.tokens["generated"] for p in timed) / len(timed_rounds),
        peak_rss_mb=memory.peak_rss_mb, peak_allocated_mb=memory.peak_allocated_mb, peak_reserved_mb=memory.peak_reserved_mb,
    )  # fmt: skip

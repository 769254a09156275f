"""The timing rules of a real run on the tiny model (num_crops 1, a few tokens): what is inside a timed request and
what is not, batches counted once, phases adding up per request, repeats compared, both modes, compile.

Never asserts on absolute speed: only on structure (what ran where, what adds up, what was counted).
"""

from __future__ import annotations

import dataclasses
import threading
from collections import Counter

import pytest
import torch

from evalkit.config.settings import EvalConfig, ModelConfig, RuntimeConfig
from evalkit.data.suites import resolve_suites
from evalkit.phi3v.decode import decoder_for
from evalkit.records import load_run
from evalkit.run import batching, requests, runner
from evalkit.run.measure import in_timed_region
from evalkit.scoring import metrics

pytestmark = pytest.mark.slow
RT = {"device": "cpu", "num_crops": 1, "max_new_tokens": 3, "warmup": 0}


def _config(tmp_path, suites=("ocr", "describe"), limit=2, **runtime) -> EvalConfig:
    return EvalConfig(
        model=ModelConfig(), runtime=RuntimeConfig(**{**RT, **runtime}), suites=list(suites), limit=limit,
        limit_mode="head", output_dir=str(tmp_path / "runs"), cache_dir=str(tmp_path / "cache"), progress=False, reports=False,
    )  # fmt: skip


@pytest.fixture(scope="module")
def loaded(tmp_path_factory):
    return runner.load(_config(tmp_path_factory.mktemp("load")))


@pytest.fixture
def calls(monkeypatch):
    """Records, per call of the image decoder and of the scorer, whether it ran inside a timed request."""
    seen: dict[str, Counter] = {"decode": Counter(), "score": Counter(), "thread": Counter()}
    real_load, real_score = batching.load_image, metrics.score_sample

    def load_image(path):
        seen["decode"]["timed" if in_timed_region() else "untimed"] += 1
        seen["thread"][threading.current_thread().name] += 1
        return real_load(path)

    def score_sample(sample, answer):
        seen["score"]["timed" if in_timed_region() else "untimed"] += 1
        return real_score(sample, answer)

    monkeypatch.setattr(batching, "load_image", load_image)
    monkeypatch.setattr(requests, "load_image", load_image)
    monkeypatch.setattr(metrics, "score_sample", score_sample)
    return seen


def test_latency_mode_rules(tmp_path, loaded, calls):
    cfg = _config(tmp_path, batch_size=2, repeats=3)
    record, predictions = load_run(runner.run(cfg, loaded=loaded).run_dir)
    assert record.status == "complete" and record.n_errors == 0 and len(predictions) == 4
    images = sum(len(p.images) for p in predictions)
    # Each timed request decodes its images (latency starts from the files); the check before it decodes them once,
    # untimed; scoring never runs inside a request.
    assert calls["decode"] == Counter(untimed=images, timed=3 * images)
    assert calls["score"] == Counter(untimed=4)
    # One batch of 2 per suite: two measurements, not four.
    perf = record.performance
    assert perf["n_batches"] == 2 and perf["latency_ms"]["end_to_end"]["n"] == 2 and perf["tokens"]["prompt"]["n"] == 4
    by_batch: dict[int, list] = {}
    for p in predictions:
        by_batch.setdefault(p.batch_id, []).append(p)
    assert sorted(len(b) for b in by_batch.values()) == [2, 2]
    for batch in by_batch.values():
        assert all(p.timings_ms == batch[0].timings_ms for p in batch)  # the batch's latency is each sample's
        t = batch[0].timings_ms
        parts = t["preprocess"] + t["prefill"] + t["decode"]
        # The phases of one request (the median of 3): only the copy to the device and bookkeeping lie outside them.
        assert parts <= t["end_to_end"] and t["end_to_end"] - parts < max(15.0, 0.05 * t["end_to_end"])
    harness = perf["harness"]
    assert harness["mode"] == "latency" and harness["requests"] == 6 and harness["compiled_requests"] == 0
    assert 0 < harness["generate_s"] < harness["wall_s"] and 0 < harness["overhead"] < 1
    assert "roofline" not in perf  # CPU run


def test_benchmark_round_is_preprocessing_and_generation_only(loaded, calls):
    samples = resolve_suites(["ocr"])[0].samples[:2]
    items = runner.make_items(loaded.processor, samples, RuntimeConfig(**RT, batch_size=2))
    batches = runner.plan(loaded, items, RuntimeConfig(**RT, batch_size=2))
    requests = runner.request_round(loaded, batches, RuntimeConfig(**RT, batch_size=2))
    assert len(requests) == 1 and calls["decode"] == Counter(timed=2) and calls["score"] == Counter()
    throughput = RuntimeConfig(**RT, batch_size=2, mode="throughput")
    assert len(runner.request_round(loaded, batches, throughput)) == 1
    assert calls["decode"]["untimed"] == 2 and calls["thread"]["evalkit-prefetch"] == 2


def test_throughput_mode_prefetches_and_answers_as_latency_mode(tmp_path, loaded, calls):
    suites, limit = ("describe",), 3  # prompts of 329, 332 and 331 tokens: bucketed as [0, 2], [1]
    latency = load_run(runner.run(_config(tmp_path, suites, limit, batch_size=2), loaded=loaded).run_dir)[1]
    calls["decode"].clear()
    calls["thread"].clear()
    record, predictions = load_run(
        runner.run(_config(tmp_path, suites, limit, batch_size=2, mode="throughput"), loaded=loaded).run_dir
    )
    assert [p.sample_id for p in predictions] == [p.sample_id for p in latency]  # manifest order on disk
    assert [p.answer_token_ids for p in predictions] == [p.answer_token_ids for p in latency]
    images = sum(len(p.images) for p in predictions)
    # Every image decoded exactly once, in the prefetching thread (no separate check, nothing in the main thread).
    assert calls["decode"] == Counter(untimed=images) and calls["thread"] == Counter({"evalkit-prefetch": images})
    for p in predictions:
        t = p.timings_ms
        assert "end_to_end" not in t and t["prefill"] + t["decode"] <= t["generate"] and t["preprocess"] > 0
    assert [p.batch_id for p in predictions] == [0, 1, 0]
    perf = record.performance
    assert perf["harness"]["mode"] == "throughput" and perf["n_batches"] == 2 and record.setting["mode"] == "throughput"


def test_repeats_that_disagree_are_flagged(tmp_path, loaded, monkeypatch):
    decoder = decoder_for(loaded.model)
    real = decoder.generate
    count = {"n": 0}

    def second_repeat_differs(*args, **kwargs):
        out = real(*args, **kwargs)
        count["n"] += 1
        if count["n"] == 2:
            tokens = out.new_tokens.clone()
            tokens[0, -1] = (tokens[0, -1] + 1) % 1000  # a nondeterministic kernel changed the last token of row 0
            out = dataclasses.replace(out, new_tokens=tokens)
        return out

    monkeypatch.setattr(decoder, "generate", second_repeat_differs)
    record, predictions = load_run(runner.run(_config(tmp_path, ("ocr",), 1, repeats=2), loaded=loaded).run_dir)
    assert [p.repeats_differ for p in predictions] == [True]
    assert record.performance["repeats_differ"]["n"] == 1


def test_compile_answers_as_eager_mode(tmp_path, loaded):
    eager = load_run(runner.run(_config(tmp_path, max_new_tokens=6), loaded=loaded).run_dir)[1]
    torch._dynamo.reset()
    record, compiled = load_run(
        runner.run(_config(tmp_path, max_new_tokens=6, compile=True, warmup=1), loaded=loaded).run_dir
    )
    assert [p.answer_token_ids for p in compiled] == [p.answer_token_ids for p in eager]
    assert record.setting["compile"] is True
    # The warm-up covered two prompt lengths, so no timed request paid for a compilation.
    assert record.performance["harness"]["compiled_requests"] == 0
    decode = record.performance["decode"]
    assert decode["loop"] == "compiled" and decode["graph_breaks"] == 0 and decode["graphs"] >= 1
    assert decode["recompiles"] == decode["graphs"] - 1  # the decoder's first graph is not a recompile
    assert record.performance["fingerprint_s"] >= 0 and record.performance["load_s"] > 0
    joules = record.performance["energy"]
    assert joules["joules"] is None and "CUDA devices only" in joules["reason"]  # null with the reason, never 0

"""Length-bucketed batches, the preparation of a batch and the prefetching thread (processor only, no model)."""

from __future__ import annotations

import shutil
import threading
from dataclasses import replace
from pathlib import Path

import pytest

from evalkit.data.suites import resolve_suites
from evalkit.phi3v.processing import Phi3VProcessor, build_prompt
from evalkit.run.batching import Prefetcher, estimate_prompt_tokens, plan_batches, prepare
from evalkit.run.items import Item

ASSETS = Path(__file__).resolve().parents[1] / "evalkit" / "phi3v" / "assets"  # the published tokenizer files


@pytest.fixture(scope="module")
def processor() -> Phi3VProcessor:
    return Phi3VProcessor.from_pretrained(ASSETS, num_crops=4)


@pytest.fixture(scope="module")
def mixed():
    """Samples of very different prompt lengths, interleaved: OCR pages, two-image comparisons, descriptions."""
    suites = resolve_suites(["ocr", "compare", "describe"])
    return [s for group in zip(*(suite.samples[:3] for suite in suites), strict=True) for s in group]


def _items(samples):
    return [Item(s, prompt=build_prompt(s.question, len(s.images)), budget=8) for s in samples]


def test_plan_without_lengths_keeps_manifest_order():
    assert plan_batches(list("abcde"), 2) == [["a", "b"], ["c", "d"], ["e"]]


def test_plan_with_lengths_groups_similar_lengths_stably():
    batches = plan_batches(list("abcdef"), 2, lengths=[9, 1, 5, 1, 9, 5])
    assert batches == [["b", "d"], ["c", "f"], ["a", "e"]]
    with pytest.raises(ValueError, match="2 lengths for 6 items"):
        plan_batches(list("abcdef"), 2, lengths=[1, 2])


def test_length_estimate_from_image_headers_is_the_prompt_length(processor, mixed):
    for item in _items(mixed):
        inputs = processor(item.prompt, item.sample.images)
        assert estimate_prompt_tokens(processor, item) == inputs["input_ids"].shape[1], item.id


def test_bucketing_cuts_padding(processor, mixed):
    lengths = [estimate_prompt_tokens(processor, item) for item in _items(mixed)]
    by_id = dict(zip((s.id for s in mixed), lengths, strict=True))

    def padding(batches):
        return sum(max(by_id[s.id] for s in b) * len(b) - sum(by_id[s.id] for s in b) for b in batches)

    bucketed, in_order = plan_batches(mixed, 3, lengths), plan_batches(mixed, 3)
    assert sorted(s.id for b in bucketed for s in b) == sorted(s.id for s in mixed)
    assert padding(bucketed) < padding(in_order)


def test_prepare_fails_an_unreadable_sample_alone(processor, mixed, tmp_path):
    broken = tmp_path / "broken.png"
    shutil.copy(mixed[0].images[0], broken)
    broken.write_bytes(broken.read_bytes()[:200])  # truncated
    batch = [mixed[0], replace(mixed[1], images=[broken]), mixed[2]]
    prepared = prepare(processor, _items(batch))
    assert [item.id for item in prepared.items] == [mixed[0].id, mixed[2].id]
    assert [(s.id, type(e).__name__) for s, e in prepared.failures] == [(mixed[1].id, "InputError")]
    assert prepared.inputs["input_ids"].shape[0] == 2 and prepared.preprocess_ms > 0
    assert str(broken) in str(prepared.failures[0][1])


def test_prefetcher_prepares_ahead_in_order_and_hands_over_errors():
    batches = [[i] for i in range(5)]
    started = {i: threading.Event() for i in range(5)}
    threads = set()

    def work(batch):
        threads.add(threading.current_thread().name)
        started[batch[0]].set()
        if batch[0] == 3:
            raise RuntimeError("processor failed")
        return batch[0] * 10

    seen = []
    for batch, result in Prefetcher(batches, work, depth=2):
        if batch == [0]:
            assert started[1].wait(5), "batch 1 was not prepared while batch 0 was being consumed"
        seen.append((batch[0], result if not isinstance(result, Exception) else str(result)))
    assert seen == [(0, 0), (1, 10), (2, 20), (3, "processor failed"), (4, 40)]
    assert threads == {"evalkit-prefetch"}


def test_prefetcher_stops_when_the_consumer_stops():
    prefetch = Prefetcher([[i] for i in range(100)], lambda b: b[0], depth=2)
    for batch, _ in prefetch:
        if batch == [1]:
            break
    prefetch.close()
    assert not prefetch._thread.is_alive()

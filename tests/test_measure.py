"""The timing rules on hand-made measurements (no model): batches counted once, phases from one whole request,
repeats that disagree flagged, overhead arithmetic, the out-of-process RSS sampler, manifest order on disk."""

from __future__ import annotations

import json
import threading
import time

import numpy as np
import psutil
import pytest

from evalkit.phi3v.timing import GenerationTiming
from evalkit.records import SAMPLES_FILE, Prediction, RunRecord, RunWriter, summarize_performance
from evalkit.run.measure import (
    LoopClock,
    MemoryTracker,
    RequestTiming,
    RssSampler,
    in_timed_region,
    median_request,
    timed_region,
)


def request(pre: float | None, prefill: float, decode: float, other: float = 1.0, steps: int = 9) -> RequestTiming:
    total = (pre or 0.0) + prefill + decode + other
    return RequestTiming(GenerationTiming(prefill, decode, steps), total, pre)


def test_median_request_is_one_whole_request_so_its_phases_add_up():
    # Each request puts its cost in a different phase. Per-phase medians would say preprocess 40 + prefill 40 +
    # decode 40 = 120 ms for a request whose end-to-end median is 83 ms: parts larger than the whole.
    runs = [request(1, 40, 40), request(40, 2, 40), request(40, 40, 3)]  # totals 82, 83, 84 ms
    chosen = median_request(runs)
    assert chosen is runs[1]
    phases = chosen.phases()
    assert list(phases) == ["preprocess", "prefill", "decode", "end_to_end"]
    assert phases["preprocess"] + phases["prefill"] + phases["decode"] <= phases["end_to_end"] == 83
    # With an even number of repeats the lower median is taken: still a real request, never an average of two.
    assert median_request(runs[1:]) is runs[1]


def test_throughput_requests_have_no_end_to_end_phase():
    phases = request(None, 40, 30, other=2).phases()
    assert phases == {"prefill": 40, "decode": 30, "generate": 72}


def _pred(i: int, batch: int | None, e2e: float, *, failed: bool = False, differ: bool = False) -> Prediction:
    return Prediction(
        sample_id=f"s{i}", suite="ocr", task="ocr", tags={}, images=[], prompt="q", answer=None if failed else "a",
        answer_token_ids=[1, 2], scores={}, timings_ms={} if failed else {"prefill": e2e / 2, "decode": e2e / 4, "end_to_end": e2e},
        tokens={} if failed else {"prompt": 10 + i, "image": 5, "generated": 2}, decode_tokens_per_s=None if failed else 100.0,
        error="RuntimeError: x" if failed else None, batch_id=batch, repeats_differ=differ,
    )  # fmt: skip


def test_a_batch_is_one_measurement_not_one_per_sample():
    predictions = [_pred(i, 0, 100.0) for i in range(4)] + [_pred(i, 1, 300.0) for i in range(4, 8)]
    predictions.append(_pred(8, 2, 0.0, failed=True))  # a failed batch has no timing
    perf = summarize_performance(predictions, load_s=1.0, memory_mb={})
    assert perf["n_batches"] == 2
    e2e = perf["latency_ms"]["end_to_end"]
    assert (e2e["n"], e2e["median"], e2e["p90"]) == (2, 200.0, 280.0)  # not n=8 with a p90 of 300
    assert perf["decode_tokens_per_s"]["n"] == 2
    assert perf["tokens"]["prompt"]["n"] == 8  # token counts stay per sample


def test_records_without_batch_ids_count_each_sample():
    perf = summarize_performance([_pred(i, None, 100.0 + i) for i in range(3)], load_s=None, memory_mb=None)
    assert perf["n_batches"] == 3 and perf["latency_ms"]["end_to_end"]["n"] == 3


def test_repeats_that_disagree_are_flagged_in_the_record():
    predictions = [_pred(0, 0, 1.0), _pred(1, 0, 1.0, differ=True), _pred(2, 1, 1.0)]
    perf = summarize_performance(predictions, load_s=None, memory_mb=None)
    assert perf["repeats_differ"] == {"n": 1, "samples": ["ocr/s1"]}
    roundtrip = Prediction.from_dict(json.loads(json.dumps(predictions[1].to_dict())))
    assert roundtrip.repeats_differ and roundtrip.batch_id == 0
    assert "repeats_differ" not in summarize_performance(predictions[:1], load_s=None, memory_mb=None)


def test_loop_clock_overhead_is_the_share_not_spent_generating():
    clock = LoopClock()
    assert clock.overhead is None
    clock.started = time.perf_counter() - 2.0
    clock.add(request(10.0, 600.0, 900.0))  # 1.5 s inside generate()
    clock.stop()
    assert clock.requests == 1 and clock.generate_s == pytest.approx(1.5)
    assert clock.overhead == pytest.approx(1 - 1.5 / clock.wall_s) and 0.2 < clock.overhead < 0.3


def test_timed_region_is_per_thread():
    seen = {}

    def other():
        seen["other"] = in_timed_region()

    with timed_region():
        thread = threading.Thread(target=other)
        thread.start()
        thread.join()
        assert in_timed_region()
    assert seen == {"other": False} and not in_timed_region()


def test_rss_is_sampled_by_another_process_and_sees_a_short_peak():
    threads_before = threading.active_count()
    sampler = RssSampler(interval_s=0.005)
    sampler.start()
    try:
        assert sampler.pid != psutil.Process().pid and psutil.Process(sampler.pid).is_running()
        assert threading.active_count() == threads_before  # no sampling thread in the measured process
        start = psutil.Process().memory_info().rss
        block = np.ones(200 * 2**20 // 8)  # 200 MiB, touched, held for 0.2 s
        time.sleep(0.2)
        del block
    finally:
        peak = sampler.stop()
    assert peak >= start + 150 * 2**20


def test_memory_tracker_peak_starts_at_the_block():
    block = np.ones(300 * 2**20 // 8)  # an earlier setting's peak, freed before this one starts
    del block
    with MemoryTracker("cpu") as memory:
        time.sleep(0.05)
    figures = memory.to_dict()
    assert figures["peak_rss"] >= figures["start_rss"] > 0
    assert figures["peak_rss"] < figures["start_rss"] + 100
    assert figures["peak_allocated"] is None  # CPU run


def test_writer_puts_bucketed_predictions_back_in_manifest_order(tmp_path):
    record = RunRecord(name="r", run_id="", status="running", started_at="t", finished_at=None, setting={}, config={},
                       provenance={}, suites={})  # fmt: skip
    order = {("ocr", f"s{i}"): i for i in range(4)}
    with RunWriter(tmp_path, record) as writer:
        for i in (2, 0, 3, 1):  # completion order of length-bucketed batches
            writer.add(_pred(i, i // 2, 10.0))
        written = [json.loads(line)["sample_id"] for line in (tmp_path / SAMPLES_FILE).read_text().splitlines()]
        assert written == ["s2", "s0", "s3", "s1"]  # appended as they finish (a killed run keeps them)
        writer.finish({}, order=order)
    lines = (tmp_path / SAMPLES_FILE).read_text().splitlines()
    assert [json.loads(line)["sample_id"] for line in lines] == ["s0", "s1", "s2", "s3"]
    assert [p.sample_id for p in writer.predictions] == ["s0", "s1", "s2", "s3"]

"""The pass/fail rules of `pytest benchmarks/` (evalkit.gates): answer agreement between settings and memory budgets."""

from __future__ import annotations

import pytest

from evalkit.gates import DEFAULT_AGREEMENT_TOKENS, Agreement, agreement, memory_budget
from evalkit.records import Prediction


def pred(sample_id: str, token_ids: list[int], *, suite: str = "ocr", error: str | None = None) -> Prediction:
    """A prediction whose answer text spells its token ids, so messages can be checked literally."""
    failed = error is not None
    return Prediction(
        sample_id=sample_id,
        suite=suite,
        task=suite,
        tags={},
        images=[],
        prompt="<|image_1|>\nRead the text.",
        answer=None if failed else " ".join(map(str, token_ids)),
        answer_token_ids=[] if failed else list(token_ids),
        scores={} if failed else {"located_cer": 0.5},
        timings_ms={} if failed else {"prefill": 10.0, "decode": 5.0},
        tokens={} if failed else {"generated": len(token_ids)},
        decode_tokens_per_s=None if failed else 100.0,
        error=error,
    )


TOKENS = list(range(100, 116))  # 16 generated tokens, like the tiny model's default max_new_tokens


def reference_run(n: int = 4) -> list[Prediction]:
    return [pred(f"s{i}", [t + i for t in TOKENS]) for i in range(n)]


def with_change(preds: list[Prediction], sample_id: str, position: int) -> list[Prediction]:
    """A copy of `preds` where `sample_id`'s token at `position` differs."""
    out = []
    for p in preds:
        ids = list(p.answer_token_ids)
        if p.sample_id == sample_id:
            ids[position] = 9999
        out.append(pred(p.sample_id, ids, suite=p.suite))
    return out


# ------------------------------------------------------------------------------------------ agreement


def test_identical_runs_agree_fully():
    ref = reference_run()
    result = agreement(ref, reference_run())
    assert result == Agreement(n=4, identical=1.0, first_n=1.0, tokens=DEFAULT_AGREEMENT_TOKENS, differing=[])
    assert result.ok(1.0)


def test_difference_within_first_n_tokens_lowers_first_n():
    ref = reference_run()
    result = agreement(ref, with_change(ref, "s1", position=2), tokens=8)
    assert result.n == 4
    assert result.first_n == pytest.approx(0.75)
    assert result.identical == pytest.approx(0.75)
    assert [(suite, sid) for suite, sid, _, _ in result.differing] == [("ocr", "s1")]
    assert not result.ok(0.9)  # the float32 minimum
    assert result.ok(0.5)  # the half-precision minimum


def test_difference_after_first_n_tokens_only_lowers_identical():
    ref = reference_run()
    result = agreement(ref, with_change(ref, "s3", position=12), tokens=8)
    assert result.first_n == 1.0
    assert result.identical == pytest.approx(0.75)
    assert result.differing == []  # only samples that differ within the first N tokens are listed
    # The same change counts once N reaches it.
    assert agreement(ref, with_change(ref, "s3", position=12), tokens=13).first_n == pytest.approx(0.75)


def test_failed_and_unmatched_samples_are_excluded():
    ref = reference_run(4) + [pred("ref_failed", [], error="RuntimeError: boom")]
    cand = with_change(reference_run(4), "s0", position=0)
    cand[1] = pred("s1", [], error="RuntimeError: out of memory")  # failed in the candidate only
    cand.append(pred("ref_failed", TOKENS))  # failed in the reference only
    cand.append(pred("only_in_candidate", TOKENS))
    result = agreement(ref, cand, tokens=8)
    assert result.n == 3  # s0, s2, s3
    assert result.first_n == pytest.approx(2 / 3)
    assert [sid for _, sid, _, _ in result.differing] == ["s0"]


def test_samples_are_matched_by_suite_and_id():
    ref = [pred("a", TOKENS, suite="ocr"), pred("a", TOKENS, suite="describe")]
    cand = [pred("a", TOKENS, suite="ocr"), pred("a", [1, 2, 3], suite="describe")]
    result = agreement(ref, cand)
    assert result.n == 2 and result.first_n == 0.5
    assert result.differing == [("describe", "a", ref[1].answer, "1 2 3")]


def test_no_common_answered_sample_never_passes():
    ref = reference_run(2)
    cand = [pred(p.sample_id, [], error="ValueError: bad image") for p in ref]
    result = agreement(ref, cand)
    assert (result.n, result.first_n, result.identical) == (0, 0.0, 0.0)
    assert not result.ok(0.0)


def test_message_names_settings_shares_and_differing_samples():
    ref = reference_run(8)
    cand = ref
    for sid in ("s0", "s1", "s2", "s3", "s4", "s5"):
        cand = with_change(cand, sid, position=0)
    result = agreement(ref, cand, tokens=8)
    message = result.message(0.9, "float32-eager", "bfloat16-sdpa")
    first, *rows = message.splitlines()
    assert first.startswith("bfloat16-sdpa vs float32-eager: 25.0% of 8 samples share their first 8 tokens")
    assert "minimum 90%" in first and "25.0% identical answers" in first
    assert len(rows) == 5  # the first five differing samples, not all six
    changed = " ".join(["9999"] + [str(t) for t in TOKENS[1:]])
    assert rows[0] == f"  ocr/s0: {ref[0].answer!r} -> {changed!r}"
    assert [row.split(":")[0].strip() for row in rows] == [f"ocr/s{i}" for i in range(5)]


# -------------------------------------------------------------------------------------------- memory


def perf(peak_rss: float | None = None, peak_allocated: float | None = None) -> dict:
    return {"memory_mb": {"peak_rss": peak_rss, "peak_allocated": peak_allocated, "peak_reserved": None}}


CPU = {"dtype": "float32", "device": "cpu"}


def test_memory_within_budget():
    check = memory_budget(perf(1000.0), CPU, perf(1100.0), CPU, tolerance=0.25)
    assert check.ok and check.skipped is None
    assert check.message == "peak_rss: 1100 MiB vs baseline 1000 MiB (+10.0%; budget +25% = 1250 MiB)"


def test_memory_at_the_limit_passes_and_just_over_fails():
    assert memory_budget(perf(1000.0), CPU, perf(1250.0), CPU, tolerance=0.25).ok
    assert not memory_budget(perf(1000.0), CPU, perf(1250.5), CPU, tolerance=0.25).ok


def test_memory_over_budget_message_has_the_numbers():
    check = memory_budget(perf(1000.0), CPU, perf(1300.0), CPU, tolerance=0.25)
    assert not check.ok and check.skipped is None
    assert check.message == "peak_rss: 1300 MiB vs baseline 1000 MiB (+30.0%; budget +25% = 1250 MiB)"


def test_memory_on_cuda_budgets_allocated_memory_across_device_indices():
    base = {"dtype": "bfloat16", "device": "cuda:0"}
    now = {"dtype": "bfloat16", "device": "cuda:1"}
    # RSS is irrelevant on CUDA: a large host-memory growth does not fail, allocated-memory growth does.
    assert memory_budget(perf(100.0, 8000.0), base, perf(900.0, 8100.0), now, tolerance=0.05).ok
    check = memory_budget(perf(100.0, 8000.0), base, perf(100.0, 9000.0), now, tolerance=0.05)
    assert not check.ok
    assert check.message.startswith("peak_allocated: 9000 MiB vs baseline 8000 MiB (+12.5%; budget +5% = 8400 MiB)")


@pytest.mark.parametrize(
    ("base_setting", "setting", "base_perf", "now_perf", "reason"),
    [
        (
            CPU,
            {"dtype": "bfloat16", "device": "cpu"},
            perf(1000.0),
            perf(5000.0),
            "baseline was recorded in float32, this run is bfloat16",
        ),
        (
            CPU,
            {"dtype": "float32", "device": "cuda:0"},
            perf(1000.0),
            perf(5000.0, 5000.0),
            "baseline was recorded on cpu, this run is on cuda:0",
        ),
        (
            {"dtype": "float32"},
            CPU,
            perf(1000.0),
            perf(5000.0),
            "baseline was recorded on an unknown device, this run is on cpu",
        ),
    ],
    ids=["dtype", "device-kind", "unknown-device"],
)
def test_memory_budget_is_skipped_when_not_comparable(base_setting, setting, base_perf, now_perf, reason):
    check = memory_budget(base_perf, base_setting, now_perf, setting, tolerance=0.0)
    assert check.skipped == reason
    assert check.ok  # a skipped budget never fails the test by itself


@pytest.mark.parametrize(
    ("setting", "base_perf", "now_perf", "message"),
    [
        (CPU, perf(None), perf(5000.0), "no peak_rss figure in the baseline: nothing to check the budget against"),
        (CPU, perf(1000.0), {}, "no peak_rss figure in this run: nothing to check the budget against"),
        (
            {"dtype": "float32", "device": "cuda"},
            perf(1000.0),
            perf(5000.0),
            "no peak_allocated figure in the baseline: nothing to check the budget against",
        ),
    ],
    ids=["missing-baseline-figure", "missing-run-figure", "cuda-no-alloc"],
)
def test_memory_budget_without_a_figure_fails(setting, base_perf, now_perf, message):
    # Before: skipped, so a damaged baseline made the memory gate pass on nothing.
    check = memory_budget(base_perf, setting, now_perf, setting, tolerance=0.25)
    assert not check.ok and check.skipped is None and check.message == message


def test_memory_message_names_setting_differences():
    base = {**CPU, "num_crops": 16, "max_new_tokens": 64}
    now = {**CPU, "num_crops": 4, "max_new_tokens": 64}
    check = memory_budget(perf(1000.0), base, perf(1300.0), now, tolerance=0.25)
    assert not check.ok
    assert check.message.endswith("; setting differs from the baseline: num_crops 16 -> 4")
    assert "setting differs" not in memory_budget(perf(1000.0), CPU, perf(1300.0), CPU, tolerance=0.25).message


def test_cpu_memory_budgets_the_rss_growth_not_what_earlier_work_left():
    # The same evaluation measured after other work in the process: a higher absolute RSS, the same growth.
    def grown(start: float, peak: float) -> dict:
        return {"memory_mb": {"peak_rss": peak, "start_rss": start, "rss_growth": peak - start}}

    alone, after_other_tests = grown(470.0, 1200.0), grown(820.0, 1570.0)
    check = memory_budget(alone, CPU, after_other_tests, CPU, tolerance=0.25)
    assert check.ok and check.message.startswith("rss_growth: 750 MiB vs baseline 730 MiB")
    assert not memory_budget(alone, CPU, grown(470.0, 1400.0), CPU, tolerance=0.25).ok  # a real growth fails
    # A baseline recorded before rss_growth existed is compared on peak_rss, as before.
    assert memory_budget(perf(1000.0), CPU, grown(400.0, 1100.0), CPU, tolerance=0.25).message.startswith("peak_rss")


def test_quality_verdict_fails_on_no_evidence_and_on_a_real_drop():
    from types import SimpleNamespace as NS

    from evalkit.gates import default_memory_tolerance, quality

    est = NS(mean=0.5, n=10, low=-0.3, high=-0.1)
    drop = NS(suite="ocr", metric="score", fails=True, higher_is_better=True, reference=est, candidate=est, diff=est)
    change = NS(suite="ocr", sample_id="s1", metric="score", badness=1.0, reference_score=1.0, candidate_score=0.0,
                reference_answer="a", candidate_answer="b", candidate_error=None)  # fmt: skip

    def pair(problems=(), metrics=(), new_errors=()):
        return NS(problems_for=lambda suite: list(problems), metrics=list(metrics), new_errors=list(new_errors),
                  changes=[change], notes=[])  # fmt: skip

    assert quality(pair(), "ocr", setting="s", baseline_name="b.json").ok
    no_evidence = quality(pair(problems=["partial"]), "ocr", setting="s", baseline_name="b.json")
    assert not no_evidence.ok and no_evidence.message.startswith("s ocr: no evidence to judge against b.json")
    regression = quality(pair(metrics=[drop]), "ocr", setting="s", baseline_name="b.json", setting_differences="x")
    assert (
        not regression.ok
        and "quality regression" in regression.message
        and "s1: score 1.000 -> 0.000" in regression.message
    )
    newly = quality(pair(new_errors=["ocr/s2", "describe/s3"]), "ocr", setting="s", baseline_name="b.json")
    assert "newly failing: ocr/s2" in newly.message and "describe/s3" not in newly.message
    assert default_memory_tolerance("cuda:1") == 0.05 and default_memory_tolerance("cpu") == 0.25

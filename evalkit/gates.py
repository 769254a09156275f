"""Pass/fail rules that `pytest benchmarks/` applies: quality against a baseline, agreement between settings, memory.

Each gate returns a small result with a human-readable `message`, so a CI failure says which suite, which number
and which samples; the benchmark tests only assert `result.ok`.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

from evalkit.records import Prediction
from evalkit.records.facts import memory_key

# Minimum share of samples whose first N greedy tokens match the reference setting (float32 eager), per dtype.
# float32 kernels differ only in summation order, so answers should match; half precision legitimately drifts.
DEFAULT_MIN_AGREEMENT = {"float32": 0.9, "bfloat16": 0.5, "float16": 0.5}
DEFAULT_AGREEMENT_TOKENS = 8


@dataclass(frozen=True)
class Agreement:
    n: int
    identical: float  # share of samples with exactly the same answer
    first_n: float  # share whose first `tokens` generated tokens are the same
    tokens: int
    differing: list[tuple[str, str, str | None, str | None]] = field(default_factory=list)  # (suite, id, ref, answer)

    def ok(self, minimum: float) -> bool:
        return self.n > 0 and self.first_n >= minimum

    def message(self, minimum: float, reference: str, setting: str) -> str:
        lines = [
            f"{setting} vs {reference}: {self.first_n:.1%} of {self.n} samples share their first {self.tokens} tokens"
            f" (minimum {minimum:.0%}); {self.identical:.1%} identical answers"
        ]
        for suite, sample_id, ref, answer in self.differing[:5]:
            lines.append(f"  {suite}/{sample_id}: {ref!r} -> {answer!r}")
        return "\n".join(lines)


def agreement(
    reference: Sequence[Prediction], candidate: Sequence[Prediction], tokens: int = DEFAULT_AGREEMENT_TOKENS
) -> Agreement:
    """Compare greedy answers sample by sample (only samples that succeeded in both runs count)."""
    ref = {(p.suite, p.sample_id): p for p in reference if not p.failed}
    pairs = [(ref[(p.suite, p.sample_id)], p) for p in candidate if not p.failed and (p.suite, p.sample_id) in ref]
    if not pairs:
        return Agreement(0, 0.0, 0.0, tokens)
    same = [a.answer_token_ids == b.answer_token_ids for a, b in pairs]
    prefix = [a.answer_token_ids[:tokens] == b.answer_token_ids[:tokens] for a, b in pairs]
    differing = [(b.suite, b.sample_id, a.answer, b.answer) for (a, b), ok in zip(pairs, prefix, strict=True) if not ok]
    return Agreement(len(pairs), sum(same) / len(pairs), sum(prefix) / len(pairs), tokens, differing)


def setting_diff(reference: dict, setting: dict) -> dict[str, tuple]:
    """The setting keys whose values differ: key -> (reference value, this value)."""
    return {
        k: (reference.get(k), setting.get(k))
        for k in sorted(set(reference) | set(setting))
        if reference.get(k) != setting.get(k)
    }


def describe_setting_diff(reference: dict, setting: dict, what: str = "the baseline") -> str:
    """'setting differs from the baseline: num_crops 16 -> 4, max_new_tokens 64 -> 16', or '' when it does not."""
    diff = setting_diff(reference, setting)
    if not diff:
        return ""
    return f"setting differs from {what}: " + ", ".join(f"{k} {a} -> {b}" for k, (a, b) in diff.items())


def other_model(reference: dict, setting: dict, what: str = "the baseline") -> str | None:
    """'the baseline is model phi3v at revision abc, this run model tiny at revision none' when the two settings
    name another model or revision (another model's scores and memory are no reference for this one); else None."""

    def name(s: dict) -> str:
        return f"model {s.get('model') or '?'} at revision {s.get('revision') or 'none'}"

    if (reference.get("model"), reference.get("revision")) == (setting.get("model"), setting.get("revision")):
        return None
    return f"{what} is {name(reference)}, this run {name(setting)}"


@dataclass(frozen=True)
class MemoryCheck:
    ok: bool
    message: str
    skipped: str | None = None  # why no budget applies


def memory_budget(
    baseline_perf: dict, baseline_setting: dict, perf: dict, setting: dict, tolerance: float
) -> MemoryCheck:
    """Peak memory may exceed the baseline's by at most `tolerance` (a fraction), same device kind and dtype only.

    On CUDA the budget is peak allocated memory (what the model needs); on the CPU it is the RSS growth during the
    evaluation (`memory_key`). A budget
    that does not apply (another dtype or device kind: the baseline holds one setting) is `skipped` with the reason;
    a missing figure fails (no evidence). Every message names the setting differences from the baseline.
    """
    differs = describe_setting_diff(baseline_setting, setting)
    suffix = f"; {differs}" if differs else ""
    if baseline_setting.get("dtype") != setting.get("dtype"):
        return MemoryCheck(
            True, "", f"baseline was recorded in {baseline_setting.get('dtype')}, this run is {setting.get('dtype')}"
        )
    device, base_device = str(setting.get("device", "")), str(baseline_setting.get("device", ""))
    if device.split(":")[0] != base_device.split(":")[0]:
        return MemoryCheck(
            True, "", f"baseline was recorded on {base_device or 'an unknown device'}, this run is on {device}"
        )
    key = memory_key(device, baseline_perf.get("memory_mb") or {}, perf.get("memory_mb") or {})
    base = (baseline_perf.get("memory_mb") or {}).get(key)
    now = (perf.get("memory_mb") or {}).get(key)
    if base is None or now is None:
        where = "the baseline" if base is None else "this run"
        return MemoryCheck(False, f"no {key} figure in {where}: nothing to check the budget against{suffix}")
    limit = base * (1.0 + tolerance)
    message = (
        f"{key}: {now:.0f} MiB vs baseline {base:.0f} MiB ({now / base - 1:+.1%}; budget +{tolerance:.0%} = "
        f"{limit:.0f} MiB){suffix}"
    )
    return MemoryCheck(now <= limit, message)


# `evalkit compare`'s latency gate when no --max-latency-ratio is given: the candidate's end-to-end latency median may
# be at most this many times the reference's. CUDA timings repeat within a few percent (the GPU CI's
# --benchmark-compare-fail=median:15% is the same margin); CPU timings move with the machine, so they get a wide band.
DEFAULT_LATENCY_RATIO = {"cuda": 1.15, "cpu": 1.5}


def default_latency_ratio(device: str) -> float:
    return DEFAULT_LATENCY_RATIO["cuda" if str(device).startswith("cuda") else "cpu"]


def default_memory_tolerance(device: str) -> float:
    """Allowed peak-memory growth over the baseline when none is given: CUDA's allocator peak is exact to the byte;
    the CPU's RSS growth moves with the allocator and the OS, so it gets a wider band."""
    return 0.05 if str(device).startswith("cuda") else 0.25


@dataclass(frozen=True)
class QualityVerdict:
    """The quality gate's verdict for one suite of one setting: `ok`, or why not in `message` (several lines)."""

    ok: bool
    message: str = ""


def _worst_samples(pair, suite: str, n: int = 5) -> list[str]:
    rows = sorted((c for c in pair.changes if c.suite == suite and c.badness > 0), key=lambda c: -c.badness)
    return [
        f"  {c.sample_id}: {c.metric} {c.reference_score:.3f} -> {c.candidate_score:.3f}"
        f"  baseline {c.reference_answer!r} / now {c.candidate_answer if c.candidate_error is None else c.candidate_error!r}"
        for c in rows[:n]
    ]


def quality(pair, suite: str, *, setting: str, baseline_name: str, setting_differences: str = "") -> QualityVerdict:
    """Quality of `suite` in a baseline-vs-run comparison (evalkit.reports.comparison's PairComparison): it fails on
    no evidence (the comparison's problems: incomplete, partial or changed-content sides), on a metric whose paired
    interval shows a real drop, and on a newly failing sample."""
    tail = [f"  {setting_differences}"] if setting_differences else []
    problems = pair.problems_for(suite)
    if problems:
        lines = [f"{setting} {suite}: no evidence to judge against {baseline_name}"]
        return QualityVerdict(False, "\n".join(lines + [f"  {p}" for p in problems] + tail))
    failing = [m for m in pair.metrics if m.suite == suite and m.fails]
    new_errors = [e for e in pair.new_errors if e.startswith(f"{suite}/")]
    if not (failing or new_errors):
        return QualityVerdict(True)
    lines = [f"{setting} {suite}: quality regression against {baseline_name}"]
    for m in failing:
        lines.append(
            f"  {m.metric} ({'higher' if m.higher_is_better else 'lower'} is better): "
            f"baseline {m.reference.mean:.3f} (n={m.reference.n}) -> now {m.candidate.mean:.3f} (n={m.candidate.n}), "
            f"paired diff {m.diff.mean:+.3f} "
            f"[95% CI {m.diff.low:+.3f}, {m.diff.high:+.3f}] over {m.diff.n} samples"
        )
    lines += [f"  newly failing: {e}" for e in new_errors]
    lines += tail
    lines += [f"  note: {note}" for note in pair.notes]
    lines.append("  worst samples:")
    lines += _worst_samples(pair, suite)
    return QualityVerdict(False, "\n".join(lines))

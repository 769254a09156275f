"""Compare runs and baselines: paired score differences with bootstrap CIs, changed samples, perf ratios.

The first path is the reference; every other path is compared against it. A metric difference is a
regression (or improvement) only when its paired 95% interval excludes zero; a regression *fails* the
comparison only on a gating metric (the task's primary metric, or those named with `metrics=`) and only
when |diff| exceeds `threshold`. A sample that answered in the reference but errors in the candidate
also fails the comparison (unless `fail_on_new_errors=False`).

Nothing passes on no evidence: a side that is not `complete`, holds no samples or fewer than its suites hold at
its limit, a suite whose content differs between the two, or no suite or answered sample in common is a
*problem* that fails the comparison with its reason. Performance gates fail when the candidate's end-to-end latency
median or peak memory exceeds `max_latency_ratio` / `max_memory_ratio` x the reference's; latency is gated by
default (`latency_gate`: the device's default ratio where the two runs' speed is comparable, stated either way).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from evalkit.errors import EvalkitError
from evalkit.gates import default_latency_ratio, describe_setting_diff, other_model, setting_diff
from evalkit.records import Prediction
from evalkit.records.facts import memory_key
from evalkit.records.machine_load import speed_conditions_differ
from evalkit.reports.baseline import load_run_or_baseline
from evalkit.reports.common import MEMORY_KEYS, RunView, estimate, metric_info
from evalkit.scoring.metrics import CIRCULAR_METRICS, circular_outcomes
from evalkit.scoring.statistics import Estimate, bootstrap_mean_ci, paired_bootstrap_diff

CHANGE_EPS = 1e-9


@dataclass
class MetricDiff:
    suite: str
    metric: str
    higher_is_better: bool | None
    gating: bool  # whether a regression on this metric can fail the comparison
    reference: Estimate | None  # mean over the samples that succeeded in both runs (the pairs of `diff`)
    candidate: Estimate | None
    diff: Estimate  # paired mean of (candidate - reference) over common successful sample ids
    verdict: str  # "regression" | "improvement" | "no change" | "n/a"
    fails: bool


@dataclass
class SampleChange:
    suite: str
    sample_id: str
    metric: str | None  # the suite's primary metric
    reference_score: float
    candidate_score: float
    badness: float  # > 0: the candidate is worse on `metric` (inf when the candidate newly failed)
    prompt: str
    reference_answer: str | None
    candidate_answer: str | None
    reference_error: str | None
    candidate_error: str | None
    reference_scores: dict[str, float]
    candidate_scores: dict[str, float]


@dataclass
class PerfRatio:
    measure: str
    unit: str
    reference: float
    candidate: float

    @property
    def ratio(self) -> float:
        if math.isnan(self.reference) or math.isnan(self.candidate) or self.reference == 0:
            return math.nan
        return self.candidate / self.reference


@dataclass
class PairComparison:
    reference: RunView
    candidate: RunView
    metrics: list[MetricDiff]
    changes: list[SampleChange]
    new_errors: list[str]  # "suite/sample_id" that answered in the reference and fail in the candidate
    perf: list[PerfRatio]
    notes: list[str] = field(default_factory=list)
    fail_on_new_errors: bool = True
    # Why the evidence is not enough: (suite, or None for the whole pair, one-line reason). Any problem fails.
    problems: list[tuple[str | None, str]] = field(default_factory=list)
    perf_failures: list[str] = field(default_factory=list)  # the performance gates that failed, one line each
    latency_rule: str = ""  # the latency gate that applied ("latency gate: ... <= 1.5x ..."), or why none did
    latency_limit: float | None = None  # the ratio the latency gate applied, None when latency was not gated
    warnings: list[str] = field(default_factory=list)  # e.g. machine load too different for a speed comparison
    same_score_answers: int = 0  # samples whose answer text changed while every score stayed the same

    @property
    def setting_diff(self) -> dict[str, tuple]:
        return setting_diff(self.reference.setting, self.candidate.setting)

    @property
    def has_regression(self) -> bool:
        return any(m.fails for m in self.metrics) or (self.fail_on_new_errors and bool(self.new_errors))

    @property
    def failed(self) -> bool:
        """A regression, a refused piece of evidence or a performance gate: the comparison fails."""
        return self.has_regression or bool(self.problems) or bool(self.perf_failures)

    def problems_for(self, suite: str) -> list[str]:
        return [text for s, text in self.problems if s is None or s == suite]

    def failure_lines(self) -> list[str]:
        """One line per reason the comparison fails, each naming the setting differences."""
        differs = describe_setting_diff(self.reference.setting, self.candidate.setting, "the reference")
        suffix = f" ({differs})" if differs else ""
        lines = [f"refused: {text}" for _, text in self.problems]
        for m in self.metrics:
            if m.fails:
                lines.append(
                    f"regression: {m.suite} {m.metric} {m.diff.mean:+.3f} [95% CI {m.diff.low:+.3f}, {m.diff.high:+.3f}]"
                    f" over {m.diff.n} samples{suffix}"
                )
        if self.fail_on_new_errors and self.new_errors:
            listed = ", ".join(self.new_errors[:5]) + (" ..." if len(self.new_errors) > 5 else "")
            lines.append(f"{len(self.new_errors)} newly failing samples: {listed}{suffix}")
        lines += [f"{text}{suffix}" for text in self.perf_failures]
        return [f"{self.candidate.label} vs {self.reference.label}: {line}" for line in lines]


@dataclass
class Comparison:
    reference: RunView
    pairs: list[PairComparison]
    threshold: float

    @property
    def has_regression(self) -> bool:
        return any(p.has_regression for p in self.pairs)

    @property
    def failed(self) -> bool:
        return any(p.failed for p in self.pairs)


def _index(samples: list[Prediction]) -> dict[tuple[str, str], Prediction]:
    return {(p.suite, p.sample_id): p for p in samples}


def _score(p: Prediction | None, metric: str | None) -> float:
    if p is None or metric is None or p.failed:
        return math.nan
    return float(p.scores.get(metric, math.nan))


def _groups(samples: list[Prediction], suite: str, metric: str) -> dict[str, float]:
    """CircularEval outcome per group of the suite's rotated rows (evalkit.scoring.metrics.circular_outcomes)."""
    rows = [
        (str(p.labels["group"]), None if p.failed else p.scores)
        for p in samples
        if p.suite == suite and p.labels.get("group")
    ]
    return circular_outcomes(rows, metric)


def _verdict(diff: Estimate, higher_is_better: bool | None) -> str:
    if diff.n == 0 or math.isnan(diff.mean):
        return "n/a"
    if not diff.excludes_zero:
        return "no change"
    if higher_is_better is None:
        return "changed"  # a ratio with no better direction (yes_ratio): a change, never a regression
    worse = diff.mean < 0 if higher_is_better else diff.mean > 0
    return "regression" if worse else "improvement"


def _metric_diffs(
    ref: RunView, cand: RunView, threshold: float, gate_metrics: Sequence[str] | None
) -> list[MetricDiff]:
    ri, ci = _index(ref.samples), _index(cand.samples)
    out = []
    ref_summary, cand_summary = ref.summary, cand.summary
    for suite in sorted(set(ref_summary) & set(cand_summary)):
        r_metrics = ref_summary[suite].get("metrics", {})
        c_metrics = cand_summary[suite].get("metrics", {})
        primary = ref.primary(suite)
        for metric in sorted(set(r_metrics) & set(c_metrics), key=lambda m: (m != primary, m)):
            keys = sorted(k for k in set(ri) & set(ci) if k[0] == suite)
            if metric in CIRCULAR_METRICS:  # a question's rotations are judged together: pair by group
                rg, cg = _groups(ref.samples, suite, metric), _groups(cand.samples, suite, metric)
                pairs = [(rg[g], cg[g]) for g in sorted(set(rg) & set(cg))]
            else:
                pairs = [(_score(ri[k], metric), _score(ci[k], metric)) for k in keys]
            pairs = [(a, b) for a, b in pairs if not (math.isnan(a) or math.isnan(b))]
            diff = paired_bootstrap_diff([a for a, _ in pairs], [b for _, b in pairs])
            # Both sides' means over the same paired samples, so that they agree with the paired difference (a
            # baseline's whole-suite mean beside a limited run's would not); a metric without per-sample values
            # (yes_no_f1) keeps each run's own estimate.
            ref_est, cand_est = estimate(r_metrics[metric]), estimate(c_metrics[metric])
            if pairs:
                ref_est = bootstrap_mean_ci([a for a, _ in pairs])
                cand_est = bootstrap_mean_ci([b for _, b in pairs])
            hib = metric_info(metric).higher_is_better
            verdict = _verdict(diff, hib)
            gating = metric in gate_metrics if gate_metrics else metric == primary
            fails = gating and verdict == "regression" and abs(diff.mean) > threshold
            out.append(
                MetricDiff(
                    suite,
                    metric,
                    hib,
                    gating,
                    ref_est,
                    cand_est,
                    diff,
                    verdict,
                    fails,
                )
            )
    return out


def _scores_differ(a: dict[str, float], b: dict[str, float]) -> list[str]:
    """The metrics whose values differ (NaN equals NaN; a metric on one side only differs)."""

    def same(x: float | None, y: float | None) -> bool:
        if x is None or y is None:
            return False
        return (math.isnan(x) and math.isnan(y)) or abs(x - y) <= CHANGE_EPS

    return [m for m in sorted(set(a) | set(b)) if not same(a.get(m), b.get(m))]


def _changes(ref: RunView, cand: RunView) -> tuple[list[SampleChange], list[str], int]:
    """Samples whose failure or scores changed (worst first), newly failing ids, and how many changed only their
    answer text: those are counted, not listed, since no score moved."""
    ri, ci = _index(ref.samples), _index(cand.samples)
    changes, new_errors, same_score = [], [], 0
    for key in sorted(set(ri) & set(ci)):
        a, b = ri[key], ci[key]
        differ = [] if a.failed or b.failed else _scores_differ(a.scores, b.scores)
        if a.failed == b.failed and not differ:
            same_score += a.answer != b.answer
            continue
        primary = ref.primary(key[0])
        # Show the primary metric when it moved, else the first metric that did.
        metric = primary if (primary in differ or not differ) else differ[0]
        ra, cb = _score(a, metric), _score(b, metric)
        if b.failed and not a.failed:
            badness = math.inf
            new_errors.append(f"{key[0]}/{key[1]}")
        elif a.failed and not b.failed:
            badness = -math.inf
        elif math.isnan(ra) or math.isnan(cb):
            badness = 0.0
        else:
            badness = (ra - cb) if metric_info(metric).higher_is_better else (cb - ra)
        changes.append(
            SampleChange(
                key[0],
                key[1],
                metric,
                ra,
                cb,
                badness,
                a.prompt,
                a.answer,
                b.answer,
                a.error,
                b.error,
                a.scores,
                b.scores,
            )
        )
    changes.sort(key=lambda c: (-c.badness, c.suite, c.sample_id))
    return changes, new_errors, same_score


def _perf(ref: RunView, cand: RunView) -> list[PerfRatio]:
    rows = [
        PerfRatio(f"latency {ph} median", "ms", ref.latency_median(ph), cand.latency_median(ph))
        for ph in ("end_to_end", "prefill", "decode")
    ]
    rows.append(PerfRatio("decode speed median", "tokens/s", ref.tokens_per_s, cand.tokens_per_s))
    load = [v.record.performance.get("load_s") for v in (ref, cand)]
    rows.append(PerfRatio("model load", "s", *(math.nan if x is None else float(x) for x in load)))
    rows += [PerfRatio(f"memory {k}", "MiB", ref.memory_mb(k), cand.memory_mb(k)) for k in MEMORY_KEYS]
    return [r for r in rows if not (math.isnan(r.reference) and math.isnan(r.candidate))]


def _notes(ref: RunView, cand: RunView) -> list[str]:
    notes = []
    for suite in sorted(set(ref.record.suites) | set(cand.record.suites)):
        a, b = ref.record.suites.get(suite), cand.record.suites.get(suite)
        if a is None or b is None:
            notes.append(f"suite {suite} only in {ref.label if b is None else cand.label}")
    weights = [(v.record.provenance.get("weights") or {}).get("sha256") for v in (ref, cand)]
    if all(weights) and weights[0] != weights[1]:
        notes.append(f"weights differ: {weights[0][:12]} vs {weights[1][:12]} (another checkpoint or revision)")
    ri, ci = _index(ref.samples), _index(cand.samples)
    if set(ri) != set(ci):
        only_ref, only_cand = sorted(set(ri) - set(ci)), sorted(set(ci) - set(ri))

        def named(keys: list[tuple[str, str]]) -> str:
            listed = ", ".join(f"{suite}/{sample_id}" for suite, sample_id in keys[:5])
            return f"{len(keys)} ({listed}{' ...' if len(keys) > 5 else ''})" if keys else "0"

        notes.append(
            f"means are over the {len(set(ri) & set(ci))} samples both runs hold ({len(ri)} in reference, "
            f"{len(ci)} in candidate); unpaired: {named(only_ref)} in the reference only, {named(only_cand)} in the "
            "candidate only"
        )
    return notes


def _problems(
    ref: RunView, cand: RunView, metrics: list[MetricDiff], explicit_metrics: bool
) -> list[tuple[str | None, str]]:
    problems = ref.evidence_problems() + cand.evidence_problems()
    common = sorted(set(ref.record.suites) & set(cand.record.suites))
    if not common:
        problems.append(
            (
                None,
                f"no suite in common ({ref.label}: {sorted(ref.record.suites)}; "
                f"{cand.label}: {sorted(cand.record.suites)})",
            )
        )
    for suite in common:
        a, b = ref.record.suites[suite].get("content_hash"), cand.record.suites[suite].get("content_hash")
        if a != b:
            problems.append(
                (
                    suite,
                    f"suite {suite!r} content differs ({a} vs {b}): the scores are not comparable; "
                    "re-record the baseline",
                )
            )
        gated = [m for m in metrics if m.suite == suite and m.gating]
        # With --metric, suites that do not score the named metrics are not gated; without it each suite's
        # primary metric must be there.
        missing = not gated and not explicit_metrics and suite in ref.summary and suite in cand.summary
        if missing or any(m.diff.n == 0 for m in gated):
            problems.append((suite, f"suite {suite!r}: no gated metric over a sample answered in both runs"))
    if common and explicit_metrics and not any(m.gating for m in metrics):
        problems.append((None, "none of the --metric names is scored in a suite both runs hold"))
    return problems


def _model_problems(ref: RunView, cand: RunView, allow_other_model: bool) -> list[tuple[str | None, str]]:
    """A reference of another model or revision judges nothing about this one, unless asked to (allow_other_model)."""
    differs = None if allow_other_model else other_model(ref.setting, cand.setting, f"the reference {ref.label}")
    return [(None, f"{differs} (--allow-other-model compares them anyway)")] if differs else []


def _hardware(view: RunView) -> str:
    env = view.record.provenance.get("environment") or {}
    kind = _device_kind(view)
    return str(env.get("gpu_name") if kind == "cuda" else env.get("cpu")) if env else "unknown"


def _device_kind(view: RunView) -> str:
    return "cuda" if str(view.setting.get("device", "")).startswith("cuda") else "cpu"


def latency_gate(ref: RunView, cand: RunView, explicit: float | None) -> tuple[float | None, str, list[str]]:
    """The latency ratio to gate on (None: not gated), the rule in words, and warnings about the comparison.

    `--max-latency-ratio` always gates. Without it the default ratio of the device kind gates (DEFAULT_LATENCY_RATIO),
    but only where a speed comparison means something: same device kind and hardware, and on the CPU both runs'
    machine load recorded and comparable (evalkit.records.machine_load)."""
    loads = [v.record.performance.get("machine_load") for v in (ref, cand)]
    void = speed_conditions_differ(*loads)
    warnings = [f"speed comparison void: {void}"] if void else []
    if explicit is not None:
        return (
            explicit,
            f"latency gate: end-to-end median <= {explicit:g}x the reference (--max-latency-ratio)",
            warnings,
        )
    kinds, hardware = [_device_kind(v) for v in (ref, cand)], [_hardware(v) for v in (ref, cand)]
    why = None
    if kinds[0] != kinds[1]:
        why = f"the runs ran on different devices ({kinds[0]} vs {kinds[1]})"
    elif hardware[0] != hardware[1]:
        why = f"the runs ran on different hardware ({hardware[0]} vs {hardware[1]})"
    elif void:
        why = void
    elif kinds[0] == "cpu" and not all(loads):
        missing = " and ".join(v.label for v, load in zip((ref, cand), loads, strict=True) if not load)
        why = f"no machine load recorded in {missing} (a CPU timing depends on what else ran)"
    if why:
        return None, f"latency not gated: {why}; --max-latency-ratio R gates it anyway", warnings
    ratio = default_latency_ratio(kinds[0])
    return ratio, f"latency gate: end-to-end median <= {ratio:g}x the reference (default on {kinds[0]})", warnings


def _perf_failures(
    ref: RunView, cand: RunView, max_latency_ratio: float | None, max_memory_ratio: float | None
) -> list[str]:
    out = []
    if max_latency_ratio is not None:
        a, b = ref.latency_median("end_to_end"), cand.latency_median("end_to_end")
        if math.isnan(a) or math.isnan(b) or a <= 0:
            out.append(
                "latency gate: no end-to-end latency median in "
                + (ref.label if math.isnan(a) or a <= 0 else cand.label)
            )
        elif b / a > max_latency_ratio:
            out.append(
                f"latency gate: end-to-end median {b:.1f} ms vs {a:.1f} ms = {b / a:.2f}x the reference "
                f"(limit {max_latency_ratio:g}x)"
            )
    if max_memory_ratio is not None:
        device = (
            "cuda"
            if not (math.isnan(ref.memory_mb("peak_allocated")) or math.isnan(cand.memory_mb("peak_allocated")))
            else "cpu"
        )
        key = memory_key(
            device, ref.record.performance.get("memory_mb") or {}, cand.record.performance.get("memory_mb") or {}
        )
        if math.isnan(ref.memory_mb(key)) or math.isnan(cand.memory_mb(key)):
            key = None
        if key is None:
            out.append("memory gate: no memory figure (peak_allocated, rss_growth or peak_rss) in both runs")
        else:
            a, b = ref.memory_mb(key), cand.memory_mb(key)
            if a > 0 and b / a > max_memory_ratio:
                out.append(
                    f"memory gate: {key} {b:.0f} MiB vs {a:.0f} MiB = {b / a:.2f}x the reference (limit {max_memory_ratio:g}x)"
                )
    return out


def check_gate_metrics(reference: RunView, others: Sequence[RunView], metrics: Sequence[str] | None) -> None:
    """Refuse (EvalkitError, exit 2) a --metric that no registry or summary knows, or that no compared run scores:
    a misspelt gate must not silently gate nothing."""
    if not metrics:
        return
    try:
        from evalkit.scoring.metrics import METRICS

        known = set(METRICS)
    except ImportError:  # pragma: no cover - evalkit.scoring.metrics is part of the package
        known = set()
    scored = {m for view in (reference, *others) for s in view.summary.values() for m in (s.get("metrics") or {})}
    for name in metrics:
        if name not in known | scored:
            raise EvalkitError(f"--metric {name!r}: unknown metric (known: {', '.join(sorted(known | scored))})")
        if name not in scored:
            raise EvalkitError(
                f"--metric {name!r}: no compared run scores it (scored: {', '.join(sorted(scored)) or 'nothing'})"
            )


def _check_number(name: str, value: float | None, *, positive: bool) -> None:
    if value is None:
        return
    if not math.isfinite(value) or value < 0 or (positive and value == 0):
        raise EvalkitError(f"{name} must be a finite number {'> 0' if positive else '>= 0'}, got {value}")


def compare_views(
    reference: RunView,
    others: Sequence[RunView],
    *,
    threshold: float = 0.0,
    metrics: Sequence[str] | None = None,
    fail_on_new_errors: bool = True,
    max_latency_ratio: float | None = None,
    max_memory_ratio: float | None = None,
    allow_other_model: bool = False,
) -> Comparison:
    _check_number("threshold", threshold, positive=False)
    _check_number("max_latency_ratio", max_latency_ratio, positive=True)
    _check_number("max_memory_ratio", max_memory_ratio, positive=True)
    check_gate_metrics(reference, others, metrics)
    pairs = []
    for cand in others:
        latency_limit, latency_rule, warnings = latency_gate(reference, cand, max_latency_ratio)
        changes, new_errors, same_score = _changes(reference, cand)
        diffs = _metric_diffs(reference, cand, threshold, metrics)
        notes = _notes(reference, cand)
        if same_score:
            notes.append(f"{same_score} samples answer differently with the same scores (not listed as changed)")
        pairs.append(
            PairComparison(
                reference=reference,
                candidate=cand,
                metrics=diffs,
                changes=changes,
                new_errors=new_errors,
                perf=_perf(reference, cand),
                notes=notes,
                fail_on_new_errors=fail_on_new_errors,
                problems=_problems(reference, cand, diffs, bool(metrics))
                + _model_problems(reference, cand, allow_other_model),
                perf_failures=_perf_failures(reference, cand, latency_limit, max_memory_ratio),
                same_score_answers=same_score,
                latency_rule=latency_rule,
                latency_limit=latency_limit,
                warnings=warnings,
            )
        )
    return Comparison(reference=reference, pairs=pairs, threshold=threshold)


def compare(
    paths: Sequence[Path],
    *,
    threshold: float = 0.0,
    metrics: Sequence[str] | None = None,
    fail_on_new_errors: bool = True,
    max_latency_ratio: float | None = None,
    max_memory_ratio: float | None = None,
    allow_other_model: bool = False,
) -> Comparison:
    """Compare paths[0] (run dir or baseline file) with each of paths[1:]."""
    if len(paths) < 2:
        raise EvalkitError("compare needs at least two runs or baselines (the first is the reference)")
    _check_number("threshold", threshold, positive=False)
    views = [load_run_or_baseline(Path(p)) for p in paths]
    return compare_views(
        views[0],
        views[1:],
        threshold=threshold,
        metrics=metrics,
        fail_on_new_errors=fail_on_new_errors,
        max_latency_ratio=max_latency_ratio,
        max_memory_ratio=max_memory_ratio,
        allow_other_model=allow_other_model,
    )

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
from evalkit.gates import describe_setting_diff, setting_diff
from evalkit.records import Prediction
from evalkit.reports.baseline import load_run_or_baseline
from evalkit.reports.common import RunView, estimate, metric_info
from evalkit.reports.comparison_checks import (
    check_gate_metrics,
    check_number,
    index_samples,
    model_problems,
    notes_on,
    problems_of,
)
from evalkit.reports.speed_comparison import PerfRatio, latency_gate, perf_failures, perf_ratios
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
    ri, ci = index_samples(ref.samples), index_samples(cand.samples)
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
    ri, ci = index_samples(ref.samples), index_samples(cand.samples)
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
    check_number("threshold", threshold, positive=False)
    check_number("max_latency_ratio", max_latency_ratio, positive=True)
    check_number("max_memory_ratio", max_memory_ratio, positive=True)
    check_gate_metrics(reference, others, metrics)
    pairs = []
    for cand in others:
        latency_limit, latency_rule, warnings = latency_gate(reference, cand, max_latency_ratio)
        changes, new_errors, same_score = _changes(reference, cand)
        diffs = _metric_diffs(reference, cand, threshold, metrics)
        notes = notes_on(reference, cand)
        if same_score:
            notes.append(f"{same_score} samples answer differently with the same scores (not listed as changed)")
        pairs.append(
            PairComparison(
                reference=reference,
                candidate=cand,
                metrics=diffs,
                changes=changes,
                new_errors=new_errors,
                perf=perf_ratios(reference, cand),
                notes=notes,
                fail_on_new_errors=fail_on_new_errors,
                problems=problems_of(reference, cand, diffs, bool(metrics))
                + model_problems(reference, cand, allow_other_model),
                perf_failures=perf_failures(reference, cand, latency_limit, max_memory_ratio),
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
    check_number("threshold", threshold, positive=False)
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

"""Compare runs and baselines: paired score differences with bootstrap CIs, changed samples, perf ratios.

The first path is the reference; every other path is compared against it. A metric difference is a
regression (or improvement) only when its paired 95% interval excludes zero; a regression *fails* the
comparison only on a gating metric (the task's primary metric, or those named with `metrics=`) and only
when |diff| exceeds `threshold`. A sample that answered in the reference but errors in the candidate
also fails the comparison (unless `fail_on_new_errors=False`).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from evalkit.errors import EvalkitError
from evalkit.records import Prediction
from evalkit.reports.baseline import load_run_or_baseline
from evalkit.reports.common import MEMORY_KEYS, RunView, estimate, metric_info
from evalkit.stats import Estimate, paired_bootstrap_diff

CHANGE_EPS = 1e-9


@dataclass
class MetricDiff:
    suite: str
    metric: str
    higher_is_better: bool | None
    gating: bool  # whether a regression on this metric can fail the comparison
    reference: Estimate | None  # each run's own summary (all its successful samples)
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

    @property
    def setting_diff(self) -> dict[str, tuple]:
        a, b = self.reference.setting, self.candidate.setting
        return {k: (a.get(k), b.get(k)) for k in sorted(set(a) | set(b)) if a.get(k) != b.get(k)}

    @property
    def has_regression(self) -> bool:
        return any(m.fails for m in self.metrics) or (self.fail_on_new_errors and bool(self.new_errors))


@dataclass
class Comparison:
    reference: RunView
    pairs: list[PairComparison]
    threshold: float

    @property
    def has_regression(self) -> bool:
        return any(p.has_regression for p in self.pairs)

    def to_markdown(self) -> str:
        from evalkit.reports.compare_render import comparison_markdown  # avoid a cycle

        return comparison_markdown(self)

    def to_html(self) -> str:
        from evalkit.reports.compare_render import comparison_html

        return comparison_html(self)


def _index(samples: list[Prediction]) -> dict[tuple[str, str], Prediction]:
    return {(p.suite, p.sample_id): p for p in samples}


def _score(p: Prediction | None, metric: str | None) -> float:
    if p is None or metric is None or p.failed:
        return math.nan
    return float(p.scores.get(metric, math.nan))


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
            pairs = [(_score(ri[k], metric), _score(ci[k], metric)) for k in keys]
            pairs = [(a, b) for a, b in pairs if not (math.isnan(a) or math.isnan(b))]
            diff = paired_bootstrap_diff([a for a, _ in pairs], [b for _, b in pairs])
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
                    estimate(r_metrics[metric]),
                    estimate(c_metrics[metric]),
                    diff,
                    verdict,
                    fails,
                )
            )
    return out


def _changes(ref: RunView, cand: RunView) -> tuple[list[SampleChange], list[str]]:
    ri, ci = _index(ref.samples), _index(cand.samples)
    changes, new_errors = [], []
    for key in sorted(set(ri) & set(ci)):
        a, b = ri[key], ci[key]
        scores_changed = set(a.scores) != set(b.scores) or any(
            abs(a.scores[m] - b.scores[m]) > CHANGE_EPS
            for m in a.scores
            if not (math.isnan(a.scores[m]) and math.isnan(b.scores[m]))
        )
        if a.answer == b.answer and a.failed == b.failed and not scores_changed:
            continue
        metric = ref.primary(key[0])
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
    return changes, new_errors


def _perf(ref: RunView, cand: RunView) -> list[PerfRatio]:
    rows = [
        PerfRatio(f"latency {ph} median", "ms", ref.latency_median(ph), cand.latency_median(ph))
        for ph in ("end_to_end", "prefill", "decode")
    ]
    rows.append(PerfRatio("decode speed median", "tokens/s", ref.tokens_per_s, cand.tokens_per_s))
    load = [v.record.performance.get("load_s") for v in (ref, cand)]
    rows.append(PerfRatio("model load", "s", *(math.nan if x is None else float(x) for x in load)))
    rows += [PerfRatio(f"memory {k}", "MB", ref.memory_mb(k), cand.memory_mb(k)) for k in MEMORY_KEYS]
    return [r for r in rows if not (math.isnan(r.reference) and math.isnan(r.candidate))]


def _notes(ref: RunView, cand: RunView) -> list[str]:
    notes = []
    for view in (ref, cand):
        if view.record.status != "complete":
            notes.append(f"{view.label}: status {view.record.status}")
    for suite in sorted(set(ref.record.suites) | set(cand.record.suites)):
        a, b = ref.record.suites.get(suite), cand.record.suites.get(suite)
        if a is None or b is None:
            notes.append(f"suite {suite} only in {ref.label if b is None else cand.label}")
        elif a.get("content_hash") != b.get("content_hash"):
            notes.append(
                f"suite {suite} content differs ({a.get('version')}/{a.get('content_hash')} vs "
                f"{b.get('version')}/{b.get('content_hash')}): differences use common sample ids only"
            )
    weights = [(v.record.provenance.get("weights") or {}).get("sha256") for v in (ref, cand)]
    if all(weights) and weights[0] != weights[1]:
        notes.append(f"weights differ: {weights[0][:12]} vs {weights[1][:12]} (another checkpoint or revision)")
    ri, ci = _index(ref.samples), _index(cand.samples)
    if set(ri) != set(ci):
        notes.append(f"{len(set(ri) & set(ci))} common samples ({len(ri)} in reference, {len(ci)} in candidate)")
    return notes


def compare_views(
    reference: RunView,
    others: Sequence[RunView],
    *,
    threshold: float = 0.0,
    metrics: Sequence[str] | None = None,
    fail_on_new_errors: bool = True,
) -> Comparison:
    pairs = []
    for cand in others:
        changes, new_errors = _changes(reference, cand)
        pairs.append(
            PairComparison(
                reference=reference,
                candidate=cand,
                metrics=_metric_diffs(reference, cand, threshold, metrics),
                changes=changes,
                new_errors=new_errors,
                perf=_perf(reference, cand),
                notes=_notes(reference, cand),
                fail_on_new_errors=fail_on_new_errors,
            )
        )
    return Comparison(reference=reference, pairs=pairs, threshold=threshold)


def compare(
    paths: Sequence[Path],
    *,
    threshold: float = 0.0,
    metrics: Sequence[str] | None = None,
    fail_on_new_errors: bool = True,
) -> Comparison:
    """Compare paths[0] (run dir or baseline file) with each of paths[1:]."""
    if len(paths) < 2:
        raise EvalkitError("compare needs at least two runs or baselines (the first is the reference)")
    if threshold < 0:
        raise EvalkitError(f"threshold must be >= 0, got {threshold}")
    views = [load_run_or_baseline(Path(p)) for p in paths]
    return compare_views(
        views[0], views[1:], threshold=threshold, metrics=metrics, fail_on_new_errors=fail_on_new_errors
    )

"""Shared pieces of the reports: the run/baseline view, metric metadata, number formatting, tables."""

from __future__ import annotations

import math
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from evalkit.records import Prediction, RunRecord, atomic_write_text, summarize
from evalkit.records.facts import repeated_samples
from evalkit.scoring.metrics import METRICS, primary_metric_for
from evalkit.scoring.statistics import Estimate

SETTING_KEYS = ("model", "revision", "dtype", "attn", "device", "batch_size", "max_new_tokens", "num_crops")
LATENCY_PHASES = ("end_to_end", "preprocess", "prefill", "decode")
MEMORY_KEYS = ("peak_allocated", "peak_reserved", "peak_rss", "rss_growth")
# For a metric evalkit.scoring.metrics does not know (a record from another version): error rates go down, the rest up.
_LOWER_IS_BETTER_HINTS = ("cer", "wer", "rate", "error", "latency")


@dataclass(frozen=True)
class MetricMeta:
    name: str
    higher_is_better: bool | None  # None: no better direction (e.g. yes_ratio, whose ideal the labels set)
    unit: str
    description: str


def metric_info(name: str) -> MetricMeta:
    """The metric's registry entry (evalkit.scoring.metrics.METRICS); for a name it does not know, a conservative guess."""
    info = METRICS.get(name)
    if info is not None:
        hib = None if info.higher_is_better is None else bool(info.higher_is_better)
        return MetricMeta(info.name, hib, str(info.unit), str(info.description))
    lower = any(h in name.lower() for h in _LOWER_IS_BETTER_HINTS)
    return MetricMeta(name, not lower, "fraction", "")


def arrow(metric: str) -> str:
    """↑ higher is better, ↓ lower is better, ↕ neither (a ratio whose ideal is set by the labels)."""
    hib = metric_info(metric).higher_is_better
    return "↕" if hib is None else "↑" if hib else "↓"


def better(metric: str) -> str:
    hib = metric_info(metric).higher_is_better
    return "neither" if hib is None else "higher" if hib else "lower"


def primary_metric(task: str, available: list[str] | None = None) -> str | None:
    """The suite's primary metric (evalkit.scoring.metrics.primary_metric_for: the task's, CircularEval for a benchmark with
    rotated copies), or the first available metric."""
    primary = primary_metric_for(task, available)
    if available is None or primary in available:
        return primary
    return sorted(available)[0] if available else None


@dataclass
class RunView:
    """A run directory or a baseline file seen the same way: a record plus per-sample rows."""

    path: Path
    kind: str  # "run" | "baseline"
    record: RunRecord
    samples: list[Prediction]

    @property
    def setting(self) -> dict:
        return self.record.setting

    @property
    def label(self) -> str:
        rev = self.setting.get("revision")
        suffix = f"@{rev}" if rev and rev not in self.record.name else ""
        kind = " (baseline)" if self.kind == "baseline" else ""
        return f"{self.record.name}{suffix}{kind}"

    @property
    def summary(self) -> dict:
        # A hard-killed run never wrote its summary: rebuild it from the samples that reached disk.
        if self.record.summary or not self.samples:
            return self.record.summary
        return summarize(self.samples)

    def suite_task(self, suite: str) -> str:
        task = (self.record.suites.get(suite) or {}).get("task")
        if task:
            return str(task)
        return next((p.task for p in self.samples if p.suite == suite), "")

    def primary(self, suite: str) -> str | None:
        metrics = list((self.summary.get(suite) or {}).get("metrics", {}))
        return primary_metric(self.suite_task(suite), metrics or None)

    def primary_estimate(self, suite: str) -> Estimate | None:
        metric = self.primary(suite)
        est = ((self.summary.get(suite) or {}).get("metrics") or {}).get(metric) if metric else None
        return estimate(est)

    def latency_median(self, phase: str) -> float:
        return stat_value(self.record.performance.get("latency_ms", {}).get(phase), "median")

    def memory_mb(self, key: str) -> float:
        value = (self.record.performance.get("memory_mb") or {}).get(key)
        return math.nan if value is None else float(value)

    @property
    def tokens_per_s(self) -> float:
        return stat_value(self.record.performance.get("decode_tokens_per_s"), "median")

    # -- is this run evidence? ---------------------------------------------------------------------------------

    @property
    def limit(self) -> int | None:
        """The run's `limit` (samples per suite), None when it ran whole suites."""
        value = (self.record.config or {}).get("limit")
        return value if isinstance(value, int) else None

    def expected_samples(self, suite: str) -> int | None:
        """How many samples of `suite` a complete run holds: the suite's size, capped by the run's limit."""
        total = (self.record.suites.get(suite) or {}).get("n_samples")
        if not isinstance(total, int):
            return None
        return min(total, self.limit) if self.limit is not None else total

    @property
    def is_limited(self) -> bool:
        """Whether `limit` left out part of some suite."""
        return any(
            self.expected_samples(s) != (self.record.suites.get(s) or {}).get("n_samples") for s in self.record.suites
        )

    def evidence_problems(self) -> list[tuple[str | None, str]]:
        """Why this run or baseline cannot serve as evidence: (suite or None for the whole run, one-line reason).

        Empty when it is `complete`, holds samples, and holds every sample its suites have at its limit exactly once:
        counted by sample id, so a sample recorded twice neither stands in for a missing one nor counts twice.
        """
        rec = self.record
        if rec.status != "complete":
            why = rec.skip_reason or rec.error
            return [(None, f"{self.label}: status {rec.status!r}, not complete" + (f" ({why})" if why else ""))]
        if not self.samples:
            return [(None, f"{self.label}: holds no samples")]
        problems: list[tuple[str | None, str]] = []
        ids = distinct_ids(self.samples)
        for suite, repeated in duplicate_ids(self.samples).items():
            problems.append((suite, f"{self.label}: {describe_duplicates(suite, repeated)}"))
        for suite in sorted(set(rec.suites) | set(ids)):
            expected, have = self.expected_samples(suite), len(ids.get(suite, ()))
            if expected is None and suite not in rec.suites:
                problems.append((suite, f"{self.label}: samples of suite {suite!r}, which the run does not list"))
            elif expected is not None and have < expected:
                at = f" at limit {self.limit}" if self.limit is not None else ""
                problems.append(
                    (suite, f"{self.label}: partial: {have} of the {expected} samples of suite {suite!r}{at}")
                )
        return problems


def distinct_ids(samples: list[Prediction]) -> dict[str, set[str]]:
    """suite -> the distinct sample ids recorded for it."""
    ids: dict[str, set[str]] = {}
    for p in samples:
        ids.setdefault(p.suite, set()).add(p.sample_id)
    return ids


def duplicate_ids(samples: list[Prediction]) -> dict[str, list[str]]:
    """suite -> the sample ids recorded more than once (in order of first repeat); only suites that have any."""
    out: dict[str, list[str]] = {}
    for suite, sample_id in repeated_samples(samples):
        out.setdefault(suite, []).append(sample_id)
    return out


def describe_duplicates(suite: str, repeated: list[str], limit: int = 5) -> str:
    listed = ", ".join(repr(i) for i in repeated[:limit]) + (
        f" and {len(repeated) - limit} more" if len(repeated) > limit else ""
    )
    return f"sample(s) of suite {suite!r} recorded more than once: {listed} (each sample must appear exactly once)"


def estimate(d: dict | None) -> Estimate | None:
    if not d:
        return None
    return Estimate(
        *(math.nan if d.get(k) is None else float(d[k]) for k in ("mean", "low", "high")), int(d.get("n", 0))
    )


def stat_value(d: dict | None, key: str) -> float:
    if not d or d.get(key) is None:
        return math.nan
    return float(d[key])


def fmt(value: Any, digits: int = 3) -> str:
    if value is None:
        return "–"
    if isinstance(value, float):
        if math.isnan(value):
            return "–"
        return f"{value:.{digits}f}"
    return str(value)


def fmt_estimate(est: Estimate | dict | None, digits: int = 3) -> str:
    """'0.812 [0.750, 0.860]' (mean and 95% CI)."""
    if isinstance(est, dict):
        est = estimate(est)
    if est is None or math.isnan(est.mean):
        return "–"
    return f"{est.mean:.{digits}f} [{est.low:.{digits}f}, {est.high:.{digits}f}]"


def setting_line(setting: dict) -> str:
    keys = [k for k in SETTING_KEYS if k in setting] + sorted(k for k in setting if k not in SETTING_KEYS)

    def value(k: str) -> str:
        # null max_new_tokens: every sample generated up to its own budget (recorded per sample)
        return "per-sample" if k == "max_new_tokens" and setting[k] is None else fmt(setting[k])

    return " · ".join(f"{k}={value(k)}" for k in keys)


def md_escape(text: Any) -> str:
    return str(text).replace("|", "\\|").replace("\n", " ").replace("\r", " ")


def md_table(headers: list[str], rows: list[list[Any]]) -> str:
    lines = ["| " + " | ".join(md_escape(h) for h in headers) + " |", "|" + "---|" * len(headers)]
    lines += ["| " + " | ".join(md_escape(c) for c in row) + " |" for row in rows]
    return "\n".join(lines)


def shorten(text: str | None, limit: int = 200) -> str:
    if text is None:
        return ""
    text = " ".join(str(text).split())
    return text if len(text) <= limit else text[: limit - 1] + "…"


def append_step_summary(markdown: str) -> None:
    """Add `markdown` to the GitHub Actions job summary when the job has one (GITHUB_STEP_SUMMARY)."""
    target = os.environ.get("GITHUB_STEP_SUMMARY")
    if target:
        with open(target, "a", encoding="utf-8") as fh:
            fh.write(markdown + "\n")


def write_report_pair(out_dir: Path, stem: str, markdown: str, html: str) -> tuple[Path, Path]:
    """How every report (run, sweep, comparison) is written: <stem>.md and <stem>.html in `out_dir`, each atomically
    (a reader never sees half a file), and the markdown added to the CI job summary."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    md_path, html_path = out_dir / f"{stem}.md", out_dir / f"{stem}.html"
    atomic_write_text(md_path, markdown)
    atomic_write_text(html_path, html)
    append_step_summary(markdown)
    return md_path, html_path

"""What a finished run says on the terminal, and whether a run's model had random weights: both read from the run
record only (run.json + samples.jsonl), never from the model or the suites."""

from __future__ import annotations

import math
import statistics
from pathlib import Path

from evalkit.records.facts import random_weights, record_memory_key
from evalkit.reports.common import RunView, fmt, fmt_estimate


def random_weights_banner(view: RunView) -> str | None:
    why = random_weights(view.record)
    if why is None:
        return None
    return f"RANDOM WEIGHTS: {why}; its answers are noise, so quality scores say nothing about the model."


def sweep_banners(views: list[RunView]) -> list[str]:
    """One random-weights line per distinct model of a sweep that has them."""
    seen: dict[str, str] = {}
    for view in views:
        banner = random_weights_banner(view)
        if banner:
            seen.setdefault(str(view.setting.get("model")), banner)
    return list(seen.values())


def _median(values: list[float]) -> float:
    clean = [v for v in values if v is not None and not math.isnan(v)]
    return statistics.median(clean) if clean else math.nan


def suite_rows(view: RunView) -> list[list[str]]:
    """Per suite: n, primary metric with its CI, median TTFT (prefill), median decode tokens/s. A batch shared by
    several samples counts once (its timing is the batch's, not each sample's)."""
    rows = []
    for suite, data in view.summary.items():
        primary = view.primary(suite)
        batches: dict[object, object] = {}
        for i, p in enumerate(s for s in view.samples if s.suite == suite and not s.failed):
            batches.setdefault(p.batch_id if p.batch_id is not None else f"sample{i}", p)
        ttft = _median([(p.timings_ms or {}).get("prefill") for p in batches.values()])
        tps = _median([p.decode_tokens_per_s for p in batches.values()])
        score = f"{primary} {fmt_estimate(view.primary_estimate(suite))}" if primary else "–"
        rows.append([suite, str(data.get("n", "")), score, fmt(ttft, 1), fmt(tps, 1)])
    return rows


def memory_line(view: RunView) -> str:
    """The peak-memory figure the gates read for this device (evalkit.records.facts.memory_key), in MiB."""
    if not view.record.performance.get("memory_mb"):
        return "peak memory: not measured"
    key = record_memory_key(view.record)
    return f"peak memory ({key}, whole run): {fmt(view.memory_mb(key), 0)} MiB"


def run_table(view: RunView, report_html: Path | None) -> str:
    """The lines printed after `evalkit: NAME: N samples, K failed -> DIR`."""
    headers = ["suite", "n", "primary metric [95% CI]", "TTFT median (ms)", "decode tokens/s"]
    rows = [headers, *suite_rows(view)]
    widths = [max(len(r[i]) for r in rows) for i in range(len(headers))]
    lines = ["  " + "  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True)).rstrip() for row in rows]
    lines.append(f"  {memory_line(view)}")
    banner = random_weights_banner(view)
    if banner:
        lines.append(f"  {banner}")
    if report_html is not None and report_html.is_file():
        lines.append(f"  report: {report_html}")
    return "\n".join(lines)

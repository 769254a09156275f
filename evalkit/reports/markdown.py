"""Short markdown reports, sized for a GitHub Actions job summary."""

from __future__ import annotations

import math

from evalkit.reports.common import (
    LATENCY_PHASES,
    MEMORY_KEYS,
    RunView,
    arrow,
    fmt,
    fmt_estimate,
    md_table,
    metric_info,
    setting_line,
    shorten,
    stat_value,
)
from evalkit.reports.console import random_weights_banner, sweep_banners

MAX_ERRORS_LISTED = 20


def _arrow(metric: str) -> str:
    return arrow(metric)


def scores_table(view: RunView) -> str:
    rows = []
    for suite, data in view.summary.items():
        primary = view.primary(suite)
        metrics = sorted(data.get("metrics", {}), key=lambda m: (m != primary, m))
        for i, metric in enumerate(metrics):
            name = f"**{metric}** {_arrow(metric)}" if metric == primary else f"{metric} {_arrow(metric)}"
            first = i == 0
            rows.append(
                [
                    suite if first else "",
                    view.suite_task(suite) if first else "",
                    data.get("n", "") if first else "",
                    data.get("n_errors", "") if first else "",
                    name,
                    metric_info(metric).unit,
                    fmt_estimate(data["metrics"][metric]),
                ]
            )
    if not rows:
        return "_no scores_"
    return md_table(["suite", "task", "n", "errors", "metric", "unit", "mean [95% CI]"], rows)


BREAKDOWN_TAGS = ("type", "difficulty")  # question type (added by the runner) and the suites' difficulty tag


def breakdown_table(view: RunView) -> str:
    """Each suite's primary metric by question type and by difficulty: mean (n), so a mixed score can be read."""
    rows = []
    for suite, data in view.summary.items():
        primary = view.primary(suite)
        cells = []
        for tag in BREAKDOWN_TAGS:
            parts = [
                f"{key.split('=', 1)[1]} {fmt(ests[primary]['mean'], 2)} ({ests[primary]['n']})"
                for key, ests in sorted(data.get("by_tag", {}).items(), key=_level_order)
                if key.startswith(tag + "=") and primary in ests
            ]
            cells.append(" · ".join(parts) or "–")
        if any(c != "–" for c in cells):
            rows.append([suite, f"{primary} {arrow(primary)}" if primary else "", *cells])
    return md_table(["suite", "primary metric: mean (n)", "by question type", "by difficulty"], rows) if rows else ""


def _level_order(item: tuple[str, dict]) -> tuple[int, str]:
    value = item[0].split("=", 1)[-1]
    return (("easy", "medium", "hard").index(value) if value in ("easy", "medium", "hard") else 3, item[0])


PERF_HEADERS = ["measure", "unit", "median", "p90", "n"]


def performance_rows(view: RunView) -> list[list]:
    """Latency per phase, decode speed, load time and peak memory, each with its unit."""
    perf = view.record.performance
    rows = []
    for phase in [p for p in LATENCY_PHASES if p in perf.get("latency_ms", {})] + sorted(
        set(perf.get("latency_ms", {})) - set(LATENCY_PHASES)
    ):
        s = perf["latency_ms"][phase]
        rows.append(
            [
                f"latency {phase}",
                s.get("unit", "ms"),
                fmt(stat_value(s, "median"), 1),
                fmt(stat_value(s, "p90"), 1),
                s.get("n", ""),
            ]
        )
    tps = perf.get("decode_tokens_per_s")
    if tps and tps.get("n"):
        rows.append(
            ["decode speed", "tokens/s", fmt(stat_value(tps, "median"), 1), fmt(stat_value(tps, "p90"), 1), tps["n"]]
        )  # fmt: skip
    agg = perf.get("decode_tokens_per_s_aggregate")
    if agg and agg.get("n") and (perf.get("batch_size") or 1) > 1:
        rows.append(
            ["decode speed (aggregate, all rows of a batch)", "tokens/s", fmt(stat_value(agg, "median"), 1), fmt(stat_value(agg, "p90"), 1), agg["n"]]
        )  # fmt: skip
    if perf.get("load_s") is not None:
        rows.append(["model load", "s", fmt(float(perf["load_s"]), 2), "", 1])
    for key in MEMORY_KEYS:
        value = view.memory_mb(key)
        if not math.isnan(value):
            rows.append([f"memory {key}", "MiB", fmt(value, 0), "", ""])
    harness = perf.get("harness") or {}
    if harness.get("overhead") is not None:
        rows.append(
            [f"harness overhead ({harness.get('mode', '?')} mode)", "%", fmt(100 * harness["overhead"], 1), "", ""]
        )
    for key, label in (("samples_per_s", "samples/s"), ("generated_tokens_per_s", "tokens/s")):
        if harness.get(key) is not None:
            rows.append([f"loop throughput ({label})", label, fmt(float(harness[key]), 2), "", ""])
    roof = perf.get("roofline") or {}
    if roof.get("spec"):
        rows += [
            [f"decode bound ({roof['spec']}, {fmt(roof['bandwidth_gb_s'], 0)} GB/s)", "tokens/s", fmt(roof.get("decode_bound_tokens_per_s"), 1), "", roof.get("n_batches", "")],
            ["bandwidth utilisation (decode)", "%", fmt(_pct(roof.get("bandwidth_utilisation")), 1), "", ""],
            ["prefill achieved", "TFLOP/s", fmt(roof.get("prefill_tflops"), 1), "", ""],
            [f"compute utilisation (prefill, of {fmt(roof.get('peak_tflops'), 0)} {roof.get('peak_kind', '')})", "%", fmt(_pct(roof.get("compute_utilisation")), 1), "", ""],
        ]  # fmt: skip
    elif roof.get("skipped"):
        rows.append(["roofline", "", f"not computed: {roof['skipped']}", "", ""])
    return rows


def _pct(value) -> float | None:
    return None if value is None else 100.0 * float(value)


def timing_note(view: RunView) -> str:
    """What one latency measurement is, so a reader does not take n for samples."""
    perf = view.record.performance
    n_batches, batch_size = perf.get("n_batches"), perf.get("batch_size") or view.setting.get("batch_size")
    mode = (perf.get("harness") or {}).get("mode", view.setting.get("mode", "latency"))
    parts = []
    if n_batches is not None:
        parts.append(
            f"Latency and decode speed are per timed request (one batch of up to {batch_size}): n counts "
            f"{n_batches} requests, and every sample of a batch has its batch's latency."
        )
    if mode == "throughput":
        parts.append(
            "Throughput mode: preprocessing ran ahead in a background thread, so it is not part of `generate` "
            "(copy to the device + prefill + decode)."
        )
    compiled = (perf.get("harness") or {}).get("compiled_requests") or 0
    if compiled:
        parts.append(
            f"**Warning: {compiled} timed request(s) included torch.compile building a graph** (a compile or "
            "recompile inside a timed region): their latency includes compile time; more warm-up or fewer batch "
            "shapes avoids it."
        )
    breaks = (perf.get("decode") or {}).get("graph_breaks") or 0
    if breaks:
        parts.append(f"**Warning: the compiled decode step had {breaks} graph break(s).**")
    differ = perf.get("repeats_differ")
    if differ:
        parts.append(f"**{differ['n']} sample(s) gave different tokens in timed repeats** (a nondeterministic kernel).")
    return " ".join(parts)


def performance_table(view: RunView) -> str:
    rows = performance_rows(view)
    if not rows:
        return "_no performance measurements_"
    note = timing_note(view)
    return md_table(PERF_HEADERS, rows) + (f"\n\n{note}" if note else "")


def truncation_line(view: RunView) -> str:
    """How many answers hit their token budget (cut off before the model stopped), per suite."""
    ok = [p for p in view.samples if not p.failed and p.truncated is not None]
    if not ok:
        return ""
    per_suite = {}
    for p in ok:
        n, cut = per_suite.get(p.suite, (0, 0))
        per_suite[p.suite] = (n + 1, cut + bool(p.truncated))
    parts = ", ".join(f"{suite} {cut}/{n}" for suite, (n, cut) in per_suite.items())
    return f"**Truncated answers** (reached their max_new_tokens budget before a stop token): {parts}"


def errors_list(view: RunView) -> str:
    failed = [p for p in view.samples if p.failed]
    if not failed:
        return ""
    lines = [f"- `{p.suite}/{p.sample_id}`: {shorten(p.error or 'no answer', 160)}" for p in failed[:MAX_ERRORS_LISTED]]
    if len(failed) > MAX_ERRORS_LISTED:
        lines.append(f"- … and {len(failed) - MAX_ERRORS_LISTED} more (see samples.jsonl)")
    return "\n".join(lines)


def run_markdown(view: RunView) -> str:
    rec = view.record
    n_errors = sum(p.failed for p in view.samples)
    plural = "error" if n_errors == 1 else "errors"
    parts = [f"## evalkit run `{rec.name}`: {rec.status}", ""]
    banner = random_weights_banner(view)
    if banner:
        parts += [f"> **{banner}**", ""]
    parts += [
        f"**Setting:** {setting_line(rec.setting)}",
        "",
        f"{len(view.samples)} samples · {n_errors} {plural} · started {rec.started_at} · "
        f"finished {rec.finished_at or '–'} · run `{rec.run_id}`",
    ]
    if rec.status == "skipped":
        parts += ["", f"**Skipped:** {rec.skip_reason}"]
        return "\n".join(parts) + "\n"
    if rec.error:
        parts += ["", f"**Run error:** `{shorten(rec.error, 300)}`"]
    if rec.status == "running":
        parts += ["", "_run.json still says running: the run was killed; scores are over the samples on disk._"]
    parts += [
        "",
        "### Scores (mean [95% CI: Wilson for proportions, bootstrap for means]; ↑ higher is better, ↓ lower is better)",
        "",
        scores_table(view),
    ]
    breakdown = breakdown_table(view)
    if breakdown:
        parts += ["", breakdown]
    truncated = truncation_line(view)
    if truncated:
        parts += ["", truncated]
    parts += ["", "### Latency and memory", "", performance_table(view)]
    errors = errors_list(view)
    if errors:
        parts += ["", f"### Errors ({n_errors})", "", errors]
    return "\n".join(parts) + "\n"


def sweep_rows(views: list[RunView]) -> tuple[list[str], list[list[str]]]:
    """Rows = settings; columns = per-suite primary score, latency medians, tokens/s, memory."""
    active = [v for v in views if v.record.status != "skipped"]
    suites = sorted({s for v in active for s in v.summary})
    primaries = {s: next((v.primary(s) for v in active if v.primary(s)), None) for s in suites}
    headers = ["setting", "status"] + [
        f"{s}: {primaries[s]} {_arrow(primaries[s]) if primaries[s] else ''}" for s in suites
    ]
    headers += [
        "e2e median (ms)",
        "prefill median (ms)",
        "decode median (ms)",
        "decode tokens/s",
        "peak alloc (MiB)",
        "peak RSS (MiB)",
        "harness overhead (%)",
        "loop samples/s",
    ]
    rows = []
    for v in active:
        harness = v.record.performance.get("harness") or {}
        row = [v.record.name, v.record.status]
        row += [fmt_estimate(v.primary_estimate(s)) for s in suites]
        row += [fmt(v.latency_median(p), 1) for p in ("end_to_end", "prefill", "decode")]
        row += [fmt(v.tokens_per_s, 1), fmt(v.memory_mb("peak_allocated"), 0), fmt(v.memory_mb("peak_rss"), 0)]
        row += [fmt(_pct(harness.get("overhead")), 1), fmt(harness.get("samples_per_s"), 2)]
        rows.append(row)
    return headers, rows


def sweep_markdown(views: list[RunView], unfinished: list[str] | None = None) -> str:
    parts = [f"## evalkit sweep: {len(views)} settings", ""]
    parts += [f"> **{b}**\n" for b in sweep_banners(views)]
    if views:
        common = {k: v for k, v in views[0].setting.items() if all(w.setting.get(k) == v for w in views)}
        if common:
            parts += [f"**Common setting:** {setting_line(common)}", ""]
    headers, rows = sweep_rows(views)
    parts.append(md_table(headers, rows) if rows else "_no setting ran_")
    skipped = [v for v in views if v.record.status == "skipped"]
    if skipped:
        parts += ["", "### Skipped settings", ""]
        parts += [f"- `{v.record.name}`: {shorten(v.record.skip_reason, 200)}" for v in skipped]
    failed = [v for v in views if v.record.status in ("failed", "interrupted", "running")]
    if failed or unfinished:
        parts += ["", "### Incomplete settings", ""]
        parts += [f"- `{v.record.name}`: {v.record.status} {shorten(v.record.error, 200)}" for v in failed]
        parts += [f"- {line}" for line in unfinished or []]
    return "\n".join(parts) + "\n"

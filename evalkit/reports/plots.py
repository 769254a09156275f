"""Matplotlib figures for the reports, returned as base64 PNG data URIs.

Figures are built with `matplotlib.figure.Figure` (Agg canvas) and never through pyplot, so making a
report neither switches the caller's backend nor leaks global figure state.
"""

from __future__ import annotations

import base64
import io
import math
from collections.abc import Sequence

from matplotlib.figure import Figure

from evalkit.reports.common import LATENCY_PHASES, MEMORY_KEYS, RunView, arrow, estimate, metric_info

_COLORS = ["#4C72B0", "#DD8452", "#55A868", "#C44E52", "#8172B3", "#937860", "#DA8BC3", "#8C8C8C"]


def to_data_uri(fig: Figure) -> str:
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=90, bbox_inches="tight")
    return "data:image/png;base64," + base64.b64encode(buf.getvalue()).decode("ascii")


def _errorbars(ests) -> tuple[list[float], list[list[float]]]:
    means, lows, highs = [], [], []
    for e in ests:
        if e is None or math.isnan(e.mean):
            means.append(math.nan)
            lows.append(0.0)
            highs.append(0.0)
        else:
            means.append(e.mean)
            lows.append(max(e.mean - e.low, 0.0))
            highs.append(max(e.high - e.mean, 0.0))
    return means, [lows, highs]


def _barh(ax, labels: Sequence[str], ests, color: str, title: str, xlabel: str, show_labels: bool = True) -> None:
    means, err = _errorbars(ests)
    y = list(range(len(labels)))
    ax.barh(y, [0 if math.isnan(m) else m for m in means], xerr=err, color=color, capsize=3, alpha=0.85)
    # "$" would switch matplotlib into mathtext ("$8.9B to $11.3B" came out in italics, dollars dropped).
    shown = [label.replace("$", r"\$") for label in labels] if show_labels else [""] * len(y)
    ax.set_yticks(y, labels=shown, fontsize=8)
    ax.invert_yaxis()
    ax.set_title(title, fontsize=9)
    ax.set_xlabel(xlabel, fontsize=8)
    ax.grid(axis="x", alpha=0.3)


def suite_scores_plot(view: RunView) -> str | None:
    """Every metric of every suite: mean with its 95% CI."""
    summary = view.summary
    suites = [s for s in summary if summary[s].get("metrics")]
    if not suites:
        return None
    fig = Figure(figsize=(4.2 * len(suites), 0.5 + 0.45 * max(len(summary[s]["metrics"]) for s in suites) + 0.8))
    axes = fig.subplots(1, len(suites), squeeze=False)[0]
    for i, (ax, suite) in enumerate(zip(axes, suites, strict=True)):
        metrics = list(summary[suite]["metrics"])
        ests = [estimate(summary[suite]["metrics"][m]) for m in metrics]
        labels = [f"{m} ({arrow(m)})" for m in metrics]
        _barh(ax, labels, ests, _COLORS[i % len(_COLORS)], suite, "mean, 95% CI")
    return to_data_uri(fig)


def tag_scores_plot(view: RunView, suite: str) -> str | None:
    """The suite's primary metric per tag value (overall first), with 95% CIs."""
    metric = view.primary(suite)
    data = view.summary.get(suite) or {}
    if metric is None or metric not in data.get("metrics", {}):
        return None
    # A tag value held by one sample is that sample's score, not a group: it is in the sample list instead.
    tags = [t for t, vals in (data.get("by_tag") or {}).items() if metric in vals and (vals[metric].get("n") or 0) > 1]
    if not tags:
        return None
    labels = ["(all)"] + tags
    ests = [estimate(data["metrics"][metric])] + [estimate(data["by_tag"][t][metric]) for t in tags]
    fig = Figure(figsize=(6, 0.6 + 0.35 * len(labels)))
    ax = fig.subplots()
    _barh(ax, labels, ests, _COLORS[0], f"{suite}: {metric} by tag", f"{metric} ({metric_info(metric).unit}), 95% CI")
    return to_data_uri(fig)


def latency_plot(view: RunView) -> str | None:
    """Per-phase distribution of per-sample latency (box plots, ms)."""
    ok = [p for p in view.samples if not p.failed]
    present = [ph for ph in LATENCY_PHASES if any(ph in p.timings_ms for p in ok)]
    if not present:
        return None
    data = [[p.timings_ms[ph] for p in ok if ph in p.timings_ms] for ph in present]
    fig = Figure(figsize=(1.6 * len(present) + 2, 3))
    ax = fig.subplots()
    ax.boxplot(data, showmeans=True)
    ax.set_xticks(range(1, len(present) + 1), labels=present)
    ax.set_ylabel("latency per sample (ms)", fontsize=8)
    ax.set_title("latency by phase (median of repeats per sample)", fontsize=9)
    ax.grid(axis="y", alpha=0.3)
    return to_data_uri(fig)


def memory_plot(view: RunView) -> str | None:
    keys = [k for k in MEMORY_KEYS if not math.isnan(view.memory_mb(k))]
    if not keys:
        return None
    fig = Figure(figsize=(5, 0.6 + 0.4 * len(keys)))
    ax = fig.subplots()
    values = [view.memory_mb(k) for k in keys]
    ax.barh(keys, values, color=_COLORS[2])
    for y, v in enumerate(values):
        ax.text(v, y, f" {v:.0f}", va="center", fontsize=8)
    ax.invert_yaxis()
    ax.set_xlabel("MiB", fontsize=8)
    ax.set_title("peak memory", fontsize=9)
    return to_data_uri(fig)


def sweep_plots(views: list[RunView]) -> list[tuple[str, str]]:
    """(caption, data URI) pairs comparing the settings of a sweep."""
    views = [v for v in views if v.record.status != "skipped"]
    if not views:
        return []
    out: list[tuple[str, str]] = []
    labels = [v.record.name for v in views]
    suites = sorted({s for v in views for s in v.summary})
    if suites:
        fig = Figure(figsize=(4.2 * len(suites), 0.8 + 0.4 * len(views)))
        axes = fig.subplots(1, len(suites), squeeze=False)[0]
        for i, (ax, suite) in enumerate(zip(axes, suites, strict=True)):
            metric = next((v.primary(suite) for v in views if v.primary(suite)), "score")
            ests = [v.primary_estimate(suite) for v in views]
            _barh(ax, labels, ests, _COLORS[i % 8], suite, f"{metric}, 95% CI", show_labels=i == 0)
        out.append(("Primary score per suite and setting (95% CI)", to_data_uri(fig)))
    fig = Figure(figsize=(12, 0.9 + 0.4 * len(views)))
    ax_lat, ax_tps, ax_mem = fig.subplots(1, 3)
    # Numeric positions: string categories would merge two settings that share a name.
    ys = list(range(len(views)))
    left = [0.0] * len(views)
    for i, phase in enumerate(("preprocess", "prefill", "decode")):
        vals = [v.latency_median(phase) for v in views]
        vals = [0.0 if math.isnan(x) else x for x in vals]
        ax_lat.barh(ys, vals, left=left, color=_COLORS[i], label=phase)
        left = [a + b for a, b in zip(left, vals, strict=True)]
    ax_lat.legend(fontsize=7)
    ax_lat.set_xlabel("median latency per sample (ms)", fontsize=8)
    ax_lat.set_yticks(ys, labels=labels)
    ax_lat.invert_yaxis()
    ax_tps.barh(ys, [0 if math.isnan(v.tokens_per_s) else v.tokens_per_s for v in views], color=_COLORS[3])
    ax_tps.set_xlabel("median decode tokens/s", fontsize=8)
    ax_tps.invert_yaxis()
    ax_tps.set_yticks([])
    mem_keys = [k for k in MEMORY_KEYS if any(not math.isnan(v.memory_mb(k)) for v in views)]
    for j, key in enumerate(mem_keys):
        vals = [v.memory_mb(key) for v in views]
        height = 0.8 / len(mem_keys)
        offsets = [y + (j - (len(mem_keys) - 1) / 2) * height for y in ys]
        ax_mem.barh(offsets, [0 if math.isnan(x) else x for x in vals], height=height, color=_COLORS[4 + j], label=key)
    ax_mem.set_yticks([])
    ax_mem.set_ylim(len(views) - 0.5, -0.5)
    if mem_keys:
        ax_mem.legend(fontsize=7)
    ax_mem.set_xlabel("peak memory (MiB)", fontsize=8)
    for ax in (ax_lat, ax_tps, ax_mem):
        ax.grid(axis="x", alpha=0.3)
        ax.tick_params(labelsize=8)
    out.append(("Latency, decode speed and peak memory per setting", to_data_uri(fig)))
    return out


def diff_plot(rows: list[tuple[str, float, float, float, bool]]) -> str | None:
    """Forest plot of paired differences: rows of (label, mean, low, high, bad_if_positive)."""
    rows = [r for r in rows if not math.isnan(r[1])]
    if not rows:
        return None
    fig = Figure(figsize=(7, 0.8 + 0.35 * len(rows)))
    ax = fig.subplots()
    for y, (_label, mean, low, high, bad_if_positive) in enumerate(rows):
        excludes = low > 0 or high < 0
        bad = excludes and ((mean > 0) == bad_if_positive)
        color = "#C44E52" if bad else ("#55A868" if excludes else "#8C8C8C")
        ax.errorbar([mean], [y], xerr=[[mean - low], [high - mean]], fmt="o", color=color, capsize=3)
    ax.axvline(0, color="black", lw=0.8)
    ax.set_yticks(range(len(rows)), labels=[r[0] for r in rows], fontsize=8)
    ax.invert_yaxis()
    ax.set_xlabel("candidate − reference (paired mean, 95% CI); red = worse, green = better", fontsize=8)
    ax.grid(axis="x", alpha=0.3)
    return to_data_uri(fig)


_MARKERS = ["o", "s", "^", "D", "v", "P", "X", "*"]


def trend_colors(n: int) -> list:
    """`n` colours, all different: the report palette while it lasts, then evenly spaced hues (a history with many
    groups must not draw two of them in one colour)."""
    if n <= len(_COLORS):
        return _COLORS[:n]
    import matplotlib

    return [matplotlib.colormaps["hsv"](i / n) for i in range(n)]


def history_plot(df, score_columns: list[str]) -> str | None:
    """Score, latency and memory by revision/date, one line per trend: runs comparable with each other
    (evalkit.reports.history.COMPARABLE); a run that differs in limit, crops, budget or suites is another line."""
    if df is None or df.empty:
        return None
    panels = [(c, c) for c in score_columns] + [
        ("latency_e2e_median_ms", "median end-to-end latency (ms)"),
        ("peak_memory_mb", "peak memory (MiB)"),
    ]
    fig = Figure(figsize=(8, 2.2 * len(panels)))
    axes = fig.subplots(len(panels), 1, sharex=True, squeeze=False)[:, 0]
    x_labels = list(dict.fromkeys(df["point"]))
    x_of = {p: i for i, p in enumerate(x_labels)}
    key = "trend" if "trend" in df else "setting_key"
    colors = trend_colors(df[key].nunique())
    for ax, (col, title) in zip(axes, panels, strict=True):
        for i, (setting, group) in enumerate(df.groupby(key, sort=True)):
            xs = [x_of[p] for p in group["point"]]
            ys = group[col].astype(float).tolist()
            lo_col, hi_col = f"{col}_low", f"{col}_high"
            if lo_col in group:
                lo = [
                    y - lo if not math.isnan(lo) else 0 for y, lo in zip(ys, group[lo_col].astype(float), strict=True)
                ]
                hi = [
                    hi - y if not math.isnan(hi) else 0 for y, hi in zip(ys, group[hi_col].astype(float), strict=True)
                ]
                ax.errorbar(
                    xs, ys, yerr=[lo, hi], marker=_MARKERS[i % len(_MARKERS)], capsize=3, color=colors[i], label=setting
                )
            else:
                ax.plot(xs, ys, marker=_MARKERS[i % len(_MARKERS)], color=colors[i], label=setting)
        ax.set_title(title, fontsize=9)
        ax.grid(alpha=0.3)
    axes[0].legend(fontsize=7)
    axes[-1].set_xticks(range(len(x_labels)), labels=x_labels, rotation=30, ha="right", fontsize=8)
    fig.tight_layout()
    return to_data_uri(fig)

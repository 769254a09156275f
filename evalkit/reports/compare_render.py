"""Markdown and self-contained HTML renderings of a `Comparison`, and the writer of a comparison dir."""

from __future__ import annotations

import math
from pathlib import Path

import pandas as pd

from evalkit.reports import plots
from evalkit.reports.common import arrow, fmt, fmt_estimate, md_table, setting_line, shorten, write_report_pair
from evalkit.reports.comparison import Comparison, PairComparison, SampleChange
from evalkit.reports.html import df_html, esc, img, page

MD_CHANGES = 10
HTML_CHANGES = 60


def _verdict_md(v: str, fails: bool) -> str:
    if fails:
        return "**REGRESSION (fails)**"
    return {"regression": "regression", "improvement": "improvement"}.get(v, v)


def _metric_rows(pair: PairComparison) -> list[list[str]]:
    return [
        [
            m.suite,
            f"{m.metric} {arrow(m.metric)}" + (" (gate)" if m.gating else ""),
            fmt_estimate(m.reference),
            fmt_estimate(m.candidate),
            fmt_estimate(m.diff, 4),
            str(m.diff.n),
            _verdict_md(m.verdict, m.fails),
        ]
        for m in pair.metrics
    ]


def _perf_rows(pair: PairComparison) -> list[list[str]]:
    rows = []
    for r in pair.perf:
        digits = 2 if r.unit == "s" else 1
        ratio = "–" if math.isnan(r.ratio) else f"{r.ratio:.2f}×"
        rows.append([r.measure, r.unit, fmt(r.reference, digits), fmt(r.candidate, digits), ratio])
    return rows


def _score_change(c: SampleChange) -> str:
    if c.candidate_error and not c.reference_error:
        return "newly failing"
    if c.reference_error and not c.candidate_error:
        return "fixed"
    return f"{c.metric}: {fmt(c.reference_score)} → {fmt(c.candidate_score)}"


def _pair_title(pair: PairComparison) -> str:
    if pair.has_regression:
        status = "REGRESSION"
    elif pair.problems:
        status = "REFUSED (incomplete evidence)"
    elif pair.perf_failures:
        status = "PERFORMANCE GATE FAILED"
    else:
        status = "no failing regression"
    return f"{pair.candidate.label} vs {pair.reference.label}: {status}"


def _failures(pair: PairComparison) -> list[str]:
    return [f"refused: {text}" for _, text in pair.problems] + list(pair.perf_failures)


METRIC_HEADERS = ["suite", "metric", "reference", "candidate", "diff (paired, 95% CI)", "n pairs", "verdict"]
PERF_HEADERS = ["measure", "unit", "reference", "candidate", "ratio"]


def comparison_markdown(comp: Comparison) -> str:
    parts = [f"## evalkit compare (reference: `{comp.reference.label}`, threshold {comp.threshold:g})", ""]
    parts.append(f"**Reference setting:** {setting_line(comp.reference.setting)}")
    for pair in comp.pairs:
        parts += ["", f"### {_pair_title(pair)}", ""]
        if pair.setting_diff:
            diffs = ", ".join(f"{k}: {a} → {b}" for k, (a, b) in pair.setting_diff.items())
            parts += [f"**Setting changes:** {diffs}", ""]
        parts += [f"- **FAIL** {line}" for line in _failures(pair)]
        parts += [f"- **warning:** {w}" for w in pair.warnings]
        parts += [f"- note: {n}" for n in pair.notes]
        if pair.latency_rule:
            parts.append(f"- {pair.latency_rule}")
        if pair.notes or _failures(pair) or pair.warnings or pair.latency_rule:
            parts.append("")
        parts.append(md_table(METRIC_HEADERS, _metric_rows(pair)) if pair.metrics else "_no common suite metrics_")
        if pair.new_errors:
            listed = ", ".join(f"`{e}`" for e in pair.new_errors[:10])
            parts += ["", f"**{len(pair.new_errors)} newly failing samples:** {listed}"]
        if pair.perf:
            parts += ["", md_table(PERF_HEADERS, _perf_rows(pair))]
        if pair.changes:
            parts += [
                "",
                f"**{len(pair.changes)} changed samples** (worst first, top {min(MD_CHANGES, len(pair.changes))}):",
                "",
            ]
            rows = [
                [
                    f"{c.suite}/{c.sample_id}",
                    _score_change(c),
                    shorten(c.reference_answer if c.reference_error is None else c.reference_error, 100),
                    shorten(c.candidate_answer if c.candidate_error is None else c.candidate_error, 100),
                ]
                for c in pair.changes[:MD_CHANGES]
            ]
            parts.append(md_table(["sample", "change", "reference answer", "candidate answer"], rows))
    return "\n".join(parts) + "\n"


def _change_html(c: SampleChange) -> str:
    def answer(text: str | None, error: str | None) -> str:
        return esc(f"(failed: {error})") if error else esc(text if text is not None else "")

    scores = ", ".join(
        f"{esc(m)}: {fmt(c.reference_scores.get(m, math.nan))} → {fmt(c.candidate_scores.get(m, math.nan))}"
        for m in sorted(set(c.reference_scores) | set(c.candidate_scores))
    )
    return (
        f"<tr><td><b>{esc(c.suite)}/{esc(c.sample_id)}</b><br>{esc(_score_change(c))}<br><span class='muted'>{scores}</span>"
        f"<details><summary>prompt</summary><pre>{esc(c.prompt)}</pre></details></td>"
        f"<td><pre>{answer(c.reference_answer, c.reference_error)}</pre></td>"
        f"<td><pre>{answer(c.candidate_answer, c.candidate_error)}</pre></td></tr>"
    )


def comparison_html(comp: Comparison) -> str:
    body = [
        f"<h1>evalkit compare</h1><p><b>Reference:</b> <code>{esc(comp.reference.label)}</code> "
        f"({esc(comp.reference.path)})<br>{esc(setting_line(comp.reference.setting))}<br>threshold {comp.threshold:g}</p>"
    ]
    for pair in comp.pairs:
        cls = "bad" if pair.failed else "good"
        body.append(f"<h2 class='{cls}'>{esc(_pair_title(pair))}</h2>")
        body.append(f"<p class='muted'>candidate: {esc(pair.candidate.path)}</p>")
        if pair.setting_diff:
            body.append(
                "<p><b>Setting changes:</b> "
                + esc(", ".join(f"{k}: {a} → {b}" for k, (a, b) in pair.setting_diff.items()))
                + "</p>"
            )
        if _failures(pair):
            body.append("<ul class='bad'>" + "".join(f"<li>FAIL {esc(n)}</li>" for n in _failures(pair)) + "</ul>")
        lines = (
            [f"warning: {w}" for w in pair.warnings] + list(pair.notes) + [pair.latency_rule] * bool(pair.latency_rule)
        )
        if lines:
            body.append("<ul>" + "".join(f"<li>{esc(n)}</li>" for n in lines) + "</ul>")
        if pair.metrics:
            body.append(
                df_html(pd.DataFrame(_metric_rows(pair), columns=METRIC_HEADERS).replace(r"\*\*", "", regex=True))
            )
            rows = [
                (f"{m.suite}: {m.metric}", m.diff.mean, m.diff.low, m.diff.high, m.higher_is_better is False)
                for m in pair.metrics
            ]
            body.append(img(plots.diff_plot(rows), "paired differences"))
        if pair.new_errors:
            body.append(
                f"<p class='bad'>{len(pair.new_errors)} newly failing samples: {esc(', '.join(pair.new_errors))}</p>"
            )
        if pair.perf:
            body += ["<h3>Latency and memory</h3>", df_html(pd.DataFrame(_perf_rows(pair), columns=PERF_HEADERS))]
        if pair.changes:
            body.append(f"<h3>Changed samples ({len(pair.changes)}, worst first)</h3>")
            body.append("<table><tr><th>sample</th><th>reference answer</th><th>candidate answer</th></tr>")
            body += [_change_html(c) for c in pair.changes[:HTML_CHANGES]]
            body.append("</table>")
            if len(pair.changes) > HTML_CHANGES:
                body.append(f"<p class='muted'>… {len(pair.changes) - HTML_CHANGES} more not shown</p>")
    return page("evalkit compare", body)


def write_comparison(comp: Comparison, out_dir: Path) -> tuple[Path, Path]:
    """compare.md and compare.html in `out_dir` (appends the markdown to GITHUB_STEP_SUMMARY when set)."""
    return write_report_pair(out_dir, "compare", comparison_markdown(comp), comparison_html(comp))

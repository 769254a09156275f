"""Self-contained HTML reports (plots and thumbnails embedded as data URIs) and the report writers."""

from __future__ import annotations

import base64
import functools
import html
import io
import json
import math
import os
from pathlib import Path

import pandas as pd

from evalkit.reports import plots
from evalkit.reports.baseline import load_run_or_baseline
from evalkit.reports.common import (
    RunView,
    better,
    fmt,
    fmt_estimate,
    metric_info,
    setting_line,
    shorten,
    write_report_pair,
)
from evalkit.reports.console import random_weights_banner, sweep_banners
from evalkit.reports.markdown import (
    PERF_HEADERS,
    errors_list,
    performance_rows,
    run_markdown,
    sweep_markdown,
    sweep_rows,
    timing_note,
    truncation_line,
)
from evalkit.scoring.metrics import CIRCULAR_METRICS

WORST_PER_SUITE = 8
THUMB_SIDE = 256

CSS = """
body{font-family:system-ui,-apple-system,Segoe UI,Roboto,sans-serif;margin:1.5em auto;max-width:1200px;color:#222;padding:0 1em}
h1{font-size:1.5em}h2{font-size:1.2em;border-bottom:1px solid #ddd;padding-bottom:.2em;margin-top:1.6em}h3{font-size:1.05em}
table{border-collapse:collapse;margin:.5em 0;font-size:.9em}th,td{border:1px solid #ccc;padding:3px 8px;text-align:left;vertical-align:top}
th{background:#f3f3f3}.muted{color:#777}.bad{color:#b00020;font-weight:600}.good{color:#1b7f3b;font-weight:600}
.sample{display:flex;gap:1em;border:1px solid #ddd;border-radius:6px;padding:.6em;margin:.6em 0}
.thumbs{display:flex;gap:.4em;flex-wrap:wrap;max-width:540px}.thumbs img{max-width:256px;max-height:256px;border:1px solid #ccc}
.missing{width:160px;height:120px;background:#eee;color:#777;display:flex;align-items:center;justify-content:center;
 text-align:center;font-size:.8em;border:1px dashed #aaa;padding:4px;overflow-wrap:anywhere}
.text{flex:1;min-width:0}pre{white-space:pre-wrap;overflow-wrap:anywhere}
.text pre{white-space:pre-wrap;overflow-wrap:anywhere;background:#f8f8f8;padding:.4em;margin:.2em 0;font-size:.85em}
img.plot{max-width:100%;display:block;margin:.5em 0}details{margin:.5em 0}code{background:#f3f3f3;padding:0 3px}
"""


def esc(text: object) -> str:
    return html.escape(str(text), quote=True)


def page(title: str, body: list[str]) -> str:
    return (
        "<!DOCTYPE html>\n<html lang='en'><head><meta charset='utf-8'>"
        f"<title>{esc(title)}</title><style>{CSS}</style></head>\n<body>\n" + "\n".join(body) + "\n</body></html>\n"
    )


def img(uri: str | None, alt: str) -> str:
    return f"<img class='plot' alt='{esc(alt)}' src='{uri}'>" if uri else ""


def df_html(df: pd.DataFrame) -> str:
    return df.to_html(index=False, escape=True, border=0, na_rep="–")


def thumbnail(path: str) -> str:
    """An <img> with a base64 JPEG (longest side <= 256 px), or a placeholder when the file is unusable."""
    try:
        mtime = os.stat(path).st_mtime_ns
    except OSError:
        mtime = None
    return _thumbnail(path, mtime)


@functools.lru_cache(maxsize=256)  # the same image often appears in several samples; keyed on mtime too
def _thumbnail(path: str, _mtime: int | None) -> str:
    try:
        # The model's own decode (its 16-bit scaling, transparency over white, pixel limit): the thumbnail shows
        # what the model saw, not what a plain convert("RGB") makes of the file. Imported here: it needs torch.
        from evalkit.phi3v.images import load_image

        im = load_image(path)
        im.thumbnail((THUMB_SIDE, THUMB_SIDE))
        buf = io.BytesIO()
        im.save(buf, format="JPEG", quality=80)
        uri = "data:image/jpeg;base64," + base64.b64encode(buf.getvalue()).decode("ascii")
        return f"<img alt='{esc(Path(path).name)}' title='{esc(path)}' src='{uri}'>"
    except Exception:  # any unreadable image becomes a placeholder, never a failed report
        reason = "image not found" if not os.path.lexists(path) else "image unreadable"
        return f"<div class='missing' title='{esc(path)}'>{reason}:<br>{esc(Path(path).name)}</div>"


def _labels_html(labels: dict) -> str:
    if not labels:
        return "<span class='muted'>(no reference recorded)</span>"
    rows = []
    for key, value in labels.items():
        if isinstance(value, list):  # keywords are groups of alternatives: [["rocket", "rockets"], ["sky"]]
            text = "; ".join(" / ".join(map(str, v)) if isinstance(v, (list, tuple)) else str(v) for v in value)
        else:
            text = value if isinstance(value, str) else json.dumps(value, ensure_ascii=False)
        rows.append(f"<b>{esc(key)}</b>: <pre>{esc(shorten(text, 2000))}</pre>")
    return "".join(rows)


def worst_samples(view: RunView, suite: str, k: int = WORST_PER_SUITE):
    metric = view.primary(suite)
    metric = CIRCULAR_METRICS.get(metric, metric) if metric else None  # CircularEval: rank rows by their own metric
    ok = [p for p in view.samples if p.suite == suite and not p.failed and metric in p.scores]
    if metric is None:
        return None, []
    sign = -1.0 if metric_info(metric).higher_is_better else 1.0  # worst = lowest score, or highest error
    ok = [p for p in ok if not math.isnan(p.scores[metric])]
    return metric, sorted(ok, key=lambda p: (-sign * p.scores[metric], p.sample_id))[:k]


def sample_card(p, metric: str | None) -> str:
    thumbs = "".join(thumbnail(path) for path in p.images) or "<span class='muted'>(no image)</span>"
    scores = ", ".join(
        f"<b>{esc(m)}={fmt(v)}</b>" if m == metric else f"{esc(m)}={fmt(v)}" for m, v in sorted(p.scores.items())
    )
    tags = " ".join(f"<code>{esc(k)}={esc(v)}</code>" for k, v in p.tags.items())
    if p.max_new_tokens is not None:  # the generation budget, and whether the answer was cut off by it
        cut = " <span class='bad'>truncated</span>" if p.truncated else ""
        tags += f" <span class='muted'>{len(p.answer_token_ids)}/{p.max_new_tokens} tokens</span>{cut}"
    return (
        f"<div class='sample'><div class='thumbs'>{thumbs}</div><div class='text'>"
        f"<div><b>{esc(p.sample_id)}</b> {tags}</div><div>{scores}</div>"
        f"<div><b>question</b><pre>{esc(p.prompt)}</pre></div>"
        f"<div><b>answer</b><pre>{esc(p.answer if p.answer is not None else '(failed: ' + str(p.error) + ')')}</pre></div>"
        f"<div>{_labels_html(p.labels)}</div></div></div>"
    )


def _scores_df(view: RunView) -> pd.DataFrame:
    rows = []
    for suite, data in view.summary.items():
        for metric, est in data.get("metrics", {}).items():
            rows.append(
                {
                    "suite": suite,
                    "metric": metric + (" (primary)" if metric == view.primary(suite) else ""),
                    "better": better(metric),
                    "unit": metric_info(metric).unit,
                    "mean [95% CI]": fmt_estimate(est),
                    "n": est.get("n"),
                    "errors": data.get("n_errors", 0),
                }
            )
    return pd.DataFrame(rows)


def run_html(view: RunView) -> str:
    rec = view.record
    banner = random_weights_banner(view)
    body = [
        f"<h1>evalkit run <code>{esc(rec.name)}</code>: {esc(rec.status)}</h1>",
        *([f"<p class='bad'><b>{esc(banner)}</b></p>"] if banner else []),
        f"<p><b>Setting:</b> {esc(setting_line(rec.setting))}</p>",
        f"<p class='muted'>run {esc(rec.run_id)} · started {esc(rec.started_at)} · finished {esc(rec.finished_at or '–')}"
        f" · {len(view.samples)} samples · {sum(p.failed for p in view.samples)} errors</p>",
    ]
    if rec.status == "skipped":
        body.append(f"<p class='bad'>Skipped: {esc(rec.skip_reason)}</p>")
    if rec.error:
        body.append(f"<p class='bad'>Run error: {esc(rec.error)}</p>")
    if rec.summary or view.samples:
        body += [
            "<h2>Scores</h2>",
            "<p class='muted'>Mean with 95% confidence interval (Wilson for proportions, bootstrap for means).</p>",
        ]
        body += [df_html(_scores_df(view)), img(plots.suite_scores_plot(view), "scores per suite")]
        truncated = truncation_line(view)
        if truncated:
            body.append(f"<p>{esc(truncated.replace('**', ''))}</p>")
        for suite in view.summary:
            body.append(img(plots.tag_scores_plot(view, suite), f"{suite} by tag"))
    body += ["<h2>Latency and memory</h2>", df_html(pd.DataFrame(performance_rows(view), columns=PERF_HEADERS))]
    note = timing_note(view)
    if note:
        body.append(f"<p class='muted'>{esc(note.replace('**', '').replace('`', ''))}</p>")
    body += [img(plots.latency_plot(view), "latency by phase"), img(plots.memory_plot(view), "peak memory")]
    suites = sorted({p.suite for p in view.samples})
    if suites:
        body.append("<h2>Worst samples per suite</h2>")
    for suite in suites:
        metric, worst = worst_samples(view, suite)
        if worst:
            body.append(f"<h3>{esc(suite)} <span class='muted'>(by {esc(metric)})</span></h3>")
            body += [sample_card(p, metric) for p in worst]
    errors = errors_list(view)
    if errors:
        items = "".join(f"<li>{esc(line[2:])}</li>" for line in errors.splitlines())
        body += ["<h2>Errors</h2>", f"<ul>{items}</ul>"]
    body += [
        "<h2>Provenance</h2>",
        "<details><summary>provenance, suites and config</summary>",
        f"<pre>{esc(json.dumps({'provenance': rec.provenance, 'suites': rec.suites, 'config': rec.config}, indent=2, default=str))}</pre>",
        "</details>",
    ]
    return page(f"evalkit {rec.name}", body)


def sweep_html(views: list[RunView], unfinished: list[str] | None = None) -> str:
    headers, rows = sweep_rows(views)
    body = [f"<h1>evalkit sweep: {len(views)} settings</h1>"]
    body += [f"<p class='bad'><b>{esc(b)}</b></p>" for b in sweep_banners(views)]
    body.append(df_html(pd.DataFrame(rows, columns=headers)) if rows else "<p>No setting ran.</p>")
    body += [img(uri, caption) for caption, uri in plots.sweep_plots(views)]
    skipped = [v for v in views if v.record.status == "skipped"]
    if skipped:
        body.append("<h2>Skipped settings</h2><ul>")
        body += [f"<li><code>{esc(v.record.name)}</code>: {esc(v.record.skip_reason)}</li>" for v in skipped]
        body.append("</ul>")
    incomplete = [v for v in views if v.record.status in ("failed", "interrupted", "running")]
    if incomplete or unfinished:
        body.append("<h2>Incomplete settings</h2><ul>")
        body += [
            f"<li><code>{esc(v.record.name)}</code>: {esc(v.record.status)} {esc(v.record.error or '')}</li>"
            for v in incomplete
        ]
        body += [f"<li>{esc(line)}</li>" for line in unfinished or []]
        body.append("</ul>")
    return page("evalkit sweep", body)


def write_run_reports(run_dir: Path) -> tuple[Path, Path]:
    """report.md and report.html in `run_dir`, from the run directory alone."""
    run_dir = Path(run_dir)
    view = load_run_or_baseline(run_dir)
    return write_report_pair(run_dir, "report", run_markdown(view), run_html(view))


def write_sweep_report(out_dir: Path, run_dirs: list[Path], unfinished: list[str] | None = None) -> tuple[Path, Path]:
    """sweep.md and sweep.html in `out_dir` comparing every setting (skipped ones listed with reason); `unfinished`:
    one line per job that left no run record (it died or failed before recording one)."""
    views = [load_run_or_baseline(Path(d)) for d in run_dirs]
    return write_report_pair(out_dir, "sweep", sweep_markdown(views, unfinished), sweep_html(views, unfinished))

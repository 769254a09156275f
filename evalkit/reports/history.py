"""History of one model over revisions and dates, from run directories and baselines."""

from __future__ import annotations

import math
import re
import warnings
from pathlib import Path

import pandas as pd

from evalkit.errors import EvalkitError
from evalkit.records import RecordWarning, atomic_write_text, find_runs, load_run
from evalkit.reports import plots
from evalkit.reports.baseline import load_baseline
from evalkit.reports.common import RunView, fmt, md_table

BASE_COLUMNS = ["date", "kind", "name", "revision", "commit", "dtype", "attn", "device"]
PERF_COLUMNS = ["latency_e2e_median_ms", "decode_tokens_per_s", "peak_memory_mb", "memory_kind"]


def _commit(provenance: dict) -> str:
    """The model's Hub commit (provenance.model.commit), else the weights' sha256, shortened."""
    model = provenance.get("model") if isinstance(provenance.get("model"), dict) else {}
    weights = provenance.get("weights") if isinstance(provenance.get("weights"), dict) else {}
    value = model.get("commit") or provenance.get("hub_commit") or weights.get("sha256") or ""
    return str(value)[:12]


def _row(view: RunView) -> dict:
    rec, s = view.record, view.setting
    row = {
        "date": rec.started_at,
        "kind": view.kind,
        "name": rec.name,
        "revision": str(s.get("revision") or ""),
        "commit": _commit(rec.provenance),
        "dtype": s.get("dtype", ""),
        "attn": s.get("attn", ""),
        "device": s.get("device", ""),
        "path": str(view.path),
    }
    for suite in view.summary:
        metric, est = view.primary(suite), view.primary_estimate(suite)
        col = f"{suite}:{metric}"
        row[col] = est.mean if est else math.nan
        row[f"{col}_low"] = est.low if est else math.nan
        row[f"{col}_high"] = est.high if est else math.nan
    row["latency_e2e_median_ms"] = view.latency_median("end_to_end")
    row["decode_tokens_per_s"] = view.tokens_per_s
    gpu = view.memory_mb("peak_allocated")
    # GPU settings are judged on allocated device memory, CPU settings on process RSS.
    row["peak_memory_mb"] = gpu if not math.isnan(gpu) else view.memory_mb("peak_rss")
    row["memory_kind"] = "peak_allocated" if not math.isnan(gpu) else "peak_rss"
    return row


def _views(model: str, runs_root: Path, baselines_root: Path) -> list[RunView]:
    views = []
    for run_dir in find_runs(runs_root):
        try:
            record, preds = load_run(run_dir)
        except EvalkitError as exc:
            # One damaged run directory must not hide the rest of the history.
            warnings.warn(f"history: skipping {run_dir}: {exc}", RecordWarning, stacklevel=2)
            continue
        if record.setting.get("model") == model and record.status == "complete":
            views.append(RunView(path=run_dir, kind="run", record=record, samples=preds))
    model_dir = Path(baselines_root) / re.sub(r"[^A-Za-z0-9._-]+", "-", model)
    for path in sorted(model_dir.glob("*.json")) if model_dir.is_dir() else []:
        try:
            view = load_baseline(path)
        except EvalkitError as exc:
            warnings.warn(f"history: skipping {path}: {exc}", RecordWarning, stacklevel=2)
            continue
        if view.setting.get("model") == model:
            views.append(view)
    return views


def history_table(
    model: str, runs_root: Path = Path("reports/runs"), baselines_root: Path = Path("reports/baselines")
) -> pd.DataFrame:
    """One row per complete run / baseline of `model`, sorted by date (columns documented in docs/records.md)."""
    rows = [_row(v) for v in _views(model, Path(runs_root), Path(baselines_root))]
    if not rows:
        return pd.DataFrame(columns=BASE_COLUMNS + PERF_COLUMNS + ["path"])
    df = pd.DataFrame(rows).sort_values(["date", "kind", "name"], kind="stable").reset_index(drop=True)
    df["setting_key"] = df["dtype"].astype(str) + "/" + df["attn"].astype(str) + "/" + df["device"].astype(str)
    label = df["revision"].where(df["revision"] != "", df["commit"])
    df["point"] = label.str.slice(0, 12) + " (" + df["date"].str.slice(0, 10) + ")"
    return df


def score_columns(df: pd.DataFrame) -> list[str]:
    return [c for c in df.columns if ":" in c and not c.endswith(("_low", "_high"))]


def history_markdown(model: str, df: pd.DataFrame) -> str:
    if df.empty:
        return f"## evalkit history: {model}\n\n_no complete runs or baselines found_\n"
    scores = score_columns(df)
    headers = BASE_COLUMNS + [f"{c} [95% CI]" for c in scores] + ["e2e median (ms)", "tokens/s", "peak memory (MB)"]
    rows = []
    for _, r in df.iterrows():
        row = [str(r["date"]).replace("+00:00", "Z")] + [r[c] for c in BASE_COLUMNS[1:]]
        for c in scores:
            v = r[c]
            row.append("–" if pd.isna(v) else f"{v:.3f} [{r[c + '_low']:.3f}, {r[c + '_high']:.3f}]")
        row += [fmt(float(r["latency_e2e_median_ms"]), 1), fmt(float(r["decode_tokens_per_s"]), 1)]
        row.append(f"{fmt(float(r['peak_memory_mb']), 0)} ({r['memory_kind']})")
        rows.append(row)
    return f"## evalkit history: {model}\n\n{md_table(headers, rows)}\n"


def write_history(
    model: str,
    out_dir: Path,
    runs_root: Path = Path("reports/runs"),
    baselines_root: Path = Path("reports/baselines"),
) -> tuple[Path, Path | None, pd.DataFrame]:
    """history.md, history.csv and history.png (when there is data) in `out_dir`."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    df = history_table(model, runs_root, baselines_root)
    md_path = out_dir / "history.md"
    atomic_write_text(md_path, history_markdown(model, df))
    atomic_write_text(out_dir / "history.csv", df.to_csv(index=False))
    png_path = None
    uri = plots.history_plot(df, score_columns(df)) if not df.empty else None
    if uri:
        import base64

        png_path = out_dir / "history.png"
        png_path.write_bytes(base64.b64decode(uri.split(",", 1)[1]))
    return md_path, png_path, df

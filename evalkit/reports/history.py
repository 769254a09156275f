"""History of one model over revisions and dates, from run directories and baselines."""

from __future__ import annotations

import hashlib
import math
import warnings
from pathlib import Path

import pandas as pd

from evalkit.errors import EvalkitError
from evalkit.records import RecordWarning, atomic_write_text, find_runs, load_run
from evalkit.records.facts import record_memory_key
from evalkit.reports import plots
from evalkit.reports.baseline import baseline_path, load_baseline
from evalkit.reports.common import RunView, fmt, md_table

BASE_COLUMNS = ["date", "kind", "name", "revision", "commit", "dtype", "attn", "device", "n", "limit", "num_crops",
                "max_new_tokens", "group"]  # fmt: skip
# What must be equal for two points of the history to be joined by a line (one trend): the same model run the same
# way on the same samples. Anything else (a limit, fewer crops, a shorter budget, a changed suite) moves the score
# for reasons that are not the revision.
COMPARABLE = ["model", "dtype", "attn", "device", "limit", "num_crops", "max_new_tokens", "suites"]
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
        "n": sum(int((d or {}).get("n") or 0) for d in view.summary.values()),
        "limit": _text(view.limit),
        "num_crops": _text(s.get("num_crops")),
        "max_new_tokens": _text(s.get("max_new_tokens"), none="per sample"),
        "model": str(s.get("model") or ""),
        "suites": _suites_key(rec.suites),
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
    key = record_memory_key(view.record)  # the figure the memory gate judges
    row["peak_memory_mb"] = view.memory_mb(key)
    row["memory_kind"] = key
    return row


def _text(value, none: str = "none") -> str:
    return none if value is None else str(value)


def _suites_key(suites: dict) -> str:
    """The suites a run scored, by name and content hash (shortened): a changed suite is another trend."""
    parts = sorted(f"{name}={(info or {}).get('content_hash', '?')}" for name, info in suites.items())
    return hashlib.sha256("\n".join(parts).encode()).hexdigest()[:8]


def _groups(df: pd.DataFrame) -> pd.DataFrame:
    """Label each comparability group (A, B, ... in order of first appearance); `trend` keys the plot's lines."""
    keys = df[COMPARABLE].astype(str).agg("|".join, axis=1)
    letters = {k: _letter(i) for i, k in enumerate(dict.fromkeys(keys))}
    df["group"] = keys.map(letters)
    df["setting_key"] = df["dtype"].astype(str) + "/" + df["attn"].astype(str) + "/" + df["device"].astype(str)
    # One plot line each, labelled with what tells the groups apart: besides dtype/attn/device, the comparability
    # keys that take more than one value in this history (two groups must never share a legend label).
    varying = [
        k for k in COMPARABLE if k not in ("model", "dtype", "attn", "device") and df[k].astype(str).nunique() > 1
    ]
    extra = (
        df[varying]
        .astype(str)
        .apply(lambda row: "".join(f" {TREND_LABELS.get(k, k)}={row[k]}" for k in varying), axis=1)
        if varying
        else ""
    )
    df["trend"] = df["group"] + ": " + df["setting_key"] + extra
    return df


TREND_LABELS = {"num_crops": "crops", "max_new_tokens": "tokens", "suites": "suites#"}


def _letter(i: int) -> str:
    return chr(ord("A") + i) if i < 26 else f"G{i}"


def group_notes(df: pd.DataFrame) -> list[str]:
    """Why the groups are not joined: for each group after the first, what differs from the group of the same
    dtype/attn/device seen before it (else from group A)."""
    if df.empty:
        return []
    firsts = df.drop_duplicates("group")
    notes = []
    for i in range(1, len(firsts)):
        row = firsts.iloc[i]
        earlier = firsts.iloc[:i]
        same = earlier[(earlier[["dtype", "attn", "device"]] == row[["dtype", "attn", "device"]]).all(axis=1)]
        ref = (same if not same.empty else earlier).iloc[-1]
        diffs = [f"{k} {ref[k]} -> {row[k]}" for k in COMPARABLE if str(ref[k]) != str(row[k])]
        notes.append(f"group {row['group']} is not connected to group {ref['group']}: {', '.join(diffs)}")
    return notes


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
    model_dir = baseline_path(model, root=Path(baselines_root)).parent  # where `baseline save` writes them
    for path in sorted(model_dir.glob("*.json")) if model_dir.is_dir() else []:
        try:
            view = load_baseline(path)
        except EvalkitError as exc:
            warnings.warn(f"history: skipping {path}: {exc}", RecordWarning, stacklevel=2)
            continue
        if view.setting.get("model") == model:
            views.append(view)
    return [v for v in views if _is_evidence(v)]


def _is_evidence(view: RunView) -> bool:
    """A point of the history is a run (or baseline) holding each of its samples exactly once: one recorded twice or
    missing would move its score for no reason of the model's. Anything else is skipped with one line."""
    problems = view.evidence_problems()
    if problems:
        warnings.warn(f"history: skipping {view.path}: {problems[0][1]}", RecordWarning, stacklevel=3)
    return not problems


def history_table(
    model: str, runs_root: Path = Path("reports/runs"), baselines_root: Path = Path("reports/baselines")
) -> pd.DataFrame:
    """One row per complete run / baseline of `model`, sorted by date (columns documented in docs/records.md)."""
    rows = [_row(v) for v in _views(model, Path(runs_root), Path(baselines_root))]
    if not rows:
        return pd.DataFrame(columns=BASE_COLUMNS + PERF_COLUMNS + ["path"])
    df = pd.DataFrame(rows).sort_values(["date", "kind", "name"], kind="stable").reset_index(drop=True)
    df = _groups(df)
    label = df["revision"].where(df["revision"] != "", df["commit"])
    df["point"] = label.str.slice(0, 12) + " (" + df["date"].str.slice(0, 10) + ")"
    return df


def score_columns(df: pd.DataFrame) -> list[str]:
    return [c for c in df.columns if ":" in c and not c.endswith(("_low", "_high"))]


def history_markdown(model: str, df: pd.DataFrame) -> str:
    if df.empty:
        return f"## evalkit history: {model}\n\n_no complete runs or baselines found_\n"
    scores = score_columns(df)
    headers = BASE_COLUMNS + [f"{c} [95% CI]" for c in scores] + ["e2e median (ms)", "tokens/s", "peak memory (MiB)"]
    rows = []
    for _, r in df.iterrows():
        row = [str(r["date"]).replace("+00:00", "Z")] + [r[c] for c in BASE_COLUMNS[1:]]
        for c in scores:
            v = r[c]
            row.append("–" if pd.isna(v) else f"{v:.3f} [{r[c + '_low']:.3f}, {r[c + '_high']:.3f}]")
        row += [fmt(float(r["latency_e2e_median_ms"]), 1), fmt(float(r["decode_tokens_per_s"]), 1)]
        row.append(f"{fmt(float(r['peak_memory_mb']), 0)} ({r['memory_kind']})")
        rows.append(row)
    notes = [
        "Points are joined (in history.png) only within a group: runs of the same model, dtype, attention, device,"
        " limit, num_crops, max_new_tokens and suite contents."
    ]
    notes += group_notes(df)
    return f"## evalkit history: {model}\n\n{md_table(headers, rows)}\n\n" + "\n".join(f"- {n}" for n in notes) + "\n"


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

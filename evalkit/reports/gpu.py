"""docs/gpu-results.md: what scripts/gpu_acceptance.sh measured, from its run directories and benchmark JSON only.

Every number in the file comes from a record of that run; a figure the records do not hold is printed as "–".
"""

from __future__ import annotations

import json
import math
from pathlib import Path

from evalkit.records import atomic_write_text, find_runs, load_run
from evalkit.reports.common import fmt, md_table, stat_value

RESULTS_TITLE = "# evalkit on a GPU: acceptance results"


def _pct(value) -> str:
    return "–" if value is None else f"{100.0 * float(value):.1f}%"


def read_steps(path: Path | None) -> list[tuple[str, int, float]]:
    """(step, exit code, seconds) per line of the script's `step<TAB>rc<TAB>seconds` file."""
    if path is None or not Path(path).is_file():
        return []
    rows = []
    for line in Path(path).read_text(encoding="utf-8").splitlines():
        parts = line.split("\t")
        if len(parts) >= 3:
            rows.append((parts[0], int(parts[1]), float(parts[2])))
    return rows


def _environment_line(env: dict) -> str:
    gpu = env.get("gpu_name") or "no GPU"
    memory = env.get("gpu_memory_mb")
    details = [
        f"{memory:.0f} MiB" if memory else None,
        f"compute {env['compute_capability']}" if env.get("compute_capability") else None,
    ]
    parts = [f"{gpu} ({', '.join(d for d in details if d)})" if any(details) else gpu]
    parts.append(f"driver {env.get('driver_version') or '–'}, CUDA {env.get('cuda_version') or '–'}")
    parts.append(
        f"torch {env.get('torch', '–')}, transformers {env.get('transformers', '–')}, "
        f"flash-attn {env.get('flash_attn') or 'not installed'}, Python {env.get('python', '–')}"
    )
    return "; ".join(parts)


def settings_table(run_dirs: list[Path]) -> tuple[list[str], list[list[str]], dict]:
    headers = [
        "run", "attn", "status", "mode", "batch", "samples", "TTFT median (ms)", "decode tokens/s", "decode bound (tokens/s)",
        "bandwidth utilisation", "prefill TFLOP/s", "compute utilisation", "peak allocated (MiB)", "request median (ms)",
        "harness overhead",
    ]  # fmt: skip
    rows, env, models = [], {}, set()
    for run_dir in run_dirs:
        record, predictions = load_run(run_dir)
        env = env or dict(record.provenance.get("environment") or {})
        models.add(str(record.setting.get("model")))
        perf, setting = record.performance or {}, record.setting
        roof, harness = perf.get("roofline") or {}, perf.get("harness") or {}
        latency = perf.get("latency_ms") or {}
        e2e = stat_value(latency.get("end_to_end"), "median")
        if math.isnan(e2e):
            e2e = stat_value(latency.get("generate"), "median")
        peak = (perf.get("memory_mb") or {}).get("peak_allocated")
        status = record.status if record.status != "skipped" else f"skipped: {record.skip_reason}"
        rows.append([
            record.name, f"{setting.get('dtype')} {setting.get('attn')}", status, setting.get("mode", "latency"),
            setting.get("batch_size", "–"),
            f"{record.n_samples - record.n_errors}/{record.n_samples}",
            fmt(stat_value(latency.get("prefill"), "median"), 1), fmt(stat_value(perf.get("decode_tokens_per_s"), "median"), 1),
            fmt(roof.get("decode_bound_tokens_per_s"), 1), _pct(roof.get("bandwidth_utilisation")),
            fmt(roof.get("prefill_tflops"), 1), _pct(roof.get("compute_utilisation")),
            fmt(None if peak is None else float(peak), 0), fmt(e2e, 1), _pct(harness.get("overhead")),
        ])  # fmt: skip
    return headers, rows, {**env, "models": models}


def benchmark_rows(bench_json: Path | None) -> list[list[str]]:
    if bench_json is None or not Path(bench_json).is_file():
        return []
    data = json.loads(Path(bench_json).read_text(encoding="utf-8"))
    rows = []
    for bench in data.get("benchmarks", []):
        stats, extra = bench.get("stats", {}), bench.get("extra_info", {})
        rows.append([
            bench.get("name", "?"), fmt(1000.0 * stats["median"], 1) if "median" in stats else "–",
            fmt(1000.0 * stats["min"], 1) if "min" in stats else "–", stats.get("rounds", "–"),
            fmt(extra.get("time_to_first_token_ms"), 1), fmt(extra.get("decode_tokens_per_s"), 1),
            fmt(extra.get("peak_allocated_mb"), 0),
        ])  # fmt: skip
    return rows


def gpu_results_markdown(
    run_dirs: list[Path], bench_json: Path | None, steps: list[tuple[str, int, float]], *, when: str, commit: str
) -> str:
    headers, rows, env = settings_table(run_dirs)
    models = ", ".join(f"`{m}`" for m in sorted(env.get("models", ()))) or "none recorded"
    random_note = " (published dimensions, random weights: speed and memory only, no quality)"
    parts = [
        RESULTS_TITLE,
        "",
        f"Written by `scripts/gpu_acceptance.sh` on {when} from commit `{commit}`; every figure below is read from",
        f"that run's records (`reports/gpu-acceptance/`). Model: {models}"
        + (random_note if models == "`phi3v-random`" else "")
        + ".",
        "",
        f"**Machine:** {_environment_line(env)}",
        "",
        "## Steps",
        "",
        md_table(["step", "exit code", "time (s)"], [[s, rc, f"{t:.0f}"] for s, rc, t in steps])
        if steps
        else "_none recorded_",
        "",
        "## Settings (`python -m evalkit`)",
        "",
        "TTFT = prefill median per request; decode tokens/s per sequence; the bound is memory bandwidth / bytes read",
        "per decode step (weights + KV cache); compute utilisation = prefill TFLOP/s / the GPU's dense peak; the request",
        "median is end_to_end (from the image files) in latency mode, generate (from prefetched inputs) in throughput mode.",
        "",
        md_table(headers, rows) if rows else "_no run directories found_",
        "",
        '## `pytest benchmarks/ -m "performance or memory"`',
        "",
    ]
    bench = benchmark_rows(bench_json)
    bench_headers = [
        "test",
        "median (ms)",
        "min (ms)",
        "rounds",
        "TTFT (ms)",
        "decode tokens/s",
        "peak allocated (MiB)",
    ]
    parts.append(md_table(bench_headers, bench) if bench else "_no benchmark JSON found_")
    return "\n".join(parts) + "\n"


def with_decode_section(text: str, decode_json: Path, *, has_runs: bool) -> str:
    """Put scripts/gpu_decode.py's section after the steps table; without separate runs (the default acceptance
    loads the model once, in that script) the empty settings and benchmark sections are left out."""
    import json

    from evalkit.reports.gpu_decode import decode_markdown

    path = Path(decode_json)
    if path.is_file():
        data = json.loads(path.read_text(encoding="utf-8"))
        section = decode_markdown(data)
        if not has_runs and data.get("environment"):  # the machine as the decode script saw it
            text = "\n".join(
                f"**Machine:** {_environment_line(data['environment'])}" if line.startswith("**Machine:**") else line
                for line in text.split("\n")
            )
    else:
        section = f"## Decode loop\n\n_not measured: {path} was not written (see the steps table)_\n"
    head, sep, rest = text.partition("## Settings (`python -m evalkit`)")
    if not has_runs:
        return head + section
    return head + section + "\n" + sep + rest


def write_gpu_results(
    runs_root: Path | None,
    bench_json: Path | None,
    steps_file: Path | None,
    out: Path,
    *,
    when: str,
    commit: str,
    decode_json: Path | None = None,
) -> Path:
    run_dirs = find_runs(runs_root) if runs_root is not None and Path(runs_root).is_dir() else []
    text = gpu_results_markdown(run_dirs, bench_json, read_steps(steps_file), when=when, commit=commit)
    if decode_json is not None:
        text = with_decode_section(text, decode_json, has_runs=bool(run_dirs) or bench_json is not None)
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    atomic_write_text(out, text)
    return out

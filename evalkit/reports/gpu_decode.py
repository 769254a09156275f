"""The decode-loop section of docs/gpu-results.md, from scripts/gpu_decode.py's JSON: every figure is read from it.

Targets of issue 19 (H100, phi3v-random, bfloat16) are judged here: a missed target says by how much, and the
profile table below it shows where the step's time went.
"""

from __future__ import annotations

import statistics

from evalkit.reports.common import md_table

BANDWIDTH_TARGET = 0.60  # batch-1 compiled decode, fraction of the datasheet bandwidth bound
BATCH_GAIN_TARGET = 4.0  # batch-8 aggregate tokens/s over batch 1
SECOND_START_TARGET_S = 15.0


def _f(value, digits: int = 1, suffix: str = "") -> str:
    return "–" if value is None else f"{float(value):.{digits}f}{suffix}"


def _pct(value) -> str:
    return "–" if value is None else f"{100.0 * float(value):.1f}%"


def _cases_table(cases: dict) -> str:
    headers = [
        "case", "loop", "batch", "context", "new tokens", "TTFT (ms)", "step (ms)", "tokens/s per sequence",
        "aggregate tokens/s", "bound (tokens/s)", "of bound", "of measured-bandwidth bound", "KV bytes read / ideal",
        "graphs built while timed",
    ]  # fmt: skip
    rows = []
    for name, c in cases.items():
        ratio = c["step_bytes_read"] / c["step_bytes_ideal"] if c.get("step_bytes_read") else None
        rows.append([
            name, c["loop"] + (" (CUDA graph)" if c.get("cuda_graphs") else ""), c["batch"], c["context"],
            c["new_tokens"], _f(c["prefill_ms"]), _f(c["step_ms"], 2), _f(c["decode_tokens_per_s"]),
            _f(c["aggregate_tokens_per_s"]), _f(c.get("bound_tokens_per_s")), _pct(c.get("bandwidth_utilisation")),
            _pct(c.get("bandwidth_utilisation_measured")), _f(ratio, 3), c["graphs_built_in_timed_requests"],
        ])  # fmt: skip
    return md_table(headers, rows)


def _targets(data: dict, batch: int) -> list[list[str]]:
    cases = data.get("cases", {})
    rows = []
    one = cases.get("graph_bs1", {})
    util, bound = one.get("bandwidth_utilisation"), one.get("bound_tokens_per_s")
    if util is None:
        rows.append(["batch-1 decode >= 60 % of the bandwidth bound", "not judged (no datasheet bound)", "–"])
    else:
        need = BANDWIDTH_TARGET * bound
        verdict = "met" if util >= BANDWIDTH_TARGET else f"missed by {need - one['decode_tokens_per_s']:.0f} tokens/s"
        rows.append([
            f"batch-1 decode >= 60 % of the bandwidth bound (>= {need:.0f} tokens/s)",
            f"{one['decode_tokens_per_s']:.1f} tokens/s = {100 * util:.1f}% of {bound:.0f}", verdict,
        ])  # fmt: skip
    many = cases.get(f"graph_bs{batch}")
    if many and one:
        gain = many["aggregate_tokens_per_s"] / one["decode_tokens_per_s"]
        verdict = "met" if gain >= BATCH_GAIN_TARGET else f"missed: {gain:.2f}x of the {BATCH_GAIN_TARGET:.0f}x asked"
        rows.append([f"batch-{batch} aggregate >= {BATCH_GAIN_TARGET:.0f}x batch 1", f"{gain:.2f}x", verdict])
    start = (data.get("load_s") or 0) + (data.get("fingerprint_s") or 0)
    rows.append([
        f"a second run starts evaluating within {SECOND_START_TARGET_S:.0f} s",
        f"load {_f(data.get('load_s'))} s + fingerprint {_f(data.get('fingerprint_s'), 2)} s in this process",
        "not measured end to end (process start-up and imports are not in this figure)"
        if start <= SECOND_START_TARGET_S else f"missed: load + fingerprint alone take {start:.0f} s",
    ])  # fmt: skip
    return rows


def _attention_table(sweep: list[dict]) -> str:
    by_attn: dict[str, list[dict]] = {}
    for entry in sweep:
        by_attn.setdefault(entry["attn"], []).append(entry)
    rows = []
    for attn, entries in by_attn.items():
        rates = [e.get("decode_tokens_per_s") for e in entries]
        measured = [r for r in rates if r is not None]
        spread = (max(measured) - min(measured)) / statistics.fmean(measured) if len(measured) > 1 else None
        skipped = next((e["skipped"] for e in entries if e.get("skipped")), "")
        loop = next((e["loop"] for e in entries if e.get("loop")), "–")
        same = all(e.get("equal_to_sdpa_eager", True) for e in entries if "loop" in e)
        rows.append([attn, loop, *[_f(r) for r in rates], _pct(spread), "yes" if same else "no", skipped])
    rounds = max((len(v) for v in by_attn.values()), default=0)
    headers = ["attn", "loop", *[f"round {i + 1} tokens/s" for i in range(rounds)], "spread between rounds",
               "tokens equal eager sdpa", "skipped"]  # fmt: skip
    return md_table(headers, rows)


def decode_markdown(data: dict) -> str:
    """The `## Decode loop` section (markdown) of docs/gpu-results.md."""
    batch = int(data.get("args", {}).get("batch", 8))
    model = data.get("model", {})
    bw = data.get("copy_bandwidth", {})
    spec = data.get("spec") or {}
    parts = [
        "## Decode loop (`scripts/gpu_decode.py`: one process, the checkpoint loaded once)",
        "",
        f"Model `{model.get('size')}` random weights ({model.get('parameters', 0) / 1e9:.2f} B parameters, "
        f"{model.get('dtype')}) on `{data.get('device')}`; load {_f(data.get('load_s'))} s, weight fingerprint "
        f"{_f(data.get('fingerprint_s'), 2)} s; whole script {_f(data.get('elapsed_s'), 0)} s. Bandwidth: datasheet "
        f"{_f(spec.get('bandwidth_gb_s'), 0)} GB/s ({spec.get('name', 'unknown GPU')}), measured "
        f"{_f(bw.get('gb_s'), 0)} GB/s ({bw.get('how')}). Bounds count ideal bytes per step: weights + each row's KV "
        "at its mean decode context; `KV bytes read / ideal` is what the loop read (a compiled step reads the whole "
        "cache capacity) over that.",
        "",
        _cases_table(data.get("cases", {})),
        "",
        "### Targets",
        "",
        md_table(["target", "reached", "verdict"], _targets(data, batch)),
    ]
    agreement = data.get("agreement_4096")
    if agreement:
        parts += [
            "",
            f"**Compiled vs eager across position 4096** ({agreement['prompt_tokens']}-token prompt, "
            f"{agreement['new_tokens']} new tokens): "
            + ("identical tokens." if agreement["equal"] else f"first {agreement['common_prefix']} tokens equal."),
        ]
    energy = data.get("energy") or {}
    if energy:
        rows = [[name, _f(e.get("joules")), _f(e.get("idle_w")), _f(e.get("window_s")),
                 _f(e.get("j_per_decoded_token"), 4), e.get("reason", "")] for name, e in energy.items()]  # fmt: skip
        parts += ["", "### Energy (NVML, idle power subtracted)", "",
                  md_table(["case", "joules", "idle W", "window s", "J per decoded token", "why none"], rows)]  # fmt: skip
    if data.get("attention"):
        parts += ["", "### Attention settings (compiled loop at batch 1 where the setting allows it)", "",
                  _attention_table(data["attention"])]  # fmt: skip
    profile = data.get("profile")
    if profile:
        rows = [[f"`{t['name']}`", t["calls"], _f(t["total_ms"], 2)] for t in profile["top"]]
        parts += ["", f"### Top kernels ({profile['what']}; by {profile['sort']})", "",
                  md_table(["kernel / op", "calls", "total (ms)"], rows)]  # fmt: skip
    if data.get("skipped"):
        parts += ["", "**Skipped:** " + "; ".join(data["skipped"])]
    return "\n".join(parts) + "\n"

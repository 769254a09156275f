"""The speed and memory side of a comparison: the performance ratios a report shows (`perf_ratios`), whether and
how latency is gated (`latency_gate`: the device's default ratio where two runs' speed is comparable, stated either
way), and the latency / memory gates' failures (`perf_failures`)."""

from __future__ import annotations

import math
from dataclasses import dataclass

from evalkit.gates import default_latency_ratio
from evalkit.records.facts import memory_key
from evalkit.records.machine_load import speed_conditions_differ
from evalkit.reports.common import MEMORY_KEYS, RunView


@dataclass
class PerfRatio:
    measure: str
    unit: str
    reference: float
    candidate: float

    @property
    def ratio(self) -> float:
        if math.isnan(self.reference) or math.isnan(self.candidate) or self.reference == 0:
            return math.nan
        return self.candidate / self.reference


def perf_ratios(ref: RunView, cand: RunView) -> list[PerfRatio]:
    rows = [
        PerfRatio(f"latency {ph} median", "ms", ref.latency_median(ph), cand.latency_median(ph))
        for ph in ("end_to_end", "prefill", "decode")
    ]
    rows.append(PerfRatio("decode speed median", "tokens/s", ref.tokens_per_s, cand.tokens_per_s))
    load = [v.record.performance.get("load_s") for v in (ref, cand)]
    rows.append(PerfRatio("model load", "s", *(math.nan if x is None else float(x) for x in load)))
    rows += [PerfRatio(f"memory {k}", "MiB", ref.memory_mb(k), cand.memory_mb(k)) for k in MEMORY_KEYS]
    return [r for r in rows if not (math.isnan(r.reference) and math.isnan(r.candidate))]


def _hardware(view: RunView) -> str:
    env = view.record.provenance.get("environment") or {}
    kind = _device_kind(view)
    return str(env.get("gpu_name") if kind == "cuda" else env.get("cpu")) if env else "unknown"


def _device_kind(view: RunView) -> str:
    return "cuda" if str(view.setting.get("device", "")).startswith("cuda") else "cpu"


def latency_gate(ref: RunView, cand: RunView, explicit: float | None) -> tuple[float | None, str, list[str]]:
    """The latency ratio to gate on (None: not gated), the rule in words, and warnings about the comparison.

    `--max-latency-ratio` always gates. Without it the default ratio of the device kind gates (DEFAULT_LATENCY_RATIO),
    but only where a speed comparison means something: same device kind and hardware, and on the CPU both runs'
    machine load recorded and comparable (evalkit.records.machine_load)."""
    loads = [v.record.performance.get("machine_load") for v in (ref, cand)]
    void = speed_conditions_differ(*loads)
    warnings = [f"speed comparison void: {void}"] if void else []
    if explicit is not None:
        return (
            explicit,
            f"latency gate: end-to-end median <= {explicit:g}x the reference (--max-latency-ratio)",
            warnings,
        )
    kinds, hardware = [_device_kind(v) for v in (ref, cand)], [_hardware(v) for v in (ref, cand)]
    why = None
    if kinds[0] != kinds[1]:
        why = f"the runs ran on different devices ({kinds[0]} vs {kinds[1]})"
    elif hardware[0] != hardware[1]:
        why = f"the runs ran on different hardware ({hardware[0]} vs {hardware[1]})"
    elif void:
        why = void
    elif kinds[0] == "cpu" and not all(loads):
        missing = " and ".join(v.label for v, load in zip((ref, cand), loads, strict=True) if not load)
        why = f"no machine load recorded in {missing} (a CPU timing depends on what else ran)"
    if why:
        return None, f"latency not gated: {why}; --max-latency-ratio R gates it anyway", warnings
    ratio = default_latency_ratio(kinds[0])
    return ratio, f"latency gate: end-to-end median <= {ratio:g}x the reference (default on {kinds[0]})", warnings


def perf_failures(
    ref: RunView, cand: RunView, max_latency_ratio: float | None, max_memory_ratio: float | None
) -> list[str]:
    out = []
    if max_latency_ratio is not None:
        a, b = ref.latency_median("end_to_end"), cand.latency_median("end_to_end")
        if math.isnan(a) or math.isnan(b) or a <= 0:
            out.append(
                "latency gate: no end-to-end latency median in "
                + (ref.label if math.isnan(a) or a <= 0 else cand.label)
            )
        elif b / a > max_latency_ratio:
            out.append(
                f"latency gate: end-to-end median {b:.1f} ms vs {a:.1f} ms = {b / a:.2f}x the reference "
                f"(limit {max_latency_ratio:g}x)"
            )
    if max_memory_ratio is not None:
        device = (
            "cuda"
            if not (math.isnan(ref.memory_mb("peak_allocated")) or math.isnan(cand.memory_mb("peak_allocated")))
            else "cpu"
        )
        key = memory_key(
            device, ref.record.performance.get("memory_mb") or {}, cand.record.performance.get("memory_mb") or {}
        )
        if math.isnan(ref.memory_mb(key)) or math.isnan(cand.memory_mb(key)):
            key = None
        if key is None:
            out.append("memory gate: no memory figure (peak_allocated, rss_growth or peak_rss) in both runs")
        else:
            a, b = ref.memory_mb(key), cand.memory_mb(key)
            if a > 0 and b / a > max_memory_ratio:
                out.append(
                    f"memory gate: {key} {b:.0f} MiB vs {a:.0f} MiB = {b / a:.2f}x the reference (limit {max_memory_ratio:g}x)"
                )
    return out

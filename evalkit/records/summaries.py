"""What a run's `summary` and `performance` fields hold: per-suite score estimates over the answered samples and
latency / throughput / memory statistics over the timed batches."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from evalkit.records.schema import PHASES, Prediction
from evalkit.scoring.metrics import CIRCULAR_METRICS, circular_outcomes, estimates, yes_no_f1_estimate
from evalkit.scoring.statistics import DEFAULT_SEED, Stats, proportion_ci


def _estimates(values_by_metric: dict[str, list[float]]) -> dict[str, dict]:
    return {metric: estimate.to_dict() for metric, estimate in estimates(values_by_metric).items()}


def _yes_no_estimates(preds: list[Prediction]) -> dict[str, dict]:
    """Corpus-level yes/no metrics (F1 is not a mean of per-sample values) over the yes/no samples in `preds`."""
    rows = [p for p in preds if p.labels.get("type") == "yes_no" and p.labels.get("answers")]
    if not rows:
        return {}
    golds = [p.labels["answers"][0] == "yes" for p in rows]
    said = [None if "yes_ratio" not in p.scores else p.scores["yes_ratio"] == 1.0 for p in rows]
    out = {"yes_no_f1": yes_no_f1_estimate(golds, said, seed=DEFAULT_SEED).to_dict()}
    pope = [
        (g, p.scores["pope_yes_ratio"] == 1.0) for g, p in zip(golds, rows, strict=True) if "pope_yes_ratio" in p.scores
    ]
    if pope:  # POPE's published F1: its own reading of each answer (never unparsed)
        out["pope_f1"] = yes_no_f1_estimate([g for g, _ in pope], [s for _, s in pope], seed=DEFAULT_SEED).to_dict()
    return out


def _circular_estimates(preds: list[Prediction]) -> dict[str, dict]:
    """CircularEval over the grouped rows in `preds` (failed ones included: a group with a failed row is left out):
    per metric, the share of groups whose every row is right, with its Wilson interval; n counts groups."""
    rows = [(str(p.labels["group"]), None if p.failed else p.scores) for p in preds if p.labels.get("group")]
    if not rows:
        return {}
    out = {}
    for metric in CIRCULAR_METRICS:
        outcomes = circular_outcomes(rows, metric)
        if outcomes:
            out[metric] = proportion_ci(list(outcomes.values())).to_dict()
    return out


def summarize(predictions: Iterable[Prediction]) -> dict:
    """Per suite: n, n_errors, n_truncated, per-metric Estimate and per-tag (key=value) Estimates (failed samples
    excluded); yes/no suites and tags also get `yes_no_f1` (and POPE's `pope_f1`), suites with rotated copies
    CircularEval (`circular_accuracy`, `circular_accuracy_extracted`, over groups). Everything here is recomputed
    from the predictions alone, so run.json's summary always equals what samples.jsonl gives."""
    grouped: dict[str, list[Prediction]] = {}
    for p in predictions:
        grouped.setdefault(p.suite, []).append(p)
    summary: dict[str, dict] = {}
    for suite, preds in grouped.items():
        ok = [p for p in preds if not p.failed]
        metrics: dict[str, list[float]] = {}
        by_tag: dict[str, dict[str, list[float]]] = {}
        tag_preds: dict[str, list[Prediction]] = {}
        tag_all: dict[str, list[Prediction]] = {}  # failed ones too, for CircularEval's groups
        for p in preds:
            for key, tag_value in p.tags.items():
                tag_all.setdefault(f"{key}={tag_value}", []).append(p)
        for p in ok:
            for key, tag_value in p.tags.items():
                tag_preds.setdefault(f"{key}={tag_value}", []).append(p)
            for metric, value in p.scores.items():
                metrics.setdefault(metric, []).append(value)
                for key, tag_value in p.tags.items():
                    by_tag.setdefault(f"{key}={tag_value}", {}).setdefault(metric, []).append(value)
        summary[suite] = {
            "n": len(preds),
            "n_errors": len(preds) - len(ok),
            "n_truncated": sum(p.truncated is True for p in ok),
            "metrics": {**_estimates(metrics), **_yes_no_estimates(ok), **_circular_estimates(preds)},
            "by_tag": {
                tag: {**_estimates(vals), **_yes_no_estimates(tag_preds[tag]), **_circular_estimates(tag_all[tag])}
                for tag, vals in sorted(by_tag.items())
            },
        }
    return summary


def summarize_performance(
    predictions: Iterable[Prediction],
    *,
    load_s: float | None,
    memory_mb: dict | None,
    extra: dict | None = None,
) -> dict:
    """The `performance` field over the successful samples: Stats (ms) per phase and decode tokens/s over the timed
    batches (a batch is one measurement, however many samples it answered: n counts batches), tokens per sample."""
    ok = [p for p in predictions if not p.failed]
    batches = list(
        {("batch", p.batch_id) if p.batch_id is not None else ("sample", i): p for i, p in enumerate(ok)}.values()
    )
    present = {k for p in ok for k in p.timings_ms}
    phases = [ph for ph in PHASES if ph in present] + sorted(present - set(PHASES))
    perf: dict[str, Any] = {
        "load_s": load_s,
        "n_batches": len(batches),
        "latency_ms": {
            ph: Stats.from_values([p.timings_ms[ph] for p in batches if ph in p.timings_ms], "ms").to_dict()
            for ph in phases
        },
        "decode_tokens_per_s": Stats.from_values(
            [p.decode_tokens_per_s for p in batches if p.decode_tokens_per_s is not None], "tokens/s"
        ).to_dict(),
        # What batching buys: a batch's rows decode together, so the batch makes batch_size x the per-sequence rate.
        "decode_tokens_per_s_aggregate": Stats.from_values(
            [p.decode_tokens_per_s * (p.batch_size or 1) for p in batches if p.decode_tokens_per_s is not None],
            "tokens/s",
        ).to_dict(),
        "tokens": {
            kind: Stats.from_values([p.tokens[kind] for p in ok if kind in p.tokens], "tokens").to_dict()
            for kind in sorted({k for p in ok for k in p.tokens})
        },
        "memory_mb": dict(memory_mb or {}),
    }
    differ = [f"{p.suite}/{p.sample_id}" for p in ok if p.repeats_differ]
    if differ:
        perf["repeats_differ"] = {"n": len(differ), "samples": differ[:20]}
    perf.update(extra or {})
    return perf


@dataclass(frozen=True)
class LoopFigures:
    """`performance.harness`: the evaluation loop of one process, or of several merged (`merge`), so that a
    torchrun run reports its loop the way a single process does."""

    mode: str | None
    wall_s: float | None  # the loop's wall time (merged: the longest loop's)
    busy_s: float  # loop wall time summed over processes (one process: wall_s)
    generate_s: float  # time inside timed requests, summed over processes
    requests: int
    compiled_requests: int
    answered: int  # samples answered without error
    generated_tokens: int

    @classmethod
    def merge(cls, parts: Sequence[LoopFigures]) -> LoopFigures:
        """The loops of all ranks as one: wall time of the longest loop, everything else summed."""
        walls = [p.wall_s for p in parts if p.wall_s is not None]
        return cls(
            mode=parts[0].mode if parts else None, wall_s=max(walls) if walls else None,
            busy_s=sum(p.busy_s for p in parts), generate_s=sum(p.generate_s for p in parts),
            requests=sum(p.requests for p in parts), compiled_requests=sum(p.compiled_requests for p in parts),
            answered=sum(p.answered for p in parts), generated_tokens=sum(p.generated_tokens for p in parts),
        )  # fmt: skip

    def to_dict(self) -> dict:
        """overhead: the share of loop time not spent generating; rates over the (longest) loop's wall time."""
        wall = self.wall_s
        return {
            "mode": self.mode, "wall_s": wall, "generate_s": self.generate_s,
            "overhead": 1.0 - self.generate_s / self.busy_s if self.busy_s > 0 and self.requests else None,
            "requests": self.requests, "compiled_requests": self.compiled_requests,
            "samples_per_s": self.answered / wall if wall else None,
            "generated_tokens_per_s": self.generated_tokens / wall if wall else None,
        }  # fmt: skip


def merged_memory(parts: Iterable[dict]) -> dict:
    """Per-process memory peaks merged: the largest of each figure (each rank is its own process on its own device,
    so the largest is what one device must hold)."""
    merged: dict[str, float] = {}
    for memory in parts:
        for key, value in (memory or {}).items():
            if value is not None:
                merged[key] = max(merged.get(key, value), value)
    return merged


DECODE_COUNTS = ("cache_allocations", "requests", "graphs", "graph_breaks", "recompiles")


def merged_decode(parts: Sequence[dict]) -> dict | None:
    """`performance.decode` of several ranks as one: the loop's settings of the first, its counts summed (each rank
    compiles its own graphs)."""
    parts = [p for p in parts if p]
    if not parts:
        return None
    return {**parts[0], **{key: sum(int(p.get(key) or 0) for p in parts) for key in DECODE_COUNTS}}


def merged_energy(parts: Sequence[dict], decoded_tokens: int, samples: int) -> dict | None:
    """`performance.energy` of several ranks (each its own GPU) as one: joules summed over the ranks, the longest
    window, per-token and per-sample figures over the merged run. Null with the reasons when a rank has no figure
    (a sum with a rank missing would read as less energy, not as unknown)."""
    parts = [p for p in parts if p]
    if not parts:
        return None
    missing = [p.get("reason") or "no figure" for p in parts if p.get("joules") is None]
    joules = None if missing else sum(p["joules"] for p in parts)

    def total(key: str) -> float | None:
        values = [p.get(key) for p in parts]
        return None if any(v is None for v in values) else sum(values)

    windows = [p["window_s"] for p in parts if p.get("window_s") is not None]
    out = {
        "joules": joules, "total_joules": total("total_joules"), "idle_w": total("idle_w"),
        "window_s": max(windows) if windows else None,
        "j_per_decoded_token": joules / decoded_tokens if joules is not None and decoded_tokens else None,
        "j_per_sample": joules / samples if joules is not None and samples else None,
        "source": parts[0].get("source"), "ranks": len(parts),
    }  # fmt: skip
    if missing:
        out["reason"] = "; ".join(sorted(set(missing)))
    return out

"""What a run's `summary` and `performance` fields hold: per-suite score estimates over the answered samples and
latency / throughput / memory statistics over the timed batches."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from evalkit.metrics import estimates, yes_no_f1_estimate
from evalkit.records.schema import PHASES, Prediction
from evalkit.stats import DEFAULT_SEED, Stats


def _estimates(values_by_metric: dict[str, list[float]]) -> dict[str, dict]:
    return {metric: estimate.to_dict() for metric, estimate in estimates(values_by_metric).items()}


def _yes_no_estimates(preds: list[Prediction]) -> dict[str, dict]:
    """Corpus-level yes/no metrics (F1 is not a mean of per-sample values) over the yes/no samples in `preds`."""
    rows = [p for p in preds if p.labels.get("type") == "yes_no" and p.labels.get("answers")]
    if not rows:
        return {}
    golds = [p.labels["answers"][0] == "yes" for p in rows]
    said = [None if "yes_ratio" not in p.scores else p.scores["yes_ratio"] == 1.0 for p in rows]
    return {"yes_no_f1": yes_no_f1_estimate(golds, said, seed=DEFAULT_SEED).to_dict()}


def summarize(predictions: Iterable[Prediction]) -> dict:
    """Per suite: n, n_errors, n_truncated, per-metric Estimate and per-tag (key=value) Estimates (failed samples
    excluded); yes/no suites and tags also get `yes_no_f1`."""
    grouped: dict[str, list[Prediction]] = {}
    for p in predictions:
        grouped.setdefault(p.suite, []).append(p)
    summary: dict[str, dict] = {}
    for suite, preds in grouped.items():
        ok = [p for p in preds if not p.failed]
        metrics: dict[str, list[float]] = {}
        by_tag: dict[str, dict[str, list[float]]] = {}
        tag_preds: dict[str, list[Prediction]] = {}
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
            "metrics": {**_estimates(metrics), **_yes_no_estimates(ok)},
            "by_tag": {
                tag: {**_estimates(vals), **_yes_no_estimates(tag_preds[tag])} for tag, vals in sorted(by_tag.items())
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

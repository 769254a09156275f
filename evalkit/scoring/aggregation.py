"""From per-sample scores to the numbers a run reports: each metric's mean with the interval its kind calls for
(`estimate_of`, `estimates`, `aggregate`) and CircularEval over groups of rows (`circular_outcomes`)."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence

from evalkit.scoring.registry import CIRCULAR_METRICS, METRICS
from evalkit.scoring.statistics import DEFAULT_SEED, Estimate, bootstrap_mean_ci, bounded_mean_ci, proportion_ci


def estimate_of(metric: str, values: Sequence[float], *, seed: int = DEFAULT_SEED) -> Estimate:
    """A metric's mean with the interval its kind calls for (MetricInfo.interval): Wilson for a proportion, the
    bootstrap for a mean (a [0, 1] mean never gets a zero-width interval: `evalkit.scoring.statistics.bounded_mean_ci`)."""
    info = METRICS.get(metric)
    kind = info.interval if info is not None else ("mean" if metric in ("cer", "wer") else "bounded")
    if kind == "proportion":
        return proportion_ci(values)
    if kind == "bounded":
        return bounded_mean_ci(values, seed=seed)
    return bootstrap_mean_ci(values, seed=seed)


def estimates(values_by_metric: Mapping[str, Sequence[float]], *, seed: int = DEFAULT_SEED) -> dict[str, Estimate]:
    """Mean and interval (`estimate_of`) of each metric's values: the one summary of scores that run records,
    reports and gates read."""
    return {name: estimate_of(name, list(values), seed=seed) for name, values in sorted(values_by_metric.items())}


def aggregate(scores: Sequence[dict[str, float]], *, seed: int = DEFAULT_SEED) -> dict[str, Estimate]:
    """`estimates` over per-sample score dicts, each metric over the samples that have it."""
    names = sorted({name for s in scores for name in s})
    return estimates({name: [s[name] for s in scores if name in s] for name in names}, seed=seed)


def circular_outcomes(rows: Iterable[tuple[str, Mapping[str, float] | None]], metric: str) -> dict[str, float]:
    """CircularEval: for (group, scores) rows (scores None for a failed row), group -> 1.0 when every row of the
    group has `CIRCULAR_METRICS[metric]` equal to 1, else 0.0. A group with a failed row or a row without that
    metric cannot be judged and is left out (the failure is counted where failures are)."""
    row_metric = CIRCULAR_METRICS[metric]
    outcome: dict[str, float] = {}
    unjudged: set[str] = set()
    for group, scores in rows:
        if scores is None or row_metric not in scores:
            unjudged.add(group)
            continue
        outcome[group] = min(outcome.get(group, 1.0), 1.0 if scores[row_metric] == 1.0 else 0.0)
    return {g: v for g, v in sorted(outcome.items()) if g not in unjudged}

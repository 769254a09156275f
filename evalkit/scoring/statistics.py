"""Small statistics shared by metrics, measurement, records and reports.

`Estimate` is a mean with its confidence interval (for scores: Wilson for proportions, the bootstrap for means); `Stats` is a distribution
summary with its unit (for latency and memory). Both are plain dataclasses with a dict round trip.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from statistics import NormalDist

import numpy as np

DEFAULT_SEED = 0
DEFAULT_RESAMPLES = 2000
DEFAULT_CONFIDENCE = 0.95


@dataclass(frozen=True)
class Estimate:
    """A mean with a (low, high) confidence interval over `n` values."""

    mean: float
    low: float
    high: float
    n: int

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict) -> Estimate:
        return cls(float(data["mean"]), float(data["low"]), float(data["high"]), int(data["n"]))

    @property
    def excludes_zero(self) -> bool:
        return self.low > 0 or self.high < 0


def _clean(values: Sequence[float]) -> np.ndarray:
    arr = np.asarray(list(values), dtype=np.float64)
    return arr[~np.isnan(arr)]


def bootstrap_mean_ci(
    values: Sequence[float],
    *,
    seed: int = DEFAULT_SEED,
    n_resamples: int = DEFAULT_RESAMPLES,
    confidence: float = DEFAULT_CONFIDENCE,
) -> Estimate:
    """Mean of `values` (NaN dropped) with a percentile-bootstrap interval; fixed seed, so deterministic."""
    arr = _clean(values)
    if arr.size == 0:
        return Estimate(math.nan, math.nan, math.nan, 0)
    mean = float(arr.mean())
    if arr.size == 1:
        return Estimate(mean, mean, mean, 1)
    rng = np.random.default_rng(seed)
    idx = rng.integers(0, arr.size, size=(n_resamples, arr.size))
    means = arr[idx].mean(axis=1)
    alpha = (1.0 - confidence) / 2.0
    low, high = np.quantile(means, [alpha, 1.0 - alpha])
    # Clamp so the interval always contains the point estimate despite resampling noise.
    return Estimate(mean, min(float(low), mean), max(float(high), mean), int(arr.size))


def wilson_ci(successes: float, n: int, *, confidence: float = DEFAULT_CONFIDENCE) -> Estimate:
    """A proportion with its Wilson score interval (Wilson 1927): never zero-width for n >= 1, so 0/5 reads
    [0, 0.43], not [0, 0]; `successes` may be fractional (a mean of values in [0, 1] times n)."""
    if n <= 0:
        return Estimate(math.nan, math.nan, math.nan, 0)
    p = min(max(successes / n, 0.0), 1.0)
    z = NormalDist().inv_cdf(0.5 + confidence / 2.0)
    denom = 1.0 + z * z / n
    centre = (p + z * z / (2 * n)) / denom
    half = z / denom * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n))
    return Estimate(p, max(0.0, min(centre - half, p)), min(1.0, max(centre + half, p)), n)


def proportion_ci(values: Sequence[float], *, confidence: float = DEFAULT_CONFIDENCE) -> Estimate:
    """Share of 1s among values that are each 0 or 1 (NaN dropped), with its Wilson interval."""
    arr = _clean(values)
    return wilson_ci(float(arr.sum()), int(arr.size), confidence=confidence)


def bounded_mean_ci(
    values: Sequence[float],
    *,
    seed: int = DEFAULT_SEED,
    n_resamples: int = DEFAULT_RESAMPLES,
    confidence: float = DEFAULT_CONFIDENCE,
) -> Estimate:
    """Mean of values in [0, 1] with its bootstrap interval; when the values are all the same (the bootstrap has
    nothing to resample: 5 scores of 0 would give [0, 0]), the Wilson interval of a proportion with that mean, which
    is the widest a [0, 1] variable with that mean can need (its variance is at most m(1 - m))."""
    est = bootstrap_mean_ci(values, seed=seed, n_resamples=n_resamples, confidence=confidence)
    if est.n == 0 or est.high > est.low:
        return est
    return wilson_ci(est.mean * est.n, est.n, confidence=confidence)


def paired_bootstrap_diff(
    before: Sequence[float],
    after: Sequence[float],
    *,
    seed: int = DEFAULT_SEED,
    n_resamples: int = DEFAULT_RESAMPLES,
    confidence: float = DEFAULT_CONFIDENCE,
) -> Estimate:
    """Mean of the paired differences `after - before` with a bootstrap interval (pairs with a NaN are dropped)."""
    a = np.asarray(list(before), dtype=np.float64)
    b = np.asarray(list(after), dtype=np.float64)
    if a.shape != b.shape:
        raise ValueError(f"paired values differ in length: {a.size} vs {b.size}")
    keep = ~(np.isnan(a) | np.isnan(b))
    return bootstrap_mean_ci(b[keep] - a[keep], seed=seed, n_resamples=n_resamples, confidence=confidence)


@dataclass(frozen=True)
class Stats:
    """Distribution summary of repeated measurements, always with its unit."""

    unit: str
    n: int
    median: float
    mean: float
    p10: float
    p90: float
    p99: float
    min: float
    max: float
    stdev: float

    @classmethod
    def from_values(cls, values: Sequence[float], unit: str) -> Stats:
        arr = _clean(values)
        if arr.size == 0:
            nan = math.nan
            return cls(unit, 0, nan, nan, nan, nan, nan, nan, nan, nan)
        p10, p50, p90, p99 = np.percentile(arr, [10, 50, 90, 99])
        return cls(
            unit=unit,
            n=int(arr.size),
            median=float(p50),
            mean=float(arr.mean()),
            p10=float(p10),
            p90=float(p90),
            p99=float(p99),
            min=float(arr.min()),
            max=float(arr.max()),
            stdev=float(arr.std(ddof=1)) if arr.size > 1 else 0.0,
        )

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict) -> Stats:
        """The inverse of to_dict, also for a record written as strict JSON, where NaN (no values) became null."""

        def number(key: str) -> float:
            value = data.get(key)
            return math.nan if value is None else float(value)

        fields = [k for k in cls.__dataclass_fields__ if k not in ("unit", "n")]
        return cls(unit=data["unit"], n=int(data.get("n") or 0), **{k: number(k) for k in fields})

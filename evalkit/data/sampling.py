"""Which samples a run with `limit=N` answers: a seeded sample stratified by question type and difficulty
(`limit_mode=stratified`, the default), or the first N in manifest order (`limit_mode=head`).

The first N rows of a suite are not a fair subset (the first 20 OCR rows hold no short answer and no hard sample), so
each (question type, difficulty) group gets its share of the N, at least one where N allows, drawn at random with a
fixed seed: the same config always selects the same samples, whichever process or rank selects them.
"""

from __future__ import annotations

import random
from collections.abc import Sequence
from typing import TypeVar

LIMIT_MODES = ("stratified", "head")
S = TypeVar("S")


def stratum(sample) -> tuple[str, str]:
    """A sample's group: its question type and its `difficulty` tag ('' when it has none)."""
    return str(getattr(sample, "type", "") or ""), str((getattr(sample, "tags", None) or {}).get("difficulty", ""))


def _quotas(sizes: dict[tuple[str, str], int], limit: int, rng: random.Random) -> dict[tuple[str, str], int]:
    """Largest-remainder shares of `limit` proportional to the group sizes; then every group gets one where the
    limit allows, taken from the groups with the most."""
    total = sum(sizes.values())
    exact = {k: limit * n / total for k, n in sizes.items()}
    quotas = {k: int(v) for k, v in exact.items()}
    order = sorted(sizes, key=lambda k: (-(exact[k] - quotas[k]), rng.random()))
    for k in order[: limit - sum(quotas.values())]:
        quotas[k] += 1
    if limit >= len(sizes):
        for k in sorted(sizes):
            if quotas[k] == 0:
                donor = max(quotas, key=lambda d: (quotas[d], d))
                quotas[donor] -= 1
                quotas[k] = 1
    return quotas


def select(samples: Sequence[S], limit: int | None, mode: str = "stratified", seed: int = 0, key: str = "") -> list[S]:
    """At most `limit` of one suite's `samples`, in manifest order. `key` (the suite's name) varies the draw between
    suites of one run."""
    if mode not in LIMIT_MODES:
        raise ValueError(f"limit_mode {mode!r}: expected one of {', '.join(LIMIT_MODES)}")
    if not limit or limit >= len(samples):
        return list(samples)
    if mode == "head":
        return list(samples[:limit])
    rng = random.Random(f"{seed}:{key}")
    groups: dict[tuple[str, str], list[int]] = {}
    for i, sample in enumerate(samples):
        groups.setdefault(stratum(sample), []).append(i)
    quotas = _quotas({k: len(v) for k, v in groups.items()}, limit, rng)
    chosen: list[int] = []
    for k in sorted(groups):
        members = list(groups[k])
        rng.shuffle(members)
        chosen += members[: quotas[k]]
    return [samples[i] for i in sorted(chosen)]

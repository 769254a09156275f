"""What a comparison refuses to judge and what it notes: evidence problems (a side not complete, suites of other
content, no gated metric answered on both sides, a reference of another model), notes (suites on one side, other
weights, unpaired samples) and the check of `--metric` names and thresholds before anything is compared."""

from __future__ import annotations

import math
from collections.abc import Sequence

from evalkit.errors import EvalkitError
from evalkit.gates import other_model
from evalkit.records import Prediction
from evalkit.reports.common import RunView


def index_samples(samples: list[Prediction]) -> dict[tuple[str, str], Prediction]:
    return {(p.suite, p.sample_id): p for p in samples}


def notes_on(ref: RunView, cand: RunView) -> list[str]:
    notes = []
    for suite in sorted(set(ref.record.suites) | set(cand.record.suites)):
        a, b = ref.record.suites.get(suite), cand.record.suites.get(suite)
        if a is None or b is None:
            notes.append(f"suite {suite} only in {ref.label if b is None else cand.label}")
    weights = [(v.record.provenance.get("weights") or {}).get("sha256") for v in (ref, cand)]
    if all(weights) and weights[0] != weights[1]:
        notes.append(f"weights differ: {weights[0][:12]} vs {weights[1][:12]} (another checkpoint or revision)")
    ri, ci = index_samples(ref.samples), index_samples(cand.samples)
    if set(ri) != set(ci):
        only_ref, only_cand = sorted(set(ri) - set(ci)), sorted(set(ci) - set(ri))

        def named(keys: list[tuple[str, str]]) -> str:
            listed = ", ".join(f"{suite}/{sample_id}" for suite, sample_id in keys[:5])
            return f"{len(keys)} ({listed}{' ...' if len(keys) > 5 else ''})" if keys else "0"

        notes.append(
            f"means are over the {len(set(ri) & set(ci))} samples both runs hold ({len(ri)} in reference, "
            f"{len(ci)} in candidate); unpaired: {named(only_ref)} in the reference only, {named(only_cand)} in the "
            "candidate only"
        )
    return notes


def problems_of(ref: RunView, cand: RunView, metrics: Sequence, explicit_metrics: bool) -> list[tuple[str | None, str]]:
    """Why the pair cannot be judged, per suite (None: the whole pair). `metrics`: the pair's MetricDiffs (their
    suite, gating flag and paired difference are read)."""
    problems = ref.evidence_problems() + cand.evidence_problems()
    common = sorted(set(ref.record.suites) & set(cand.record.suites))
    if not common:
        problems.append(
            (
                None,
                f"no suite in common ({ref.label}: {sorted(ref.record.suites)}; "
                f"{cand.label}: {sorted(cand.record.suites)})",
            )
        )
    for suite in common:
        a, b = ref.record.suites[suite].get("content_hash"), cand.record.suites[suite].get("content_hash")
        if a != b:
            problems.append(
                (
                    suite,
                    f"suite {suite!r} content differs ({a} vs {b}): the scores are not comparable; "
                    "re-record the baseline",
                )
            )
        gated = [m for m in metrics if m.suite == suite and m.gating]
        # With --metric, suites that do not score the named metrics are not gated; without it each suite's
        # primary metric must be there.
        missing = not gated and not explicit_metrics and suite in ref.summary and suite in cand.summary
        if missing or any(m.diff.n == 0 for m in gated):
            problems.append((suite, f"suite {suite!r}: no gated metric over a sample answered in both runs"))
    if common and explicit_metrics and not any(m.gating for m in metrics):
        problems.append((None, "none of the --metric names is scored in a suite both runs hold"))
    return problems


def model_problems(ref: RunView, cand: RunView, allow_other_model: bool) -> list[tuple[str | None, str]]:
    """A reference of another model or revision judges nothing about this one, unless asked to (allow_other_model)."""
    differs = None if allow_other_model else other_model(ref.setting, cand.setting, f"the reference {ref.label}")
    return [(None, f"{differs} (--allow-other-model compares them anyway)")] if differs else []


def check_gate_metrics(reference: RunView, others: Sequence[RunView], metrics: Sequence[str] | None) -> None:
    """Refuse (EvalkitError, exit 2) a --metric that no registry or summary knows, or that no compared run scores:
    a misspelt gate must not silently gate nothing."""
    if not metrics:
        return
    try:
        from evalkit.scoring.metrics import METRICS

        known = set(METRICS)
    except ImportError:  # pragma: no cover - evalkit.scoring.metrics is part of the package
        known = set()
    scored = {m for view in (reference, *others) for s in view.summary.values() for m in (s.get("metrics") or {})}
    for name in metrics:
        if name not in known | scored:
            raise EvalkitError(f"--metric {name!r}: unknown metric (known: {', '.join(sorted(known | scored))})")
        if name not in scored:
            raise EvalkitError(
                f"--metric {name!r}: no compared run scores it (scored: {', '.join(sorted(scored)) or 'nothing'})"
            )


def check_number(name: str, value: float | None, *, positive: bool) -> None:
    if value is None:
        return
    if not math.isfinite(value) or value < 0 or (positive and value == 0):
        raise EvalkitError(f"{name} must be a finite number {'> 0' if positive else '>= 0'}, got {value}")

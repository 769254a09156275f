"""Gate verdicts a bot can read: one JSON file per `pytest benchmarks/` session and `evalkit compare --format json`.

A verdict is one gate's result for one setting (and suite): what was compared, the numbers, and pass / fail / skip.
The file's layout is documented in docs/verdicts.md (`schema_version` 1). The Markdown rendering puts the failed
verdicts first, so a CI job summary starts with what failed.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path

from evalkit.records import atomic_write_text, dumps, utc_now
from evalkit.reports.common import md_table, shorten

VERDICTS_KIND = "evalkit-verdicts"
VERDICTS_SCHEMA_VERSION = 1
OUTCOMES = ("fail", "pass", "skip")  # the order a summary lists them in


@dataclass
class Verdict:
    gate: str  # quality | agreement | memory | performance | latency | evidence | new-errors
    setting: str  # the candidate setting or run label
    verdict: str  # one of OUTCOMES
    suite: str | None = None
    metric: str | None = None
    unit: str | None = None
    reference: float | None = None  # the reference side's value (baseline, reference setting, saved history)
    candidate: float | None = None
    difference: float | None = None  # candidate - reference (a ratio gate: candidate / reference)
    interval: tuple[float, float] | None = None  # 95% interval of `difference`, where there is one
    n: int | None = None  # samples (pairs) or timed rounds behind the numbers
    tolerance: str | None = None  # the rule, e.g. "paired 95% CI excludes 0 and |diff| > 0", "ratio <= 1.5"
    message: str = ""  # one line (the first line of a failure message)

    def to_dict(self) -> dict:
        out = asdict(self)
        out["interval"] = list(self.interval) if self.interval is not None else None
        return out


def _number(value: float | None) -> float | None:
    return None if value is None or (isinstance(value, float) and not math.isfinite(value)) else value


def verdicts_document(verdicts: Sequence[Verdict], *, source: str, context: dict | None = None) -> dict:
    counts = {outcome: sum(v.verdict == outcome for v in verdicts) for outcome in OUTCOMES}
    return {
        "kind": VERDICTS_KIND,
        "schema_version": VERDICTS_SCHEMA_VERSION,
        "created_at": utc_now(),
        "source": source,
        **(context or {}),
        "passed": counts["fail"] == 0,
        "counts": counts,
        "verdicts": [
            {**v.to_dict(), **{k: _number(getattr(v, k)) for k in ("reference", "candidate", "difference")}}
            for v in sorted(verdicts, key=lambda v: OUTCOMES.index(v.verdict))
        ],
    }


def write_verdicts(path: Path, verdicts: Sequence[Verdict], *, source: str, context: dict | None = None) -> Path:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    atomic_write_text(path, dumps(verdicts_document(verdicts, source=source, context=context), indent=1) + "\n")
    return path


def _fmt(value: float | None, digits: int = 3) -> str:
    value = _number(value)
    if value is None:
        return "–"
    return f"{value:.1f}" if abs(value) >= 100 else f"{value:.{digits}f}"


def verdicts_markdown(verdicts: Sequence[Verdict], title: str = "evalkit gates") -> str:
    """A headline with the counts, then one row per verdict, failed first."""
    counts = {outcome: sum(v.verdict == outcome for v in verdicts) for outcome in OUTCOMES}
    status = "FAILED" if counts["fail"] else "passed"
    head = f"## {title}: {status} ({counts['fail']} failed, {counts['pass']} passed, {counts['skip']} skipped)"
    rows = []
    for v in sorted(verdicts, key=lambda v: OUTCOMES.index(v.verdict)):
        diff = _fmt(v.difference, 4)
        if v.interval is not None:
            diff += f" [{_fmt(v.interval[0], 4)}, {_fmt(v.interval[1], 4)}]"
        rows.append(
            [
                "**FAIL**" if v.verdict == "fail" else v.verdict,
                v.gate,
                v.setting,
                v.suite or "",
                v.metric or "",
                _fmt(v.reference),
                _fmt(v.candidate),
                diff,
                shorten(v.message, 160),
            ]
        )
    headers = ["verdict", "gate", "setting", "suite", "metric", "reference", "candidate", "difference [95% CI]", "why"]
    return "\n".join([head, "", md_table(headers, rows) if rows else "_no gate ran_", ""])


def metric_fields(m) -> dict:
    """A verdict's numbers from a comparison's MetricDiff: the metric, both sides' means over the paired samples,
    the paired difference with its interval, and how many pairs it rests on."""
    return {
        "metric": m.metric,
        "reference": m.reference.mean if m.reference else None,
        "candidate": m.candidate.mean if m.candidate else None,
        "difference": m.diff.mean,
        "interval": (m.diff.low, m.diff.high),
        "n": m.diff.n,
    }


def comparison_verdicts(comp) -> list[Verdict]:
    """The verdicts of an `evalkit compare` (evalkit.reports.comparison.Comparison): one per gated metric and suite,
    one per refused piece of evidence, newly failing samples and performance gate."""
    out: list[Verdict] = []
    rule = (
        "fails when the paired 95% CI of the difference excludes 0 in the worse direction "
        f"and |difference| > {comp.threshold:g}"
    )
    for pair in comp.pairs:
        label = pair.candidate.label
        for suite, text in pair.problems:
            out.append(Verdict("evidence", label, "fail", suite=suite, message=text))
        for m in pair.metrics:
            if not m.gating:
                continue
            out.append(
                Verdict(
                    "quality",
                    label,
                    "fail" if m.fails or m.verdict == "n/a" else "pass",  # n/a: no pair, no evidence
                    suite=m.suite,
                    **metric_fields(m),
                    tolerance=rule,
                    message="no sample answered in both runs" if m.verdict == "n/a" else m.verdict,
                )
            )
        if pair.new_errors and pair.fail_on_new_errors:
            listed = ", ".join(pair.new_errors[:5]) + (" ..." if len(pair.new_errors) > 5 else "")
            out.append(Verdict("new-errors", label, "fail", n=len(pair.new_errors), message=f"newly failing: {listed}"))
        for text in pair.perf_failures:  # "latency gate: ..." / "memory gate: ..."
            out.append(Verdict(text.split(" gate:", 1)[0], label, "fail", message=text))
        latency_failed = any(t.startswith("latency gate:") for t in pair.perf_failures)
        if not latency_failed:
            ref, cand = pair.reference.latency_median("end_to_end"), pair.candidate.latency_median("end_to_end")
            gated = pair.latency_limit is not None
            out.append(
                Verdict(
                    "latency",
                    label,
                    "pass" if gated else "skip",
                    metric="end_to_end median",
                    unit="ms",
                    reference=ref,
                    candidate=cand,
                    difference=cand / ref if ref and math.isfinite(ref) and math.isfinite(cand) else None,
                    tolerance=f"ratio <= {pair.latency_limit:g}" if gated else None,
                    message="; ".join([pair.latency_rule, *pair.warnings]),
                )
            )
    return out

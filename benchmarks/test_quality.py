"""Quality per setting and suite against the baseline: fail on a real drop (paired CI excludes 0), and fail, never
skip, when there is no evidence to judge (no baseline, an incomplete or partial run, changed suite content)."""

from __future__ import annotations

import pytest

from evalkit.gates import describe_setting_diff
from evalkit.reports.baseline import load_run_or_baseline
from evalkit.reports.common import primary_metric
from evalkit.reports.comparison import compare_views

pytestmark = pytest.mark.quality


def _worst(pair, suite: str, n: int = 5) -> list[str]:
    rows = [c for c in pair.changes if c.suite == suite and c.badness > 0]
    rows.sort(key=lambda c: c.badness, reverse=True)
    return [
        f"  {c.sample_id}: {c.metric} {c.reference_score:.3f} -> {c.candidate_score:.3f}"
        f"  baseline {c.reference_answer!r} / now {c.candidate_answer if c.candidate_error is None else c.candidate_error!r}"
        for c in rows[:n]
    ]


def test_quality_against_baseline(bench, setting, suite):
    suite = bench.suite(suite).name  # --suites may name a directory: records key samples by the suite's name
    evaluation = bench.evaluation(setting)
    opts = bench.options
    path = opts.baseline_path()
    baseline = bench.baseline()  # with --update-baseline: written from the reference setting's run (or refused)
    if opts.update_baseline and setting == opts.reference_setting:
        pytest.skip(f"--update-baseline: {path} rewritten from this run")
    differs = describe_setting_diff(baseline.setting, evaluation.record.setting)
    tail = [f"  {differs}"] if differs else []
    if suite not in baseline.record.suites:
        pytest.fail(
            f"{setting} {suite}: baseline {path} has no suite {suite!r} (it holds {', '.join(baseline.record.suites)})",
            pytrace=False,
        )
    pair = compare_views(baseline, [load_run_or_baseline(evaluation.run_dir)], threshold=opts.quality_tolerance).pairs[
        0
    ]
    problems = pair.problems_for(suite)
    if problems:
        lines = [f"{setting} {suite}: no evidence to judge against {path.name}"]
        pytest.fail("\n".join(lines + [f"  {p}" for p in problems] + tail), pytrace=False)
    failing = [m for m in pair.metrics if m.suite == suite and m.fails]
    new_errors = [e for e in pair.new_errors if e.startswith(f"{suite}/")]
    if failing or new_errors:
        lines = [f"{setting} {suite}: quality regression against {path.name}"]
        for m in failing:
            lines.append(
                f"  {m.metric} ({'higher' if m.higher_is_better else 'lower'} is better): "
                f"baseline {m.reference.mean:.3f} (n={m.reference.n}) -> now {m.candidate.mean:.3f} (n={m.candidate.n}), "
                f"paired diff {m.diff.mean:+.3f} "
                f"[95% CI {m.diff.low:+.3f}, {m.diff.high:+.3f}] over {m.diff.n} samples"
            )
        lines += [f"  newly failing: {e}" for e in new_errors]
        lines += tail
        lines += [f"  note: {note}" for note in pair.notes]
        lines.append("  worst samples:")
        lines += _worst(pair, suite)
        pytest.fail("\n".join(lines), pytrace=False)
    metric = primary_metric(baseline.record.suites.get(suite, {}).get("task", ""))
    assert metric is None or any(m.suite == suite and m.gating for m in pair.metrics)

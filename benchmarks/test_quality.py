"""Quality per setting and suite against the baseline: fail on a real drop (paired CI excludes 0), and fail, never
skip, when there is no evidence to judge (no baseline, an incomplete or partial run, changed suite content)."""

from __future__ import annotations

import pytest

from evalkit.gates import describe_setting_diff, quality
from evalkit.reports.baseline import load_run_or_baseline
from evalkit.reports.common import primary_metric
from evalkit.reports.comparison import compare_views
from evalkit.reports.verdicts import metric_fields

pytestmark = pytest.mark.quality


def test_quality_against_baseline(bench, setting, suite):
    suite = bench.suite(suite).name  # --suites may name a directory: records key samples by the suite's name
    evaluation = bench.evaluation(setting)
    opts = bench.options
    path = opts.baseline_path()
    baseline = bench.baseline()  # with --update-baseline: written from the reference setting's run (or refused)
    if opts.update_baseline and setting == opts.reference_setting:
        pytest.skip(f"--update-baseline: {path} rewritten from this run")
    differs = describe_setting_diff(baseline.setting, evaluation.record.setting)
    if suite not in baseline.record.suites:
        pytest.fail(
            f"{setting} {suite}: baseline {path} has no suite {suite!r} (it holds {', '.join(baseline.record.suites)})",
            pytrace=False,
        )
    comparison = compare_views(
        baseline,
        [load_run_or_baseline(evaluation.run_dir)],
        threshold=opts.quality_tolerance,
        allow_other_model=opts.allow_other_model,
    )
    pair = comparison.pairs[0]
    verdict = quality(pair, suite, setting=setting, baseline_name=path.name, setting_differences=differs)
    gated = next((m for m in pair.metrics if m.suite == suite and m.gating), None)
    if gated is not None:
        bench.detail(
            **metric_fields(gated),
            tolerance=f"fails when the paired 95% CI excludes 0 on the worse side and |diff| > {opts.quality_tolerance:g}",
            message=f"{gated.verdict} against {path.name}",
        )
    if not verdict.ok:
        pytest.fail(verdict.message, pytrace=False)
    metric = primary_metric(baseline.record.suites.get(suite, {}).get("task", ""))
    assert metric is None or any(m.suite == suite and m.gating for m in pair.metrics)

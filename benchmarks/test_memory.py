"""Peak memory per setting against the baseline's budget; no baseline, or an incomplete one, fails."""

from __future__ import annotations

import pytest

from evalkit.gates import default_memory_tolerance, memory_budget
from evalkit.reports.baseline import load_run_or_baseline

pytestmark = pytest.mark.memory


def test_memory_within_budget(bench, setting):
    evaluation = bench.evaluation(setting)
    baseline = bench.baseline()
    if bench.options.update_baseline and setting == bench.options.reference_setting:
        pytest.skip("--update-baseline: this run is the new baseline")
    problems = baseline.evidence_problems() + load_run_or_baseline(evaluation.run_dir).evidence_problems()
    if problems:
        pytest.fail(f"{setting}: no evidence to judge memory: {problems[0][1]}", pytrace=False)
    device = str(evaluation.record.setting.get("device", ""))
    tolerance = bench.options.memory_tolerance
    tolerance = float(tolerance) if tolerance is not None else default_memory_tolerance(device)
    check = memory_budget(
        baseline.record.performance,
        baseline.record.setting,
        evaluation.record.performance,
        evaluation.record.setting,
        tolerance,
    )
    bench.detail(tolerance=f"+{tolerance:.0%} over the baseline", unit="MiB", message=check.message)
    if check.skipped:
        pytest.skip(check.skipped)
    assert check.ok, f"{setting}: memory gate failed: {check.message}"

"""Peak memory per setting against the baseline's budget."""

from __future__ import annotations

import pytest

from evalkit.gates import memory_budget
from evalkit.reports.baseline import load_baseline

pytestmark = pytest.mark.memory


def test_memory_within_budget(bench, setting):
    evaluation = bench.evaluation(setting)
    path = bench.options.baseline_path()
    if not path.is_file():
        pytest.skip(f"no baseline at {path}")
    baseline = load_baseline(path)
    device = str(evaluation.record.setting.get("device", ""))
    tolerance = bench.options.memory_tolerance
    tolerance = float(tolerance) if tolerance is not None else (0.05 if device.startswith("cuda") else 0.25)
    check = memory_budget(
        baseline.record.performance,
        baseline.record.setting,
        evaluation.record.performance,
        evaluation.record.setting,
        tolerance,
    )
    if check.skipped:
        pytest.skip(check.skipped)
    assert check.ok, f"{setting}: memory over budget: {check.message}"

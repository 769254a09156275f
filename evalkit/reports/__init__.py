"""Reports over run records: run and sweep reports, baselines, comparisons, history.

Reports read run directories and baseline files only (never the model or the suites), so any report can be
rebuilt from a run directory alone. Names are imported lazily: pandas and matplotlib load on first use.
"""

from __future__ import annotations

import importlib
from typing import Any

_EXPORTS = {
    "write_run_reports": "evalkit.reports.html",
    "write_sweep_report": "evalkit.reports.html",
    "RunView": "evalkit.reports.common",
    "save_baseline": "evalkit.reports.baseline",
    "load_baseline": "evalkit.reports.baseline",
    "load_run_or_baseline": "evalkit.reports.baseline",
    "compare": "evalkit.reports.comparison",
    "compare_views": "evalkit.reports.comparison",
    "Comparison": "evalkit.reports.comparison",
    "write_comparison": "evalkit.reports.compare_render",
    "history_table": "evalkit.reports.history",
    "write_history": "evalkit.reports.history",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'evalkit.reports' has no attribute {name!r}")
    return getattr(importlib.import_module(module), name)

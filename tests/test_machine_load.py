"""Machine load recorded around a timed run, and the rule that voids a speed comparison between runs."""

from __future__ import annotations

import time

import pytest

from evalkit.records.machine_load import MachineLoad, speed_conditions_differ


def test_machine_load_measures_this_process_and_the_others():
    with MachineLoad() as load:
        end = time.perf_counter() + 0.3
        while time.perf_counter() < end:  # this process keeps one CPU busy
            pass
    figures = load.to_dict()
    assert figures["cpu_count"] >= 1 and figures["wall_s"] >= 0.3
    assert len(figures["load_average_start"]) == len(figures["load_average_end"]) == 3
    # One busy thread is at most 1 / cpu_count of the machine (less when other processes take its CPU); the busy
    # time holds this process's own, and the other processes' share is the rest.
    cpus = figures["cpu_count"]
    assert 0 < figures["own_share"] <= 1.1 / cpus
    assert figures["busy_share"] >= figures["own_share"] - 0.05
    assert figures["other_share"] == pytest.approx(max(0.0, figures["busy_share"] - figures["own_share"]), abs=0.01)


@pytest.mark.parametrize(
    ("reference", "candidate", "void"),
    [
        ({"cpu_count": 2, "other_share": 0.05}, {"cpu_count": 2, "other_share": 0.10}, None),
        ({"cpu_count": 2, "other_share": 0.05}, {"cpu_count": 2, "other_share": 0.62}, "62% during the candidate"),
        ({"cpu_count": 2, "other_share": 0.05}, {"cpu_count": 2, "other_share": 0.30}, "5% of the CPUs during the ref"),
        ({"cpu_count": 2, "other_share": 0.05}, {"cpu_count": 8, "other_share": 0.05}, "the runs had 2 and 8 CPUs"),
        (None, {"cpu_count": 2, "other_share": 0.05}, None),  # unknown: the caller says so
    ],
)
def test_speed_conditions_differ(reference, candidate, void):
    reason = speed_conditions_differ(reference, candidate)
    assert (reason is None) if void is None else (void in reason), reason

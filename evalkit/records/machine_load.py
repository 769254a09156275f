"""How busy the machine was while a run was timed, and whether two runs' conditions allow comparing their speed.

A CPU timing on a shared machine moves with what else runs (decode 10-24 tokens/s under load, 350-460 idle on the
same box), so run.json records the load beside the timings (`performance.machine_load`) and `evalkit compare`
voids a speed comparison between runs made under very different load. No torch here: records and reports read it.
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass

import psutil

# Other processes' share of all CPUs above which a CPU timing says more about them than about the model, and the
# difference between two runs' shares beyond which their timings are not comparable.
BUSY_SHARE = 0.5
SHARE_DIFFERENCE = 0.2


def _busy_seconds() -> float:
    """CPU seconds the whole machine spent busy since boot (all CPUs; idle and I/O wait excluded)."""
    times = psutil.cpu_times()
    return sum(times) - times.idle - getattr(times, "iowait", 0.0)


def _own_seconds() -> float:
    """CPU seconds of this process (every thread) and of its children that have ended."""
    t = psutil.Process().cpu_times()
    return t.user + t.system + t.children_user + t.children_system


def _load_average() -> list[float] | None:
    try:
        return [round(x, 2) for x in os.getloadavg()]
    except OSError:  # not on this platform
        return None


@dataclass
class MachineLoad:
    """Context manager around the timed part of a run: `to_dict()` is what run.json records."""

    _start: tuple[float, float, float] | None = None
    _end: tuple[float, float, float] | None = None
    _load_start: list[float] | None = None
    _load_end: list[float] | None = None

    @staticmethod
    def _now() -> tuple[float, float, float]:
        return time.perf_counter(), _busy_seconds(), _own_seconds()

    def __enter__(self) -> MachineLoad:
        self._load_start, self._start = _load_average(), self._now()
        return self

    def __exit__(self, *exc) -> None:
        self._end, self._load_end = self._now(), _load_average()

    def to_dict(self) -> dict:
        cpus = psutil.cpu_count() or 1
        out: dict = {"cpu_count": cpus, "load_average_start": self._load_start, "load_average_end": self._load_end}
        if self._start is None or self._end is None:
            return out
        wall = self._end[0] - self._start[0]
        busy, own = self._end[1] - self._start[1], self._end[2] - self._start[2]
        capacity = wall * cpus
        out["wall_s"] = round(wall, 3)
        if capacity > 0:
            out["busy_share"] = round(min(1.0, max(0.0, busy / capacity)), 4)
            out["own_share"] = round(min(1.0, max(0.0, own / capacity)), 4)
            out["other_share"] = round(min(1.0, max(0.0, (busy - own) / capacity)), 4)
        return out


def speed_conditions_differ(reference: dict | None, candidate: dict | None) -> str | None:
    """Why the two runs' speed cannot be compared (one line), or None when their recorded conditions allow it.
    Unknown conditions (a record without `machine_load`) are not judged here: the caller says so."""
    if not reference or not candidate:
        return None
    if reference.get("cpu_count") != candidate.get("cpu_count"):
        return f"the runs had {reference.get('cpu_count')} and {candidate.get('cpu_count')} CPUs"
    a, b = reference.get("other_share"), candidate.get("other_share")
    if a is None or b is None:
        return None
    if max(a, b) > BUSY_SHARE or abs(a - b) > SHARE_DIFFERENCE:
        return (
            f"other processes used {a:.0%} of the CPUs during the reference and {b:.0%} during the candidate "
            f"(comparable only below {BUSY_SHARE:.0%} each and within {SHARE_DIFFERENCE:.0%} of each other)"
        )
    return None

"""Sweeps whose jobs run in other processes (Hydra launcher plugins: submitit locally or on SLURM).

A job cannot tell the process that launched the sweep what it did through memory, so it writes it down:
`<sweep dir>/<job>/evalkit-job.json` says `running` when the job starts, then its outcome (exit code, run directory).
The launching process writes `<sweep dir>/evalkit-sweep.json` before any job starts (which settings the plan left
out, so that a job in another process skips them as the plan said) and, when the launcher returns, reads the job
files to build the sweep report and the exit code, whichever process ran each job and in whatever order they ended.
A job without an outcome (it died, or failed with a bug) is reported as not finished.
"""

from __future__ import annotations

import json
import os
from dataclasses import asdict, dataclass, field
from pathlib import Path

from evalkit.cli.preflight import Plan
from evalkit.records import atomic_write_text, dumps

JOB_FILE = "evalkit-job.json"
PLAN_FILE = "evalkit-sweep.json"


@dataclass
class Job:
    """One job of a sweep, as its job file records it."""

    num: int
    overrides: list[str]
    state: str = "running"  # running | done | interrupted | failed | missing (no job file: never started)
    exit_code: int | None = None
    run_dir: str | None = None
    ran: bool = False  # a setting was evaluated (not skipped)
    error: str | None = None
    pid: int = field(default_factory=os.getpid)


def write_job(job_dir: Path, job: Job) -> None:
    Path(job_dir).mkdir(parents=True, exist_ok=True)
    atomic_write_text(Path(job_dir) / JOB_FILE, dumps(asdict(job), indent=2) + "\n")


def read_jobs(sweep_dir: Path, expected: list[list[str]] | None = None) -> list[Job]:
    """The job files under `sweep_dir` by job number; `expected` jobs with no file are `missing`."""
    found: dict[int, Job] = {}
    for path in Path(sweep_dir).rglob(JOB_FILE):
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
            job = Job(**{k: v for k, v in data.items() if k in Job.__dataclass_fields__})
        except (OSError, ValueError, TypeError):
            continue  # a job killed while writing its file: atomic writes make this all but impossible
        found[int(job.num)] = job
    for num, overrides in enumerate(expected or []):
        found.setdefault(num, Job(num=num, overrides=list(overrides), state="missing", pid=0))
    return [found[n] for n in sorted(found)]


def write_plan(sweep_dir: Path, plan: Plan | None) -> None:
    Path(sweep_dir).mkdir(parents=True, exist_ok=True)
    data = {"left_out": plan.left_out, "refused": plan.refused} if plan else {"left_out": [], "refused": []}
    atomic_write_text(Path(sweep_dir) / PLAN_FILE, dumps(data, indent=2) + "\n")


def read_plan(sweep_dir: Path) -> Plan | None:
    """The plan the launching process wrote (None when there is none: jobs then check themselves)."""
    try:
        data = json.loads((Path(sweep_dir) / PLAN_FILE).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return Plan(
        left_out=[tuple(x) for x in data.get("left_out", [])], refused=[tuple(x) for x in data.get("refused", [])]
    )


def describe(job: Job) -> str:
    return f"job #{job.num} ({' '.join(job.overrides) or 'defaults'})"

"""The verdicts of a `pytest benchmarks/` session (docs/verdicts.md): one per test, built from the test's report
(pass / fail / skip and why) and the numbers the test gave through `BenchSession.detail`; the latency tests are
judged by pytest-benchmark at the end (against the saved run, under --benchmark-compare-fail). At the end of the
session they are written to --verdicts and, under GitHub Actions, to the job summary: the verdicts first, failed
first, then where the reports are."""

from __future__ import annotations

import os

from benchmarks.session import BenchSession
from evalkit.reports.verdicts import Verdict, verdicts_markdown, write_verdicts

GATES = {
    "test_quality": "quality",
    "test_agreement": "agreement",
    "test_memory": "memory",
    "test_latency": "performance",
}


def start_test(session: BenchSession, item) -> None:
    session.current_test = item.nodeid
    params = item.callspec.params if hasattr(item, "callspec") else {}
    test = getattr(item, "originalname", None) or item.name
    gate = next((g for prefix, g in GATES.items() if test.startswith(prefix)), test)
    session.details[item.nodeid] = {
        "gate": gate,
        "setting": str(params.get("setting", "")),
        "suite": params.get("suite"),
    }


def _why(report) -> str:
    """The first line of a skip reason or failure message."""
    longrepr = report.longrepr
    if isinstance(longrepr, tuple):  # a skip: (path, line, reason)
        text = str(longrepr[2]).removeprefix("Skipped: ")
    else:
        crash = getattr(longrepr, "reprcrash", None)
        text = crash.message if crash is not None else str(longrepr or "")
        text = text.removeprefix("Failed: ").removeprefix("AssertionError: ")
    return next((line.strip() for line in text.splitlines() if line.strip()), "")


def record_report(session: BenchSession, report) -> None:
    """The test's verdict once its outcome is known: from its call, or from its setup when that skipped or failed."""
    if report.nodeid not in session.details:
        return
    if report.when == "call" or (report.when == "setup" and not report.passed):
        fields = session.details.pop(report.nodeid)
        outcome = "pass" if report.passed else "skip" if report.skipped else "fail"
        if fields["gate"] == "performance" and outcome == "pass":
            session.pending_performance[report.nodeid] = fields  # measured: pytest-benchmark judges it at the end
            return
        message = fields.pop("message", "") if outcome == "pass" else _why(report)
        fields.pop("message", None)
        session.verdicts.append(Verdict(verdict=outcome, message=message, **fields))


def performance_verdicts(session: BenchSession, bench_files) -> list[Verdict]:
    """pytest-benchmark's judgement of each latency test: its median against the saved run's, under
    --benchmark-compare-fail; a latency test that was only measured is a skip with the reason."""
    out = []
    compared = getattr(bench_files, "compared_mapping", None) or {}
    checks = list(getattr(bench_files, "compare_fail", None) or [])
    rules = ", ".join(_rule(c) for c in checks) or None
    by_name = {b.name: b for b in (getattr(bench_files, "benchmarks", None) or []) if b}
    for nodeid, fields in session.pending_performance.items():
        name = nodeid.rsplit("::", 1)[-1]
        bench = by_name.get(name)
        now = bench.stats.median * 1000 if bench is not None and bench.stats else None
        saved = next((m[bench.fullname] for m in compared.values() if bench and bench.fullname in m), None)
        if saved is None or not rules:
            why = session.first_run or (
                "measured, not compared (no saved run of this test)"
                if compared or rules
                else "measured, not compared (no --benchmark-compare / --benchmark-compare-fail)"
            )
            out.append(Verdict(verdict="skip", metric="median", unit="ms", candidate=now, message=why, **fields))
            continue
        ref = saved["stats"]["median"] * 1000
        failures = [f for f in (check.fails(bench, saved["stats"]) for check in checks) if f]  # as pytest-benchmark
        failed = bool(failures)
        out.append(
            Verdict(
                verdict="fail" if failed else "pass", metric="median", unit="ms", reference=ref, candidate=now,
                difference=(now / ref if now is not None and ref else None), n=bench.stats.rounds, tolerance=rules,
                message="; ".join(failures) if failed else f"within {rules} of the saved run", **fields,
            )
        )  # fmt: skip
    return out


def _rule(check) -> str:
    """A --benchmark-compare-fail check as the user wrote it: `median:15%` or `median:0.001`."""
    percent = type(check).__name__.startswith("Percentage")
    return f"{check.field}:{check.threshold}{'%' if percent else ''}"


def _run_url() -> str | None:
    env = os.environ
    if all(env.get(k) for k in ("GITHUB_SERVER_URL", "GITHUB_REPOSITORY", "GITHUB_RUN_ID")):
        return f"{env['GITHUB_SERVER_URL']}/{env['GITHUB_REPOSITORY']}/actions/runs/{env['GITHUB_RUN_ID']}"
    return None


def finish(bench: BenchSession, bench_files, step_summary: str | None) -> None:
    """Write the verdicts file and, under GitHub Actions, the job summary (rank 0 only; the caller checks)."""
    verdicts = bench.verdicts + performance_verdicts(bench, bench_files)
    if not verdicts:
        return
    opts = bench.options
    context = {
        "model": opts.model_name, "revision": opts.revision, "device": opts.device,
        "baseline": str(opts.baseline_path()), "runs": {s: str(e.run_dir) for s, e in bench.evaluations().items()},
    }  # fmt: skip
    try:
        path = write_verdicts(opts.verdicts, verdicts, source="pytest benchmarks", context=context)
    except OSError as exc:
        bench.notes.append(f"evalkit: could not write the verdicts to {opts.verdicts}: {exc}")
        path = None
    else:
        bench.notes.append(f"evalkit: verdicts -> {path}")
    if step_summary:
        lines = [verdicts_markdown(verdicts, "evalkit benchmarks"), "### Reports", ""]
        lines += [f"- {s}: `{e.run_dir / 'report.md'}` (and report.html)" for s, e in bench.evaluations().items()]
        if path is not None:
            lines.append(f"- verdicts: `{path}`")
        run_url = _run_url()
        if run_url:
            lines.append(f"- artifacts of this job: {run_url}")
        with open(step_summary, "a", encoding="utf-8") as fh:
            fh.write("\n".join(lines) + "\n")

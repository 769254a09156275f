"""`evalkit suites` and `evalkit runs`: what there is to evaluate, and the run directories with their state."""

from __future__ import annotations

import sys
from collections import Counter
from pathlib import Path

from evalkit.data.suites import DATASETS_DIR, available_suites, load_suite
from evalkit.errors import EXIT_OK, EXIT_USER_ERROR, ConfigError, EvalkitError, Parser, one_line
from evalkit.records import RUN_FILE, RunRecord, find_runs, read_record
from evalkit.run.distributed import host
from evalkit.run.resume import UNFINISHED, resume_command, still_running
from evalkit.run.shard_files import collect


def suites_main(argv: list[str]) -> int:
    # Imported when the command runs (as in generate_main): `evalkit --help` / `--version` stay instant.
    from evalkit.errors import EvalkitError

    parser = Parser(prog="evalkit suites", description="List the suites in datasets/ and the benchmark forms.")
    parser.add_argument("--root", type=Path, default=None, help=f"suites directory (default {DATASETS_DIR})")
    args = parser.parse_args(argv)
    root = args.root or DATASETS_DIR
    names = available_suites(root)
    if not names:
        print(f"evalkit suites: error: no suite (a directory with suite.json) in {root}", file=sys.stderr)
        return EXIT_USER_ERROR
    rows = [["suite", "task", "samples", "question types", "version"]]
    for name in names:
        try:
            suite = load_suite(root / name)
        except EvalkitError as exc:
            rows.append([name, "?", "?", f"unreadable: {one_line(exc)}", ""])
            continue
        types = Counter(s.type for s in suite.samples)
        kinds = ", ".join(f"{t} {n}" for t, n in sorted(types.items()))
        rows.append([suite.name, suite.task, str(len(suite.samples)), kinds, suite.version])
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    for row in rows:
        print("  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True)).rstrip())
    print(f"\n(in {root}; choose with suites=[name,...], e.g. `evalkit suites=[ocr] limit=20`)")
    print("Standard benchmarks are suites too (task vqa), named by a spec in suites=[...]:")
    print("  hf:PATH_OR_NAME:SPLIT[:key=value...]   a Hugging Face `datasets` dataset or a local dataset directory")
    print("  tsv:FILE[:key=value...]                a VLMEvalKit TSV (base64 images)")
    print("  options: :schema=NAME, :config=NAME, :name=SUITE (README 'Standard benchmarks'; quote a spec with `=`)")
    return EXIT_OK


def expected_samples(record: RunRecord) -> int:
    limit = (record.config or {}).get("limit")
    sizes = [int((s or {}).get("n_samples") or 0) for s in record.suites.values()]
    return sum(min(n, limit) if limit else n for n in sizes)


def run_state(run_dir: Path) -> tuple[RunRecord, str, int]:
    """(record, status as shown, answered samples) of one run directory."""
    record = read_record(run_dir / RUN_FILE)
    status = record.status
    if status == "running":
        last = record.attempts[-1] if record.attempts else {}
        if still_running(record) is not None:
            status = "running"
        elif last.get("host") == host():
            status = "killed"  # its process is gone
        else:
            status = "running or killed"  # on another host (or recorded before attempts existed): cannot tell
    answered = sum(not p.failed for p in collect(run_dir)) if status != "skipped" else 0
    return record, status, answered


def runs_main(argv: list[str]) -> int:
    parser = Parser(prog="evalkit runs", description="List run directories: status, samples answered, how to resume.")
    parser.add_argument("roots", nargs="*", type=Path, default=[Path("reports/runs")], help="default reports/runs")
    parser.add_argument("--unfinished", action="store_true", help="only runs that can be resumed")
    args = parser.parse_args(argv)
    for root in args.roots:
        if not root.is_dir():
            raise ConfigError(f"{root}: no such directory")
    rows = []
    for run_dir in [d for root in args.roots for d in find_runs(root)]:
        try:
            record, status, answered = run_state(run_dir)
        except EvalkitError as exc:
            print(f"evalkit: skipping {run_dir}: {exc}", file=sys.stderr)
            continue
        unfinished = record.status in UNFINISHED and status != "running"
        if args.unfinished and not unfinished:
            continue
        world = int((record.attempts[-1] if record.attempts else {}).get("world_size") or 1)
        tail = f"  resume: {resume_command(run_dir, world)}" if unfinished else ""
        rows.append(f"{status:<18} {answered:>5}/{expected_samples(record):<5} {run_dir}{tail}")
    print(f"{'status':<18} {'answered':>11} run directory")
    for row in rows:
        print(row)
    return EXIT_OK

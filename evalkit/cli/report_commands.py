"""`evalkit compare`, `evalkit baseline save` and `evalkit history`: argparse front ends returning exit codes.

Exit codes (evalkit.errors): 0 ok; 1 a comparison failed (a regression, refused evidence, a performance gate);
2 a user error (EvalkitError, or a file that cannot be read or written), printed as one line on stderr without a
traceback.
"""

from __future__ import annotations

import argparse
import shlex
import sys
import warnings
from collections.abc import Callable
from datetime import datetime, timezone
from pathlib import Path

from evalkit.errors import EXIT_FAILED, EXIT_OK, EXIT_USER_ERROR, EvalkitError, Parser, exit_code, one_line

EXIT_REGRESSION = EXIT_FAILED


def _guard(prog: str, body: Callable[[], int]) -> int:
    try:
        return body()
    except (EvalkitError, OSError) as exc:
        print(f"{prog}: error: {one_line(exc)}", file=sys.stderr)
        return exit_code(exc)


def _parse(parser: argparse.ArgumentParser, argv: list[str]) -> argparse.Namespace | int:
    try:
        return parser.parse_args(argv)
    except SystemExit as exc:  # argparse already printed usage / help
        return int(exc.code or 0) if exc.code in (0, None) else EXIT_USER_ERROR


SHORTHANDS = ("latest", "baseline")


def latest_run(root: Path) -> Path:
    """The newest complete run directory under `root` (by when it finished; the last one started breaks a tie)."""
    from evalkit.records import RUN_FILE, find_runs, read_record

    complete = []
    for run_dir in find_runs(root):
        try:
            record = read_record(run_dir / RUN_FILE)
        except EvalkitError:
            continue  # a damaged run is not "the latest run"; `evalkit runs` names it
        if record.status == "complete":
            complete.append((record.finished_at or "", record.started_at or "", str(run_dir), run_dir))
    if not complete:
        raise EvalkitError(f"`latest`: no complete run under {root} (see `evalkit runs {shlex.quote(str(root))}`)")
    return max(complete)[-1]


def resolve_paths(paths: list[str], runs: Path, baselines: Path) -> list[Path]:
    """`latest` -> the newest complete run under `runs`; `baseline` -> the baseline file the gates would read for
    the model and revision of the other side (the first path that is not `baseline`), under `baselines`."""
    from evalkit.reports.baseline import baseline_path, load_run_or_baseline

    out: list[Path | None] = [
        latest_run(runs) if p == "latest" else None if p == "baseline" else Path(p) for p in paths
    ]
    if None not in out:
        return out  # type: ignore[return-value]
    other = next((p for p in out if p is not None), None)
    if other is None:
        raise EvalkitError("`baseline` needs another side to take the model and revision from (e.g. `baseline latest`)")
    setting = load_run_or_baseline(other).setting
    path = baseline_path(setting.get("model") or "", setting.get("revision"), root=baselines)
    if not path.is_file():
        raise EvalkitError(f"`baseline`: no baseline for {other} at {path} (write one with `evalkit baseline save`)")
    return [path if p is None else p for p in out]


def compare_main(argv: list[str]) -> int:
    parser = Parser(
        prog="evalkit compare",
        description="Compare runs/baselines against the first one (the reference); exit 1 on a failing regression.",
        epilog="Shorthands: `latest` is the newest complete run directory under --runs; `baseline` is the baseline "
        "file the gates read for the other side's model and revision (under --baselines). "
        "E.g. `evalkit compare baseline latest`: did the last run regress against its baseline?",
    )
    parser.add_argument(
        "paths", nargs="+", metavar="RUN_OR_BASELINE", help="run directories, baseline files, `latest` or `baseline`"
    )
    parser.add_argument("--runs", type=Path, default=Path("reports/runs"), help="where `latest` looks")
    parser.add_argument("--baselines", type=Path, default=Path("reports/baselines"), help="where `baseline` looks")
    parser.add_argument("--out", type=Path, default=None, help="output dir (default reports/compare/<timestamp>)")
    parser.add_argument(
        "--threshold", type=float, default=0.0, help="absolute drop on a gating metric beyond which a regression fails"
    )
    parser.add_argument(
        "--metric",
        action="append",
        default=None,
        help="gate on this metric instead of each task's primary one (repeatable)",
    )
    parser.add_argument("--allow-new-errors", action="store_true", help="do not fail when samples newly error")
    parser.add_argument(
        "--allow-other-model",
        action="store_true",
        help="judge a run against a reference of another model or revision (refused by default, naming both)",
    )
    parser.add_argument(
        "--max-latency-ratio",
        type=float,
        default=None,
        metavar="R",
        help="fail when the candidate's end-to-end latency median exceeds R x the reference's (default: 1.15 on "
        "CUDA, 1.5 on the CPU, applied only where the two runs' hardware and machine load make the timings comparable; "
        "the report states which rule applied)",
    )
    parser.add_argument(
        "--max-memory-ratio",
        type=float,
        default=None,
        metavar="R",
        help="fail when the candidate's peak memory (allocated on CUDA, else RSS) exceeds R x the reference's",
    )
    parser.add_argument(
        "--format",
        choices=("markdown", "json"),
        default="markdown",
        help="what goes to stdout: the Markdown report (default) or the verdicts as JSON (docs/verdicts.md); "
        "both write compare.md, compare.html and verdicts.json to --out",
    )
    args = _parse(parser, argv)
    if isinstance(args, int):
        return args

    def body() -> int:
        from evalkit.records import dumps
        from evalkit.reports.compare_render import write_comparison
        from evalkit.reports.comparison import compare  # keep CLI start-up light
        from evalkit.reports.verdicts import comparison_verdicts, verdicts_document, write_verdicts

        if len(args.paths) < 2:
            raise EvalkitError("compare needs at least two RUN_OR_BASELINE paths (the first is the reference)")
        paths = resolve_paths(args.paths, args.runs, args.baselines)
        for given, path in zip(args.paths, paths, strict=True):
            if given in SHORTHANDS:
                print(f"evalkit compare: {given} = {path}", file=sys.stderr)
        comp = compare(
            paths,
            threshold=args.threshold,
            metrics=args.metric,
            fail_on_new_errors=not args.allow_new_errors,
            max_latency_ratio=args.max_latency_ratio,
            max_memory_ratio=args.max_memory_ratio,
            allow_other_model=args.allow_other_model,
        )
        out = args.out or Path("reports/compare") / datetime.now(timezone.utc).strftime("%Y%m%d-%H%M%S")
        md_path, html_path = write_comparison(comp, out)
        context = {"reference": str(paths[0]), "candidates": [str(p) for p in paths[1:]]}
        verdicts = comparison_verdicts(comp)
        json_path = write_verdicts(out / "verdicts.json", verdicts, source="evalkit compare", context=context)
        if args.format == "json":
            document = verdicts_document(verdicts, source="evalkit compare", context=context)
            print(dumps(document, indent=1))
            print(f"written: {md_path} {html_path} {json_path}", file=sys.stderr)
        else:
            print(md_path.read_text(encoding="utf-8"))
            print(f"written: {md_path} {html_path} {json_path}")
        for pair in comp.pairs:
            for warning in pair.warnings:
                print(f"evalkit compare: warning: {pair.candidate.label}: {warning}", file=sys.stderr)
            for line in pair.failure_lines():
                print(f"evalkit compare: FAIL: {one_line(line)}", file=sys.stderr)
        return EXIT_REGRESSION if comp.failed else EXIT_OK

    return _guard("evalkit compare", body)


def baseline_main(argv: list[str]) -> int:
    parser = Parser(prog="evalkit baseline", description="Manage quality/performance baselines.")
    sub = parser.add_subparsers(dest="command", required=True)
    save = sub.add_parser(
        "save", help="freeze a complete run as <root>/<model>/<revision or 'default'>.json (what the gates read)"
    )
    save.add_argument("run_dir", type=Path, metavar="RUN_DIR")
    save.add_argument("--name", default=None, help="file name (default: the run's revision, else 'default')")
    save.add_argument("--root", type=Path, default=None, help="baselines root (default reports/baselines)")
    save.add_argument(
        "--force", action="store_true", help="accept a run with `limit` or with failed samples as the baseline"
    )
    save.add_argument(
        "--replace",
        action="store_true",
        help="replace an existing baseline file (without it, saving over one is refused with what would change)",
    )
    args = _parse(parser, argv)
    if isinstance(args, int):
        return args

    def body() -> int:
        from evalkit.reports.baseline import save_baseline

        saved = save_baseline(args.run_dir, args.root, args.name, force=args.force, replace=args.replace)
        print(f"baseline written: {saved.path}")
        if saved.replaced:
            print(f"replaced: {saved.replaced}")
        return EXIT_OK

    return _guard("evalkit baseline", body)


def history_main(argv: list[str]) -> int:
    parser = Parser(prog="evalkit history", description="Scores, latency and memory of one model over time.")
    parser.add_argument("--model", required=True, help="setting.model to select, e.g. tiny")
    parser.add_argument("--runs", type=Path, default=Path("reports/runs"))
    parser.add_argument("--baselines", type=Path, default=Path("reports/baselines"))
    parser.add_argument("--out", type=Path, default=None, help="output dir (default reports/history/<model>)")
    args = _parse(parser, argv)
    if isinstance(args, int):
        return args

    def body() -> int:
        from evalkit.records import RecordWarning
        from evalkit.reports.history import write_history

        if not args.runs.is_dir() and not args.baselines.is_dir():
            raise EvalkitError(f"neither {args.runs} nor {args.baselines} is a directory")
        out = args.out or Path("reports/history") / args.model
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always", RecordWarning)
            md_path, png_path, _ = write_history(args.model, out, args.runs, args.baselines)
        for warning in caught:  # a damaged run directory is skipped with one line, the history goes on
            if issubclass(warning.category, RecordWarning):
                print(f"evalkit {one_line(warning.message)}", file=sys.stderr)  # "evalkit history: skipping DIR: ..."
            else:
                warnings.warn_explicit(warning.message, warning.category, warning.filename, warning.lineno)
        print(md_path.read_text(encoding="utf-8"))
        print(f"written: {md_path}" + (f" {png_path}" if png_path else ""))
        return EXIT_OK

    return _guard("evalkit history", body)

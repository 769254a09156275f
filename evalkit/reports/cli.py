"""`evalkit compare`, `evalkit baseline save` and `evalkit history`: argparse front ends returning exit codes.

Exit codes: 0 ok; 1 a comparison found a regression that fails; 2 a user error (EvalkitError), printed as
one line on stderr without a traceback.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable
from datetime import datetime, timezone
from pathlib import Path

from evalkit.errors import EvalkitError

EXIT_OK, EXIT_REGRESSION, EXIT_USER_ERROR = 0, 1, 2


def _guard(prog: str, body: Callable[[], int]) -> int:
    try:
        return body()
    except EvalkitError as exc:
        print(f"{prog}: error: {exc}", file=sys.stderr)
        return EXIT_USER_ERROR


def _parse(parser: argparse.ArgumentParser, argv: list[str]) -> argparse.Namespace | int:
    try:
        return parser.parse_args(argv)
    except SystemExit as exc:  # argparse already printed usage / help
        return int(exc.code or 0) if exc.code in (0, None) else EXIT_USER_ERROR


def compare_main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(
        prog="evalkit compare",
        description="Compare runs/baselines against the first one (the reference); exit 1 on a failing regression.",
    )
    parser.add_argument(
        "paths", nargs="+", type=Path, metavar="RUN_OR_BASELINE", help="run directories or baseline files"
    )
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
    args = _parse(parser, argv)
    if isinstance(args, int):
        return args

    def body() -> int:
        from evalkit.reports.compare_render import write_comparison
        from evalkit.reports.comparison import compare  # keep CLI start-up light

        if len(args.paths) < 2:
            raise EvalkitError("compare needs at least two RUN_OR_BASELINE paths (the first is the reference)")
        comp = compare(
            args.paths, threshold=args.threshold, metrics=args.metric, fail_on_new_errors=not args.allow_new_errors
        )
        out = args.out or Path("reports/compare") / datetime.now(timezone.utc).strftime("%Y%m%d-%H%M%S")
        md_path, html_path = write_comparison(comp, out)
        print(md_path.read_text(encoding="utf-8"))
        print(f"written: {md_path} {html_path}")
        return EXIT_REGRESSION if comp.has_regression else EXIT_OK

    return _guard("evalkit compare", body)


def baseline_main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="evalkit baseline", description="Manage quality/performance baselines.")
    sub = parser.add_subparsers(dest="command", required=True)
    save = sub.add_parser("save", help="freeze a complete run as <root>/<model>/<name or revision>.json")
    save.add_argument("run_dir", type=Path, metavar="RUN_DIR")
    save.add_argument("--name", default=None, help="file name (default: the run's revision)")
    save.add_argument("--root", type=Path, default=Path("reports/baselines"), help="baselines root")
    args = _parse(parser, argv)
    if isinstance(args, int):
        return args

    def body() -> int:
        from evalkit.reports.baseline import save_baseline

        path = save_baseline(args.run_dir, args.root, args.name)
        print(f"baseline written: {path}")
        return EXIT_OK

    return _guard("evalkit baseline", body)


def history_main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(
        prog="evalkit history", description="Scores, latency and memory of one model over time."
    )
    parser.add_argument("--model", required=True, help="setting.model to select, e.g. tiny")
    parser.add_argument("--runs", type=Path, default=Path("reports/runs"))
    parser.add_argument("--baselines", type=Path, default=Path("reports/baselines"))
    parser.add_argument("--out", type=Path, default=None, help="output dir (default reports/history/<model>)")
    args = _parse(parser, argv)
    if isinstance(args, int):
        return args

    def body() -> int:
        from evalkit.reports.history import write_history

        if not args.runs.is_dir() and not args.baselines.is_dir():
            raise EvalkitError(f"neither {args.runs} nor {args.baselines} is a directory")
        out = args.out or Path("reports/history") / args.model
        md_path, png_path, _ = write_history(args.model, out, args.runs, args.baselines)
        print(md_path.read_text(encoding="utf-8"))
        print(f"written: {md_path}" + (f" {png_path}" if png_path else ""))
        return EXIT_OK

    return _guard("evalkit history", body)

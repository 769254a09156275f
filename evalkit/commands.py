"""The front door of `evalkit`: the subcommand table, top-level --help and --version, and the small subcommands
that are not reports (`suites`, `generate`). evalkit/cli.py dispatches; the Hydra job lives there."""

from __future__ import annotations

import sys
from collections import Counter
from pathlib import Path

import evalkit
from evalkit.errors import EXIT_OK, EXIT_USER_ERROR, Parser

# name -> one line for `evalkit --help` (the order is the order shown)
SUBCOMMANDS = {
    "run": "evaluate one setting, or a sweep with -m (the Hydra job; `evalkit run k=v` = `evalkit k=v`)",
    "generate": "answer one question about one or more images (what `python -m evalkit.generate` does)",
    "compare": "compare runs/baselines against the first one; exit 1 on a regression (`latest`, `baseline` work)",
    "baseline": "`baseline save RUN_DIR`: freeze a complete run as the baseline the gates read",
    "history": "scores, latency and memory of one model over its runs and baselines",
    "runs": "list run directories: status, samples answered, how to resume an unfinished one",
    "suites": "list the suites in datasets/ (samples, tasks, question types) and the hf:/tsv: benchmark forms",
    "make-checkpoint": "write a random-weight checkpoint in the published layout (no download needed)",
}

USAGE = "usage: evalkit [--help] [--version] <command> [args]   (or: evalkit key=value ...  for `run`)"

HELP_TAIL = """\
`evalkit key=value ...` (no command) is `evalkit run key=value ...`: it runs the Hydra app in conf/.
  evalkit runtime.dtype=bfloat16 suites=[ocr] limit=20        one setting
  evalkit -m runtime.attn=eager,sdpa                            a sweep, with a side-by-side report
  python -m evalkit resume=RUN_DIR                              continue an interrupted run
Hydra's own help (config groups, every key and its default): `evalkit run --hydra-help`, `evalkit run --help`,
or print the composed config with `evalkit run --cfg job`.
`evalkit COMMAND --help` says more about each command. Exit codes: 0 ok, 1 failed samples or a regression,
2 bad input (one line on stderr), 3 a setting this machine cannot run, 130/143 stopped by a signal."""


def top_help() -> str:
    width = max(len(name) for name in SUBCOMMANDS)
    lines = [USAGE, "", evalkit.__doc__.strip(), "", "commands:"]
    lines += [f"  {name:<{width}}  {line}" for name, line in SUBCOMMANDS.items()]
    return "\n".join([*lines, "", HELP_TAIL])


def version_line() -> str:
    """evalkit's version and the two libraries that decide what a run computes. Read from the installed
    distributions' metadata, so that `--version` does not import torch."""
    from importlib.metadata import PackageNotFoundError, version

    def of(dist: str) -> str:
        try:
            return version(dist)
        except PackageNotFoundError:
            return "not installed"

    return f"evalkit {evalkit.__version__} (torch {of('torch')}, transformers {of('transformers')})"


def unknown_command(name: str) -> int:
    print(f"evalkit: error: unknown command {name!r}; commands: {', '.join(SUBCOMMANDS)} (see evalkit --help)",
          file=sys.stderr)  # fmt: skip
    return EXIT_USER_ERROR


def looks_like_command(arg: str) -> bool:
    """A bare word that is neither a Hydra override (key=value, +key, ~key) nor an option: a mistyped command."""
    if arg.startswith("-"):  # -m, --multirun, --cfg, --hydra-help ...: Hydra's options
        return False
    return arg.replace("-", "").replace("_", "").isalnum() and not arg[:1].isdigit()


# --------------------------------------------------------------------------------------------- evalkit suites


def suites_main(argv: list[str]) -> int:
    # Imported when the command runs (as in generate_main): `evalkit --help` / `--version` stay instant.
    from evalkit.errors import EvalkitError, one_line
    from evalkit.suites import DATASETS_DIR, available_suites, load_suite

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


# ------------------------------------------------------------------------------------------- evalkit generate


def generate_main(argv: list[str]) -> int:
    from evalkit import generate  # loads torch

    return generate.main(argv, prog="evalkit generate")

"""The front door of `evalkit`: the one table of commands (name, one line of help, entry point), top-level --help and
--version, and the dispatch. Entry points are imported only when their command runs, so `evalkit --help` and
`evalkit --version` import neither torch nor Hydra."""

from __future__ import annotations

import importlib
import logging
import sys
from dataclasses import dataclass

import evalkit
from evalkit.errors import EXIT_OK, EXIT_USER_ERROR, EvalkitError, exit_code, one_line
from evalkit.run.interrupt import Interrupted


@dataclass(frozen=True)
class Command:
    summary: str  # the line `evalkit --help` shows
    entry: str  # "module:function"; the function takes the arguments after the name and returns an exit code

    def load(self):
        module, function = self.entry.split(":")
        return getattr(importlib.import_module(module), function)


# The order is the order `evalkit --help` shows.
COMMANDS: dict[str, Command] = {
    "run": Command(
        "evaluate one setting, or a sweep with -m (the Hydra job; `evalkit run k=v` = `evalkit k=v`)",
        "evalkit.cli.app:run_main",
    ),
    "generate": Command("answer one question about one or more images with a checkpoint", "evalkit.cli.generate:main"),
    "compare": Command(
        "compare runs/baselines against the first one; exit 1 on a regression (`latest`, `baseline` work)",
        "evalkit.cli.report_commands:compare_main",
    ),
    "baseline": Command(
        "`baseline save RUN_DIR`: freeze a complete run as the baseline the gates read",
        "evalkit.cli.report_commands:baseline_main",
    ),
    "history": Command(
        "scores, latency and memory of one model over its runs and baselines",
        "evalkit.cli.report_commands:history_main",
    ),
    "runs": Command(
        "list run directories: status, samples answered, how to resume an unfinished one",
        "evalkit.cli.listings:runs_main",
    ),
    "suites": Command(
        "list the suites in datasets/ (samples, tasks, question types) and the hf:/tsv: benchmark forms",
        "evalkit.cli.listings:suites_main",
    ),
    "make-checkpoint": Command(
        "write a random-weight checkpoint in the published layout (no download needed)",
        "evalkit.cli.generate:make_checkpoint_main",
    ),
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
    width = max(len(name) for name in COMMANDS)
    lines = [USAGE, "", evalkit.__doc__.strip(), "", "commands:"]
    lines += [f"  {name:<{width}}  {command.summary}" for name, command in COMMANDS.items()]
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
    print(f"evalkit: error: unknown command {name!r}; commands: {', '.join(COMMANDS)} (see evalkit --help)",
          file=sys.stderr)  # fmt: skip
    return EXIT_USER_ERROR


def looks_like_command(arg: str) -> bool:
    """A bare word that is neither a Hydra override (key=value, +key, ~key) nor an option: a mistyped command."""
    if arg.startswith("-"):  # -m, --multirun, --cfg, --hydra-help ...: Hydra's options
        return False
    return arg.replace("-", "").replace("_", "").isalnum() and not arg[:1].isdigit()


def _front_door(argv: list[str]) -> int | None:
    """`--help`, `--version` and a mistyped command, answered before Hydra sees the arguments; None otherwise."""
    if not argv:
        return None
    if argv[0] in ("-h", "--help"):
        print(top_help())
        return EXIT_OK
    if argv[0] in ("-V", "--version"):
        print(version_line())
        return EXIT_OK
    if argv[0] not in COMMANDS and looks_like_command(argv[0]):
        return unknown_command(argv[0])
    return None


class _StderrHandler(logging.StreamHandler):
    """Writes to whatever sys.stderr is when a record is emitted, not the stream of the first call (in-process
    callers such as pytest replace and close sys.stderr between calls)."""

    @property
    def stream(self):
        return sys.stderr

    @stream.setter
    def stream(self, _value) -> None:
        pass


def main(argv: list[str] | None = None) -> int:
    """`evalkit [COMMAND] ARGS`: the command's exit code. Without a command the arguments are a run's overrides."""
    argv = sys.argv[1:] if argv is None else list(argv)
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s", handlers=[_StderrHandler()])
    said = _front_door(argv)
    if said is not None:
        return said
    name = argv[0] if argv and argv[0] in COMMANDS else "run"
    args = argv[1:] if argv and argv[0] == name else argv
    try:
        return COMMANDS[name].load()(args)
    except (EvalkitError, OSError) as exc:
        print(f"evalkit: error: {one_line(exc)}", file=sys.stderr)
        return exit_code(exc)
    except KeyboardInterrupt as exc:  # a signal in a command other than `run` (which stops gracefully on its own)
        stop = Interrupted.of(exc)
        print(f"evalkit: stopped by {stop.signame}", file=sys.stderr, flush=True)
        return stop.exit_code

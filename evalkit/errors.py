"""Errors a user can cause, and the exit codes they map to. The CLIs print one line; anything else is a bug.

Exit codes of `python -m evalkit` and every `evalkit` subcommand (README "Exit codes"):
0 every requested setting ran and every sample was answered (or the comparison passed);
1 some samples failed, or a gate / comparison found a regression or refused incomplete evidence;
2 bad configuration, input, suite, checkpoint or output location, a failed write (the run is recorded as `failed`) or
  a run directory another process holds (one line on stderr, before any model is loaded whenever it can be known
  then);
3 a requested setting cannot run on this machine (no CUDA, no flash-attn, ...);
130 / 143 stopped by SIGINT / SIGTERM (the run is recorded as `interrupted`).
"""

from __future__ import annotations

import argparse
import sys

EXIT_OK = 0
EXIT_FAILED = 1
EXIT_USER_ERROR = 2
EXIT_UNSUPPORTED = 3
EXIT_SIGINT = 130
EXIT_SIGTERM = 143


class EvalkitError(Exception):
    """Base class: a problem with the user's input, config, suite or checkpoint."""

    exit_code = EXIT_USER_ERROR


class ConfigError(EvalkitError, ValueError):
    """A run or sweep configuration that cannot work (unknown key, wrong type, impossible setting)."""


class SuiteError(EvalkitError, ValueError):
    """A suite directory or manifest that does not validate; the message names file and line."""


class CheckpointError(EvalkitError):
    """A model directory or Hub snapshot that is missing files or tensors, or does not match its config."""


class InputError(EvalkitError, ValueError):
    """A prompt or image that the processor cannot use (unreadable image, tags not matching images...)."""


class OutputError(EvalkitError):
    """A file evalkit must write cannot be written (output_dir is a file or read-only, the disk is full...)."""


class UnsupportedSettingError(EvalkitError):
    """A dtype / attention / device combination that cannot run on this machine (exit 3; skipped with allow_skip)."""

    exit_code = EXIT_UNSUPPORTED


def one_line(message: object) -> str:
    """A message on one line: library errors (Hub downloads, Hydra) may span several."""
    return " ".join(str(message).split())


def exit_code(exc: BaseException) -> int:
    """The exit code a CLI returns for an error it caught."""
    if isinstance(exc, EvalkitError):
        return exc.exit_code
    if isinstance(exc, OSError):  # a file that cannot be read or written: the user's environment, not a bug
        return EXIT_USER_ERROR
    raise TypeError(f"no exit code for {type(exc).__name__}")  # pragma: no cover - callers pass only the above


class Parser(argparse.ArgumentParser):
    """argparse with evalkit's rule for bad input: one line on stderr and exit 2 (no usage block). Every subcommand
    parses its arguments with it."""

    def error(self, message: str) -> None:  # type: ignore[override]
        print(f"{self.prog}: error: {message} (see {self.prog} --help)", file=sys.stderr)
        raise SystemExit(EXIT_USER_ERROR)

"""Graceful stop on SIGINT / SIGTERM: the batch being answered is finished, then the run stops as `interrupted`.

The entry points install the handlers (`handle_signals`) before anything slow is imported (evalkit/__main__.py);
the runner calls `check()` between batches. While a run answers its batches (`answering_batches`) the first signal
is only noted (and said so on stderr); the next `check()` raises `Interrupted`, which the run writer records as
`interrupted` and the CLI turns into one line and exit code 130 / 143. A second signal stops at once: it raises
`Interrupted` wherever the main thread is (the writer still records the status). Outside the batches (start-up,
imports, model loading) there is nothing to finish: the first signal raises `Interrupted` at once, one line, the
same exit codes. Without the handlers (library use, pytest) nothing changes: Ctrl-C raises KeyboardInterrupt.
"""

from __future__ import annotations

import contextlib
import signal
import sys
import threading
import time
from collections.abc import Iterator

from evalkit.run import distributed

SIGNALS = (signal.SIGINT, signal.SIGTERM)


class Interrupted(KeyboardInterrupt):
    """The run was stopped by a signal; `run_dir` is set by the runner once the interrupted run is recorded."""

    def __init__(self, signum: int = signal.SIGINT):
        super().__init__(signal.Signals(signum).name)
        self.signum = int(signum)
        self.run_dir = None

    @property
    def signame(self) -> str:
        return signal.Signals(self.signum).name

    @property
    def exit_code(self) -> int:
        return 128 + self.signum  # the shell's convention: 130 for SIGINT, 143 for SIGTERM

    @classmethod
    def of(cls, exc: KeyboardInterrupt) -> Interrupted:
        """A plain KeyboardInterrupt (no handler installed) is a SIGINT."""
        return exc if isinstance(exc, Interrupted) else cls(signal.SIGINT)


class _State:
    pending: int | None = None  # the first signal received, not yet acted on
    received_at = 0.0  # time.monotonic() of the first signal
    answering = False  # a run is answering batches (`answering_batches`): the first signal lets the batch finish


# Under torchrun a Ctrl-C reaches every worker twice: from the terminal (the workers share its process group) and
# forwarded by torchrun's agent a moment later. The same signal again within this window is that copy, not a
# second Ctrl-C.
LAUNCHER_ECHO_S = 2.0


def _handler(signum: int, _frame) -> None:
    if _State.pending is None and not _State.answering:
        # Start-up (imports, config, model loading) or between runs: no batch to finish, so stop now; the CLI says
        # it in one line. Noted first, so that torchrun's forwarded copy of this signal is recognised as one.
        _State.pending, _State.received_at = signum, time.monotonic()
        raise Interrupted(signum)
    if _State.pending is None:
        _State.pending, _State.received_at = signum, time.monotonic()
        key = "Ctrl-C" if signum == signal.SIGINT else "the signal"
        if distributed.speaks():  # under torchrun only rank 0 speaks
            print(
                f"evalkit: {signal.Signals(signum).name} received: finishing the current batch "
                f"({key} again stops at once)",
                file=sys.stderr,
                flush=True,
            )
        return
    echo = signum == _State.pending and time.monotonic() - _State.received_at < LAUNCHER_ECHO_S
    if echo and distributed.under_launcher():
        return
    raise Interrupted(signum)


def pending() -> int | None:
    return _State.pending


def check() -> None:
    """Raise Interrupted if a signal arrived since the handlers were installed (call between batches)."""
    if _State.pending is not None:
        raise Interrupted(_State.pending)


@contextlib.contextmanager
def answering_batches() -> Iterator[None]:
    """Around a run's batches: a first signal is noted and the batch in progress finishes (`check()` stops after it).
    Outside, the handlers stop at once."""
    _State.answering = True
    try:
        yield
    finally:
        _State.answering = False


@contextlib.contextmanager
def handle_signals() -> Iterator[None]:
    """Install the graceful handlers for SIGINT and SIGTERM (main thread only) and restore the old ones after."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = {s: signal.getsignal(s) for s in SIGNALS}
    _State.pending = None
    for s in SIGNALS:
        signal.signal(s, _handler)
    try:
        yield
    finally:
        for s, handler in previous.items():
            signal.signal(s, handler)
        _State.pending = None

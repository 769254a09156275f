"""One process at a time owns a run directory: an exclusive lock held for a whole run or resume.

The lock is `flock(LOCK_EX | LOCK_NB)` on the run directory itself, so it leaves no lock file that could go stale:
the kernel releases it when the owner exits, however it ends (a SIGKILL included). While it holds the lock the
owner names itself in `<run dir>/.owner` ("pid host"), so that a process refused can say who holds it; the file is
informative only (the lock is the directory's) and removed on release. Without `fcntl` (Windows) nothing is locked.
"""

from __future__ import annotations

import contextlib
import os
import socket
from pathlib import Path

from evalkit.errors import OutputError
from evalkit.records.files import atomic_write_text

try:
    import fcntl
except ImportError:  # pragma: no cover - not on POSIX
    fcntl = None  # type: ignore[assignment]

OWNER_FILE = ".owner"


class RunDirLocked(OutputError):
    """Another process holds the run directory (exit 2); the message names its pid."""


class RunLock:
    """The held lock of one run directory; `release()` (or leaving the `with` block) gives it up. Pickled (sent to
    the other ranks of a torchrun job inside a resume point) it is only a name: the lock stays with its owner."""

    def __init__(self, run_dir: Path, fd: int | None):
        self.run_dir, self._fd = Path(run_dir), fd

    @property
    def held(self) -> bool:
        return self._fd is not None

    def release(self) -> None:
        if self._fd is None:
            return
        (self.run_dir / OWNER_FILE).unlink(missing_ok=True)
        fd, self._fd = self._fd, None
        os.close(fd)  # closing the descriptor releases the flock

    def __getstate__(self) -> dict:
        return {"run_dir": self.run_dir, "_fd": None}

    def __enter__(self) -> RunLock:
        return self

    def __exit__(self, *exc) -> None:
        self.release()


def holder(run_dir: Path) -> str:
    """Who holds the lock of `run_dir`, as its owner file says ("process 123 on host"), or "another process"."""
    try:
        pid, _, host = (Path(run_dir) / OWNER_FILE).read_text(encoding="utf-8").strip().partition(" ")
    except OSError:
        return "another process"
    if not pid.isdigit():
        return "another process"
    return f"process {pid}" + (f" on {host}" if host else "")


def lock_run_dir(run_dir: Path, what: str | None = None) -> RunLock:
    """Take `run_dir` for this process, or raise RunDirLocked naming the process that has it. `what` starts the
    message (default: the directory)."""
    run_dir = Path(run_dir)
    if fcntl is None:  # pragma: no cover
        return RunLock(run_dir, None)
    try:
        fd = os.open(run_dir, os.O_RDONLY)
    except OSError as exc:
        raise OutputError(f"{run_dir}: cannot open the run directory ({exc.strerror or exc})") from None
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:
        os.close(fd)
        raise RunDirLocked(
            f"{what or run_dir}: the run directory is in use by {holder(run_dir)}; one process at a time writes a"
            " run (wait for it to end, or stop it, then resume)"
        ) from None
    lock = RunLock(run_dir, fd)
    with contextlib.suppress(OSError):  # the name is a courtesy for whoever is refused; the lock itself is held
        atomic_write_text(run_dir / OWNER_FILE, f"{os.getpid()} {socket.gethostname()}\n")
    return lock

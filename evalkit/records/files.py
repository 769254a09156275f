"""Run directories on disk: atomic writes, the run directory's name, the one writer (`RunWriter`) and the readers.

samples.jsonl is appended and fsync'ed as each sample finishes, so a killed run keeps every finished sample; run.json
is rewritten atomically. The layout and every field are documented in docs/records.md."""

from __future__ import annotations

import contextlib
import errno
import json
import os
import tempfile
import warnings
from collections.abc import Iterable
from datetime import datetime, timezone
from pathlib import Path

from evalkit.config import file_slug
from evalkit.errors import EvalkitError, OutputError
from evalkit.records.facts import repeated_samples
from evalkit.records.schema import (
    RUN_FILE,
    SAMPLES_FILE,
    STATUSES,
    Prediction,
    RecordWarning,
    RunRecord,
    dumps,
    utc_now,
)
from evalkit.records.summaries import summarize, summarize_performance


def atomic_write_text(path: Path, text: str) -> None:
    """Write `text` so readers see either the old or the new file, never a partial one."""
    path = Path(path)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write(text)
            fh.flush()
            os.fsync(fh.fileno())
        os.chmod(tmp, _file_mode(path))  # mkstemp creates 0600; give the file normal permissions
        os.replace(tmp, path)
    except BaseException as exc:
        Path(tmp).unlink(missing_ok=True)
        if isinstance(exc, OSError) and exc.errno is not None and exc.filename in (None, tmp):
            exc.filename = str(path)  # a full disk names the file it could not write, not a temporary name
        raise
    _fsync_dir(path.parent)


def write_failure(exc: OSError) -> str:
    """'No space left on device (ENOSPC)': an OSError's reason, with the errno name a search finds."""
    name = errno.errorcode.get(exc.errno or 0)
    reason = exc.strerror or str(exc)
    return f"{reason} ({name})" if name else reason


# Disk space a RunWriter sets aside while it writes (see RunWriter._make_reserve): room for the final run.json.
RESERVE_BYTES = 1 << 20


def _file_mode(path: Path) -> int:
    try:
        return path.stat().st_mode & 0o777  # keep the mode of the file being replaced
    except FileNotFoundError:
        umask = os.umask(0)
        os.umask(umask)
        return 0o666 & ~umask


def _fsync_dir(directory: Path) -> None:
    # Makes the rename durable; not supported everywhere (e.g. Windows), where it is skipped.
    try:
        fd = os.open(directory, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def _safe_name(name: str) -> str:
    return file_slug(name, "run")


def make_run_dir(root: Path, name: str, now: datetime | None = None) -> Path:
    """Create and return root/<YYYY-MM-DD>/<HHMMSS>-<name>/ (suffix -2, -3... when taken)."""
    now = now or datetime.now(timezone.utc)
    if now.tzinfo is not None:
        now = now.astimezone(timezone.utc)
    day = Path(root) / now.strftime("%Y-%m-%d")
    day.mkdir(parents=True, exist_ok=True)
    base = f"{now.strftime('%H%M%S')}-{_safe_name(name)}"
    for i in range(1, 10_000):
        candidate = day / (base if i == 1 else f"{base}-{i}")
        try:
            candidate.mkdir()  # atomic claim: two runs started in the same second get different dirs
        except FileExistsError:
            continue
        return candidate
    raise EvalkitError(f"{day}: too many runs named {base!r}")


class RunWriter:
    """Writes one run directory (or one rank's shard files: `run_file`, `samples_file`); use as a context manager
    around the runner's loop. `existing`: predictions a resumed run keeps; samples.jsonl is rewritten atomically
    with exactly those (no torn last line, no duplicate) before anything is appended."""

    def __init__(
        self,
        run_dir: Path,
        record: RunRecord,
        *,
        existing: Iterable[Prediction] | None = None,
        run_file: str = RUN_FILE,
        samples_file: str = SAMPLES_FILE,
    ):
        self.run_dir = Path(run_dir)
        self.record = record
        self.predictions: list[Prediction] = list(existing or ())
        self._finished = False
        self._rewrite = False  # extend() added predictions that samples.jsonl does not hold yet
        self._run_path, self._samples_path = self.run_dir / run_file, self.run_dir / samples_file
        self._reserve = self.run_dir / f".{run_file}.reserve"
        self.run_dir.mkdir(parents=True, exist_ok=True)
        record.status = "running"
        record.run_id = record.run_id or self.run_dir.name
        self._write_record()
        if existing is not None:
            try:
                atomic_write_text(self._samples_path, "".join(dumps(p.to_dict()) + "\n" for p in self.predictions))
            except OSError as exc:
                raise OutputError(f"{self._samples_path}: cannot write: {write_failure(exc)}") from None
        self._samples = open(self._samples_path, "a", encoding="utf-8")  # noqa: SIM115 (closed in finish)
        self._make_reserve()

    def _make_reserve(self) -> None:
        """Set aside RESERVE_BYTES of disk: when the disk fills up during the run, giving them back lets the final
        run.json (`failed`, with the reason) be written. Best effort: a disk already full fails at the next write."""
        try:
            fd = os.open(self._reserve, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        except OSError:
            return
        try:
            os.posix_fallocate(fd, 0, RESERVE_BYTES)
        except (OSError, AttributeError):  # no room, or a platform without posix_fallocate
            self._reserve.unlink(missing_ok=True)
        finally:
            os.close(fd)

    def _write_record(self) -> None:
        try:
            atomic_write_text(self._run_path, dumps(self.record.to_dict(), indent=2) + "\n")
        except OSError as exc:
            raise OutputError(f"{self._run_path}: cannot write: {write_failure(exc)}") from None

    def extend(self, predictions: Iterable[Prediction]) -> None:
        """Predictions written elsewhere (the other ranks' shard files): finish() writes them into samples.jsonl."""
        self.predictions.extend(predictions)
        self._rewrite = True

    def add(self, prediction: Prediction) -> None:
        """Append one line and fsync it (a SIGKILL after this still leaves the sample on disk). A write that fails
        (disk full, permissions, a read-only filesystem) is cut off, so every line before it stays whole, and raises
        OutputError naming the file; leaving the `with` block then records the run as `failed` with that reason."""
        if self._finished:
            raise RuntimeError("RunWriter.add after finish")
        data = memoryview((dumps(prediction.to_dict()) + "\n").encode("utf-8"))
        fd = self._samples.fileno()  # written through, never buffered: nothing is left to write out later
        end = None
        try:
            end = os.lseek(fd, 0, os.SEEK_END)
            while data:
                data = data[os.write(fd, data) :]
            os.fsync(fd)
        except OSError as exc:
            if end is not None:
                with contextlib.suppress(OSError):
                    os.ftruncate(fd, end)  # no torn line: the file holds exactly the samples written before
            raise OutputError(
                f"{self._samples_path}: cannot write sample {prediction.suite}/{prediction.sample_id}:"
                f" {write_failure(exc)}; the {len(self.predictions)} sample(s) written before are kept"
                " (`evalkit runs --unfinished` says how to resume)"
            ) from None
        self.predictions.append(prediction)

    def finish(
        self, performance: dict, status: str = "complete", error: str | None = None, order: dict | None = None
    ) -> RunRecord:
        """Close samples.jsonl and write the final run.json. `order`: (suite, sample_id) -> position; predictions
        that were written in another order (length-bucketed batches) are put in that order, samples.jsonl included
        (rewritten atomically). If closing or rewriting fails (disk full), the run is recorded as `failed` and
        OutputError is raised after the status is written."""
        if status not in STATUSES:
            raise ValueError(f"unknown status {status!r}; expected one of {STATUSES}")
        close_error = self._close_samples()
        if close_error is None and (order or self._rewrite):
            close_error = self._reorder(order or {})
        if close_error is not None and status == "complete":
            status, error = "failed", f"OSError: {self._samples_path}: {close_error.strerror or close_error}"
        if status == "complete" and order is not None:
            incomplete = selection_problem(self.predictions, order)
            if incomplete:  # "complete" means every selected sample exactly once: never claim it otherwise
                status, error = "failed", incomplete
        self._record_final(performance, status, error)
        if close_error is not None:
            raise OutputError(f"{self._samples_path}: {close_error}")
        return self.record

    def _close_samples(self) -> OSError | None:
        if self._samples.closed:
            return None
        try:
            self._samples.close()
        except OSError as exc:
            return exc
        return None

    def _reorder(self, order: dict) -> OSError | None:
        ordered = sorted(self.predictions, key=lambda p: order.get((p.suite, p.sample_id), len(order)))
        if [id(p) for p in ordered] == [id(p) for p in self.predictions] and not self._rewrite:
            return None
        self.predictions = ordered
        try:
            atomic_write_text(self._samples_path, "".join(dumps(p.to_dict()) + "\n" for p in ordered))
        except OSError as exc:
            return exc
        return None

    def _record_final(self, performance: dict, status: str, error: str | None) -> None:
        self._reserve.unlink(missing_ok=True)  # its room is for this write, should the disk be full
        rec = self.record
        rec.status = status
        rec.error = error
        rec.finished_at = utc_now()
        rec.summary = summarize(self.predictions)
        rec.performance = performance
        rec.n_samples = len(self.predictions)
        rec.n_errors = sum(p.failed for p in self.predictions)
        if rec.attempts:  # this attempt ends with the run's status
            rec.attempts[-1].update(status=status, finished_at=rec.finished_at)
        self._finished = True
        self._write_record()

    def __enter__(self) -> RunWriter:
        return self

    def __exit__(self, exc_type, exc, tb) -> bool:
        if self._finished:
            return False
        # Performance of what was measured; load time and memory are unknown to the writer here.
        perf = summarize_performance(self.predictions, load_s=None, memory_mb=None)
        if exc_type is None:
            self.finish(perf)  # the runner forgot finish(): record what we have as complete
            return False
        self._close_samples()  # the exception in flight says what went wrong; a close error must not hide it
        try:
            if issubclass(exc_type, KeyboardInterrupt):
                # "KeyboardInterrupt", or the signal's name (SIGINT / SIGTERM) from evalkit.run.interrupt
                self._record_final(perf, "interrupted", str(exc) or exc_type.__name__)
            else:
                self._record_final(perf, "failed", f"{exc_type.__name__}: {exc}")
        except OutputError as record_exc:
            if issubclass(exc_type, KeyboardInterrupt):
                raise  # the stop is reported either way; its status could not be written
            # Both reasons in one line: why the run stopped, and that run.json could not say so (it is left
            # `running`, which `evalkit runs` shows as killed and resume=DIR continues).
            raise OutputError(f"{exc}; and the run could not be recorded as failed: {record_exc}") from exc
        return False  # never swallow the exception


def selection_problem(
    predictions: Iterable[Prediction], selected: Iterable[tuple[str, str]], limit: int = 5
) -> str | None:
    """Why `predictions` are not every selected (suite, sample_id) exactly once, naming the ids; None when they are."""
    predictions = list(predictions)
    wanted, seen = set(selected), {(p.suite, p.sample_id) for p in predictions}
    repeated = repeated_samples(predictions)

    def ids(keys) -> str:
        keys = list(keys)
        more = f" and {len(keys) - limit} more" if len(keys) > limit else ""
        return ", ".join(f"{suite}/{sample_id}" for suite, sample_id in keys[:limit]) + more

    parts = []
    if repeated:
        parts.append(f"recorded more than once: {ids(repeated)}")
    if wanted - seen:
        parts.append(f"selected but not recorded: {ids(sorted(wanted - seen))}")
    if seen - wanted:
        parts.append(f"recorded but not selected: {ids(sorted(seen - wanted))}")
    return "incomplete record: " + "; ".join(parts) if parts else None


def write_skipped_run(run_dir: Path, record: RunRecord, reason: str) -> RunRecord:
    """Record a setting that could not run here (e.g. flash-attn on CPU) with its reason."""
    run_dir = Path(run_dir)
    run_dir.mkdir(parents=True, exist_ok=True)
    record.run_id = record.run_id or run_dir.name
    record.status = "skipped"
    record.skip_reason = reason
    record.finished_at = record.finished_at or utc_now()
    atomic_write_text(run_dir / RUN_FILE, dumps(record.to_dict(), indent=2) + "\n")
    (run_dir / SAMPLES_FILE).touch()
    return record


def read_json_object(path: Path, missing: str = "not found") -> dict:
    """A JSON object from `path`; any problem is an EvalkitError naming the file (and line)."""
    path = Path(path)
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise EvalkitError(f"{path}: {missing}") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise EvalkitError(f"{path}: cannot read ({exc})") from None
    except json.JSONDecodeError as exc:
        raise EvalkitError(f"{path}:{exc.lineno}: not valid JSON ({exc.msg})") from None
    if not isinstance(data, dict):
        raise EvalkitError(f"{path}: expected a JSON object")
    return data


def read_record(path: Path) -> RunRecord:
    """Read one run.json (or a file with the same fields), raising EvalkitError naming the file."""
    data = read_json_object(path, "not found (is this a run directory?)")
    try:
        return RunRecord.from_dict(data, source=str(path))
    except TypeError as exc:
        raise EvalkitError(f"{path}: malformed run record ({exc})") from None


def read_predictions(path: Path) -> list[Prediction]:
    """Read samples.jsonl; a truncated last line (killed mid-write) is skipped with a RecordWarning."""
    path = Path(path)
    if not path.exists():
        return []
    lines = path.read_text(encoding="utf-8", errors="replace").split("\n")
    while lines and not lines[-1].strip():
        lines.pop()
    preds: list[Prediction] = []
    for i, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        try:
            data = json.loads(line)
        except json.JSONDecodeError as exc:
            if i == len(lines):  # a run killed while writing its last sample
                warnings.warn(f"{path}:{i}: skipping truncated last line ({exc})", RecordWarning, stacklevel=2)
                continue
            raise EvalkitError(f"{path}:{i}: invalid prediction line ({exc})") from None
        if not isinstance(data, dict):
            raise EvalkitError(f"{path}:{i}: invalid prediction line (expected a JSON object)")
        try:
            preds.append(Prediction.from_dict(data))
        except (EvalkitError, TypeError, ValueError) as exc:
            raise EvalkitError(f"{path}:{i}: {exc}") from None
    return preds


def load_run(run_dir: Path) -> tuple[RunRecord, list[Prediction]]:
    run_dir = Path(run_dir)
    if not run_dir.is_dir():
        raise EvalkitError(f"{run_dir}: not a run directory")
    return read_record(run_dir / RUN_FILE), read_predictions(run_dir / SAMPLES_FILE)


def find_runs(root: Path) -> list[Path]:
    """All run directories (holding a run.json) under `root`, sorted by path (i.e. by date)."""
    root = Path(root)
    if not root.is_dir():
        return []
    return sorted(p.parent for p in root.rglob(RUN_FILE))

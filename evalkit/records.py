"""Run records: the only writer (and the reference reader) of run directories.

A run directory holds `run.json` (one `RunRecord`, rewritten atomically) and `samples.jsonl` (one
`Prediction` per line, appended and fsync'ed as each sample finishes, so a killed run keeps every
finished sample). The layout and every field are documented in docs/records.md.

JSON written here is strict: NaN and infinities become `null` (so jq, browsers and other tools can read
it); readers map `null` back to NaN where a float is expected.
"""

from __future__ import annotations

import json
import math
import os
import re
import tempfile
import warnings
from collections.abc import Iterable
from dataclasses import asdict, dataclass, field, fields
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from evalkit.errors import EvalkitError, OutputError
from evalkit.metrics import yes_no_f1_estimate
from evalkit.record_types import check_prediction, check_record
from evalkit.stats import DEFAULT_SEED, Stats, bootstrap_mean_ci

SCHEMA_VERSION = 1
RUN_FILE = "run.json"
SAMPLES_FILE = "samples.jsonl"
STATUSES = ("running", "complete", "interrupted", "failed", "skipped")
PHASES = ("preprocess", "prefill", "decode", "end_to_end")


class RecordWarning(UserWarning):
    """A run directory was readable but damaged (e.g. a truncated last line of samples.jsonl)."""


def utc_now() -> str:
    """ISO-8601 UTC timestamp with seconds precision, e.g. 2025-01-31T12:00:00+00:00."""
    return datetime.now(timezone.utc).replace(microsecond=0).isoformat()


def json_safe(value: Any) -> Any:
    """Recursively replace NaN/inf floats by None so the JSON is standard."""
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, dict):
        return {str(k): json_safe(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [json_safe(v) for v in value]
    return value


def dumps(value: Any, *, indent: int | None = None) -> str:
    return json.dumps(json_safe(value), indent=indent, allow_nan=False, ensure_ascii=False)


def _float(value: Any) -> float:
    return math.nan if value is None else float(value)


@dataclass
class Prediction:
    """One sample's outcome: one line of samples.jsonl."""

    sample_id: str
    suite: str
    task: str
    tags: dict[str, str]
    images: list[str]  # absolute image paths at run time
    prompt: str
    answer: str | None  # None when the sample failed
    answer_token_ids: list[int]
    scores: dict[str, float]  # metric -> value; {} when failed
    timings_ms: dict[str, float]  # phase -> median over this sample's repeats, milliseconds
    tokens: dict[str, int]  # "prompt", "image", "generated"
    decode_tokens_per_s: float | None
    error: str | None = None  # "ExceptionType: message"
    # The sample's reference labels as scored (e.g. {"text": ..., "keywords": [...], "forbidden": [...]}),
    # copied by the runner so that reports can show the reference without reading the suite.
    labels: dict[str, Any] = field(default_factory=dict)
    # The generation budget this sample ran under, and whether the answer hit it before a stop token (the model
    # was cut off). Optional: records written before budgets existed have neither.
    max_new_tokens: int | None = None
    truncated: bool | None = None
    # How many samples were generated together with this one: the batch its timings belong to (None: not recorded,
    # e.g. a failed sample or an older record). It is smaller than the configured batch size for the last batch of a
    # suite and after a retry (`retry` says why).
    batch_size: int | None = None
    retry: str | None = None  # why this sample was generated again in another batch than the one it was given
    # The timed request (batch) that generated the answer, unique within the run: predictions sharing it share one
    # timing, and summaries count it once. None in records written before the field existed (one sample, one batch).
    batch_id: int | None = None
    # Timed repeats of the request gave this sample different tokens (a nondeterministic kernel); the first is kept.
    repeats_differ: bool = False

    @property
    def failed(self) -> bool:
        return self.error is not None or self.answer is None

    def to_dict(self) -> dict:
        return json_safe(asdict(self))

    @classmethod
    def from_dict(cls, d: dict) -> Prediction:
        check_prediction(d)  # RecordTypeError "field X: expected ..."; the reader adds file and line
        try:
            tps = d.get("decode_tokens_per_s")
            return cls(
                sample_id=str(d["sample_id"]),
                suite=str(d["suite"]),
                task=str(d["task"]),
                tags={str(k): str(v) for k, v in (d.get("tags") or {}).items()},
                images=[str(p) for p in d.get("images") or []],
                prompt=str(d.get("prompt", "")),
                answer=d.get("answer"),
                answer_token_ids=[int(t) for t in d.get("answer_token_ids") or []],
                scores={str(k): _float(v) for k, v in (d.get("scores") or {}).items()},
                timings_ms={str(k): _float(v) for k, v in (d.get("timings_ms") or {}).items()},
                tokens={str(k): int(v) for k, v in (d.get("tokens") or {}).items()},
                decode_tokens_per_s=None if tps is None else float(tps),
                error=d.get("error"),
                labels=dict(d.get("labels") or {}),
                max_new_tokens=None if d.get("max_new_tokens") is None else int(d["max_new_tokens"]),
                truncated=None if d.get("truncated") is None else bool(d["truncated"]),
                batch_size=None if d.get("batch_size") is None else int(d["batch_size"]),
                retry=d.get("retry"),
                batch_id=None if d.get("batch_id") is None else int(d["batch_id"]),
                repeats_differ=bool(d.get("repeats_differ", False)),
            )
        except KeyError as exc:
            raise EvalkitError(f"prediction is missing field {exc.args[0]!r}") from None


@dataclass
class RunRecord:
    """One run of one setting over its suites: run.json."""

    name: str  # e.g. "tiny-float32-eager"
    run_id: str  # the run directory name
    status: str  # one of STATUSES
    started_at: str  # ISO-8601 UTC
    finished_at: str | None
    setting: dict
    config: dict
    provenance: dict
    suites: dict[str, dict]  # name -> {"version", "content_hash", "task", "n_samples"}
    summary: dict = field(default_factory=dict)
    performance: dict = field(default_factory=dict)
    n_samples: int = 0
    n_errors: int = 0
    skip_reason: str | None = None
    error: str | None = None  # "ExceptionType: message" when status is "failed"
    # One entry per process (group) that worked on the run: the first start, then each resume (evalkit/resume.py).
    attempts: list[dict] = field(default_factory=list)
    schema_version: int = SCHEMA_VERSION

    def to_dict(self) -> dict:
        return json_safe(asdict(self))

    @classmethod
    def from_dict(cls, d: dict, *, source: str = "run record") -> RunRecord:
        version = d.get("schema_version")
        if not isinstance(version, int):
            raise EvalkitError(f"{source}: missing or invalid schema_version {version!r}")
        if version > SCHEMA_VERSION:
            raise EvalkitError(
                f"{source}: schema_version {version} is newer than this evalkit understands "
                f"({SCHEMA_VERSION}); upgrade evalkit to read it"
            )
        known = {f.name for f in fields(cls)}
        missing = [n for n in ("name", "run_id", "status", "started_at", "setting") if n not in d]
        if missing:
            raise EvalkitError(f"{source}: missing field {missing[0]!r}")
        try:
            check_record(d)
        except EvalkitError as exc:
            raise EvalkitError(f"{source}: {exc}") from None
        if d["status"] not in STATUSES:
            raise EvalkitError(f"{source}: field status: expected one of {', '.join(STATUSES)}, got {d['status']!r}")
        kwargs = {k: v for k, v in d.items() if k in known}  # unknown keys: ignored (forward compatible)
        kwargs.setdefault("finished_at", None)
        for name in ("config", "provenance", "suites"):
            kwargs.setdefault(name, {})
        return cls(**kwargs)


# ----------------------------------------------------------------------------------------------- files


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
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    _fsync_dir(path.parent)


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
    cleaned = re.sub(r"[^A-Za-z0-9._-]+", "-", name).strip("-.")
    return cleaned or "run"


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


# --------------------------------------------------------------------------------------------- summary


def _estimates(values_by_metric: dict[str, list[float]]) -> dict[str, dict]:
    return {
        metric: bootstrap_mean_ci(values, seed=DEFAULT_SEED).to_dict()
        for metric, values in sorted(values_by_metric.items())
    }


def _yes_no_estimates(preds: list[Prediction]) -> dict[str, dict]:
    """Corpus-level yes/no metrics (F1 is not a mean of per-sample values) over the yes/no samples in `preds`."""
    rows = [p for p in preds if p.labels.get("type") == "yes_no" and p.labels.get("answers")]
    if not rows:
        return {}
    golds = [p.labels["answers"][0] == "yes" for p in rows]
    said = [None if "yes_ratio" not in p.scores else p.scores["yes_ratio"] == 1.0 for p in rows]
    return {"yes_no_f1": yes_no_f1_estimate(golds, said, seed=DEFAULT_SEED).to_dict()}


def summarize(predictions: Iterable[Prediction]) -> dict:
    """Per suite: n, n_errors, n_truncated, per-metric Estimate and per-tag (key=value) Estimates (failed samples
    excluded); yes/no suites and tags also get `yes_no_f1`."""
    grouped: dict[str, list[Prediction]] = {}
    for p in predictions:
        grouped.setdefault(p.suite, []).append(p)
    summary: dict[str, dict] = {}
    for suite, preds in grouped.items():
        ok = [p for p in preds if not p.failed]
        metrics: dict[str, list[float]] = {}
        by_tag: dict[str, dict[str, list[float]]] = {}
        tag_preds: dict[str, list[Prediction]] = {}
        for p in ok:
            for key, tag_value in p.tags.items():
                tag_preds.setdefault(f"{key}={tag_value}", []).append(p)
            for metric, value in p.scores.items():
                metrics.setdefault(metric, []).append(value)
                for key, tag_value in p.tags.items():
                    by_tag.setdefault(f"{key}={tag_value}", {}).setdefault(metric, []).append(value)
        summary[suite] = {
            "n": len(preds),
            "n_errors": len(preds) - len(ok),
            "n_truncated": sum(p.truncated is True for p in ok),
            "metrics": {**_estimates(metrics), **_yes_no_estimates(ok)},
            "by_tag": {
                tag: {**_estimates(vals), **_yes_no_estimates(tag_preds[tag])} for tag, vals in sorted(by_tag.items())
            },
        }
    return summary


def summarize_performance(
    predictions: Iterable[Prediction],
    *,
    load_s: float | None,
    memory_mb: dict | None,
    extra: dict | None = None,
) -> dict:
    """The `performance` field over the successful samples: Stats (ms) per phase and decode tokens/s over the timed
    batches (a batch is one measurement, however many samples it answered: n counts batches), tokens per sample."""
    ok = [p for p in predictions if not p.failed]
    batches = list(
        {("batch", p.batch_id) if p.batch_id is not None else ("sample", i): p for i, p in enumerate(ok)}.values()
    )
    present = {k for p in ok for k in p.timings_ms}
    phases = [ph for ph in PHASES if ph in present] + sorted(present - set(PHASES))
    perf: dict[str, Any] = {
        "load_s": load_s,
        "n_batches": len(batches),
        "latency_ms": {
            ph: Stats.from_values([p.timings_ms[ph] for p in batches if ph in p.timings_ms], "ms").to_dict()
            for ph in phases
        },
        "decode_tokens_per_s": Stats.from_values(
            [p.decode_tokens_per_s for p in batches if p.decode_tokens_per_s is not None], "tokens/s"
        ).to_dict(),
        "tokens": {
            kind: Stats.from_values([p.tokens[kind] for p in ok if kind in p.tokens], "tokens").to_dict()
            for kind in sorted({k for p in ok for k in p.tokens})
        },
        "memory_mb": dict(memory_mb or {}),
    }
    differ = [f"{p.suite}/{p.sample_id}" for p in ok if p.repeats_differ]
    if differ:
        perf["repeats_differ"] = {"n": len(differ), "samples": differ[:20]}
    perf.update(extra or {})
    return perf


# ---------------------------------------------------------------------------------------------- writer


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
        self.run_dir.mkdir(parents=True, exist_ok=True)
        record.status = "running"
        record.run_id = record.run_id or self.run_dir.name
        self._write_record()
        if existing is not None:
            atomic_write_text(self._samples_path, "".join(dumps(p.to_dict()) + "\n" for p in self.predictions))
        self._samples = open(self._samples_path, "a", encoding="utf-8")  # noqa: SIM115 (closed in finish)

    def _write_record(self) -> None:
        atomic_write_text(self._run_path, dumps(self.record.to_dict(), indent=2) + "\n")

    def extend(self, predictions: Iterable[Prediction]) -> None:
        """Predictions written elsewhere (the other ranks' shard files): finish() writes them into samples.jsonl."""
        self.predictions.extend(predictions)
        self._rewrite = True

    def add(self, prediction: Prediction) -> None:
        if self._finished:
            raise RuntimeError("RunWriter.add after finish")
        self._samples.write(dumps(prediction.to_dict()) + "\n")
        self._samples.flush()
        os.fsync(self._samples.fileno())  # a SIGKILL after this line still leaves the sample on disk
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
            status, error = "failed", f"OSError: {close_error}"
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
        if issubclass(exc_type, KeyboardInterrupt):
            # "KeyboardInterrupt", or the signal's name (SIGINT / SIGTERM) from evalkit.interrupt
            self._record_final(perf, "interrupted", str(exc) or exc_type.__name__)
        else:
            self._record_final(perf, "failed", f"{exc_type.__name__}: {exc}")
        return False  # never swallow the exception


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


# ---------------------------------------------------------------------------------------------- reader


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

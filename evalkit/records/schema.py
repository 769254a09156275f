"""The run record's types: `Prediction` (one line of samples.jsonl) and `RunRecord` (run.json), their JSON form and
the schema version. Every field is documented in docs/records.md; evalkit/records/files.py writes and reads them.

JSON written here is strict: NaN and infinities become `null` (so jq, browsers and other tools can read
it); readers map `null` back to NaN where a float is expected.
"""

from __future__ import annotations

import json
import math
from dataclasses import asdict, dataclass, field, fields
from datetime import datetime, timezone
from typing import Any

from evalkit.errors import EvalkitError
from evalkit.records.validation import check_prediction, check_record

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
    # One entry per process (group) that worked on the run: the first start, then each resume (evalkit/run/resume.py).
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

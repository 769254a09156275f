"""Baselines: a frozen, self-contained copy of a finished run's results, kept in git.

A baseline file is run.json's fields plus `kind`, `baseline_name`, `created_at`, `source_run` and a
`samples` list (scores, answer text, its sha256 and the first token ids of each sample). It does not
keep images or per-sample timings, so it stays small enough to commit (see docs/records.md).
"""

from __future__ import annotations

import hashlib
import re
from pathlib import Path

from evalkit.errors import EvalkitError
from evalkit.records import (
    RUN_FILE,
    SCHEMA_VERSION,
    Prediction,
    RunRecord,
    atomic_write_text,
    dumps,
    load_run,
    read_json_object,
    utc_now,
)
from evalkit.reports.common import RunView

BASELINE_KIND = "evalkit-baseline"
DEFAULT_BASELINE_ROOT = Path("reports/baselines")
FIRST_TOKENS = 32  # enough to see where two generations diverge, small enough to commit


def answer_sha256(answer: str | None) -> str | None:
    return None if answer is None else hashlib.sha256(answer.encode("utf-8")).hexdigest()


def _file_name(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9._-]+", "-", str(text)).strip("-.") or "baseline"


def _sample_row(p: Prediction) -> dict:
    return {
        "sample_id": p.sample_id,
        "suite": p.suite,
        "task": p.task,
        "tags": p.tags,
        "prompt": p.prompt,
        "labels": p.labels,
        "answer": p.answer,
        "answer_sha256": answer_sha256(p.answer),
        "answer_first_token_ids": p.answer_token_ids[:FIRST_TOKENS],
        "n_answer_tokens": len(p.answer_token_ids),
        "scores": p.scores,
        "error": p.error,
        "max_new_tokens": p.max_new_tokens,
        "truncated": p.truncated,
    }


def baseline_path(record: RunRecord, root: Path | None = None, name: str | None = None) -> Path:
    model = record.setting.get("model")
    if not model:
        raise EvalkitError(f"run {record.run_id}: setting has no 'model'; cannot place the baseline")
    stem = name or record.setting.get("revision") or record.name
    return Path(root or DEFAULT_BASELINE_ROOT) / _file_name(model) / f"{_file_name(stem)}.json"


def save_baseline(run_dir: Path, out: Path | None = None, name: str | None = None) -> Path:
    """Write <out>/<model>/<name or revision>.json from a complete run; `out` ending in .json is the exact file.

    `out` defaults to reports/baselines. Returns the written path.
    """
    record, preds = load_run(Path(run_dir))
    if record.status != "complete":
        raise EvalkitError(f"{run_dir}: run status is {record.status!r}; only a complete run can be a baseline")
    exact = out is not None and Path(out).suffix == ".json"
    path = Path(out) if exact else baseline_path(record, out, name)
    data = record.to_dict()
    data.update(
        kind=BASELINE_KIND,
        baseline_name=name or path.stem,
        created_at=utc_now(),
        source_run=str(Path(run_dir).resolve()),
        samples=[_sample_row(p) for p in preds],
    )
    path.parent.mkdir(parents=True, exist_ok=True)
    atomic_write_text(path, dumps(data, indent=1) + "\n")
    return path


def load_baseline(path: Path) -> RunView:
    path = Path(path)
    data = read_json_object(path, "baseline not found")
    if data.get("kind") != BASELINE_KIND:
        raise EvalkitError(f"{path}: not an evalkit baseline (kind != {BASELINE_KIND!r})")
    if int(data.get("schema_version", 0)) > SCHEMA_VERSION:
        raise EvalkitError(
            f"{path}: schema_version {data['schema_version']} is newer than this evalkit understands ({SCHEMA_VERSION})"
        )
    record = RunRecord.from_dict(data, source=str(path))
    samples = []
    for i, row in enumerate(data.get("samples") or []):
        try:
            samples.append(
                Prediction.from_dict(
                    {
                        **row,
                        "images": [],
                        "answer_token_ids": row.get("answer_first_token_ids") or [],
                        "timings_ms": {},
                        "tokens": {"generated": row.get("n_answer_tokens", 0)},
                        "decode_tokens_per_s": None,
                    }
                )
            )
        except EvalkitError as exc:
            raise EvalkitError(f"{path}: samples[{i}]: {exc}") from None
    return RunView(path=path, kind="baseline", record=record, samples=samples)


def load_run_or_baseline(path: Path) -> RunView:
    """A run directory (or its run.json) or a baseline file, as one RunView."""
    path = Path(path)
    if path.is_dir():
        record, preds = load_run(path)
        return RunView(path=path, kind="run", record=record, samples=preds)
    if path.name == RUN_FILE:
        return load_run_or_baseline(path.parent)
    if path.is_file():
        return load_baseline(path)
    raise EvalkitError(f"{path}: no such run directory or baseline file")

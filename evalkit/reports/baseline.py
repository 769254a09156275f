"""Baselines: a frozen, self-contained copy of a finished run's results, kept in git.

A baseline file is run.json's fields plus `kind`, `baseline_name`, `created_at`, `source_run` and a
`samples` list (scores, answer text, its sha256 and the first token ids of each sample). It does not
keep images or per-sample timings, so it stays small enough to commit (see docs/records.md).
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path

from evalkit.config import file_slug
from evalkit.errors import EvalkitError, OutputError
from evalkit.gates import setting_diff
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
from evalkit.records.validation import check_baseline_sample
from evalkit.reports.common import RunView

BASELINE_KIND = "evalkit-baseline"
DEFAULT_BASELINE_ROOT = Path("reports/baselines")  # relative to the working directory, like reports/runs
DEFAULT_BASELINE_NAME = "default"  # the file of a model without a pinned revision
FIRST_TOKENS = 32  # enough to see where two generations diverge, small enough to commit


def answer_sha256(answer: str | None) -> str | None:
    return None if answer is None else hashlib.sha256(answer.encode("utf-8")).hexdigest()


def _file_name(text: str) -> str:
    return file_slug(text, "baseline")


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


def baseline_path(
    model: str, revision: str | None = None, *, name: str | None = None, root: Path | None = None
) -> Path:
    """Where the baseline of `model` (at `revision`) lives: <root>/<model>/<name or revision or 'default'>.json.

    The only definition: `pytest benchmarks/` reads this file by default and `evalkit baseline save` writes it.
    """
    if not model:
        raise EvalkitError("a baseline needs a model name (setting.model is empty)")
    stem = name or revision or DEFAULT_BASELINE_NAME
    return Path(DEFAULT_BASELINE_ROOT if root is None else root) / _file_name(model) / f"{_file_name(stem)}.json"


@dataclass(frozen=True)
class SavedBaseline:
    path: Path
    replaced: str | None  # what the file held before ("baseline of run X, created Y"), None when it is new


def _describe_existing(path: Path) -> str | None:
    if not path.exists():
        return None
    try:
        data = read_json_object(path)
    except EvalkitError:
        return f"{path} (an unreadable file)"
    source = Path(str(data.get("source_run") or data.get("run_id") or "?")).name
    return f"{path} (baseline of run {source}, created {data.get('created_at', '?')})"


def _what_changes(path: Path, new: RunView) -> str:
    """What replacing the baseline at `path` with `new` changes: its source run, the setting, the sample counts and
    each suite's primary mean (one line)."""
    try:
        old = load_baseline(path)
    except EvalkitError:
        return f"{path} holds an unreadable file"
    parts = [f"run {Path(str(old.record.run_id or '?')).name} -> {new.record.run_id or new.path.name}"]
    parts += [f"{k} {a} -> {b}" for k, (a, b) in setting_diff(old.setting, new.setting).items()]
    if len(old.samples) != len(new.samples):
        parts.append(f"samples {len(old.samples)} -> {len(new.samples)}")
    for suite in sorted(set(old.record.suites) | set(new.record.suites)):
        a, b = old.primary_estimate(suite), new.primary_estimate(suite)
        if a is None or b is None:
            parts.append(f"suite {suite} {'added' if a is None else 'removed'}")
        elif abs(a.mean - b.mean) > 1e-12:
            parts.append(f"{suite} {old.primary(suite)} {a.mean:.3f} -> {b.mean:.3f}")
    return ", ".join(parts)


def save_baseline(
    run_dir: Path,
    out: Path | None = None,
    name: str | None = None,
    *,
    force: bool = False,
    force_option: str = "--force",
    replace: bool = False,
    replace_option: str = "--replace",
) -> SavedBaseline:
    """Write <out>/<model>/<name or revision or 'default'>.json from a complete run (`baseline_path`); `out`
    ending in .json is the exact file. `out` defaults to reports/baselines.

    Refused (EvalkitError, one line): a run that is not complete, has no samples or is missing samples; unless
    `force`, a run limited to part of its suites (`limit`) or with failed samples, which would make a weak or
    misleading reference; unless `replace`, a file that exists (the message says what replacing it changes).
    """
    view = load_run_or_baseline(Path(run_dir))
    if view.kind != "run":
        raise EvalkitError(f"{run_dir}: a baseline is made from a run directory, not from a baseline file")
    record, preds = view.record, view.samples
    if record.status != "complete":
        raise EvalkitError(f"{run_dir}: run status is {record.status!r}; only a complete run can be a baseline")
    problems = view.evidence_problems()
    if problems:
        raise EvalkitError(f"{run_dir}: cannot be a baseline: {problems[0][1]}")
    if not force:
        limit = view.limit
        if view.is_limited:
            raise EvalkitError(
                f"{run_dir}: the run was limited to {limit} samples per suite (limit={limit}); a baseline should "
                f"cover whole suites ({force_option} saves it anyway)"
            )
        if record.n_errors:
            raise EvalkitError(
                f"{run_dir}: {record.n_errors} of {record.n_samples} samples failed; a baseline should not hold "
                f"failures ({force_option} saves it anyway)"
            )
    exact = out is not None and Path(out).suffix == ".json"
    model = record.setting.get("model")
    path = Path(out) if exact else baseline_path(model, record.setting.get("revision"), name=name, root=out)
    replaced = _describe_existing(path)
    if replaced is not None and not replace:
        # A committed baseline is what every gate judges against: replacing it is said out loud, never silent.
        raise EvalkitError(
            f"{replaced} exists; replacing it changes: {_what_changes(path, view)}; add {replace_option} to replace it"
        )
    data = record.to_dict()
    data.update(
        kind=BASELINE_KIND,
        baseline_name=name or path.stem,
        created_at=utc_now(),
        source_run=str(Path(run_dir).resolve()),
        samples=[_sample_row(p) for p in preds],
    )
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        atomic_write_text(path, dumps(data, indent=1) + "\n")
    except OSError as exc:
        raise OutputError(f"{path}: cannot write the baseline ({exc.strerror or exc})") from None
    return SavedBaseline(path, replaced)


def load_baseline(path: Path) -> RunView:
    path = Path(path)
    data = read_json_object(path, "baseline not found")
    if data.get("kind") != BASELINE_KIND:
        raise EvalkitError(f"{path}: not an evalkit baseline (kind != {BASELINE_KIND!r})")
    version = data.get("schema_version")
    if isinstance(version, int) and not isinstance(version, bool) and version > SCHEMA_VERSION:
        raise EvalkitError(
            f"{path}: schema_version {data['schema_version']} is newer than this evalkit understands ({SCHEMA_VERSION})"
        )
    try:
        record = RunRecord.from_dict(data, source=str(path))
    except TypeError as exc:
        raise EvalkitError(f"{path}: malformed baseline ({exc})") from None
    rows = data.get("samples")
    if not isinstance(rows, list):
        raise EvalkitError(f"{path}: field samples: expected a list, got {type(rows).__name__}")
    samples = []
    for i, row in enumerate(rows):
        try:
            check_baseline_sample(row, i)
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
            raise EvalkitError(f"{path}: {exc}") from None
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

"""The types the fields of run.json, samples.jsonl lines and baseline files must have, checked when they are read.

A hand-edited or damaged record (a string where a mapping belongs) would otherwise crash compare, history or the
benchmark gates deep inside with a traceback. Every reader goes through `check_record` / `check_prediction` /
`check_baseline_sample`, which raise `RecordTypeError("field X: expected ..., got ...")`; the readers prefix the
file (and line). Only the fields listed here are checked: unknown and new optional fields pass (forward compatible).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from evalkit.errors import EvalkitError


class RecordTypeError(EvalkitError):
    """A record field of the wrong type; the message is `field X: expected ..., got ...`."""


class MapOf:
    """A mapping whose every value has the spec `value`."""

    def __init__(self, value: Any):
        self.value = value


class ListOf:
    def __init__(self, item: Any):
        self.item = item


class Nullable:
    def __init__(self, spec: Any):
        self.spec = spec


STR, INT, NUM, BOOL = "a string", "an integer", "a number", "true or false"

_NAMES = {STR: str, INT: int, NUM: (int, float), BOOL: bool}

ESTIMATE = {"mean": Nullable(NUM), "low": Nullable(NUM), "high": Nullable(NUM), "n": INT}
STATS = {
    "unit": STR,
    "n": INT,
    **{k: Nullable(NUM) for k in ("median", "mean", "p10", "p90", "p99", "min", "max", "stdev")},
}
SETTING = {
    "model": Nullable(STR),
    "revision": Nullable(STR),
    "dtype": STR,
    "attn": STR,
    "device": STR,
    "batch_size": Nullable(INT),
    "max_new_tokens": Nullable(INT),
    "num_crops": Nullable(INT),
}
RECORD = {
    "schema_version": INT,
    "name": STR,
    "run_id": STR,
    "status": STR,
    "started_at": STR,
    "finished_at": Nullable(STR),
    "setting": SETTING,
    "config": {"limit": Nullable(INT)},
    "provenance": {"model": Nullable({}), "weights": Nullable({"sha256": Nullable(STR)}), "environment": Nullable({})},
    "suites": MapOf(
        {"version": Nullable(STR), "content_hash": Nullable(STR), "task": Nullable(STR), "n_samples": Nullable(INT)}
    ),
    "summary": MapOf({"n": INT, "n_errors": INT, "metrics": MapOf(ESTIMATE), "by_tag": MapOf(MapOf(ESTIMATE))}),
    "performance": {
        "load_s": Nullable(NUM),
        "latency_ms": MapOf(STATS),
        "decode_tokens_per_s": STATS,
        "tokens": MapOf(STATS),
        "memory_mb": MapOf(Nullable(NUM)),
    },
    "n_samples": INT,
    "n_errors": INT,
    "skip_reason": Nullable(STR),
    "error": Nullable(STR),
}
_SAMPLE_COMMON = {
    "sample_id": STR,
    "suite": STR,
    "task": STR,
    "tags": MapOf(STR),
    "prompt": STR,
    "answer": Nullable(STR),
    "scores": MapOf(Nullable(NUM)),
    "error": Nullable(STR),
    "labels": {},
}
PREDICTION = {
    **_SAMPLE_COMMON,
    "images": ListOf(STR),
    "answer_token_ids": ListOf(INT),
    "timings_ms": MapOf(Nullable(NUM)),
    "tokens": MapOf(INT),
    "decode_tokens_per_s": Nullable(NUM),
    "max_new_tokens": Nullable(INT),
    "truncated": Nullable(BOOL),
    "batch_size": Nullable(INT),
    "retry": Nullable(STR),
}
BASELINE_SAMPLE = {
    **_SAMPLE_COMMON,
    "answer_sha256": Nullable(STR),
    "answer_first_token_ids": ListOf(INT),
    "n_answer_tokens": INT,
}


def _type_name(value: Any) -> str:
    if value is None:
        return "null"
    return {dict: "a mapping", list: "a list", str: "a string", bool: "a boolean"}.get(
        type(value), type(value).__name__
    )


def _got(value: Any) -> str:
    """'a string 'oops'', 'a list', 'null': what was found, with the value when it is short and scalar."""
    if isinstance(value, (dict, list)) or value is None:
        return _type_name(value)
    text = repr(value)
    return f"{_type_name(value)} {text if len(text) <= 40 else text[:39] + '…'}"


def _matches(value: Any, name: str) -> bool:
    if isinstance(value, bool) and name != BOOL:  # JSON true is not the integer 1
        return False
    return isinstance(value, _NAMES[name])


def _describe(spec: Any) -> str:
    if isinstance(spec, Nullable):
        return f"{_describe(spec.spec)} or null"
    if isinstance(spec, (dict, MapOf)):
        return "a mapping"
    if isinstance(spec, ListOf):
        return "a list"
    return spec


def check(value: Any, spec: Any, field: str) -> None:
    """Raise RecordTypeError naming the first field of `value` that does not have the type `spec` says."""
    if isinstance(spec, Nullable):
        if value is None:
            return
        if isinstance(spec.spec, str) and not _matches(value, spec.spec):
            raise RecordTypeError(f"field {field}: expected {_describe(spec)}, got {_got(value)}")
        check(value, spec.spec, field)
        return
    if isinstance(spec, (dict, MapOf)):
        if not isinstance(value, Mapping):
            raise RecordTypeError(f"field {field}: expected {_describe(spec)}, got {_got(value)}")
        items = (
            ((k, spec.value) for k in value)
            if isinstance(spec, MapOf)
            else ((k, sub) for k, sub in spec.items() if k in value)
        )
        for key, sub in items:
            check(value[key], sub, f"{field}.{key}" if field else str(key))
        return
    if isinstance(spec, ListOf):
        if not isinstance(value, list):
            raise RecordTypeError(f"field {field}: expected a list, got {_got(value)}")
        for i, item in enumerate(value):
            check(item, spec.item, f"{field}[{i}]")
        return
    if not _matches(value, spec):
        raise RecordTypeError(f"field {field}: expected {spec}, got {_got(value)}")


def check_record(data: Any) -> None:
    check(data, RECORD, "")


def check_prediction(data: Any) -> None:
    check(data, PREDICTION, "")


def check_baseline_sample(data: Any, index: int) -> None:
    if not isinstance(data, Mapping):
        raise RecordTypeError(f"field samples[{index}]: expected a mapping, got {_got(data)}")
    try:
        check(data, BASELINE_SAMPLE, "")
    except RecordTypeError as exc:
        raise RecordTypeError(str(exc).replace("field ", f"field samples[{index}].", 1)) from None

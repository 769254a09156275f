"""Standard benchmarks as evalkit suites: `hf:PATH_OR_NAME:SPLIT` (Hugging Face `datasets`) and `tsv:FILE`
(VLMEvalKit's TSV with base64 images). `evalkit.data.benchmark_files` reads the rows (the spec syntax is described there),
`evalkit.data.benchmark_schemas` maps each row onto a question of a `vqa` suite, and this module validates, stores and hashes.

Every image is validated as suite images are (decodable, at most MAX_IMAGE_PIXELS pixels, EXIF orientation
warned about) and written once, content-addressed, under EVALKIT_IMAGE_CACHE (default ~/.cache/evalkit/images),
so the timed request reads an image file exactly as for a suite directory. The suite's content hash is sha256 over
the schema and adapter version, then every row in order: its columns (images left out) as canonical JSON and the
sha256 of each of its images, so a changed row, answer or image changes it; where the files lie does not.
"""

from __future__ import annotations

import hashlib
import io
import json
import logging
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from PIL import Image, UnidentifiedImageError

from evalkit.config import file_slug
from evalkit.data.benchmark_files import ExternalSpec, Source, hf_source, parse_spec, tsv_source
from evalkit.data.benchmark_schemas import ADAPTER_VERSION, RowFields, Schema, SchemaError, detect_schema, row_fields
from evalkit.data.images import check_image
from evalkit.data.samples import Sample, Suite, prompt_text_problem
from evalkit.errors import InputError, OutputError, SuiteError, one_line

log = logging.getLogger(__name__)

ID_COLUMNS = ("questionId", "question_id", "id", "index")  # the first whose values are all present and unique
_EXTENSIONS = {"JPEG": "jpg", "TIFF": "tif", "MPO": "jpg"}
_TEXT_DTYPES = ("string", "large_string")  # `datasets` Value dtypes a question column may have


def image_cache_dir() -> Path:
    """Where dataset images are written (content-addressed, shared by every run): EVALKIT_IMAGE_CACHE."""
    return Path(os.environ.get("EVALKIT_IMAGE_CACHE") or "~/.cache/evalkit/images").expanduser()


# Loaded suites, per process: preflight and the run (and every setting of a sweep) resolve the same specs, and a
# benchmark of thousands of images is validated once. The key holds the source files' sizes and mtimes.
_LOADED: dict[tuple, Suite] = {}


def load_external(text: str) -> Suite:
    """Load and validate the benchmark of an `hf:` or `tsv:` spec as a vqa suite (SuiteError on any problem)."""
    spec = parse_spec(text)
    source = hf_source(spec) if spec.kind == "hf" else tsv_source(spec)
    key = (spec.text, str(image_cache_dir()), source.key)
    cached = _LOADED.get(key)
    if cached is not None and all(p.is_file() for s in cached.samples for p in s.images):
        return cached
    suite = _build(spec, source)
    _LOADED[key] = suite
    return suite


# ------------------------------------------------------------------------------------------------ images


class _ImageStore:
    """Validates each distinct image once and writes it, content-addressed, under the image cache."""

    def __init__(self, root: Path, where: str) -> None:
        self.root, self.where = root, where
        self.known: dict[str, Path] = {}
        self.rotated = 0

    def add(self, data: bytes, row: str) -> tuple[Path, str]:
        sha = hashlib.sha256(data).hexdigest()
        if sha in self.known:
            return self.known[sha], sha
        name = f"{self.where}: {row}: image"
        try:
            orientation = check_image(data, name)
            with Image.open(io.BytesIO(data)) as im:
                fmt = im.format or "bin"
        except InputError as exc:
            raise SuiteError(str(exc)) from None
        except UnidentifiedImageError:
            raise SuiteError(f"{name} is not an image format PIL reads") from None
        except (OSError, SyntaxError, ValueError) as exc:
            raise SuiteError(f"{name} is unreadable: {exc}") from None
        self.rotated += orientation not in (None, 1)
        path = self.root / sha[:2] / f"{sha}.{_EXTENSIONS.get(fmt, fmt.lower())}"
        if not (path.is_file() and path.stat().st_size == len(data)):
            tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
            try:  # write then rename: a file under its final name is always complete
                path.parent.mkdir(parents=True, exist_ok=True)
                tmp.write_bytes(data)
                os.replace(tmp, path)
            except OSError as exc:
                raise OutputError(
                    f"cannot write dataset images under {self.root}: {one_line(exc)}; set EVALKIT_IMAGE_CACHE to a"
                    " writable directory"
                ) from None
        self.known[sha] = path
        return path, sha


# ------------------------------------------------------------------------------------------------ the suite


@dataclass
class _Row:
    number: int
    fields: RowFields
    digest: bytes  # sha256 of the row's columns (images left out), canonical JSON
    images: list[tuple[Path, str] | str]  # (file, sha256) or a TSV index reference
    ids: dict[str, str]  # candidate id columns -> value


def _canonical(value: Any) -> Any:
    if isinstance(value, bytes):
        return "sha256:" + hashlib.sha256(value).hexdigest()
    return str(value)


def _build(spec: ExternalSpec, source: Source) -> Suite:
    try:
        schema = detect_schema(source.columns, source.hint, spec.options.get("schema"))
    except SchemaError as exc:
        raise SuiteError(f"{spec.text}: {exc}") from None
    question = schema.column(schema.questions, source.columns)
    stored = source.dtypes.get(question, "string")
    if stored not in _TEXT_DTYPES:  # one line for the column, not "the question is empty" for its first row
        raise SuiteError(f"{spec.text}: column {question!r} holds {stored}, not text (the question asked of the image)")
    store = _ImageStore(image_cache_dir(), spec.text)
    rows: list[_Row] = []
    by_index: dict[str, list[tuple[Path, str] | str]] = {}
    for values, images in source.rows:
        number = len(rows)
        where = f"{spec.text}: row {number}"
        try:
            fields = row_fields(schema, values, source.columns)
        except ValueError as exc:
            raise SuiteError(f"{where}: {exc}") from None
        problem = prompt_text_problem(
            Sample(id="", suite="", task="vqa", images=(), question=fields.question, type=fields.type,
                   choices=fields.choices)
        )  # fmt: skip
        if problem:  # the same check as a suite directory's: question (with its hint) and every option
            raise SuiteError(f"{where}: {problem}")
        if not images:
            raise SuiteError(f"{where}: no image")
        stored = [img if isinstance(img, str) else store.add(img, f"row {number}") for img in images]
        ids = {c: str(values[c]).strip() for c in ID_COLUMNS if c in values and values[c] is not None}
        digest = hashlib.sha256(json.dumps(values, sort_keys=True, default=_canonical).encode("utf-8")).digest()
        rows.append(_Row(number, fields, digest, stored, ids))
        if spec.kind == "tsv" and "index" in ids:
            if ids["index"] in by_index:
                raise SuiteError(f"{where}: index {ids['index']!r} repeats an earlier row's (indexes must be unique)")
            by_index[ids["index"]] = stored
    if not rows:
        empty = f"split {spec.split!r} is empty" if spec.kind == "hf" else "the file has no rows below its header"
        raise SuiteError(f"{spec.text}: {empty}")
    _resolve_refs(rows, by_index, spec)
    if store.rotated:
        log.warning(
            "%s: %d image(s) have an EXIF orientation tag; evalkit ignores it, as the published processor does, so"
            " the model sees the pixels as stored", spec.text, store.rotated,
        )  # fmt: skip
    return _suite(spec, source, schema, rows)


def _resolve_refs(rows: list[_Row], by_index: dict[str, list], spec: ExternalSpec) -> None:
    for row in rows:
        resolved = []
        for img in row.images:
            if not isinstance(img, str):
                resolved.append(img)
                continue
            target = by_index.get(img)
            if target is None or len(target) != 1 or isinstance(target[0], str):
                raise SuiteError(
                    f"{spec.text}: row {row.number}: the image cell {img!r} is neither base64 nor the index of a row"
                    " that holds one image"
                )
            resolved.append(target[0])
        row.images = resolved


def _sample_ids(rows: list[_Row]) -> list[str]:
    for column in ID_COLUMNS:
        values = [r.ids.get(column, "") for r in rows]
        if all(values) and len(set(values)) == len(values):
            return values
    return [str(r.number) for r in rows]


def _suite(spec: ExternalSpec, source: Source, schema: Schema, rows: list[_Row]) -> Suite:
    h = hashlib.sha256(f"evalkit-benchmark\0{schema.name}\0{ADAPTER_VERSION}\0".encode())
    for row in rows:
        h.update(row.digest)
        for _, sha in row.images:
            h.update(bytes.fromhex(sha))
    name = file_slug(spec.options.get("name") or source.base_name, "benchmark")
    samples = tuple(
        Sample(
            id=sample_id,
            suite=name,
            task="vqa",
            images=tuple(path for path, _ in row.images),
            question=row.fields.question,
            type=row.fields.type,
            answers=row.fields.answers,
            choices=row.fields.choices,
            match=row.fields.match,
            tags=row.fields.tags,
            line=row.number,
            group=row.fields.group,
        )  # fmt: skip
        for sample_id, row in zip(_sample_ids(rows), rows, strict=True)
    )
    log.info("%s: %d rows read as %s (%s)", spec.text, len(samples), schema.name, schema.benchmark)
    return Suite(
        name=name,
        task="vqa",
        version=f"{schema.name}-adapter-{ADAPTER_VERSION}",
        description=f"{schema.benchmark}, read from {spec.text} by the {schema.name!r} adapter",
        path=source.path,
        content_hash="sha256:" + h.hexdigest(),
        samples=samples,
    )

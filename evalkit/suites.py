"""Labelled evaluation suites: the on-disk format, its validation, and the `Suite` / `Sample` types.

A suite is a directory::

    <suite>/suite.json        {"name", "task", "version", "description"}
    <suite>/manifest.jsonl    one sample per line (blank lines are skipped)
    <suite>/README.md         image sources, licences, how labels were made (not read here)
    <suite>/images/...        the image files the manifest names

Manifest fields (anything else is an error, so a typo never silently drops a label):

    id              str, unique in the suite
    images          list of paths relative to the manifest (compare: exactly 2)
    question        str, plain text; the harness adds image tags and the chat format
    reference       str, ocr only (required): exact expected text
    fields          {name: text}, ocr only: parts the question asks for (title, author...)
    case_sensitive  bool, ocr only (default true)
    keywords        list of groups, each a list of acceptable alternatives; describe/compare (required)
    forbidden       list of words whose mention is a hallucination; describe/compare
    tags            {name: text}, free labels such as category or difficulty

`load_suite` validates everything before any model runs, including decoding each image header and
checking its data with PIL's `verify()`, and raises `SuiteError("path/manifest.jsonl:12: reason")`.
Images must lie inside the suite directory (no `..`, no symlink out of it) and have at most
`MAX_IMAGE_PIXELS` pixels; questions must not contain special-token syntax (`<|image_1|>`, `<|end|>`...).
An image with a non-identity EXIF orientation is logged as a warning: like the published processor,
evalkit ignores the tag, so the model sees the pixels as stored.
The suite's content hash is sha256 over (relative path, sha256 of bytes) of manifest.jsonl,
suite.json and every referenced image, in sorted path order; runs record it so a changed suite is
never compared silently with an old one. README edits do not change the hash.
"""

from __future__ import annotations

import hashlib
import io
import json
import logging
import os
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from PIL import Image, UnidentifiedImageError

from evalkit.errors import InputError, SuiteError
from evalkit.phi3v.images import file_problem, open_image

log = logging.getLogger(__name__)

TASKS = ("describe", "ocr", "compare")
MANIFEST = "manifest.jsonl"
SUITE_JSON = "suite.json"

# Where suite names are looked up; EVALKIT_DATASETS points the harness at another collection.
DATASETS_DIR: Path = Path(os.environ.get("EVALKIT_DATASETS") or Path(__file__).resolve().parents[1] / "datasets")

# Which manifest fields each task accepts; "required" ones must be present.
_COMMON = {"id", "images", "question", "tags"}
_TASK_FIELDS = {
    "ocr": _COMMON | {"reference", "fields", "case_sensitive"},
    "describe": _COMMON | {"keywords", "forbidden"},
    "compare": _COMMON | {"keywords", "forbidden"},
}
_REQUIRED = {
    "ocr": ("id", "images", "question", "reference"),
    "describe": ("id", "images", "question", "keywords"),
    "compare": ("id", "images", "question", "keywords"),
}
_ALL_FIELDS = set().union(*_TASK_FIELDS.values())
_SUITE_KEYS = ("name", "task", "version", "description")
# The Phi-3 tokenizer's special-token syntax (<|image_1|>, <|image|>, <|end|>, <|user|> ...). The harness writes the
# image tags and the chat format itself; inside a question such text would re-tag images or end the turn early.
_SPECIAL_TOKEN = re.compile(r"<\|[^<>|\s]*\|>")
_EXIF_ORIENTATION = 0x0112


@dataclass(frozen=True)
class Sample:
    """One question about one or more images, with the labels its task is scored against."""

    id: str
    suite: str
    task: str
    images: tuple[Path, ...]  # absolute paths
    question: str
    reference: str | None = None
    fields: dict[str, str] | None = None
    keywords: tuple[tuple[str, ...], ...] = ()
    forbidden: tuple[str, ...] = ()
    case_sensitive: bool = True
    tags: dict[str, str] = field(default_factory=dict)
    line: int = 0  # manifest line, for messages


@dataclass(frozen=True)
class Suite:
    name: str
    task: str
    version: str
    description: str
    path: Path
    content_hash: str
    samples: tuple[Sample, ...]


def _display(path: Path) -> str:
    """Path as the user most likely typed it: relative to the working directory when possible."""
    try:
        return str(path.resolve().relative_to(Path.cwd().resolve()))
    except ValueError:
        return str(path)


def _read_suite_json(path: Path) -> dict[str, str]:
    where = _display(path)
    if not path.is_file():
        raise SuiteError(f"{where}: missing (a suite needs suite.json with {', '.join(_SUITE_KEYS)})")
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise SuiteError(f"{where}: invalid JSON: {exc}") from None
    if not isinstance(data, dict):
        raise SuiteError(f"{where}: expected a JSON object, got {type(data).__name__}")
    for key in data:
        if key not in _SUITE_KEYS:
            raise SuiteError(f"{where}: unknown field {key!r} (allowed: {', '.join(_SUITE_KEYS)})")
    for key in _SUITE_KEYS:
        if key not in data:
            raise SuiteError(f"{where}: missing field {key!r}")
        if not isinstance(data[key], str) or not data[key].strip():
            raise SuiteError(f"{where}: field {key!r} must be a non-empty string")
    if data["task"] not in TASKS:
        raise SuiteError(f"{where}: unknown task {data['task']!r} (known: {', '.join(TASKS)})")
    return data


def _str(value: Any, name: str, *, empty_ok: bool = False) -> str:
    if not isinstance(value, str):
        raise ValueError(f"field {name!r} must be a string, got {type(value).__name__}")
    if not empty_ok and not value.strip():
        raise ValueError(f"field {name!r} is empty")
    return value


def _str_list(value: Any, name: str) -> tuple[str, ...]:
    if not isinstance(value, list):
        raise ValueError(f"field {name!r} must be a list of strings, got {type(value).__name__}")
    return tuple(_str(v, f"{name}[{i}]") for i, v in enumerate(value))


def _str_dict(value: Any, name: str) -> dict[str, str]:
    if not isinstance(value, dict):
        raise ValueError(f"field {name!r} must be an object of strings, got {type(value).__name__}")
    return {k: _str(v, f"{name}.{k}") for k, v in value.items()}


def _parse_sample(raw: dict, task: str, suite_name: str, suite_dir: Path, line: int) -> Sample:
    """Turn one manifest object into a Sample; raises ValueError with the reason (no location)."""
    for key in raw:
        if key not in _ALL_FIELDS:
            raise ValueError(f"unknown field {key!r}")
        if key not in _TASK_FIELDS[task]:
            raise ValueError(f"field {key!r} is not used by task {task!r}")
    for key in _REQUIRED[task]:
        if key not in raw:
            raise ValueError(f"missing field {key!r}")
    sample_id = _str(raw["id"], "id")
    rel_images = _str_list(raw["images"], "images")
    if not rel_images:
        raise ValueError("field 'images' is empty")
    if task == "compare" and len(rel_images) != 2:
        raise ValueError(f"task 'compare' needs exactly 2 images, got {len(rel_images)}")
    images = []
    root = suite_dir.resolve()
    for rel in rel_images:
        if Path(rel).is_absolute():
            raise ValueError(f"image path {rel!r} must be relative to the manifest")
        resolved = (suite_dir / rel).resolve()
        if not resolved.is_relative_to(root):
            # `..` or a symlink out of the suite: the file would be read, hashed and embedded in reports.
            raise ValueError(f"image path {rel!r} leads outside the suite directory (to {resolved})")
        images.append(resolved)
    question = _str(raw["question"], "question")
    special = _SPECIAL_TOKEN.search(question)
    if special:
        raise ValueError(
            f"field 'question' contains {special.group(0)!r}, special-token syntax; write plain text"
            " (the harness adds the image tags and the chat format)"
        )
    keywords = ()
    if "keywords" in raw:
        if not isinstance(raw["keywords"], list):
            raise ValueError(f"field 'keywords' must be a list of lists, got {type(raw['keywords']).__name__}")
        keywords = tuple(_str_list(g, f"keywords[{i}]") for i, g in enumerate(raw["keywords"]))
        if not keywords or any(not g for g in keywords):
            raise ValueError("field 'keywords' needs at least one group and no empty group")
    case_sensitive = raw.get("case_sensitive", True)
    if not isinstance(case_sensitive, bool):
        raise ValueError(f"field 'case_sensitive' must be true or false, got {type(case_sensitive).__name__}")
    fields = _str_dict(raw["fields"], "fields") if "fields" in raw else None
    if fields is not None and not fields:
        raise ValueError("field 'fields' is empty")
    return Sample(
        id=sample_id,
        suite=suite_name,
        task=task,
        images=tuple(images),
        question=question,
        reference=_str(raw["reference"], "reference") if "reference" in raw else None,
        fields=fields,
        keywords=keywords,
        forbidden=_str_list(raw.get("forbidden", []), "forbidden"),
        case_sensitive=case_sensitive,
        tags=_str_dict(raw.get("tags", {}), "tags"),
        line=line,
    )


def _check_image(data: bytes, name: str) -> int | None:
    """Catch unreadable, truncated or oversized files up front, cheaply; return the EXIF orientation, if any.

    The pixel limit is checked on the header, before any decoding. PNG: verify() checks every chunk's CRC
    without decoding pixels. Other formats (JPEG) are decoded in draft mode (1/8 scale), which still reads
    the whole compressed stream, so truncation is caught.
    """
    with open_image(io.BytesIO(data), name) as im:
        if im.format == "PNG":
            exif = Image.Exif()
            exif.load(im.info.get("exif", b""))  # an eXIf chunk seen while opening; verify() must come first
            im.verify()
        else:
            exif = im.getexif()
            im.draft(im.mode, (max(1, im.width // 8), max(1, im.height // 8)))
            im.load()
    return exif.get(_EXIF_ORIENTATION)


def load_suite(path: str | Path) -> Suite:
    """Load and fully validate the suite in directory `path` (or its manifest.jsonl)."""
    suite_dir = Path(path)
    if suite_dir.name == MANIFEST:
        suite_dir = suite_dir.parent
    if not suite_dir.is_dir():
        raise SuiteError(f"{_display(suite_dir)}: not a suite directory")
    meta = _read_suite_json(suite_dir / SUITE_JSON)
    task = meta["task"]
    manifest = suite_dir / MANIFEST
    where = _display(manifest)
    if not manifest.is_file():
        raise SuiteError(f"{where}: missing")
    try:
        lines = manifest.read_text(encoding="utf-8").splitlines()
    except UnicodeDecodeError as exc:
        raise SuiteError(f"{where}: not UTF-8: {exc}") from None

    samples: list[Sample] = []
    seen: dict[str, int] = {}
    image_bytes: dict[Path, bytes] = {}
    for lineno, text in enumerate(lines, start=1):
        if not text.strip():
            continue
        try:
            raw = json.loads(text)
        except json.JSONDecodeError as exc:
            raise SuiteError(f"{where}:{lineno}: invalid JSON: {exc.msg} (column {exc.colno})") from None
        if not isinstance(raw, dict):
            raise SuiteError(f"{where}:{lineno}: expected a JSON object, got {type(raw).__name__}")
        try:
            sample = _parse_sample(raw, task, meta["name"], suite_dir, lineno)
        except ValueError as exc:
            raise SuiteError(f"{where}:{lineno}: {exc}") from None
        if sample.id in seen:
            raise SuiteError(f"{where}:{lineno}: duplicate id {sample.id!r} (first on line {seen[sample.id]})")
        seen[sample.id] = lineno
        for img in sample.images:
            if img in image_bytes:
                continue
            problem = file_problem(img)
            if problem == "not found":
                raise SuiteError(f"{where}:{lineno}: missing image {_display(img)}")
            if problem:
                raise SuiteError(f"{where}:{lineno}: image {_display(img)} {problem}")
            data = img.read_bytes()
            try:
                orientation = _check_image(data, f"image {_display(img)}")
            except InputError as exc:
                raise SuiteError(f"{where}:{lineno}: {exc}") from None
            except UnidentifiedImageError:
                raise SuiteError(
                    f"{where}:{lineno}: unreadable image {_display(img)}: not an image format PIL reads"
                ) from None
            except (OSError, SyntaxError, ValueError) as exc:
                raise SuiteError(f"{where}:{lineno}: unreadable image {_display(img)}: {exc}") from None
            if orientation not in (None, 1):
                log.warning(
                    "%s:%d: image %s has EXIF orientation %s; evalkit ignores it, as the published processor does,"
                    " so the model sees the pixels as stored, not as a photo viewer turns them",
                    where, lineno, _display(img), orientation,
                )  # fmt: skip
            image_bytes[img] = data
        samples.append(sample)
    if not samples:
        raise SuiteError(f"{where}: no samples")

    return Suite(
        name=meta["name"],
        task=task,
        version=meta["version"],
        description=meta["description"],
        path=suite_dir.resolve(),
        content_hash=_content_hash(suite_dir.resolve(), image_bytes),
        samples=tuple(samples),
    )


def _content_hash(suite_dir: Path, image_bytes: dict[Path, bytes]) -> str:
    files: dict[str, bytes] = {
        MANIFEST: (suite_dir / MANIFEST).read_bytes(),
        SUITE_JSON: (suite_dir / SUITE_JSON).read_bytes(),
    }
    for img, data in image_bytes.items():
        files[os.path.relpath(img, suite_dir).replace(os.sep, "/")] = data
    h = hashlib.sha256()
    for name in sorted(files):
        h.update(name.encode("utf-8") + b"\0" + hashlib.sha256(files[name]).digest())
    return "sha256:" + h.hexdigest()


def available_suites(root: Path | None = None) -> list[str]:
    """Names of the suite directories (those with a suite.json) under `root`."""
    base = Path(root) if root is not None else DATASETS_DIR
    if not base.is_dir():
        return []
    return sorted(p.name for p in base.iterdir() if (p / SUITE_JSON).is_file())


def resolve_suites(specs: Sequence[str], root: Path | None = None) -> list[Suite]:
    """Load each spec: a suite name under `root` (default DATASETS_DIR) or a path to a suite directory."""
    base = Path(root) if root is not None else DATASETS_DIR
    suites: list[Suite] = []
    for spec in specs:
        candidate = Path(spec)
        named = base / spec
        if os.sep not in spec and "/" not in spec and (named / SUITE_JSON).is_file():
            suites.append(load_suite(named))
        elif candidate.is_dir():
            suites.append(load_suite(candidate))
        else:
            names = ", ".join(available_suites(base)) or "none"
            raise SuiteError(f"unknown suite {spec!r}: not a directory and not a suite in {_display(base)} ({names})")
        _check_unique_name(suites, spec)
    return suites


def _check_unique_name(suites: list[Suite], spec: str) -> None:
    """Runs, reports and comparisons key samples by (suite name, sample id): two suites of one name would
    duplicate every sample (and mis-pair them in comparisons)."""
    new = suites[-1]
    for earlier in suites[:-1]:
        if earlier.name != new.name:
            continue
        if earlier.path == new.path:
            raise SuiteError(f"suite {new.name!r} is listed twice ({spec!r}); list each suite once")
        raise SuiteError(
            f"{_display(new.path / SUITE_JSON)}: suite name {new.name!r} is already used by"
            f" {_display(earlier.path / SUITE_JSON)}; give each suite its own name"
        )

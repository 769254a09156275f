"""Labelled evaluation suites: the on-disk format, its validation, and resolving suite specs (names, directories,
`hf:` / `tsv:` benchmarks through evalkit.data.benchmarks). The `Sample` / `Suite` types live in evalkit.data.samples.

A suite is a directory::

    <suite>/suite.json        {"name", "task", "version", "description"}
    <suite>/manifest.jsonl    one sample per line (blank lines are skipped)
    <suite>/README.md         image sources, licences, how labels were made (not read here)
    <suite>/images/...        the image files the manifest names

Manifest fields (anything else is an error, so a typo never silently drops a label):

    id              str, unique in the suite
    images          list of paths relative to the manifest (compare: exactly 2)
    question        str, plain text; the harness adds image tags, the chat format and, per type, the answer
                    instruction (and the lettered options of a multiple-choice question): see `question_text`
    type            question type (default: ocr "transcription", describe/compare "free_form"):
      transcription     ocr: `reference` (required), the exact text; `case_sensitive` (default false)
      short_answer      `answers` (required): acceptable answers; `match`: how they are compared,
                        "exact" (default), "anls" (text read from the image), "number" (5% tolerance),
                        "time" (a clock time), "vqa" (VQA accuracy over human answers), "contains" /
                        "contains_formula" (OCRBench); ocr also takes `case_sensitive`; "pope" (yes_no) and
                        "mmbench" (multiple_choice) add those benchmarks' published readings
      multiple_choice   describe/compare/vqa: `choices` (2-8 option texts, lettered A, B, ...) and `answers`
                        (exactly one letter)
      yes_no            describe/compare/vqa: `answers`, exactly ["yes"] or ["no"]
      free_form         describe/compare: `keywords` (required), `forbidden`
    keywords        list of groups: a list of alternatives, or a relation {role: [alternatives], ...,
                    "order": [roles]} whose roles must all be named in one sentence (see evalkit.scoring.keywords)
    forbidden       list of words whose mention is a hallucination
    tags            {name: text}, free labels such as category or difficulty ("type" is reserved: runs add
                    the question type under it)

`load_suite` validates everything before any model runs, including decoding every image in full (and a PNG's
chunk checksums), and raises `SuiteError("path/manifest.jsonl:12: reason")`.
Images must lie inside the suite directory (no `..`, no symlink out of it) and have at most
`MAX_IMAGE_PIXELS` pixels; no text that reaches the prompt (question, options) may contain special-token syntax
(`<|image_1|>`, `<|end|>`, `<s>`...: `prompt_text_problem`).
An image with a non-identity EXIF orientation is logged as a warning: like the published processor,
evalkit ignores the tag, so the model sees the pixels as stored.
The suite's content hash is sha256 over (relative path, sha256 of bytes) of manifest.jsonl,
suite.json and every referenced image, in sorted path order; runs record it so a changed suite is
never compared silently with an old one. README edits do not change the hash.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from PIL import UnidentifiedImageError

from evalkit.data.benchmarks import load_external
from evalkit.data.images import check_image
from evalkit.data.samples import (  # noqa: F401  (re-exported: evalkit.data.suites is where callers find the suite types)
    CHOICE_LETTERS,
    DEFAULT_TYPE,
    INSTRUCTIONS,
    MATCH_MODES,
    QUESTION_TYPES,
    SPECIAL_TOKEN,
    TASK_TYPES,
    TASKS,
    Relation,
    Sample,
    Suite,
    prompt_text_problem,
    question_text,
)
from evalkit.errors import InputError, SuiteError
from evalkit.phi3v.images import file_problem

log = logging.getLogger(__name__)

MANIFEST = "manifest.jsonl"
SUITE_JSON = "suite.json"
EXTERNAL_PREFIXES = ("hf:", "tsv:")  # standard benchmark formats, loaded by evalkit.data.benchmarks

# Where suite names are looked up; EVALKIT_DATASETS points the harness at another collection.
DATASETS_DIR: Path = Path(os.environ.get("EVALKIT_DATASETS") or Path(__file__).resolve().parents[2] / "datasets")

# Which manifest fields each question type accepts / requires, besides the common ones.
_COMMON = {"id", "images", "question", "tags", "type"}
_TYPE_FIELDS = {
    "transcription": {"reference", "case_sensitive"},
    "short_answer": {"answers", "match", "case_sensitive"},
    "multiple_choice": {"choices", "answers"},
    "yes_no": {"answers"},
    "free_form": {"keywords", "forbidden"},
}
_TYPE_REQUIRED = {
    "transcription": ("reference",),
    "short_answer": ("answers",),
    "multiple_choice": ("choices", "answers"),
    "yes_no": ("answers",),
    "free_form": ("keywords",),
}
_ALL_FIELDS = _COMMON.union(*_TYPE_FIELDS.values())
_REMOVED_FIELDS = {
    "fields": "field 'fields' is no longer supported: ask one field per sample (type 'short_answer' with 'answers')"
}
_SUITE_KEYS = ("name", "task", "version", "description")


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


def _keyword_group(value: Any, name: str) -> tuple[str, ...] | Relation:
    if isinstance(value, list):
        group = _str_list(value, name)
        if not group:
            raise ValueError(f"field {name!r} is an empty group")
        return group
    if not isinstance(value, dict):
        raise ValueError(f"field {name!r} must be a list of alternatives or a relation object")
    order = _str_list(value.get("order", []), f"{name}.order")
    roles = tuple((role, _str_list(alts, f"{name}.{role}")) for role, alts in value.items() if role != "order")
    if len(roles) < 2:
        raise ValueError(f"relation {name!r} needs at least 2 roles (a single role is a plain group)")
    for role, alts in roles:
        if not alts:
            raise ValueError(f"relation {name!r}: role {role!r} has no alternatives")
    unknown = [r for r in order if r not in dict(roles)]
    if unknown or len(order) == 1 or len(set(order)) != len(order):
        raise ValueError(f"relation {name!r}: 'order' must list 2 or more distinct roles of the relation")
    return Relation(roles, order)


def _parse_answers(raw: dict, qtype: str) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """(answers, choices) of a short-answer, multiple-choice or yes/no sample, checked for its type."""
    answers = _str_list(raw["answers"], "answers") if "answers" in raw else ()
    choices = _str_list(raw["choices"], "choices") if "choices" in raw else ()
    if qtype == "short_answer" and not answers:
        raise ValueError("field 'answers' is empty")
    if qtype == "yes_no" and answers not in (("yes",), ("no",)):
        raise ValueError(f'type \'yes_no\' needs answers ["yes"] or ["no"], got {list(answers)}')
    if qtype == "multiple_choice":
        if not 2 <= len(choices) <= len(CHOICE_LETTERS):
            raise ValueError(f"type 'multiple_choice' needs 2 to {len(CHOICE_LETTERS)} choices, got {len(choices)}")
        letters = CHOICE_LETTERS[: len(choices)]
        if len(answers) != 1 or answers[0] not in letters:
            raise ValueError(f"type 'multiple_choice' needs answers with one letter of {', '.join(letters)}")
    return answers, choices


def _parse_sample(raw: dict, task: str, suite_name: str, suite_dir: Path, line: int) -> Sample:
    """Turn one manifest object into a Sample; raises ValueError with the reason (no location)."""
    qtype = raw.get("type", DEFAULT_TYPE[task])
    if qtype not in QUESTION_TYPES:
        raise ValueError(f"unknown type {qtype!r} (known: {', '.join(QUESTION_TYPES)})")
    if qtype not in TASK_TYPES[task]:
        raise ValueError(f"type {qtype!r} is not used by task {task!r} (allowed: {', '.join(TASK_TYPES[task])})")
    for key in raw:
        if key in _REMOVED_FIELDS:
            raise ValueError(_REMOVED_FIELDS[key])
        if key not in _ALL_FIELDS:
            raise ValueError(f"unknown field {key!r}")
        if key not in _COMMON | _TYPE_FIELDS[qtype]:
            raise ValueError(f"field {key!r} is not used by type {qtype!r}")
        if key == "case_sensitive" and task != "ocr":
            raise ValueError(f"field 'case_sensitive' is not used by task {task!r}")
    for key in ("id", "images", "question", *_TYPE_REQUIRED[qtype]):
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
    keywords: tuple = ()
    if "keywords" in raw:
        if not isinstance(raw["keywords"], list) or not raw["keywords"]:
            raise ValueError("field 'keywords' must be a non-empty list of groups")
        keywords = tuple(_keyword_group(g, f"keywords[{i}]") for i, g in enumerate(raw["keywords"]))
    case_sensitive = raw.get("case_sensitive", False)
    if not isinstance(case_sensitive, bool):
        raise ValueError(f"field 'case_sensitive' must be true or false, got {type(case_sensitive).__name__}")
    match = raw.get("match", "exact")
    # pope and mmbench are the adapters' modes for yes_no and multiple_choice rows, not a short answer's
    short_modes = [m for m in MATCH_MODES if m not in ("pope", "mmbench")]
    if match not in short_modes:
        raise ValueError(f"field 'match' must be one of {', '.join(short_modes)}, got {match!r}")
    answers, choices = _parse_answers(raw, qtype)
    tags = _str_dict(raw.get("tags", {}), "tags")
    if "type" in tags:
        raise ValueError("tag 'type' is reserved: runs add the question type (the field 'type') under it")
    sample = Sample(
        id=sample_id,
        suite=suite_name,
        task=task,
        images=tuple(images),
        question=question,
        type=qtype,
        reference=_str(raw["reference"], "reference") if "reference" in raw else None,
        answers=answers,
        choices=choices,
        match=match,
        keywords=keywords,
        forbidden=_str_list(raw.get("forbidden", []), "forbidden"),
        case_sensitive=case_sensitive,
        tags=tags,
        line=line,
    )
    problem = prompt_text_problem(sample)  # question and options: everything that reaches the prompt
    if problem:
        raise ValueError(problem)
    return sample


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
                orientation = check_image(data, f"image {_display(img)}")
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
    """Load each spec: a suite name under `root` (default DATASETS_DIR), a path to a suite directory, or a standard
    benchmark, `hf:PATH_OR_NAME:SPLIT[:key=value...]` or `tsv:FILE[:key=value...]` (evalkit.data.benchmarks)."""
    base = Path(root) if root is not None else DATASETS_DIR
    suites: list[Suite] = []
    for spec in specs:
        candidate = Path(spec)
        named = base / spec
        if spec.startswith(EXTERNAL_PREFIXES):
            suites.append(load_external(spec))
        elif os.sep not in spec and "/" not in spec and (named / SUITE_JSON).is_file():
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
            f"{_suite_file(new)}: suite name {new.name!r} is already used by {_suite_file(earlier)}; give each suite"
            " its own name (a benchmark spec takes :name=NAME)"
        )


def _suite_file(suite: Suite) -> str:
    """Where a suite's name comes from: its suite.json, or the benchmark file / directory it was read from."""
    meta = suite.path / SUITE_JSON
    return _display(meta if meta.is_file() else suite.path)

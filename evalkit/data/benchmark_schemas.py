"""Standard benchmark schemas: which columns a benchmark's rows have, and how a row becomes an evalkit question.

Pure (no files, no `datasets`): `evalkit.data.benchmarks` reads the rows of an `hf:` or `tsv:` spec and hands each one,
as a dict of column values without its images, to `detect_schema` and `row_fields`. Every benchmark becomes a
`vqa` suite whose headline `score` is the benchmark's own metric:

    schema     benchmark        question type     match / metric (evalkit.scoring.metrics)
    ocrbench   OCRBench         short_answer      contains: an answer occurs in the whole reply (contains_answer)
    textvqa    TextVQA          short_answer      vqa: VQA accuracy over the 10 human answers (vqa_accuracy)
    docvqa     DocVQA, InfoVQA  short_answer      anls: ANLS, threshold 0.5
    chartqa    ChartQA          short_answer      number: relaxed accuracy, 5% (a text answer: exact match)
    pope       POPE             yes_no            pope: POPE's accuracy and F1 of "yes" (pope_accuracy, pope_f1)
    mcq        MMBench-style    multiple_choice   mmbench: VLMEvalKit's matching per row (mmbench_accuracy) and,
                                                  over rotated copies, CircularEval (circular_accuracy)

`score` is the published scorer applied to the raw answer (evalkit.scoring.published); evalkit's extracted numbers are
reported beside it (`*_extracted`, `exact_match`, `accuracy`). Rotated copies of an MMBench question (VLMEvalKit's
TSVs and the lmms-lab hub copies alike: index i + k * 1e6) share a `group`, which CircularEval scores all or nothing.

A schema is recognised by columns only it has (`signatures`: DocVQA's questionId, TextVQA's ocr_tokens,
POPE's image_source...). VLMEvalKit TSVs share one layout (index, image, question, answer, category), so there the
file name decides (OCRBench.tsv, TextVQA_VAL.tsv...), as it does in VLMEvalKit; `schema=NAME` in the spec
overrides both. A dataset that fits no schema, or several without a name to tell them apart, is refused with
the columns found and the schemas known.
"""

from __future__ import annotations

import ast
import math
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from evalkit.data.samples import CHOICE_LETTERS

# Part of every external suite's content hash: bump it when a row is mapped differently (question, answers, match),
# so a run scored the new way is never compared silently with one scored the old way.
ADAPTER_VERSION = "2"

IMAGE_COLUMNS = ("image", "images")
_HME = "handwritten mathematical expression recognition"  # OCRBench's category scored without spaces, case kept


@dataclass(frozen=True)
class Schema:
    name: str
    benchmark: str
    qtype: str  # evalkit question type
    metric: str  # the metric `score` is, for the docs
    questions: tuple[str, ...] = ("question",)  # columns that may hold the question, first present wins
    answers: tuple[str, ...] = ("answers", "answer")  # columns that may hold the answer(s)
    required: tuple[str, ...] = ()  # other columns it cannot do without
    signatures: tuple[frozenset[str], ...] = ()  # column sets that identify this schema on their own
    aliases: tuple[str, ...] = ()  # names (of the file, directory or repo) that identify it
    tags: Mapping[str, str] = field(default_factory=dict)  # column -> tag name, for per-category breakdowns

    def missing(self, columns: Sequence[str]) -> list[str]:
        """What this schema needs that `columns` lacks (alternatives written a|b)."""
        cols = set(columns)
        need = [self.questions, self.answers, IMAGE_COLUMNS, *((c,) for c in self.required)]
        return ["|".join(alts) for alts in need if not cols.intersection(alts)]

    def column(self, options: tuple[str, ...], columns: Sequence[str]) -> str:
        return next(c for c in options if c in columns)


SCHEMAS: dict[str, Schema] = {
    s.name: s
    for s in (
        Schema("ocrbench", "OCRBench", "short_answer", "contains_answer", signatures=(frozenset({"question_type", "dataset"}),),
               aliases=("ocrbench",), tags={"category": "category", "question_type": "category", "dataset": "source"}),
        Schema("textvqa", "TextVQA", "short_answer", "vqa_accuracy",
               signatures=(frozenset({"answers", "ocr_tokens"}), frozenset({"answers", "image_classes"}), frozenset({"answers", "flickr_original_url"})),
               aliases=("textvqa",), tags={"category": "category"}),
        Schema("docvqa", "DocVQA", "short_answer", "anls",
               signatures=(frozenset({"questionId", "answers"}), frozenset({"answers", "ucsf_document_id"})),
               aliases=("docvqa", "infovqa", "infographicvqa"), tags={"category": "category", "answer_type": "answer_type"}),
        Schema("chartqa", "ChartQA", "short_answer", "relaxed_accuracy", questions=("question", "query"),
               answers=("answer", "label", "answers"), signatures=(frozenset({"query", "label"}),), aliases=("chartqa",),
               tags={"type": "subset", "category": "category"}),
        Schema("pope", "POPE", "yes_no", "pope_accuracy", answers=("answer",), signatures=(frozenset({"image_source"}),),
               aliases=("pope",), tags={"category": "category"}),
        Schema("mcq", "multiple choice (MMBench-style)", "multiple_choice", "mmbench_accuracy", answers=("answer",),
               required=("A", "B"), signatures=(frozenset({"A", "B", "answer"}),), aliases=("mmbench", "mcq"),
               # the L2 category is "l2-category" in VLMEvalKit's TSVs and "L2-category" in the lmms-lab hub copies
               tags={"category": "category", "l2-category": "l2_category", "L2-category": "l2_category", "split": "split"}),
    )
}  # fmt: skip


class SchemaError(ValueError):
    """The columns fit no schema, or several; the message is one line (evalkit.data.benchmarks adds where)."""


def _hint_words(hint: str) -> str:
    return re.sub(r"[^a-z0-9]+", "", hint.lower())


def detect_schema(columns: Sequence[str], hint: str, override: str | None = None) -> Schema:
    """The schema of a dataset with these columns. `hint` is its name (file stem, directory or repo name);
    `override` a schema name the user gave. Raises SchemaError with the columns found and the schemas known."""
    found = ", ".join(columns) or "none"
    if override is not None:
        schema = SCHEMAS.get(override)
        if schema is None:
            raise SchemaError(f"unknown schema {override!r} (known: {', '.join(SCHEMAS)})")
        if schema.missing(columns):
            raise SchemaError(
                f"schema {override!r} needs the columns {', '.join(schema.missing(columns))}; found: {found}"
            )
        return schema
    usable = [s for s in SCHEMAS.values() if not s.missing(columns)]
    cols = set(columns)
    signed = [s for s in usable if any(sig <= cols for sig in s.signatures)]
    if len(signed) == 1:
        return signed[0]
    words = _hint_words(hint)
    named = [s for s in (signed or usable) if any(alias in words for alias in s.aliases)]
    if len(named) == 1:
        return named[0]
    known = "; ".join(f"{s.name} ({', '.join(s.missing([]))})" for s in SCHEMAS.values())
    if not usable:
        raise SchemaError(
            f"its columns ({found}) match no known schema; known schemas and the columns they need: {known}"
        )
    candidates = ", ".join(s.name for s in (named or signed or usable))
    raise SchemaError(
        f"its columns ({found}) fit several schemas ({candidates}) and its name {hint!r} does not say which;"
        " name one with :schema=NAME"
    )


# ------------------------------------------------------------------------------------------------ one row


@dataclass(frozen=True)
class RowFields:
    """What a row says, in evalkit's terms (evalkit.data.suites.Sample fields)."""

    question: str
    type: str
    answers: tuple[str, ...]
    choices: tuple[str, ...] = ()
    match: str = "exact"
    tags: dict[str, str] = field(default_factory=dict)
    group: str = ""  # rows asking one question (rotated options) share it: evalkit.data.suites.Sample.group


def _present(value: Any) -> bool:
    """Empty cells: None, NaN, "" (a TSV's missing option is an empty string, a parquet's a null)."""
    if value is None:
        return False
    if isinstance(value, float) and value != value:
        return False
    return not (isinstance(value, str) and not value.strip())


def _given(value: Any) -> bool:
    """An option or hint cell that holds text: present, and not the string "nan" that the hub copies of MMBench
    store for a missing option or hint (pandas' NaN written as text), which must never be shown to the model."""
    return _present(value) and not (isinstance(value, str) and value.strip().lower() == "nan")


def _scalar(value: Any) -> str:
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value).strip()


def answer_list(value: Any) -> tuple[str, ...]:
    """A row's answers: a list, one value, or (VLMEvalKit TSVs) a Python list literal such as "['a', 'b']"."""
    if isinstance(value, str):
        text = value.strip()
        if text.startswith("[") and text.endswith("]"):
            try:
                parsed = ast.literal_eval(text)  # a literal only; never eval()
            except (ValueError, SyntaxError, MemoryError, RecursionError):
                parsed = None
            if isinstance(parsed, (list, tuple)):
                value = list(parsed)
    if isinstance(value, (list, tuple)):
        return tuple(_scalar(v) for v in value if _present(v))
    return (_scalar(value),) if _present(value) else ()


def _tags(schema: Schema, row: Mapping[str, Any]) -> dict[str, str]:
    tags: dict[str, str] = {}
    for column, tag in schema.tags.items():
        value = row.get(column)
        if _present(value) and isinstance(value, (str, int, float, bool)) and tag not in tags:
            tags[tag] = _scalar(value)
    return tags


def row_fields(schema: Schema, row: Mapping[str, Any], columns: Sequence[str]) -> RowFields:
    """Map one row (column values, images left out) onto an evalkit question. Raises ValueError with the reason."""
    name = schema.column(schema.questions, columns)
    question = row.get(name)
    if _present(question) and not isinstance(question, str):
        raise ValueError(f"column {name!r} holds {type(question).__name__} {question!r}, not text")
    if not _present(question):
        raise ValueError(f"the question (column {name!r}) is empty")
    question = question.strip()
    answers = answer_list(row.get(schema.column(schema.answers, columns)))
    if not answers:
        raise ValueError("no answer (a test split whose answers are withheld cannot be scored; use a labelled split)")
    tags = _tags(schema, row)
    if schema.name == "ocrbench":
        formula = tags.get("category", "").lower() == _HME or tags.get("source", "").lower() == "hme100k"
        return RowFields(
            question, "short_answer", answers, match="contains_formula" if formula else "contains", tags=tags
        )
    if schema.name == "textvqa":
        return RowFields(question, "short_answer", answers, match="vqa", tags=tags)
    if schema.name == "docvqa":
        return RowFields(question, "short_answer", answers, match="anls", tags=tags)
    if schema.name == "chartqa":
        # ChartQA's relaxed accuracy: numbers within 5%, anything else (a name, yes / no) must match exactly; the
        # "number" mode scores both kinds (evalkit.scoring.metrics).
        return RowFields(question, "short_answer", answers, match="number", tags=tags)
    if schema.name == "pope":
        said = {a.lower().strip(" .") for a in answers}
        if len(said) != 1 or not said <= {"yes", "no"}:
            raise ValueError(f"POPE answers are yes or no, got {list(answers)}")
        return RowFields(question, "yes_no", (said.pop(),), match="pope", tags=tags)
    if schema.name == "mcq":
        return _multiple_choice(question, answers, row, tags)
    raise ValueError(f"schema {schema.name!r} has no row mapping")  # pragma: no cover - SCHEMAS and this agree


def _multiple_choice(question: str, answers: tuple[str, ...], row: Mapping[str, Any], tags: dict) -> RowFields:
    """VLMEvalKit's multiple-choice layout: options in columns A, B, C... (empty cells end them), the answer a
    letter, an optional hint shown before the question."""
    choices = []
    for letter in CHOICE_LETTERS:
        if not _given(row.get(letter)):
            break
        choices.append(_scalar(row[letter]))
    later = [c for c in CHOICE_LETTERS[len(choices) :] if _given(row.get(c))]
    if later:
        raise ValueError(f"option {later[0]} is given but option {CHOICE_LETTERS[len(choices)]} is empty")
    if len(choices) < 2:
        raise ValueError(f"a multiple-choice row needs options A and B, got {len(choices)} option(s)")
    letter = answers[0].strip().upper()
    if len(answers) != 1 or letter not in CHOICE_LETTERS[: len(choices)]:
        raise ValueError(
            f"the answer must be one option letter of {CHOICE_LETTERS[: len(choices)]}, got {list(answers)}"
        )
    hint = row.get("hint")
    if _given(hint) and isinstance(hint, str):
        question = f"Hint: {hint.strip()}\n{question}"
    group = circular_group(row["index"]) if _present(row.get("index")) else None
    return RowFields(question, "multiple_choice", (letter,), tuple(choices), "mmbench", tags, group or "")


CIRCULAR_MOD = 1_000_000  # VLMEvalKit: a rotated copy of question i has index i + k * 1e6


def circular_group(index: str) -> str | None:
    """The CircularEval group of a row from its `index` (VLMEvalKit's TSVs and the lmms-lab hub copies alike): a
    rotation of question i has index i + k * 1e6, so index mod 1e6 names the question. None for a non-integer
    index (no grouping is possible)."""
    try:
        value = float(index)
    except (TypeError, ValueError):
        return None
    if not math.isfinite(value) or not value.is_integer() or value < 0:
        return None
    return str(int(value) % CIRCULAR_MOD)

"""The types a suite is made of (`Sample`, `Suite`, `Relation`), the question types and their instructions, and the
image check every loader applies: shared by the suite-directory loader (evalkit.suites) and the standard-benchmark
loader (evalkit.external), which both build `Suite`s. The on-disk format is described in evalkit/suites.py."""

from __future__ import annotations

import io
import re
from dataclasses import dataclass, field
from pathlib import Path

from PIL import Image

from evalkit.phi3v.images import open_image

# vqa: one question about one image (or several) with a checkable answer; the standard benchmarks loaded through
# `hf:` / `tsv:` specs (evalkit.external) are vqa suites, and a suite directory may be one too.
TASKS = ("describe", "ocr", "compare", "vqa")

QUESTION_TYPES = ("transcription", "short_answer", "multiple_choice", "yes_no", "free_form")
# OCR keeps to types scored by character error rate (its primary metric, located_cer, exists for both).
TASK_TYPES = {
    "ocr": ("transcription", "short_answer"),
    "describe": ("free_form", "short_answer", "multiple_choice", "yes_no"),
    "compare": ("free_form", "short_answer", "multiple_choice", "yes_no"),
    "vqa": ("short_answer", "multiple_choice", "yes_no"),
}
DEFAULT_TYPE = {"ocr": "transcription", "describe": "free_form", "compare": "free_form", "vqa": "short_answer"}
# How a short answer is compared (evalkit.metrics): vqa, contains and contains_formula are the TextVQA and OCRBench
# metrics of the standard-benchmark adapters (evalkit.adapters); pope (yes_no) and mmbench (multiple_choice) add those
# benchmarks' published answer readings (evalkit.published) to evalkit's.
MATCH_MODES = ("exact", "anls", "number", "time", "vqa", "contains", "contains_formula", "pope", "mmbench")
CHOICE_LETTERS = "ABCDEFGH"
# What the harness appends to the question of each type (prompts ask for the answer alone, as plain text).
INSTRUCTIONS = {
    "short_answer": "Answer with a single word, number or short phrase.",
    "multiple_choice": "Answer with the letter of the correct option.",
    "yes_no": "Answer yes or no.",
}

# The Phi-3 tokenizer's special-token syntax (<|image_1|>, <|image|>, <|end|>, <|user|> ...). The harness writes the
# image tags and the chat format itself; inside a question such text would re-tag images or end the turn early.
SPECIAL_TOKEN = re.compile(r"<\|[^<>|\s]*\|>")
_EXIF_ORIENTATION = 0x0112


@dataclass(frozen=True)
class Relation:
    """A keyword group whose roles must all be named in one sentence (e.g. the object and how it changed)."""

    roles: tuple[tuple[str, tuple[str, ...]], ...]  # (role name, alternatives), in manifest order
    order: tuple[str, ...] = ()  # roles that must appear in this order within the sentence

    def to_json(self) -> dict:
        out: dict = {name: list(alts) for name, alts in self.roles}
        if self.order:
            out["order"] = list(self.order)
        return out


@dataclass(frozen=True)
class Sample:
    """One question about one or more images, with the labels its question type is scored against."""

    id: str
    suite: str
    task: str
    images: tuple[Path, ...]  # absolute paths
    question: str
    type: str = ""  # one of QUESTION_TYPES; empty: the task's default
    reference: str | None = None
    answers: tuple[str, ...] = ()
    choices: tuple[str, ...] = ()
    match: str = "exact"
    keywords: tuple[tuple[str, ...] | Relation, ...] = ()
    forbidden: tuple[str, ...] = ()
    case_sensitive: bool = False
    tags: dict[str, str] = field(default_factory=dict)
    line: int = 0  # manifest line, for messages
    # Rows that are one question asked several ways (MMBench's rotated options) share a group: CircularEval scores
    # the group, right only when every row is (evalkit.metrics.circular_outcomes). Empty: the row stands alone.
    group: str = ""

    def __post_init__(self) -> None:
        if not self.type:
            object.__setattr__(self, "type", DEFAULT_TYPE.get(self.task, ""))


def question_text(sample: Sample) -> str:
    """The question as the model reads it: the manifest question, the options of a multiple-choice question
    (one per line, "A. text"), and the answer instruction of its type."""
    parts = [sample.question.strip()]
    if sample.type == "multiple_choice":
        parts += [f"{CHOICE_LETTERS[i]}. {choice}" for i, choice in enumerate(sample.choices)]
    if sample.type in INSTRUCTIONS:
        parts.append(INSTRUCTIONS[sample.type])
    return "\n".join(parts)


@dataclass(frozen=True)
class Suite:
    name: str
    task: str
    version: str
    description: str
    path: Path
    content_hash: str
    samples: tuple[Sample, ...]


def check_image(data: bytes, name: str) -> int | None:
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

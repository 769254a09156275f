"""The types a suite is made of (`Sample`, `Suite`, `Relation`), the question types and their instructions: shared by
the suite-directory loader (evalkit.data.suites), the standard-benchmark loader (evalkit.data.benchmarks) and scoring
(evalkit.scoring), so this module imports neither PIL nor torch. The on-disk format is described in
evalkit/data/suites.py; the image check every loader applies is evalkit/data/images.py."""

from __future__ import annotations

import math
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

# vqa: one question about one image (or several) with a checkable answer; the standard benchmarks loaded through
# `hf:` / `tsv:` specs (evalkit.data.benchmarks) are vqa suites, and a suite directory may be one too.
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
# How a short answer is compared (evalkit.scoring.metrics): vqa, contains and contains_formula are the TextVQA and OCRBench
# metrics of the standard-benchmark adapters (evalkit.data.benchmark_schemas); pope (yes_no) and mmbench (multiple_choice) add those
# benchmarks' published answer readings (evalkit.scoring.published) to evalkit's.
MATCH_MODES = ("exact", "anls", "number", "time", "vqa", "contains", "contains_formula", "pope", "mmbench")
CHOICE_LETTERS = "ABCDEFGH"
# What the harness appends to the question of each type (prompts ask for the answer alone, as plain text).
INSTRUCTIONS = {
    "short_answer": "Answer with a single word, number or short phrase.",
    "multiple_choice": "Answer with the letter of the correct option.",
    "yes_no": "Answer yes or no.",
}

# The Phi-3 tokenizer's special-token syntax (<|image_1|>, <|image|>, <|end|>, <|user|> ...) and its three
# special tokens without bars (<s>, </s>, <unk>: the tokenizer turns them into BOS, EOS and UNK ids wherever they
# appear in text). The harness writes the image tags and the chat format itself; inside any text of the prompt such
# text would re-tag images, end the turn early or start a new one.
SPECIAL_TOKEN = re.compile(r"<\|[^<>|\s]*\|>|</?s>|<unk>")


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
    # the group, right only when every row is (evalkit.scoring.metrics.circular_outcomes). Empty: the row stands alone.
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


def prompt_fields(sample: Sample) -> list[tuple[str, str]]:
    """Every text of `sample` that `question_text` puts into the prompt, with the name a message gives it."""
    fields = [("field 'question'", sample.question)]
    if sample.type == "multiple_choice":
        fields += [(f"option {CHOICE_LETTERS[i]}", choice) for i, choice in enumerate(sample.choices)]
    return fields


def prompt_text_problem(sample: Sample) -> str | None:
    """The one check for special-token syntax in what reaches the prompt (the question, a benchmark's hint folded
    into it, every multiple-choice option): a reason naming the field, or None. Every loader calls it, so such text
    is refused when a suite is validated (exit 2), never met at run time. The assembled text is checked last, so
    whatever `question_text` adds in future is covered before it gets a name here."""
    for name, text in [*prompt_fields(sample), ("the prompt text", question_text(sample))]:
        special = SPECIAL_TOKEN.search(text)
        if special:
            return (
                f"{name} contains {special.group(0)!r}, special-token syntax; write plain text"
                " (the harness adds the image tags and the chat format)"
            )
    return None


@dataclass(frozen=True)
class Suite:
    name: str
    task: str
    version: str
    description: str
    path: Path
    content_hash: str
    samples: tuple[Sample, ...]


# Token budgets (`token_budget`): room for the reference plus 30% and a fixed margin for a short lead-in.
BUDGET_FACTOR, BUDGET_MARGIN = 1.3, 16
FREE_FORM_MIN_TOKENS = 64  # a description has no reference text; this is room for a few sentences


def budget_text(sample: Sample) -> str:
    """The text a perfect answer consists of, whose token count sets the sample's generation budget."""
    if sample.type == "transcription":
        return sample.reference or ""
    if sample.type == "multiple_choice":
        return max((f"{CHOICE_LETTERS[i]}. {c}" for i, c in enumerate(sample.choices)), key=len)
    if sample.type == "free_form":
        return ", ".join(
            g[0] if isinstance(g, tuple) else " ".join(alts[0] for _, alts in g.roles) for g in sample.keywords
        )
    return max(sample.answers, key=len) if sample.answers else ""


def token_budget(sample: Sample, count_tokens: Callable[[str], int]) -> int:
    """max_new_tokens for a sample: ceil(1.3 x tokens of its reference) + 16 (free-form: at least 64)."""
    budget = math.ceil(BUDGET_FACTOR * count_tokens(budget_text(sample))) + BUDGET_MARGIN
    return max(budget, FREE_FORM_MIN_TOKENS) if sample.type == "free_form" else budget

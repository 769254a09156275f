"""The data model shared by every suite definition: image files, samples, and a suite as a whole."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

# Written into every suite.json. The generated READMEs tell readers to "bump `VERSION` in the script" when labels
# or images change: this is that constant (the README wording is part of the committed bytes, so it stays).
VERSION = "2.0.0"

# Attribution for images drawn by the generator itself. The path names the entry point users run, and it is
# part of every README byte for byte, so it must not follow internal module names.
RENDERED = "rendered by scripts/make_suites.py"
RENDERED_LICENCE = (
    "MIT (part of evalkit); text set in DejaVu fonts (Bitstream Vera / DejaVu licence, shipped in matplotlib)"
)


@dataclass(frozen=True)
class Img:
    """One image file of a suite: where it goes, how to make its bytes, where it comes from."""

    rel: str
    # Excluded from equality: two samples may share one file (compare pairs reuse a photo), and the writer
    # deduplicates by path, so identity of the maker closure must not matter.
    make: Callable[[], bytes] = field(compare=False)
    source: str
    licence: str


@dataclass
class Entry:
    """One manifest line (`sample`, written as-is to manifest.jsonl) and the image files it refers to."""

    sample: dict
    images: list[Img]
    demands: tuple[str, ...] = ()  # keys of DEMANDS: why the sample has its difficulty (listed in the README)


@dataclass
class SuiteSpec:
    """Everything one suite definition produces; `build.write_suite` turns it into files."""

    meta: dict  # suite.json fields after "name" (task, version, description), in this order
    intro: str  # the README paragraph explaining how the labels were made
    entries: list[Entry]


# ------------------------------------------------------------------------------------------------ difficulty

# How hard a sample is follows from what it asks of the model: each sample names its demands and its difficulty
# is the hardest of them. The table is printed in datasets/README.md, so the rule and the tags cannot drift.
DEMANDS: dict[str, tuple[str, str]] = {
    "salient": ("easy", "names a large, salient object, colour, shape or chart type"),
    "printed": ("easy", "reads a word or value printed large and clean"),
    "short_text": ("easy", "transcribes one to three lines of clean rendered text"),
    "description": ("medium", "describes a whole image in free form: several things to name"),
    "long_text": ("medium", "transcribes four or more lines, a table or code (clean rendering)"),
    "lookup": ("medium", "finds one value among several: a table cell, a chart's largest or smallest, a step"),
    "count_few": ("medium", "counts 2 to 5 objects"),
    "mild_degradation": ("medium", "reads text under rotation, blur or low contrast"),
    "visible_change": ("medium", "names or locates a large change between two images"),
    "estimate": ("hard", "estimates a value from an axis: the value is not printed"),
    "count_many": ("hard", "counts more than 5 objects"),
    "clock": ("hard", "reads an analogue clock"),
    "heavy_degradation": ("hard", "reads text under noise, perspective or JPEG quality below 20"),
    "real_text": ("hard", "reads real photographed or scanned text"),
    "subtle_change": ("hard", "judges a global or small photo edit, or a no-change control (re-encoding, "
                              "1-px shift, slight brightness)"),
}  # fmt: skip
LEVELS = ("easy", "medium", "hard")


def difficulty(*demands: str) -> str:
    """The hardest level among the demands (each a key of DEMANDS)."""
    return max((DEMANDS[d][0] for d in demands), key=LEVELS.index)


def tags(demands: tuple[str, ...], **extra: str) -> dict[str, str]:
    return {**extra, "difficulty": difficulty(*demands)}


# ------------------------------------------------------------------------------------------------ question types

# Two-way choices in both orders, so that the right letter is A as often as B across a suite.
FIRST_SECOND = ["the first image", "the second image"]
SECOND_FIRST = ["the second image", "the first image"]


def transcription(question: str, reference: str, *, case_sensitive: bool = False) -> dict:
    out = {"type": "transcription", "question": question, "reference": reference}
    return {**out, "case_sensitive": True} if case_sensitive else out


def short_answer(question: str, answers: list[str], match: str = "exact") -> dict:
    return {"type": "short_answer", "question": question, "answers": answers, "match": match}


def multiple_choice(question: str, choices: list[str], correct: int) -> dict:
    return {"type": "multiple_choice", "question": question, "choices": choices, "answers": ["ABCDEFGH"[correct]]}


def yes_no(question: str, yes: bool) -> dict:
    return {"type": "yes_no", "question": question, "answers": ["yes" if yes else "no"]}


def free_form(question: str, keywords: list, forbidden: list[str]) -> dict:
    return {"type": "free_form", "question": question, "keywords": keywords, "forbidden": forbidden}


def relation(order: tuple[str, ...] = (), **roles: list[str]) -> dict:
    """A keyword group whose roles must be named in one sentence; `order` roles in that order."""
    return {**roles, "order": list(order)} if order else dict(roles)


def sample(sid: str, images: list[Img], body: dict, demands: tuple[str, ...], **tag_values: str) -> Entry:
    """One manifest line: id, type, images, the type's fields, tags (difficulty from the demands)."""
    line = {"id": sid, "type": body["type"], "images": [im.rel for im in images]}
    line.update({k: v for k, v in body.items() if k != "type"})
    line["tags"] = tags(demands, **tag_values)
    return Entry(line, images, demands)

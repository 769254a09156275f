"""The data model shared by every suite definition: image files, samples, and a suite as a whole."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

# Written into every suite.json. The generated READMEs tell readers to "bump `VERSION` in the script" when labels
# or images change: this is that constant (the README wording is part of the committed bytes, so it stays).
VERSION = "1.0.0"

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


@dataclass
class SuiteSpec:
    """Everything one suite definition produces; `build.write_suite` turns it into files."""

    meta: dict  # suite.json fields after "name" (task, version, description), in this order
    intro: str  # the README paragraph explaining how the labels were made
    entries: list[Entry]

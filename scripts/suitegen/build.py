"""Turn suite definitions into files (images, suite.json, manifest.jsonl, README.md) and compare trees."""

from __future__ import annotations

import filecmp
import json
from collections.abc import Callable
from pathlib import Path

from .compare import compare_suite
from .describe import describe_suite
from .docs import index_readme
from .ocr import ocr_suite
from .spec import DEMANDS, Entry, Img, SuiteSpec

INDEX = "README.md"  # datasets/README.md, written when every suite is
SUITES: dict[str, Callable[[], SuiteSpec]] = {"describe": describe_suite, "ocr": ocr_suite, "compare": compare_suite}


def write_suite(name: str, out: Path) -> None:
    """Write suite `name` under `out/name`, creating directories as needed."""
    spec = SUITES[name]()
    root = out / name
    (root / "images").mkdir(parents=True, exist_ok=True)
    # Samples may share a file (compare reuses a photo as the first image of several pairs): write each path once,
    # from the first entry that names it, and list it once in the README.
    images: dict[str, Img] = {}
    for entry in spec.entries:
        for img in entry.images:
            images.setdefault(img.rel, img)
    for rel, img in sorted(images.items()):
        (root / rel).write_bytes(img.make())
    (root / "suite.json").write_text(json.dumps({"name": name, **spec.meta}, indent=2) + "\n", encoding="utf-8")
    lines = [json.dumps(e.sample, ensure_ascii=False) for e in spec.entries]
    (root / "manifest.jsonl").write_text("\n".join(lines) + "\n", encoding="utf-8")
    (root / "README.md").write_text(readme(name, spec.meta, spec.intro, spec.entries, images), encoding="utf-8")


def readme(name: str, meta: dict, intro: str, entries: list[Entry], images: dict[str, Img]) -> str:
    # The wording below is committed byte for byte in datasets/*/README.md: any edit is a data change.
    out = [f"# Suite `{name}` (version {meta['version']})", "", meta["description"], "", intro.strip(), ""]
    out += [
        "## Regenerating",
        "",
        "Every file here (this README included) is written by `python scripts/make_suites.py`;",
        "`python scripts/make_suites.py --check` regenerates into a temporary directory and fails unless every",
        "byte matches. Edit the script, never the files. Bump `VERSION` in the script when labels or images change.",
        "",
        f"## Images ({len(images)} files, {len(entries)} samples)",
        "",
        "| file | source | licence |",
        "|---|---|---|",
    ]
    out += [f"| `{rel}` | {img.source} | {img.licence} |" for rel, img in sorted(images.items())]
    out += ["", f"## Samples ({len(entries)})", "", "Difficulty follows from the demands (rule in `../README.md`).", "",
            "| id | type | difficulty | demands |", "|---|---|---|---|"]  # fmt: skip
    for e in entries:
        demands = ", ".join(f"`{d}`" for d in e.demands if d in DEMANDS)
        out.append(f"| `{e.sample['id']}` | {e.sample['type']} | {e.sample['tags']['difficulty']} | {demands} |")
    return "\n".join(out) + "\n"


def write_index(out: Path) -> None:
    """datasets/README.md from the suites already written under `out`."""
    (out / INDEX).write_text(index_readme(out, list(SUITES)), encoding="utf-8")


def render_image(suite: str, rel: str) -> bytes:
    """Bytes of one image of a suite, as the script would write it (used by the regeneration test)."""
    for entry in SUITES[suite]().entries:
        for img in entry.images:
            if img.rel == rel:
                return img.make()
    raise KeyError(f"{suite} has no image {rel}")


def diff_index(fresh: Path, committed: Path) -> list[str]:
    if not (committed / INDEX).is_file():
        return [f"{INDEX}: missing from {committed}"]
    if not filecmp.cmp(fresh / INDEX, committed / INDEX, shallow=False):
        return [f"{INDEX}: bytes differ"]
    return []


def diff_trees(name: str, fresh: Path, committed: Path) -> list[str]:
    """One line per file that is missing, extra or different between a fresh and a committed suite directory."""
    a = {p.relative_to(fresh).as_posix() for p in fresh.rglob("*") if p.is_file()}
    b = {p.relative_to(committed).as_posix() for p in committed.rglob("*") if p.is_file()}
    problems = []
    for rel in sorted(a | b):
        if rel not in b:
            problems.append(f"{name}/{rel}: missing from {committed}")
        elif rel not in a:
            problems.append(f"{name}/{rel}: not produced by the script")
        elif not filecmp.cmp(fresh / rel, committed / rel, shallow=False):
            problems.append(f"{name}/{rel}: bytes differ")
    return problems

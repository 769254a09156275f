"""Deterministic generator for the committed evaluation suites (datasets/describe, ocr, compare).

Run it through `scripts/make_suites.py`. Layout, from pixels up:

- `render`: PNG/JPEG without metadata, matplotlib's DejaVu fonts, text layout, photo loading, Agg charts
- `degrade`: rotation, blur, seeded noise, low contrast, perspective
- `scenes`, `charts`, `documents`: the rendered images (documents also return their exact reference text)
- `sources`: photo attribution and the `Img` constructors that carry it into the READMEs
- `spec`: `Img`, `Entry`, `SuiteSpec`, `VERSION`, the difficulty rule and the question-type builders
- `edits`: the edits that make the second image of a compare pair
- `docs`: datasets/README.md (table, question types, worked examples scored by evalkit)
- `describe`, `ocr`, `compare`: one module per suite (samples, labels, README intro)
- `build`: writes a suite's files and diffs directory trees for `--check`
"""

from .build import SUITES, diff_index, diff_trees, render_image, write_index, write_suite

__all__ = ["SUITES", "diff_index", "diff_trees", "render_image", "write_index", "write_suite"]

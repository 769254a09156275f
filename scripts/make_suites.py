"""Regenerate the committed evaluation suites under datasets/ deterministically.

    python scripts/make_suites.py              # rewrite datasets/{describe,ocr,compare} and datasets/README.md
    python scripts/make_suites.py --out DIR    # write them under DIR instead
    python scripts/make_suites.py --check      # regenerate into a temp dir, compare byte for byte

Everything is rendered from fixed inputs: photos shipped inside scikit-image and matplotlib, fonts from
matplotlib's own package (DejaVu; never system fonts), fixed seeds for noise, matplotlib with the Agg canvas for
charts, and PIL writing PNG/JPEG without metadata, so the same package versions give the same bytes. The samples
are defined in scripts/suitegen/ (describe.py, ocr.py, compare.py); the READMEs (every image's source and licence)
are generated from the same definitions, and datasets/README.md (the table of suites, the question types with
worked examples scored by evalkit.scoring.metrics) from the written suites.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

# scripts/ is not a package: put it on the path so `suitegen` imports both when run as a script and when a test
# loads this file by path (tests/test_suites.py uses importlib on this file).
_HERE = Path(__file__).resolve().parent
if str(_HERE) not in sys.path:
    sys.path.insert(0, str(_HERE))

from suitegen import SUITES, diff_index, diff_trees, render_image, write_index, write_suite  # noqa: E402

# render_image and write_suite are re-exported for tests/test_suites.py.
__all__ = ["main", "render_image", "write_suite"]

REPO = _HERE.parent


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", type=Path, default=REPO / "datasets", help="directory to write the suites under")
    parser.add_argument("--check", action="store_true", help="regenerate into a temp dir and compare with --out")
    parser.add_argument("--suite", action="append", choices=sorted(SUITES), help="only these suites")
    args = parser.parse_args(argv)
    names = args.suite or sorted(SUITES)
    every = set(names) == set(SUITES)  # the index page needs every suite
    if not args.check:
        for name in names:
            write_suite(name, args.out)
            print(f"wrote {args.out / name}")
        if every:
            write_index(args.out)
            print(f"wrote {args.out / 'README.md'}")
        return 0
    bad = 0
    with tempfile.TemporaryDirectory() as tmp:
        for name in names:
            write_suite(name, Path(tmp))
            for problem in diff_trees(name, Path(tmp) / name, args.out / name):
                print(problem)
                bad += 1
        if every:
            write_index(Path(tmp))
            for problem in diff_index(Path(tmp), args.out):
                print(problem)
                bad += 1
    print("suites match" if not bad else f"{bad} file(s) differ")
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())

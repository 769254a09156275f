"""Helpers of scripts/gpu_acceptance.sh.

python scripts/gpu_results.py check [--runs]    # the machine can run the acceptance (CUDA, packages), exit 2 if not
python scripts/gpu_results.py has-flash-attn   # exit 0 when the flash-attn package imports
python scripts/gpu_results.py write [--runs DIR] [--bench FILE] [--decode FILE] [--steps FILE] [--out docs/gpu-results.md]
"""

from __future__ import annotations

import argparse
import importlib
import subprocess
import sys
from datetime import datetime, timezone
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO_ROOT))

# Import name -> distribution name, for the message: what the default acceptance (conformance + scripts/gpu_decode.py)
# needs beyond torch itself, and what --runs adds (`python -m evalkit` runs and `pytest benchmarks/`).
REQUIRED = {
    "transformers": "transformers>=5",
    "tokenizers": "tokenizers",
    "safetensors": "safetensors",
    "huggingface_hub": "huggingface_hub",
    "numpy": "numpy",
    "PIL": "pillow",
    "psutil": "psutil",
    "tqdm": "tqdm",
    "pytest": "pytest",
}
REQUIRED_FOR_RUNS = {
    "hydra": "hydra-core",
    "omegaconf": "omegaconf",
    "jiwer": "jiwer",
    "rapidfuzz": "rapidfuzz",
    "pandas": "pandas",
    "matplotlib": "matplotlib",
    "pytest_benchmark": "pytest-benchmark",
}


def check(runs: bool = False) -> int:
    missing = []
    for module, dist in {**REQUIRED, **(REQUIRED_FOR_RUNS if runs else {})}.items():
        try:
            importlib.import_module(module)
        except ImportError:
            missing.append(dist)
    import torch

    print(f"python {sys.version.split()[0]}, torch {torch.__version__}, CUDA available: {torch.cuda.is_available()}")
    if torch.cuda.is_available():
        print(
            f"GPU: {torch.cuda.get_device_name(0)}, compute capability {'.'.join(map(str, torch.cuda.get_device_capability(0)))}"
        )
    problems = []
    if missing:
        problems.append(
            f"missing packages: {' '.join(missing)} (without network: `pip download` their wheels on a connected "
            "machine and `pip install --no-index` them here)"
        )
    if not torch.cuda.is_available():
        problems.append("CUDA is not available: this is the GPU acceptance run (use --dry-run to see the commands)")
    if "transformers" not in " ".join(missing):
        import transformers

        if int(transformers.__version__.split(".")[0]) < 5:
            problems.append(f"transformers {transformers.__version__} is too old: evalkit needs transformers 5")
    for problem in problems:
        print(f"gpu_acceptance: {problem}", file=sys.stderr)
    return 2 if problems else 0


def has_flash_attn() -> int:
    """As evalkit.phi3v.attention.flash_attn_version: a build that fails to import counts as absent."""
    try:
        import flash_attn  # noqa: F401
    except Exception:
        return 1
    return 0


def _commit() -> str:
    try:
        out = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=REPO_ROOT, capture_output=True, text=True)
    except OSError:
        return "unknown"
    return out.stdout.strip() or "unknown"


def write(args: argparse.Namespace) -> int:
    from evalkit.reports.gpu import write_gpu_results

    when = datetime.now(timezone.utc).replace(microsecond=0).isoformat()
    out = write_gpu_results(
        args.runs, args.bench, args.steps, args.out, when=when, commit=_commit(), decode_json=args.decode
    )
    print(f"gpu_acceptance: results -> {out}")
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="scripts/gpu_results.py", description=__doc__.split("\n\n")[0])
    sub = parser.add_subparsers(dest="command", required=True)
    c = sub.add_parser("check")
    c.add_argument("--runs", action="store_true", help="also what the --runs steps need")
    sub.add_parser("has-flash-attn")
    w = sub.add_parser("write")
    w.add_argument("--runs", type=Path, default=None, help="directory holding the acceptance run directories")
    w.add_argument("--decode", type=Path, default=None, help="JSON of scripts/gpu_decode.py")
    w.add_argument("--bench", type=Path, default=None, help="pytest-benchmark JSON of the benchmark step")
    w.add_argument("--steps", type=Path, default=None, help="the script's step<TAB>rc<TAB>seconds file")
    w.add_argument("--out", type=Path, default=REPO_ROOT / "docs" / "gpu-results.md")
    args = parser.parse_args(argv)
    if args.command == "check":
        return check(args.runs)
    if args.command == "has-flash-attn":
        return has_flash_attn()
    return write(args)


if __name__ == "__main__":
    sys.exit(main())

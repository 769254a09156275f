"""`evalkit generate`: describe an image, read its text, or compare two images, from a shell; and
`evalkit make-checkpoint`, which writes a random-weight checkpoint to try it on.

    evalkit generate --model DIR_OR_REPO_ID --image photo.png --prompt "Describe this image."
    evalkit generate --model DIR --image a.png --image b.png --prompt "What is different?"

The question is wrapped in the chat format with one `<|image_k|>` tag per image, unless --raw is given, in which
case --prompt is used exactly as written (tags included). The model loads through the same engine as a run
(evalkit.phi3v.engine).
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

from evalkit.config.settings import ATTN_NAMES, DTYPE_NAMES, ModelConfig, RuntimeConfig
from evalkit.errors import EXIT_OK, EXIT_SIGINT, ConfigError, EvalkitError, Parser, exit_code, one_line
from evalkit.phi3v import engine
from evalkit.phi3v.decode import decoder_for
from evalkit.phi3v.processing import build_prompt

PROG = "evalkit generate"


def parse_args(argv: list[str] | None, prog: str = PROG) -> argparse.Namespace:
    parser = Parser(prog=prog, description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", required=True, help="checkpoint directory or Hub repo id")
    parser.add_argument("--revision", default=None, help="Hub revision (repo ids only)")
    parser.add_argument("--image", action="append", default=[], help="image file; repeat for several images")
    parser.add_argument("--prompt", required=True, help="the question (or, with --raw, the whole prompt)")
    parser.add_argument("--raw", action="store_true", help="use --prompt as the complete prompt, tags included")
    parser.add_argument("--max-new-tokens", type=int, default=128)
    parser.add_argument("--dtype", choices=DTYPE_NAMES, default="float32")
    parser.add_argument("--attn", choices=ATTN_NAMES, default="sdpa")
    parser.add_argument("--device", default="auto")
    parser.add_argument(
        "--num-crops", type=int, default=None, help="default: the checkpoint's preprocessor_config.json"
    )
    parser.add_argument(
        "--compile", action="store_true", help="compile the decode step whole (replayed as a CUDA graph on CUDA)"
    )
    parser.add_argument("--timing", action="store_true", help="print load and generation times to stderr")
    return parser.parse_args(argv)


def generate_answer(args: argparse.Namespace) -> str:
    # Checked before anything is loaded: 0 new tokens would load the model to print nothing.
    if args.max_new_tokens < 1:
        raise ConfigError(f"--max-new-tokens must be at least 1, got {args.max_new_tokens}")
    if args.num_crops is not None and args.num_crops < 1:
        raise ConfigError(f"--num-crops must be at least 1, got {args.num_crops}")
    model_cfg = ModelConfig(name=str(args.model), path=str(args.model), revision=args.revision, random=None)
    runtime = RuntimeConfig(
        device=args.device, dtype=args.dtype, attn=args.attn, num_crops=args.num_crops, compile=args.compile
    )
    # One answer does not need the weights' fingerprint (hashing a full checkpoint takes longer than answering).
    loaded = engine.load(model_cfg, runtime, cache_dir="~/.cache/evalkit", fingerprint=False)
    start = time.perf_counter()
    prompt = args.prompt if args.raw else build_prompt(args.prompt, len(args.image))
    inputs = {k: v.to(loaded.device) for k, v in loaded.processor(prompt, args.image or None).items()}
    # evalkit's own greedy loop, as runs use it: stops on the checkpoint's <|end|> / <|endoftext|>.
    output = decoder_for(loaded.model, graph=args.compile).generate(**inputs, max_new_tokens=args.max_new_tokens)
    answer = loaded.processor.decode(output.new_tokens[0])
    if args.timing:
        t = output.timing
        print(
            f"load {loaded.load_s:.2f} s, generate {time.perf_counter() - start:.2f} s "
            f"(prefill {t.prefill_ms:.0f} ms, decode {t.decode_ms:.0f} ms), {output.new_tokens.shape[1]} tokens",
            file=sys.stderr,
        )
    return answer


def main(argv: list[str] | None = None, prog: str = PROG) -> int:
    """`evalkit generate ...` (and `python -m evalkit.cli.generate ...`)."""
    args = parse_args(argv, prog)
    try:
        print(generate_answer(args))
    except (EvalkitError, OSError) as exc:  # 2, or 3 for a setting this machine cannot run (evalkit.errors)
        print(f"{prog}: error: {one_line(exc)}", file=sys.stderr)
        return exit_code(exc)
    except KeyboardInterrupt:
        return EXIT_SIGINT
    return EXIT_OK


def make_checkpoint_main(argv: list[str]) -> int:
    """`evalkit make-checkpoint DIR --size tiny|full`: random weights in the published layout."""
    from evalkit.phi3v.checkpoints import FAMILIES, SIZES, count_parameters, make_checkpoint

    parser = Parser(
        prog="evalkit make-checkpoint", description="Write a random-weight checkpoint in the published layout."
    )
    parser.add_argument("out", type=Path, help="directory to create")
    parser.add_argument("--size", choices=SIZES, default="tiny")
    parser.add_argument("--family", choices=sorted(FAMILIES), default="phi3v")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--overwrite", action="store_true")
    args = parser.parse_args(argv)
    path = make_checkpoint(args.out, args.size, family=args.family, seed=args.seed, overwrite=args.overwrite)
    millions = count_parameters(args.size, args.family) / 1e6
    print(f"{path}: {args.family} {args.size}, {millions:.1f} M parameters, seed {args.seed}")
    return EXIT_OK


if __name__ == "__main__":
    sys.exit(main())

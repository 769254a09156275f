"""One-shot use from a shell: describe an image, read its text, or compare two images.

    python -m evalkit.generate --model DIR_OR_REPO_ID --image photo.png --prompt "Describe this image."
    python -m evalkit.generate --model DIR --image a.png --image b.png --prompt "What is different?"

The question is wrapped in the chat format with one `<|image_k|>` tag per image, unless --raw is given, in which
case --prompt is used exactly as written (tags included).
"""

from __future__ import annotations

import argparse
import sys
import time

from evalkit.errors import EXIT_SIGINT, ConfigError, EvalkitError, Parser, UnsupportedSettingError, exit_code, one_line
from evalkit.phi3v.attention import compile_unsupported_reason
from evalkit.phi3v.decode import decoder_for, graph_unsupported_reason
from evalkit.phi3v.loading import DTYPES, load_model, resolve_device
from evalkit.phi3v.processing import Phi3VProcessor, build_prompt
from evalkit.settings import ATTN_NAMES


def parse_args(argv: list[str] | None, prog: str = "python -m evalkit.generate") -> argparse.Namespace:
    parser = Parser(prog=prog, description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", required=True, help="checkpoint directory or Hub repo id")
    parser.add_argument("--revision", default=None, help="Hub revision (repo ids only)")
    parser.add_argument("--image", action="append", default=[], help="image file; repeat for several images")
    parser.add_argument("--prompt", required=True, help="the question (or, with --raw, the whole prompt)")
    parser.add_argument("--raw", action="store_true", help="use --prompt as the complete prompt, tags included")
    parser.add_argument("--max-new-tokens", type=int, default=128)
    parser.add_argument("--dtype", choices=sorted(DTYPES), default="float32")
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
    device = resolve_device(args.device)
    if args.compile:
        reason = compile_unsupported_reason(device) or graph_unsupported_reason(args.attn)
        if reason:
            raise UnsupportedSettingError(f"--compile: {reason}")
    start = time.perf_counter()
    model = load_model(args.model, args.revision, dtype=args.dtype, attn_implementation=args.attn, device=device)
    processor = Phi3VProcessor.from_pretrained(model.source.path, num_crops=args.num_crops)
    loaded = time.perf_counter()
    prompt = args.prompt if args.raw else build_prompt(args.prompt, len(args.image))
    inputs = {k: v.to(device) for k, v in processor(prompt, args.image or None).items()}
    # evalkit's own greedy loop, as runs use it: stops on the checkpoint's <|end|> / <|endoftext|>.
    output = decoder_for(model, graph=args.compile).generate(**inputs, max_new_tokens=args.max_new_tokens)
    answer = processor.decode(output.new_tokens[0])
    if args.timing:
        t = output.timing
        print(
            f"load {loaded - start:.2f} s, generate {time.perf_counter() - loaded:.2f} s "
            f"(prefill {t.prefill_ms:.0f} ms, decode {t.decode_ms:.0f} ms), {output.new_tokens.shape[1]} tokens",
            file=sys.stderr,
        )
    return answer


def main(argv: list[str] | None = None, prog: str = "python -m evalkit.generate") -> int:
    """`python -m evalkit.generate ...` and `evalkit generate ...` (evalkit/commands.py)."""
    args = parse_args(argv, prog)
    try:
        print(generate_answer(args))
    except (EvalkitError, OSError) as exc:  # 2, or 3 for a setting this machine cannot run (evalkit.errors)
        print(f"{prog.removeprefix('python -m ')}: error: {one_line(exc)}", file=sys.stderr)
        return exit_code(exc)
    except KeyboardInterrupt:
        return EXIT_SIGINT
    return 0


if __name__ == "__main__":
    sys.exit(main())

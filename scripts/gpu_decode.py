"""The decode measurements of the GPU acceptance, in one process that loads the checkpoint once.

    python scripts/gpu_decode.py [--device cuda] [--size full] [--out reports/gpu-acceptance/decode.json]
    python scripts/gpu_decode.py --device cpu --size tiny --context 200 --num-crops 1 ...   # the CPU dry run

Measures, on the random-weight checkpoint of `--size` (full: published Phi-3-vision dimensions):
  eager loop at batch 1, compiled loop (a CUDA graph on CUDA) at batch 1 and at `--batch` (`--new-tokens` tokens
  after a `--context`-token prompt with one image), graph-vs-eager tokens on one prompt crossing position 4096,
  energy (NVML) around the compiled loops, the device's copy bandwidth, the top kernels of a short profiler trace,
  and the compiled loop per attention setting twice (the spread between rounds). Optional parts are skipped, with
  the reason, once `--budget-s` is spent. Writes one JSON file; scripts/gpu_results.py renders docs/gpu-results.md.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO_ROOT))

import numpy as np  # noqa: E402
import torch  # noqa: E402
from PIL import Image  # noqa: E402

from evalkit.config.settings import ModelConfig, RuntimeConfig  # noqa: E402
from evalkit.errors import UnsupportedSettingError  # noqa: E402
from evalkit.phi3v import Phi3VProcessor, build_prompt, engine  # noqa: E402
from evalkit.phi3v.decode import GreedyDecoder, dynamo_counts, graph_unsupported_reason  # noqa: E402
from evalkit.phi3v.loading import resolve_device, set_attention  # noqa: E402
from evalkit.run.energy import EnergyMeter  # noqa: E402
from evalkit.run.provenance import environment  # noqa: E402
from evalkit.run.roofline import gpu_spec, measure_copy_bandwidth, model_shape  # noqa: E402

LONG_PROMPT, LONG_NEW = 4090, 24  # crosses original_max_position_embeddings (4096) after 6 new tokens


def make_inputs(processor: Phi3VProcessor, lengths: list[int], seed: int = 0) -> dict:
    """Left-padded rows of exactly `lengths` tokens: one image each, padded out with fixed pseudo-random text ids
    inside the question (before `<|end|>\\n<|assistant|>\\n`)."""
    rng = np.random.default_rng(seed)
    rows, pixels, sizes = [], [], []
    for length in lengths:
        blocks = rng.integers(0, 256, (21, 21, 3), dtype=np.uint8)
        image = Image.fromarray(blocks).resize((672, 672), Image.Resampling.NEAREST)
        x = processor(build_prompt("Describe this image.", 1), [image])
        ids = x["input_ids"][0].tolist()
        if length < len(ids):
            raise SystemExit(f"gpu_decode: --context {length} is shorter than one image's prompt ({len(ids)} tokens)")
        rows.append(ids[:-6] + rng.integers(100, 32000, length - len(ids)).tolist() + ids[-6:])
        pixels.append(x["pixel_values"])
        sizes.append(x["image_sizes"])
    return {**processor.left_pad(rows), "pixel_values": torch.cat(pixels), "image_sizes": torch.cat(sizes)}


def _on(device: torch.device, inputs: dict) -> dict:
    return {k: v.to(device) for k, v in inputs.items()}


def timed(decoder: GreedyDecoder, inputs: dict, new_tokens: int, reps: int, warmup: int) -> dict:
    """Median figures over `reps` requests after `warmup` untimed ones (which compile the step when graph=True)."""
    start = time.perf_counter()
    for _ in range(warmup):
        decoder.generate(**inputs, max_new_tokens=new_tokens, stop_token_ids=[])
    warm_s = time.perf_counter() - start
    before = dynamo_counts()
    outs = [decoder.generate(**inputs, max_new_tokens=new_tokens, stop_token_ids=[]) for _ in range(reps)]
    compiled_in_timed = dynamo_counts()[0] - before[0]
    batch = inputs["input_ids"].shape[0]
    rate = statistics.median(o.timing.decode_tokens_per_s for o in outs)
    return {
        "loop": "compiled" if decoder.graph else "eager",
        "cuda_graphs": decoder.graph and decoder.device.type == "cuda",
        "batch": batch,
        "context": int(inputs["attention_mask"].sum(1).max()),
        "new_tokens": new_tokens,
        "reps": reps,
        "warmup_s": warm_s,
        "prefill_ms": statistics.median(o.timing.prefill_ms for o in outs),
        "decode_ms": statistics.median(o.timing.decode_ms for o in outs),
        "decode_tokens_per_s": rate,
        "aggregate_tokens_per_s": rate * batch,
        "step_ms": 1000.0 / rate,
        "graphs_built_in_timed_requests": compiled_in_timed,  # > 0: a recompile inside the timed region
        "kv_columns": outs[0].kv_columns,
        "tokens": outs[0].new_tokens.tolist(),
    }


def bounds(case: dict, shape, spec, measured_gb_s: float | None) -> None:
    """Bandwidth bound of the case's decode (ideal bytes: weights + each row's own KV at the mean context)."""
    kv = shape.kv_bytes_per_token()
    step_bytes = (
        shape.lm_matmul_params * shape.bytes_per_param + case["batch"] * (case["context"] + case["new_tokens"] / 2) * kv
    )
    case["step_bytes_ideal"] = step_bytes
    if case.get("kv_columns") is not None:
        case["step_bytes_read"] = (
            shape.lm_matmul_params * shape.bytes_per_param + case["batch"] * case["kv_columns"] * kv
        )
    if spec is not None:
        case["bound_tokens_per_s"] = spec.bandwidth_gb_s * 1e9 / step_bytes
        case["bandwidth_utilisation"] = case["decode_tokens_per_s"] / case["bound_tokens_per_s"]
    if measured_gb_s:
        case["bound_measured_tokens_per_s"] = measured_gb_s * 1e9 / step_bytes
        case["bandwidth_utilisation_measured"] = case["decode_tokens_per_s"] / case["bound_measured_tokens_per_s"]


def energy_of(decoder: GreedyDecoder, inputs: dict, new_tokens: int, window_s: float) -> dict:
    """Joules per decoded token over repeated requests lasting at least `window_s` (the counter needs seconds)."""
    meter = EnergyMeter(decoder.device)
    meter.start()
    start, requests = time.perf_counter(), 0
    while requests == 0 or time.perf_counter() - start < window_s:
        decoder.generate(**inputs, max_new_tokens=new_tokens, stop_token_ids=[])
        requests += 1
    tokens = requests * new_tokens * inputs["input_ids"].shape[0]
    return {**meter.stop().to_dict(decoded_tokens=tokens, samples=requests * inputs["input_ids"].shape[0]),
            "requests": requests, "decoded_tokens": tokens}  # fmt: skip


def profile_top(decoder: GreedyDecoder, inputs: dict, new_tokens: int, top: int = 12) -> dict:
    from torch.profiler import ProfilerActivity, profile

    cuda = decoder.device.type == "cuda"
    activities = [ProfilerActivity.CPU] + ([ProfilerActivity.CUDA] if cuda else [])
    with profile(activities=activities) as prof:
        decoder.generate(**inputs, max_new_tokens=new_tokens, stop_token_ids=[])
    key = "self_device_time_total" if cuda else "self_cpu_time_total"
    events = sorted(prof.key_averages(), key=lambda e: getattr(e, key), reverse=True)[:top]
    return {
        "what": f"one request of the {'compiled' if decoder.graph else 'eager'} loop: prefill + {new_tokens - 1} "
        f"decode steps, batch {inputs['input_ids'].shape[0]}",
        "sort": key,
        "top": [{"name": e.key[:120], "calls": e.count, "total_ms": getattr(e, key) / 1000.0} for e in events],
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="scripts/gpu_decode.py", description=__doc__.split("\n\n")[0])
    parser.add_argument("--device", default="cuda")
    parser.add_argument("--size", choices=("full", "tiny"), default="full")
    parser.add_argument("--cache-dir", default="~/.cache/evalkit")
    parser.add_argument("--dtype", default="bfloat16")
    parser.add_argument("--num-crops", type=int, default=4)
    parser.add_argument("--context", type=int, default=850)
    parser.add_argument("--new-tokens", type=int, default=128)
    parser.add_argument("--batch", type=int, default=8)
    parser.add_argument("--reps", type=int, default=3)
    parser.add_argument("--long-prompt", type=int, default=LONG_PROMPT, help="0 skips the crossing-4096 check")
    parser.add_argument("--attn", default="sdpa,sdpa_cudnn,sdpa_efficient,sdpa_flash", help="the sweep; '' skips")
    parser.add_argument("--energy-window-s", type=float, default=5.0)
    parser.add_argument("--budget-s", type=float, default=330.0, help="optional parts are skipped after this")
    parser.add_argument("--out", type=Path, default=REPO_ROOT / "reports" / "gpu-acceptance" / "decode.json")
    args = parser.parse_args(argv)
    began = time.perf_counter()
    device = resolve_device(args.device)
    result: dict = {"device": str(device), "environment": environment(), "args": vars(args) | {"out": str(args.out)}}
    skipped: list[str] = []

    def over_budget(part: str) -> bool:
        if time.perf_counter() - began > args.budget_s:
            skipped.append(f"{part}: skipped, the {args.budget_s:.0f} s budget was spent")
            return True
        return False

    # The engine every run loads through; batch_size > 1: the model is loaded for masked (left-padded) batches.
    model_cfg = ModelConfig(name=f"phi3v-{args.size}", random=args.size)
    runtime = RuntimeConfig(device=str(device), dtype=args.dtype, attn="sdpa", batch_size=max(2, args.batch),
                            num_crops=args.num_crops)  # fmt: skip
    loaded = engine.load(model_cfg, runtime, args.cache_dir)
    model, processor = loaded.model, loaded.processor
    result["load_s"], result["fingerprint_s"] = loaded.load_s, loaded.fingerprint_s
    result["weights_sha256"] = loaded.weights["sha256"]
    result["model"] = {"path": str(loaded.source.path), "size": args.size, "dtype": args.dtype,
                       "parameters": sum(p.numel() for p in model.parameters())}  # fmt: skip
    gb_s, how = measure_copy_bandwidth(device)
    result["copy_bandwidth"] = {"gb_s": gb_s, "how": how}
    shape = model_shape(model)
    spec = gpu_spec(torch.cuda.get_device_name(device)) if device.type == "cuda" else None
    result["spec"] = None if spec is None else {"name": spec.name, "bandwidth_gb_s": spec.bandwidth_gb_s}

    one = _on(device, make_inputs(processor, [args.context]))
    lengths = [args.context - 7 * i for i in range(args.batch)]  # a left-padded batch around the same context
    many = _on(device, make_inputs(processor, lengths, seed=1))
    eager, graph = GreedyDecoder(model), GreedyDecoder(model, graph=True)
    cases = result["cases"] = {}
    cases["eager_bs1"] = timed(eager, one, args.new_tokens, args.reps, warmup=1)
    cases["graph_bs1"] = timed(graph, one, args.new_tokens, args.reps, warmup=2)
    cases["graph_bs1"]["equal_to_eager"] = cases["graph_bs1"]["tokens"] == cases["eager_bs1"]["tokens"]
    if not over_budget(f"compiled loop at batch {args.batch}"):
        cases[f"graph_bs{args.batch}"] = timed(graph, many, args.new_tokens, args.reps, warmup=2)
    for case in cases.values():
        bounds(case, shape, spec, gb_s)

    if args.long_prompt and not over_budget("graph-vs-eager across position 4096"):
        long = _on(device, make_inputs(processor, [args.long_prompt], seed=2))
        a = eager.generate(**long, max_new_tokens=LONG_NEW, stop_token_ids=[]).new_tokens[0].tolist()
        graph.generate(**long, max_new_tokens=LONG_NEW, stop_token_ids=[])  # compiles this capacity bucket
        b = graph.generate(**long, max_new_tokens=LONG_NEW, stop_token_ids=[]).new_tokens[0].tolist()
        prefix = next((i for i, (x, y) in enumerate(zip(a, b, strict=True)) if x != y), len(a))
        result["agreement_4096"] = {"prompt_tokens": args.long_prompt, "new_tokens": LONG_NEW, "equal": a == b,
                                    "common_prefix": prefix, "eager": a, "compiled": b}  # fmt: skip

    energy = result["energy"] = {}
    for name, inputs in (("graph_bs1", one), (f"graph_bs{args.batch}", many)):
        if name in cases and not over_budget(f"energy of {name}"):
            energy[name] = energy_of(graph, inputs, args.new_tokens, args.energy_window_s)
    if not over_budget("profiler trace"):
        result["profile"] = profile_top(graph, one, min(16, args.new_tokens))

    sweep = result["attention"] = []
    names = [a for a in args.attn.split(",") if a]
    for round_ in (1, 2):
        for attn in names:
            entry = {"attn": attn, "round": round_}
            sweep.append(entry)
            if over_budget(f"attention {attn} round {round_}"):
                entry["skipped"] = "time budget spent"
                continue
            use_graph = graph_unsupported_reason(attn) is None
            try:
                set_attention(model, attn, masked=use_graph)
            except UnsupportedSettingError as exc:
                if not use_graph:
                    entry["skipped"] = str(exc)
                    continue
                try:  # e.g. sdpa_flash on CUDA takes no mask: the eager loop reads only the filled columns
                    set_attention(model, attn, masked=False)
                    use_graph = False
                except UnsupportedSettingError as again:
                    entry["skipped"] = str(again)
                    continue
            decoder = GreedyDecoder(model, graph=use_graph)
            graphs_before = dynamo_counts()[0]
            case = timed(decoder, one, args.new_tokens, args.reps, warmup=2 if use_graph else 1)
            entry.update({k: case[k] for k in ("loop", "decode_tokens_per_s", "prefill_ms", "step_ms")})
            entry["graphs_built"] = dynamo_counts()[0] - graphs_before
            entry["equal_to_sdpa_eager"] = case["tokens"] == cases["eager_bs1"]["tokens"]
    set_attention(model, "sdpa", masked=True)

    result["decoder"] = {"eager": eager.stats(), "compiled": graph.stats()}
    result["skipped"] = skipped
    result["elapsed_s"] = time.perf_counter() - began
    args.out.parent.mkdir(parents=True, exist_ok=True)
    partial = args.out.with_name(args.out.name + ".partial")
    partial.write_text(json.dumps(result, indent=1) + "\n", encoding="utf-8")
    partial.replace(args.out)  # the results writer never reads a half-written file
    print(f"gpu_decode: {args.out} ({result['elapsed_s']:.0f} s)")
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""How close a CUDA run comes to the GPU's limits: decode against memory bandwidth, prefill against peak compute.

Decode is memory-bound: each step reads every language-model weight once (the embedding table excepted: a step
reads one row of it) plus the KV cache of every sequence in the batch, so one step takes at least
(weight bytes + batch x KV bytes per sequence) / bandwidth, and a sequence gains one token per step:

    bound (tokens/s per sequence) = bandwidth / (weight bytes + batch_size x KV bytes at the mean decode context)

That bound counts the ideal bytes (each row's own context). What the implementation reads is also recorded: a
compiled decode step reads the whole cache capacity of every row, an eager one the batch's padded width; the
`decode_bytes_read` / `decode_bytes_ideal` pair shows what padding and capacity cost. Beside the datasheet bandwidth,
the device's measured copy bandwidth (`measure_copy_bandwidth`: a 2 GiB device-to-device copy, read + write bytes)
is a second denominator, the bandwidth a kernel can actually reach.

Prefill is compute-bound: FLOPs = 2 x (matmul parameters) x tokens + attention scores, for the language model over
the prompt tokens (lm_head once per sequence: only the last position's logits are computed) and for the CLIP tower
over its crops (the projector over the merged image tokens, not the 577 patches of each crop); achieved TFLOP/s =
FLOPs / prefill time, compared with the GPU's dense (no sparsity) peak for the run's dtype. Peaks and bandwidths are
vendor datasheet figures (GPU_SPECS); an unknown GPU gets no roofline, with the reason.
"""

from __future__ import annotations

import re
import statistics
from dataclasses import asdict, dataclass

import torch


@dataclass(frozen=True)
class GpuSpec:
    name: str
    bandwidth_gb_s: float  # HBM / GDDR bandwidth, 1e9 bytes/s
    tflops: dict  # dtype -> dense peak TFLOP/s: "bfloat16", "float16", "float32" (CUDA cores), "tf32"
    source: str


_DATASHEET = "NVIDIA datasheet, dense"
# Most specific first: the first entry whose every keyword occurs in torch's device name (lower case) wins.
GPU_SPECS: list[tuple[tuple[str, ...], GpuSpec]] = [
    (("h200", "nvl"), GpuSpec("H200 NVL", 4800, {"bfloat16": 835.5, "float16": 835.5, "tf32": 417.5, "float32": 60.0}, _DATASHEET)),
    (("h200",), GpuSpec("H200 SXM", 4800, {"bfloat16": 989.4, "float16": 989.4, "tf32": 494.7, "float32": 66.9}, _DATASHEET)),
    (("h100", "nvl"), GpuSpec("H100 NVL", 3900, {"bfloat16": 835.5, "float16": 835.5, "tf32": 417.5, "float32": 60.0}, _DATASHEET)),
    (("h100", "pcie"), GpuSpec("H100 PCIe", 2000, {"bfloat16": 756.5, "float16": 756.5, "tf32": 378.0, "float32": 51.2}, _DATASHEET)),
    (("h100",), GpuSpec("H100 SXM", 3350, {"bfloat16": 989.4, "float16": 989.4, "tf32": 494.7, "float32": 66.9}, _DATASHEET)),
    (("a100", "80gb", "pcie"), GpuSpec("A100 80GB PCIe", 1935, {"bfloat16": 312.0, "float16": 312.0, "tf32": 156.0, "float32": 19.5}, _DATASHEET)),
    (("a100", "80gb"), GpuSpec("A100 80GB SXM", 2039, {"bfloat16": 312.0, "float16": 312.0, "tf32": 156.0, "float32": 19.5}, _DATASHEET)),
    (("a100",), GpuSpec("A100 40GB", 1555, {"bfloat16": 312.0, "float16": 312.0, "tf32": 156.0, "float32": 19.5}, _DATASHEET)),
    (("l40s",), GpuSpec("L40S", 864, {"bfloat16": 362.05, "float16": 362.05, "tf32": 183.0, "float32": 91.6}, _DATASHEET)),
    (("l4",), GpuSpec("L4", 300, {"bfloat16": 121.0, "float16": 121.0, "tf32": 60.0, "float32": 30.3}, _DATASHEET)),
    # The A10G is AWS's variant of the A10: same memory, no NVIDIA datasheet; compute as AWS/third parties list it.
    (("a10g",), GpuSpec("A10G", 600, {"bfloat16": 70.0, "float16": 70.0, "float32": 35.0}, "AWS G5 figures (no NVIDIA datasheet), dense")),
    (("a10",), GpuSpec("A10", 600, {"bfloat16": 125.0, "float16": 125.0, "tf32": 62.5, "float32": 31.2}, _DATASHEET)),
]  # fmt: skip


def gpu_spec(device_name: str) -> GpuSpec | None:
    """The spec of a GPU by torch's device name ("NVIDIA H100 80GB HBM3", "NVIDIA A100-SXM4-80GB"...), or None."""
    words = set(re.split(r"[\s_-]+", device_name.lower()))
    for keywords, spec in GPU_SPECS:
        if all(k in words for k in keywords):
            return spec
    return None


@dataclass(frozen=True)
class ModelShape:
    """What the bounds need to know of a model: counted from the loaded modules, so they match what runs."""

    lm_matmul_params: int  # language-model weights a decode step reads (embedding table excluded, lm_head included)
    lm_layers: int
    lm_hidden: int
    kv_heads: int
    head_dim: int
    vision_matmul_params: int  # CLIP layers that run (feature layer -2: all but the last) + the projector
    vision_layers: int
    vision_width: int
    vision_tokens_per_crop: int  # patches + class token (577 at 336 px, patch 14)
    bytes_per_param: int
    lm_head_params: int = 0  # part of lm_matmul_params; in prefill it runs once per sequence, not per token
    projector_params: int = 0  # part of vision_matmul_params; it runs on the merged image tokens, not on patches

    def kv_bytes_per_token(self) -> int:
        return 2 * self.lm_layers * self.kv_heads * self.head_dim * self.bytes_per_param

    def to_dict(self) -> dict:
        return asdict(self)


def model_shape(model: torch.nn.Module) -> ModelShape:
    text = model.config
    vision = model.model.vision_embed_tokens.img_processor
    tower = vision.vision_model
    n_run = len(tower.encoder.layers) + 1 + vision.feature_layer  # layers CLIPTower actually runs
    vision_params = sum(p.numel() for layer in tower.encoder.layers[:n_run] for p in layer.parameters())
    vision_params += sum(p.numel() for p in model.model.vision_embed_tokens.img_projection.parameters())
    embed = model.model.embed_tokens.weight.numel()
    lm = sum(p.numel() for n, p in model.named_parameters() if not n.startswith("model.vision_embed_tokens"))
    heads = text.num_attention_heads
    cfg = tower.config
    return ModelShape(
        lm_matmul_params=lm - embed,
        lm_layers=text.num_hidden_layers,
        lm_hidden=text.hidden_size,
        kv_heads=getattr(text, "num_key_value_heads", None) or heads,
        head_dim=text.hidden_size // heads,
        vision_matmul_params=vision_params,
        vision_layers=n_run,
        vision_width=cfg.hidden_size,
        vision_tokens_per_crop=(cfg.image_size // cfg.patch_size) ** 2 + 1,
        bytes_per_param=model.model.embed_tokens.weight.element_size(),
        lm_head_params=model.lm_head.weight.numel(),
        projector_params=sum(p.numel() for p in model.model.vision_embed_tokens.img_projection.parameters()),
    )


def prefill_flops(shape: ModelShape, prompt_tokens: list[int], crops: int, image_tokens: int = 0) -> float:
    """Forward FLOPs of a batch's prefill as it runs: matmuls (2 per parameter per token) and causal attention scores
    for the language model, lm_head for the last position of each sequence; full attention for each CLIP crop, and
    the projector over the `image_tokens` merged image tokens."""
    body = shape.lm_matmul_params - shape.lm_head_params
    lm = sum(2.0 * body * t + 2.0 * shape.lm_layers * shape.lm_hidden * t * t for t in prompt_tokens)
    lm += 2.0 * shape.lm_head_params * len(prompt_tokens)
    v = shape.vision_tokens_per_crop
    tower = shape.vision_matmul_params - shape.projector_params
    vision = crops * (2.0 * tower * v + 4.0 * shape.vision_layers * shape.vision_width * v * v)
    return lm + vision + 2.0 * shape.projector_params * image_tokens


_measured: dict[str, tuple[float | None, str]] = {}


def copy_bandwidth(device: torch.device) -> tuple[float | None, str]:
    """measure_copy_bandwidth once per device and process (runs of one process share the figure)."""
    key = str(device)
    if key not in _measured:
        _measured[key] = measure_copy_bandwidth(torch.device(device))
    return _measured[key]


def measure_copy_bandwidth(device: torch.device, nbytes: int = 2 << 30, repeats: int = 5) -> tuple[float | None, str]:
    """(GB/s, how) of a device-to-device copy of `nbytes`: bytes read + bytes written per second (STREAM's copy
    convention), median of `repeats` copies timed with CUDA events. (None, reason) where it cannot be measured."""
    if torch.device(device).type != "cuda":
        return None, "measured on CUDA devices only"
    try:
        src = torch.empty(nbytes, dtype=torch.uint8, device=device)
        dst = torch.empty_like(src)
    except torch.OutOfMemoryError:
        return None, f"not enough free device memory for two {nbytes / 2**30:.1f} GiB buffers"
    dst.copy_(src)  # warm-up
    times = []
    for _ in range(repeats):
        start, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
        start.record()
        dst.copy_(src)
        end.record()
        end.synchronize()
        times.append(start.elapsed_time(end) / 1000.0)
    del src, dst
    torch.cuda.empty_cache()
    how = f"{nbytes / 2**30:.0f} GiB device-to-device copy, median of {repeats}"
    return 2 * nbytes / statistics.median(times) / 1e9, how


@dataclass
class BatchFigures:
    """One timed batch, as the roofline needs it."""

    prompt_tokens: list[int]  # per sequence, padding excluded
    generated: list[int]  # per sequence
    crops: int  # CLIP crops run (global views + sub-crops over the batch's images)
    prefill_ms: float
    decode_tokens_per_s: float | None  # per sequence
    image_tokens: int = 0  # merged image tokens the projector ran on
    kv_columns: float | None = None  # KV columns a decode step read per row (mean); None: not known (ideal assumed)


def roofline(
    shape: ModelShape,
    batches: list[BatchFigures],
    device_name: str,
    dtype: str,
    tf32: bool,
    measured_bandwidth_gb_s: float | None = None,
) -> dict:
    """The `performance.roofline` block of run.json (see docs/records.md)."""
    spec = gpu_spec(device_name)
    if spec is None:
        known = ", ".join(s.name for _, s in GPU_SPECS)
        return {"gpu": device_name, "skipped": f"GPU not in evalkit's table of known GPUs ({known})"}
    peak_key = "tf32" if dtype == "float32" and tf32 and "tf32" in spec.tflops else dtype
    peak = spec.tflops.get(peak_key)
    weight_bytes = shape.lm_matmul_params * shape.bytes_per_param
    bounds, utils, achieved, tflops, ideal, read, measured_utils = [], [], [], [], [], [], []
    for b in batches:
        if b.decode_tokens_per_s is not None and b.generated:
            context = statistics.fmean(p + g / 2 for p, g in zip(b.prompt_tokens, b.generated, strict=True))
            step_bytes = weight_bytes + len(b.prompt_tokens) * context * shape.kv_bytes_per_token()
            columns = b.kv_columns if b.kv_columns is not None else context
            ideal.append(step_bytes)
            read.append(weight_bytes + len(b.prompt_tokens) * columns * shape.kv_bytes_per_token())
            bound = spec.bandwidth_gb_s * 1e9 / step_bytes
            bounds.append(bound)
            achieved.append(b.decode_tokens_per_s)
            utils.append(b.decode_tokens_per_s / bound)
            if measured_bandwidth_gb_s:
                measured_utils.append(b.decode_tokens_per_s / (measured_bandwidth_gb_s * 1e9 / step_bytes))
        if b.prefill_ms > 0:
            flops = prefill_flops(shape, b.prompt_tokens, b.crops, b.image_tokens)
            tflops.append(flops / (b.prefill_ms / 1000.0) / 1e12)
    med = statistics.median
    measured = {}
    if measured_bandwidth_gb_s:
        measured = {
            "measured_bandwidth_gb_s": measured_bandwidth_gb_s,
            "decode_bound_measured_tokens_per_s": measured_bandwidth_gb_s * 1e9 / med(ideal) if ideal else None,
            "bandwidth_utilisation_measured": med(measured_utils) if measured_utils else None,
        }
    return {
        "gpu": device_name,
        "spec": spec.name,
        "source": spec.source,
        "bandwidth_gb_s": spec.bandwidth_gb_s,
        "peak_tflops": peak,
        "peak_kind": peak_key,
        "weight_bytes": weight_bytes,
        "kv_bytes_per_token": shape.kv_bytes_per_token(),
        "decode_bound_tokens_per_s": med(bounds) if bounds else None,
        "decode_tokens_per_s": med(achieved) if achieved else None,
        "bandwidth_utilisation": med(utils) if utils else None,
        "prefill_tflops": med(tflops) if tflops else None,
        "compute_utilisation": med(tflops) / peak if tflops and peak else None,
        "decode_bytes_ideal": med(ideal) if ideal else None,
        "decode_bytes_read": med(read) if read else None,
        **measured,
        "n_batches": len(batches),
    }

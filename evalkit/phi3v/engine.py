"""The one way to a loaded model: `load` turns a model config and a runtime setting into a `LoadedModel` (weights,
processor, device, how long loading took, the weights' fingerprint). Runs, `evalkit generate` and `pytest
benchmarks/` all load through it. `check_runtime` says whether this machine can run a setting before anything is
loaded (preflight uses it too); `model_source` says which checkpoint a model config names (resume uses it to
fingerprint the weights)."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import torch

from evalkit.config.settings import ModelConfig, RuntimeConfig
from evalkit.errors import UnsupportedSettingError
from evalkit.phi3v.attention import compile_unsupported_reason
from evalkit.phi3v.checkpoints import cached_checkpoint
from evalkit.phi3v.decode import graph_unsupported_reason
from evalkit.phi3v.hub import ModelSource, resolve_model, weights_fingerprint
from evalkit.phi3v.loading import check_setting, load_model, resolve_device, resolve_dtype
from evalkit.phi3v.modeling import Phi3VForCausalLM
from evalkit.phi3v.processing import Phi3VProcessor


@dataclass
class LoadedModel:
    model: Phi3VForCausalLM
    processor: Phi3VProcessor
    source: ModelSource
    device: torch.device
    load_s: float
    weights: dict  # sha256 fingerprint of the weight files ({} when not asked for)
    fingerprint_s: float | None = None  # seconds spent hashing them (0 when every hash was remembered)


def model_source(model_cfg: ModelConfig, cache_dir: str | Path) -> ModelSource:
    """The checkpoint a model config names; random-weight checkpoints are made on first use."""
    if model_cfg.path:
        return resolve_model(model_cfg.path, model_cfg.revision)
    path = cached_checkpoint(cache_dir, model_cfg.random, family=model_cfg.family, seed=model_cfg.seed)
    return ModelSource(path=path)


def hash_cache_file(cache_dir: str | Path) -> Path:
    """Where weight hashes are remembered across runs, by (path, size, mtime, ctime, inode) (evalkit.phi3v.hub)."""
    return Path(cache_dir).expanduser() / "weight-sha256.json"


def needs_mask(runtime: RuntimeConfig) -> bool:
    # Left-padded batches carry an attention mask, and so does the static cache that runtime.compile uses.
    return runtime.batch_size > 1 or runtime.compile


def check_runtime(runtime: RuntimeConfig) -> torch.device:
    """Raise UnsupportedSettingError if this machine cannot run the setting; nothing is loaded."""
    device = resolve_device(runtime.device)
    check_setting(runtime.attn, resolve_dtype(runtime.dtype), device, masked=needs_mask(runtime))
    reason = (compile_unsupported_reason(device) or graph_unsupported_reason(runtime.attn)) if runtime.compile else None
    if reason:
        raise UnsupportedSettingError(f"runtime.compile=true: {reason}")
    return device


def load(
    model_cfg: ModelConfig,
    runtime: RuntimeConfig,
    cache_dir: str | Path,
    *,
    place: Callable[[torch.device], torch.device] | None = None,
    fingerprint: bool = True,
) -> LoadedModel:
    """Model and processor for `runtime` (dtype, attention, device, num_crops). `place` picks this process's device
    from the resolved one (under torchrun: cuda:LOCAL_RANK); `fingerprint` hashes the weight files for the record."""
    device = check_runtime(runtime)
    if place is not None:
        device = place(device)
    source = model_source(model_cfg, cache_dir)
    start = time.perf_counter()
    model = load_model(
        source.path, dtype=runtime.dtype, attn_implementation=runtime.attn, device=device, source=source,
        masked=needs_mask(runtime),
    )  # fmt: skip
    processor = Phi3VProcessor.from_pretrained(source.path, num_crops=runtime.num_crops)
    if device.type == "cuda":
        torch.cuda.synchronize(device)
    load_s = time.perf_counter() - start
    return LoadedModel(
        model, processor, source, device, load_s, weights_fingerprint(source.path) if fingerprint else {}
    )

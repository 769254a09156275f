"""The one way to a loaded model: `load` turns a model config and a runtime setting into a `LoadedModel` (weights,
processor, device, how long loading took, the weights' fingerprint). Runs, `evalkit generate` and `pytest
benchmarks/` all load through it. `check_runtime` says whether this machine can run a setting before anything is
loaded (preflight uses it too); `model_source` says which checkpoint a model config names (resume uses it to
fingerprint the weights)."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path

import torch

from evalkit.config.settings import ModelConfig, RuntimeConfig
from evalkit.errors import UnsupportedSettingError
from evalkit.phi3v.attention import compile_unsupported_reason
from evalkit.phi3v.checkpoints import cached_checkpoint
from evalkit.phi3v.decode import forget_decoders, graph_unsupported_reason
from evalkit.phi3v.hub import ModelSource, resolve_model, weights_fingerprint
from evalkit.phi3v.loading import check_setting, load_model, resolve_device, resolve_dtype, set_attention
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
    reused: bool = False  # a sweep's kept model with its attention switched, not loaded again (`load(keep=True)`)


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


# The model a sweep keeps between its jobs (`load(..., keep=True)`), and what loading has done in this process
# (tests and records read the counts: a sweep over attention settings loads once).
_kept: dict = {"key": None, "loaded": None}
COUNTS = {"loads": 0, "switches": 0}


def load(
    model_cfg: ModelConfig,
    runtime: RuntimeConfig,
    cache_dir: str | Path,
    *,
    place: Callable[[torch.device], torch.device] | None = None,
    fingerprint: bool = True,
    keep: bool = False,
) -> LoadedModel:
    """Model and processor for `runtime` (dtype, attention, device, num_crops). `place` picks this process's device
    from the resolved one (under torchrun: cuda:LOCAL_RANK); `fingerprint` hashes the weight files for the record
    (hashes are remembered across runs by path, size and mtime: a second run of a checkpoint reads no weights).

    `keep` (the jobs of a sweep in one process): the model stays loaded after the job, and a later `keep` load of
    the same weights, dtype, device and crops only switches its attention implementation (loading.set_attention,
    with the same checks as a load) instead of reading the weights again (`LoadedModel.reused`)."""
    device = check_runtime(runtime)
    if place is not None:
        device = place(device)
    source = model_source(model_cfg, cache_dir)
    key = (str(source.path), source.revision, runtime.dtype, str(device), runtime.num_crops)
    if keep and _kept["key"] == key:
        return _switch(_kept["loaded"], runtime)
    _kept["key"] = _kept["loaded"] = None  # a model kept by an earlier sweep is not held past a load of another
    start = time.perf_counter()
    model = load_model(
        source.path, dtype=runtime.dtype, attn_implementation=runtime.attn, device=device, source=source,
        masked=needs_mask(runtime),
    )  # fmt: skip
    processor = Phi3VProcessor.from_pretrained(source.path, num_crops=runtime.num_crops)
    if device.type == "cuda":
        torch.cuda.synchronize(device)
    load_s = time.perf_counter() - start
    COUNTS["loads"] += 1
    weights, fingerprint_s = {}, None
    if fingerprint:
        start = time.perf_counter()
        weights = weights_fingerprint(source.path, hash_cache_file(cache_dir))
        fingerprint_s = time.perf_counter() - start
    loaded = LoadedModel(model, processor, source, device, load_s, weights, fingerprint_s)
    if keep:
        _kept["key"], _kept["loaded"] = key, loaded
    return loaded


def _switch(kept: LoadedModel, runtime: RuntimeConfig) -> LoadedModel:
    """The kept model with `runtime.attn` as its attention implementation; its compiled decode steps are dropped,
    since they were traced with the previous implementation."""
    start = time.perf_counter()
    set_attention(kept.model, runtime.attn, masked=needs_mask(runtime))
    forget_decoders(kept.model)
    COUNTS["switches"] += 1
    return replace(kept, load_s=time.perf_counter() - start, fingerprint_s=0.0, reused=True)

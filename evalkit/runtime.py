"""What a setting needs before anything is loaded: whether this machine can run it (`check_runtime`, also used by
the preflight of a sweep and of `pytest benchmarks/`) and which checkpoint a model config names (`model_source`, also
used by resume to fingerprint the weights)."""

from __future__ import annotations

from pathlib import Path

import torch

from evalkit.errors import UnsupportedSettingError
from evalkit.phi3v.attention import compile_unsupported_reason
from evalkit.phi3v.checkpoints import cached_checkpoint
from evalkit.phi3v.decode import graph_unsupported_reason
from evalkit.phi3v.hub import ModelSource, resolve_model
from evalkit.phi3v.loading import check_setting, resolve_device, resolve_dtype
from evalkit.settings import ModelConfig, RuntimeConfig


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

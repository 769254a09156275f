"""Loading once: weight hashes remembered across runs by (path, size, mtime, ctime, inode); load and fingerprint
seconds recorded."""

from __future__ import annotations

import json
import os
import shutil

import pytest

from evalkit.phi3v import hub
from evalkit.phi3v.hub import weights_fingerprint


def test_a_second_run_hashes_nothing_and_a_changed_file_is_hashed_again(tiny_checkpoint, tmp_path):
    ckpt = tmp_path / "ckpt"
    shutil.copytree(tiny_checkpoint, ckpt)
    cache = tmp_path / "cache" / "weight-sha256.json"
    before = hub.hash_reads
    first = weights_fingerprint(ckpt, cache)
    assert hub.hash_reads == before + 1 and cache.is_file()
    hub._hash_file.cache_clear()  # what a new process starts with: nothing hashed in memory
    assert weights_fingerprint(ckpt, cache) == first
    assert hub.hash_reads == before + 1  # read from the cache file, the weights were not read again
    # Same size, new content and mtime: hashed again, and the new hash differs.
    weights = ckpt / "model.safetensors"
    data = bytearray(weights.read_bytes())
    data[-1] ^= 0xFF
    weights.write_bytes(bytes(data))
    os.utime(weights, ns=(weights.stat().st_atime_ns, weights.stat().st_mtime_ns + 10**9))
    changed = weights_fingerprint(ckpt, cache)
    assert hub.hash_reads == before + 2 and changed["sha256"] != first["sha256"]


def test_a_damaged_hash_cache_is_an_empty_one(tiny_checkpoint, tmp_path):
    cache = tmp_path / "weight-sha256.json"
    cache.write_text("{not json")
    hub._hash_file.cache_clear()
    assert weights_fingerprint(tiny_checkpoint, cache) == weights_fingerprint(tiny_checkpoint)
    key, digest = next(iter(json.loads(cache.read_text()).items()))
    assert key.startswith(str((tiny_checkpoint / "model.safetensors").resolve())) and len(digest) == 64


def test_a_sweep_over_attention_settings_switches_a_loaded_model(tiny_checkpoint, monkeypatch):
    """set_attention: one load serves three settings, each answering as a model loaded with it."""
    import torch

    from evalkit.errors import UnsupportedSettingError
    from evalkit.phi3v import Phi3VProcessor, build_prompt, load_model, loading
    from evalkit.phi3v.decode import GreedyDecoder
    from evalkit.phi3v.loading import set_attention

    loads = {"n": 0}
    real_load_state = loading.load_state

    def counting(*args, **kwargs):
        loads["n"] += 1
        return real_load_state(*args, **kwargs)

    monkeypatch.setattr(loading, "load_state", counting)
    processor = Phi3VProcessor.from_pretrained(tiny_checkpoint, num_crops=1)
    inputs = processor([build_prompt("Hello there", 0), build_prompt("Hi", 0)], None)
    model = load_model(tiny_checkpoint, attn_implementation="eager")
    switched = {}
    for attn in ("sdpa", "sdpa_math", "eager"):
        set_attention(model, attn, masked=True)
        vision = model.model.vision_embed_tokens.img_processor.vision_model.config
        assert model.config._attn_implementation == vision._attn_implementation == loading.implementation(attn)
        switched[attn] = GreedyDecoder(model).generate(**inputs, max_new_tokens=6, stop_token_ids=[]).new_tokens
    assert loads["n"] == 1
    with pytest.raises(UnsupportedSettingError, match="sdpa_efficient"):
        set_attention(model, "sdpa_efficient")
    assert model.config._attn_implementation == "eager"  # a refused setting changes nothing
    for attn, tokens in switched.items():
        fresh = load_model(tiny_checkpoint, attn_implementation=attn, masked=True)
        expected = GreedyDecoder(fresh).generate(**inputs, max_new_tokens=6, stop_token_ids=[]).new_tokens
        assert torch.equal(tokens, expected), attn

"""Loading once: weight hashes remembered across runs by (path, size, mtime, ctime, inode); load and fingerprint
seconds recorded."""

from __future__ import annotations

import json
import os
import shutil

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

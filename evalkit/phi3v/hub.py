"""Where a model comes from: a local directory, or a Hub repo id + revision resolved through huggingface_hub's cache.

Offline first: a cached snapshot is used without touching the network, and with `HF_HUB_OFFLINE=1` nothing else is
tried. Snapshots of the published repos also hold `.py` files (the remote code); they are never downloaded by us and
never imported.
"""

from __future__ import annotations

import functools
import hashlib
import json
import os
import re
import tempfile
from dataclasses import asdict, dataclass
from pathlib import Path

from evalkit.errors import CheckpointError

# What evalkit needs from a snapshot: configs, tokenizer and weights; never the remote code.
SNAPSHOT_PATTERNS = ["*.json", "*.safetensors", "tokenizer.model"]
# What the processor alone needs (no weights to download when only the processor is asked for).
PROCESSOR_PATTERNS = ["*.json", "tokenizer.model"]
_SHA256 = re.compile(r"^[0-9a-f]{64}$")


@dataclass(frozen=True)
class ModelSource:
    path: Path
    repo_id: str | None = None
    revision: str | None = None
    commit: str | None = None  # the Hub commit the revision resolved to

    def to_dict(self) -> dict:
        data = asdict(self)
        data["path"] = str(self.path)
        return data

    @property
    def label(self) -> str:
        return f"{self.repo_id}@{self.commit[:12]}" if self.repo_id and self.commit else str(self.path)


def resolve_model(
    path_or_repo_id: str | os.PathLike,
    revision: str | None = None,
    cache_dir: str | None = None,
    *,
    patterns: list[str] | None = None,
) -> ModelSource:
    """A local checkpoint directory as it is, or the cached (or downloaded) snapshot of `repo_id` at `revision`.

    `patterns` limits what a download fetches (default SNAPSHOT_PATTERNS: configs, tokenizer, weights).
    """
    path = Path(path_or_repo_id).expanduser()
    if path.is_dir():
        if revision:
            raise CheckpointError(
                f"{path} is a local directory; a revision ({revision!r}) only applies to Hub repo ids"
            )
        return ModelSource(path=path.resolve())
    text = str(path_or_repo_id)
    if path.exists() or text.startswith((".", "/", "~")) or text.count("/") != 1:
        raise CheckpointError(f"{text}: no such checkpoint directory, and not a Hub repo id of the form 'org/name'")
    return _resolve_hub(text, revision, cache_dir, patterns or SNAPSHOT_PATTERNS)


def _resolve_hub(repo_id: str, revision: str | None, cache_dir: str | None, patterns: list[str]) -> ModelSource:
    from huggingface_hub import snapshot_download
    from huggingface_hub.errors import HFValidationError, LocalEntryNotFoundError

    kwargs = dict(repo_id=repo_id, revision=revision, cache_dir=cache_dir, allow_patterns=patterns)
    try:
        snapshot = snapshot_download(local_files_only=True, **kwargs)
    except HFValidationError as exc:
        raise CheckpointError(f"{repo_id}: not a valid Hub repo id ({exc})") from exc
    except (LocalEntryNotFoundError, FileNotFoundError) as exc:
        if os.environ.get("HF_HUB_OFFLINE", "").lower() in ("1", "true", "yes"):
            raise CheckpointError(
                f"{repo_id}@{revision or 'main'}: not in the Hub cache and HF_HUB_OFFLINE is set"
                " (download it once, or point --model at a local directory)"
            ) from exc
        try:
            snapshot = snapshot_download(**kwargs)
        except Exception as download_exc:  # network, auth, missing revision: all mean "can't get it here"
            raise CheckpointError(
                f"{repo_id}@{revision or 'main'}: not cached and could not be downloaded ({download_exc})"
            ) from download_exc
    snapshot_path = Path(snapshot)
    # The snapshot directory is named after the commit the revision resolved to.
    return ModelSource(path=snapshot_path, repo_id=repo_id, revision=revision or "main", commit=snapshot_path.name)


def weight_files(model_dir: Path) -> list[Path]:
    """The safetensors files of a checkpoint: the sharded index's files, or the single model.safetensors."""
    index = model_dir / "model.safetensors.index.json"
    if index.is_file():
        try:
            weight_map = json.loads(index.read_text()).get("weight_map")
        except (json.JSONDecodeError, AttributeError) as exc:
            raise CheckpointError(f"{index}: not a valid safetensors index ({exc})") from exc
        if not isinstance(weight_map, dict) or not all(isinstance(v, str) for v in weight_map.values()):
            raise CheckpointError(f"{index}: weight_map must map tensor names to file names, got {weight_map!r:.60}")
        names = sorted(set(weight_map.values()))
        odd = [n for n in names if Path(n).name != n or n in ("", ".", "..")]
        if odd:
            raise CheckpointError(f"{index}: weight_map names files outside the checkpoint directory: {odd[:3]}")
        files = [model_dir / name for name in names]
        missing = [f.name for f in files if not f.is_file()]
        if missing:
            raise CheckpointError(f"{index}: lists shard(s) that are missing: {', '.join(missing)}")
        return files
    single = model_dir / "model.safetensors"
    if single.is_file():
        return [single]
    if any(model_dir.glob("*.bin")):
        raise CheckpointError(f"{model_dir}: only .bin weights found; evalkit loads safetensors only")
    raise CheckpointError(f"{model_dir}: no model.safetensors or model.safetensors.index.json")


# Files read to hash them in this process (a test counts them: a second run of a checkpoint reads none).
hash_reads = 0


def file_sha256(path: Path, cache_file: Path | None = None) -> str:
    """sha256 of a weight file. Hub blobs are named by it; other files are hashed once per (path, size, mtime,
    ctime, inode) in a process, and with `cache_file` once across processes (a second run hashes nothing)."""
    # A Hub blob is named by the sha256 of its content (LFS files), so a snapshot symlink gives it for free.
    target = path.resolve()
    if target.parent.name == "blobs" and _SHA256.match(target.name):
        return target.name
    stat = target.stat()
    key = f"{target}|{stat.st_size}|{stat.st_mtime_ns}|{stat.st_ctime_ns}|{stat.st_ino}"
    known = _read_hash_cache(cache_file).get(key) if cache_file else None
    if isinstance(known, str) and _SHA256.match(known):
        return known
    digest = _hash_file(target, stat.st_size, stat.st_mtime_ns, stat.st_ctime_ns, stat.st_ino)
    if cache_file:
        _remember_hash(cache_file, key, digest)
    return digest


@functools.lru_cache(maxsize=256)
def _hash_file(target: Path, size: int, mtime_ns: int, ctime_ns: int, inode: int) -> str:
    """sha256 of a file, once per (path, size, mtime, ctime, inode) in a process: a sweep or benchmark session loads
    the same 8 GB checkpoint once per setting and need not read it again just to hash it."""
    global hash_reads
    hash_reads += 1
    digest = hashlib.sha256()
    with open(target, "rb") as fh:
        while chunk := fh.read(8 << 20):
            digest.update(chunk)
    return digest.hexdigest()


_MAX_REMEMBERED = 512


def _read_hash_cache(cache_file: Path) -> dict:
    """The cache of earlier hashes; a missing, unreadable or damaged file is an empty cache (it only saves time)."""
    try:
        data = json.loads(Path(cache_file).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


def _remember_hash(cache_file: Path, key: str, digest: str) -> None:
    cache_file = Path(cache_file)
    entries = _read_hash_cache(cache_file)
    entries.pop(key, None)
    entries[key] = digest  # newest last; the oldest go first when the cache is full
    entries = dict(list(entries.items())[-_MAX_REMEMBERED:])
    try:
        cache_file.parent.mkdir(parents=True, exist_ok=True)
        # Written whole then renamed: a reader (another run starting) sees the old file or the new one.
        fd, tmp = tempfile.mkstemp(prefix=f".{cache_file.name}.", dir=cache_file.parent)
        try:
            with os.fdopen(fd, "w", encoding="utf-8") as fh:
                fh.write(json.dumps(entries, indent=0) + "\n")
            os.replace(tmp, cache_file)
        finally:
            Path(tmp).unlink(missing_ok=True)  # gone already when the rename succeeded
    except OSError:
        pass  # a read-only cache directory costs a rehash next time, nothing else


def weights_fingerprint(model_dir: Path, cache_file: Path | None = None) -> dict:
    """sha256 per weight file and one combined hash, recorded with every run (`cache_file`: see file_sha256)."""
    files = {f.name: file_sha256(f, cache_file) for f in weight_files(model_dir)}
    combined = hashlib.sha256("".join(f"{k}:{v}\n" for k, v in sorted(files.items())).encode()).hexdigest()
    return {"sha256": combined, "files": files}

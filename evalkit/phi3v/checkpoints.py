"""Write checkpoints in the published layout with random weights: no download needed to run or measure anything.

`tiny` shrinks the language model (hidden 64, 2 layers) and the vision tower's depth, for tests and CPU runs;
`full` keeps the published dimensions (about 4.2 B parameters) so speed and memory can be measured on a GPU.
Both carry the published tokenizer and processor files and a config.json in the published form.
"""

from __future__ import annotations

import copy
import errno
import json
import logging
import os
import re
import shutil
import tempfile
from importlib import resources
from pathlib import Path

import torch
from safetensors.torch import save_file

from evalkit.errors import CheckpointError

log = logging.getLogger(__name__)

FAMILIES = {"phi3v": "config_phi3v.json", "phi35v": "config_phi35v.json"}
SIZES = ("tiny", "full")
_FILES = [
    "tokenizer.json",
    "tokenizer_config.json",
    "special_tokens_map.json",
    "preprocessor_config.json",
    "generation_config.json",
]
SHARD_BYTES = 5 * 1024**3  # the published repos are sharded at roughly this size

TINY_TEXT = {
    "hidden_size": 64,
    "intermediate_size": 128,
    "num_hidden_layers": 2,
    "num_attention_heads": 4,
    "num_key_value_heads": 4,
}
TINY_VISION = {"num_hidden_layers": 2, "intermediate_size": 64}


def _asset(name: str) -> Path:
    return Path(str(resources.files("evalkit.phi3v") / "assets" / name))


def published_config(family: str = "phi3v") -> dict:
    if family not in FAMILIES:
        raise CheckpointError(f"unknown model family {family!r}; choose one of {', '.join(FAMILIES)}")
    return json.loads(_asset(FAMILIES[family]).read_text())


def checkpoint_config(size: str, family: str = "phi3v") -> dict:
    if size not in SIZES:
        raise CheckpointError(f"unknown checkpoint size {size!r}; choose one of {', '.join(SIZES)}")
    config = copy.deepcopy(published_config(family))
    if size == "tiny":
        config.update(TINY_TEXT)
        # Large init so a random tiny model's answers depend visibly on its input.
        config["initializer_range"] = 0.2
        half_head = TINY_TEXT["hidden_size"] // TINY_TEXT["num_attention_heads"] // 2
        for key in ("long_factor", "short_factor"):
            config["rope_scaling"][key] = config["rope_scaling"][key][:half_head]
        config["img_processor"]["vision_config"] = dict(TINY_VISION)
    return config


def _random_tensor(name: str, shape: tuple[int, ...], std: float, generator: torch.Generator) -> torch.Tensor:
    if name.endswith(("norm.weight", "layrnorm.weight")) or "layer_norm" in name:
        return torch.ones(shape)
    if name.endswith(".bias") and "norm" in name:
        return torch.zeros(shape)
    return torch.randn(shape, generator=generator) * std


# Written last into every checkpoint evalkit makes: what it is and the size of each file, so that a cache entry
# damaged later (a file deleted or cut short) is recognised.
MARKER = "evalkit-checkpoint.json"  # evalkit.records.facts.CHECKPOINT_MARKER: how a record knows its weights are random
_SHARD = re.compile(r"model-\d{5}-of-\d{5}\.safetensors")
_CHECKPOINT_FILES = {*_FILES, "config.json", "LICENSE", "model.safetensors", "model.safetensors.index.json", MARKER}


def _write(tmp: Path, size: str, family: str, seed: int) -> None:
    """Config, tokenizer, processor files, random bfloat16 weights under the published key names, then the marker."""
    from evalkit.phi3v.config import parse_config
    from evalkit.phi3v.modeling import Phi3VForCausalLM

    config = checkpoint_config(size, family)
    spec = parse_config(config, f"<{family} {size}>")
    with torch.device("meta"):
        model = Phi3VForCausalLM(spec.text, spec.vision, spec.embedding)
    shapes = {k: tuple(v.shape) for k, v in model.state_dict().items()}
    generator = torch.Generator().manual_seed(seed)
    std = float(config["initializer_range"])
    shards: list[dict[str, torch.Tensor]] = [{}]
    shard_bytes = 0
    for name in sorted(shapes):
        tensor = _random_tensor(name, shapes[name], std, generator).to(torch.bfloat16)
        if shard_bytes and shard_bytes + tensor.nbytes > SHARD_BYTES:
            shards.append({})
            shard_bytes = 0
        shards[-1][name] = tensor
        shard_bytes += tensor.nbytes
    if len(shards) == 1:
        save_file(shards[0], str(tmp / "model.safetensors"), metadata={"format": "pt"})
    else:
        weight_map = {}
        for i, shard in enumerate(shards, start=1):
            fname = f"model-{i:05d}-of-{len(shards):05d}.safetensors"
            save_file(shard, str(tmp / fname), metadata={"format": "pt"})
            weight_map.update(dict.fromkeys(shard, fname))
        total = sum(t.nbytes for shard in shards for t in shard.values())
        index = {"metadata": {"total_size": total}, "weight_map": dict(sorted(weight_map.items()))}
        (tmp / "model.safetensors.index.json").write_text(json.dumps(index, indent=2) + "\n")
    (tmp / "config.json").write_text(json.dumps(config, indent=2) + "\n")
    for name in _FILES:
        shutil.copyfile(_asset(name), tmp / name)
    shutil.copyfile(_asset("LICENSE"), tmp / "LICENSE")
    files = {f.name: f.stat().st_size for f in sorted(tmp.iterdir())}
    marker = {"made_by": "evalkit make-checkpoint", "family": family, "size": size, "seed": seed, "files": files}
    (tmp / MARKER).write_text(json.dumps(marker, indent=2) + "\n")


def _build(out: Path, size: str, family: str, seed: int) -> Path:
    """Write the checkpoint into a private temporary directory next to `out` (same file system, so it can be renamed
    into place); removed again if anything fails."""
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{out.name}.", suffix=".partial", dir=out.parent))
    try:
        _write(tmp, size, family, seed)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return tmp


def _publish(tmp: Path, out: Path) -> bool:
    """Rename the finished directory to `out` in one step (it appears whole or not at all). False, and `tmp` removed,
    when `out` is already there with content: another process published first."""
    try:
        os.rename(tmp, out)  # replaces `out` only if it is missing or an empty directory
        return True
    except OSError as exc:
        shutil.rmtree(tmp, ignore_errors=True)
        if exc.errno in (errno.ENOTEMPTY, errno.EEXIST):
            return False
        raise CheckpointError(f"{out}: cannot publish the new checkpoint ({exc.strerror})") from exc


def _foreign_entries(directory: Path) -> list[str]:
    """Entries of `directory` that are not files a checkpoint consists of (user files, subdirectories...)."""
    return sorted(
        p.name + ("/" if p.is_dir() else "")
        for p in directory.iterdir()
        if p.is_dir() or not (p.name in _CHECKPOINT_FILES or _SHARD.fullmatch(p.name))
    )


def make_checkpoint(
    out_dir: str | Path, size: str = "tiny", *, family: str = "phi3v", seed: int = 0, overwrite: bool = False
) -> Path:
    """Write config, tokenizer, processor files and random bfloat16 weights under the published key names.

    `overwrite` replaces an existing directory only if everything in it belongs to a checkpoint (config, tokenizer
    and processor files, weights, index, LICENSE); anything else is named and the directory is left alone.
    """
    out = Path(out_dir)
    if out.exists() and not out.is_dir():
        raise CheckpointError(f"{out}: exists and is not a directory")
    existing = out.is_dir() and any(out.iterdir())
    if existing and not overwrite:
        raise CheckpointError(f"{out}: directory exists and is not empty (pass overwrite to replace it)")
    if existing:
        foreign = _foreign_entries(out)
        if foreign:
            shown = ", ".join(foreign[:6]) + (f" and {len(foreign) - 6} more" if len(foreign) > 6 else "")
            raise CheckpointError(f"{out}: not replaced: it holds files that are not part of a checkpoint ({shown})")
    tmp = _build(out, size, family, seed)
    if existing:
        # Swap: the old checkpoint moves aside, the new one takes its name, the old one is deleted.
        old = Path(tempfile.mkdtemp(prefix=f".{out.name}.", suffix=".old", dir=out.parent))
        os.rename(out, old / out.name)
        os.rename(tmp, out)
        shutil.rmtree(old, ignore_errors=True)
    elif not _publish(tmp, out):
        raise CheckpointError(f"{out}: another process wrote a checkpoint there meanwhile; left as it is")
    return out


def _check_entry(path: Path) -> None:
    """A cache entry must hold every file its marker lists, at the recorded size."""

    def damaged(reason: str) -> CheckpointError:
        return CheckpointError(
            f"{path}: damaged checkpoint cache entry ({reason}); remove it (rm -rf '{path}') and it is made again"
        )

    marker = path / MARKER
    if not marker.is_file():
        # Made by an evalkit older than the marker: accept it if its files are all there.
        missing = [n for n in ("config.json", "tokenizer.json", "preprocessor_config.json") if not (path / n).is_file()]
        if missing or not any(path.glob("*.safetensors")):
            raise damaged(f"missing {', '.join(missing) or 'weights'}")
        return
    try:
        files = json.loads(marker.read_text())["files"]
        expected = {str(name): int(size) for name, size in files.items()}
    except (OSError, ValueError, KeyError, TypeError, AttributeError) as exc:
        raise damaged(f"unreadable {MARKER}: {exc}") from None
    for name, size in expected.items():
        file = path / name
        if not file.is_file():
            raise damaged(f"{name} is missing")
        if file.stat().st_size != size:
            raise damaged(f"{name} has {file.stat().st_size} bytes, {size} were written")


def cached_checkpoint(cache_dir: str | Path, size: str = "tiny", *, family: str = "phi3v", seed: int = 0) -> Path:
    """The random checkpoint for (size, family, seed) under cache_dir, made on first use.

    Safe for several processes started together on an empty cache: each builds in a private temporary directory
    and publishes it with one rename; a process that loses the race discards its copy and uses the winner's (the
    weights are the same: they depend only on the seed).
    """
    path = Path(cache_dir).expanduser() / f"{family}-{size}-seed{seed}"
    if not path.is_dir() or not any(path.iterdir()):
        log.info("making the %s random checkpoint %s%s", size, path, " (about 8.3 GB)" if size == "full" else "")
        _publish(_build(path, size, family, seed), path)
    _check_entry(path)
    return path


def cached_tiny_checkpoint(cache_dir: str | Path, *, family: str = "phi3v", seed: int = 0) -> Path:
    return cached_checkpoint(cache_dir, "tiny", family=family, seed=seed)


def count_parameters(size: str, family: str = "phi3v") -> int:
    from evalkit.phi3v.config import parse_config
    from evalkit.phi3v.modeling import Phi3VForCausalLM

    spec = parse_config(checkpoint_config(size, family), f"<{family} {size}>")
    with torch.device("meta"):
        model = Phi3VForCausalLM(spec.text, spec.vision, spec.embedding)
    return sum(p.numel() for p in model.parameters())

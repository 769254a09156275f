"""Write checkpoints in the published layout with random weights: no download needed to run or measure anything.

`tiny` shrinks the language model (hidden 64, 2 layers) and the vision tower's depth, for tests and CPU runs;
`full` keeps the published dimensions (about 4.2 B parameters) so speed and memory can be measured on a GPU.
Both carry the published tokenizer and processor files and a config.json in the published form.
"""

from __future__ import annotations

import copy
import json
import shutil
from importlib import resources
from pathlib import Path

import torch
from safetensors.torch import save_file

from evalkit.errors import CheckpointError

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


def make_checkpoint(
    out_dir: str | Path, size: str = "tiny", *, family: str = "phi3v", seed: int = 0, overwrite: bool = False
) -> Path:
    """Write config, tokenizer, processor files and random bfloat16 weights under the published key names."""
    from evalkit.phi3v.config import parse_config
    from evalkit.phi3v.modeling import Phi3VForCausalLM

    out = Path(out_dir)
    if out.exists() and any(out.iterdir()):
        if not overwrite:
            raise CheckpointError(f"{out}: directory exists and is not empty (pass overwrite to replace it)")
        shutil.rmtree(out)
    config = checkpoint_config(size, family)
    spec = parse_config(config, f"<{family} {size}>")
    with torch.device("meta"):
        model = Phi3VForCausalLM(spec.text, spec.vision, spec.embedding)
    shapes = {k: tuple(v.shape) for k, v in model.state_dict().items()}

    tmp = out.with_name(out.name + ".partial")
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
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
    tmp.rename(out)  # appears whole or not at all
    return out


def cached_tiny_checkpoint(cache_dir: str | Path, *, family: str = "phi3v", seed: int = 0) -> Path:
    """The tiny checkpoint for (family, seed) under cache_dir, made on first use."""
    path = Path(cache_dir).expanduser() / f"{family}-tiny-seed{seed}"
    if not (path / "config.json").is_file():
        path.parent.mkdir(parents=True, exist_ok=True)
        make_checkpoint(path, "tiny", family=family, seed=seed, overwrite=True)
    return path


def count_parameters(size: str, family: str = "phi3v") -> int:
    from evalkit.phi3v.config import parse_config
    from evalkit.phi3v.modeling import Phi3VForCausalLM

    spec = parse_config(checkpoint_config(size, family), f"<{family} {size}>")
    with torch.device("meta"):
        model = Phi3VForCausalLM(spec.text, spec.vision, spec.embedding)
    return sum(p.numel() for p in model.parameters())

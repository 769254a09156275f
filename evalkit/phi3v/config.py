"""Read a published Phi-3-vision `config.json` into transformers' native configs.

The published file describes a remote-code model (`model_type: phi3_v`, `auto_map`, `rope_scaling.type: "su"`,
`_attn_implementation: flash_attention_2`). We keep what describes the architecture and drop what only steered the
remote code: the language model becomes a native `Phi3Config` ("su" is what transformers now calls "longrope"), the
vision tower a `CLIPVisionConfig` for CLIP ViT-L/14 at 336 px, and the image-embedding glue an `ImageEmbeddingConfig`.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from pathlib import Path

from huggingface_hub.errors import StrictDataclassError
from transformers import CLIPVisionConfig, Phi3Config

from evalkit.errors import CheckpointError

# openai/clip-vit-large-patch14-336, the tower every published Phi-3(.5)-vision checkpoint names.
CLIP_VIT_L14_336 = {
    "hidden_size": 1024,
    "intermediate_size": 4096,
    "num_hidden_layers": 24,
    "num_attention_heads": 16,
    "image_size": 336,
    "patch_size": 14,
    "num_channels": 3,
    "hidden_act": "quick_gelu",
    "layer_norm_eps": 1e-5,
    "projection_dim": 768,
}
KNOWN_VISION_TOWERS = {"openai/clip-vit-large-patch14-336": CLIP_VIT_L14_336}

# Keys that only configured the Hub's remote code or its loading; they say nothing about the weights.
_IGNORED_KEYS = {
    "architectures",
    "auto_map",
    "model_type",
    "_attn_implementation",
    "_name_or_path",
    "transformers_version",
    "torch_dtype",
    "dtype",
    "img_processor",
    "embd_layer",
    "use_cache",
}


@dataclass(frozen=True)
class ImageEmbeddingConfig:
    """How CLIP crop features become language-model embeddings (the published `embd_layer` + `img_processor`)."""

    image_dim_out: int = 1024
    num_img_tokens: int = 144
    hd_transform_order: str = "sub_glb"
    vision_feature_layer: int = -2

    def __post_init__(self) -> None:
        if self.hd_transform_order not in ("sub_glb", "glb_sub"):
            raise CheckpointError(
                f"embd_layer.hd_transform_order must be 'sub_glb' or 'glb_sub', got {self.hd_transform_order!r}"
            )


@dataclass(frozen=True)
class Phi3VConfig:
    text: Phi3Config
    vision: CLIPVisionConfig
    embedding: ImageEmbeddingConfig
    checkpoint_dtype: str | None = None
    raw: dict = field(default_factory=dict, compare=False, repr=False)

    @property
    def hidden_size(self) -> int:
        return self.text.hidden_size


def _vision_config(img_processor: dict, source: Path) -> CLIPVisionConfig:
    name = img_processor.get("model_name", "openai/clip-vit-large-patch14-336")
    if img_processor.get("name", "clip_vision_model") != "clip_vision_model":
        raise CheckpointError(
            f"{source}: img_processor.name {img_processor.get('name')!r} is not supported (only clip_vision_model)"
        )
    if name not in KNOWN_VISION_TOWERS:
        raise CheckpointError(
            f"{source}: unknown vision tower {name!r}; known: {sorted(KNOWN_VISION_TOWERS)}"
            " (or give its shape in img_processor.vision_config)"
        )
    values = dict(KNOWN_VISION_TOWERS[name])
    overrides = img_processor.get("vision_config") or {}
    unknown = set(overrides) - set(CLIPVisionConfig().to_dict())
    if unknown:
        raise CheckpointError(f"{source}: img_processor.vision_config has unknown fields {sorted(unknown)}")
    values.update(overrides)
    return CLIPVisionConfig(**values)


# Fields that size the model: integers >= 1 (a string or a float here would reach torch as a shape). Absurd but
# well-typed sizes are caught by the loader, which compares every tensor shape with the weight files before
# allocating anything.
_SIZE_FIELDS = (
    "hidden_size",
    "intermediate_size",
    "num_hidden_layers",
    "num_attention_heads",
    "num_key_value_heads",
    "vocab_size",
    "max_position_embeddings",
    "original_max_position_embeddings",
)
_VISION_SIZE_FIELDS = ("hidden_size", "intermediate_size", "num_hidden_layers", "num_attention_heads", "image_size")


def _short(value) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def _is_count(value) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and value >= 1


def _is_positive(value) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value) and value > 0


def check_values(raw: dict, source: Path) -> None:
    """Refuse wrongly typed or inconsistent values with one line naming the key, before transformers or torch see
    them (they answer with multi-line validation errors, divisions by zero or enormous allocations)."""

    def fail(message: str) -> None:
        raise CheckpointError(f"{source}: {message}")

    for key in ("embd_layer", "img_processor", "rope_scaling"):
        if raw.get(key) is not None and not isinstance(raw[key], dict):
            fail(f"{key} must be an object, got {type(raw[key]).__name__}")
    for key in _SIZE_FIELDS:
        if raw.get(key) is not None and not _is_count(raw[key]):
            fail(f"{key} must be an integer >= 1, got {_short(raw[key])}")
    for key in ("rope_theta", "rms_norm_eps"):
        if raw.get(key) is not None and not _is_positive(raw[key]):
            fail(f"{key} must be a positive number, got {_short(raw[key])}")
    hidden, heads = raw.get("hidden_size", 3072), raw.get("num_attention_heads", 32)
    if hidden % heads:
        fail(f"hidden_size {hidden} is not divisible by num_attention_heads {heads}")
    kv_heads = raw.get("num_key_value_heads") or heads
    if heads % kv_heads:
        fail(f"num_attention_heads {heads} is not divisible by num_key_value_heads {kv_heads}")
    rope = raw.get("rope_scaling") or {}
    if (rope.get("type") or rope.get("rope_type")) in ("su", "longrope"):
        rotary = int(hidden // heads * raw.get("partial_rotary_factor", 1.0)) // 2
        for key in ("short_factor", "long_factor"):
            factors = rope.get(key)
            if not isinstance(factors, list) or not all(_is_positive(f) for f in factors):
                fail(f"rope_scaling.{key} must be a list of positive numbers, got {_short(factors)}")
            if len(factors) != rotary:
                fail(f"rope_scaling.{key} has {len(factors)} entries; head size {hidden // heads} needs {rotary}")
    img = raw.get("img_processor") or {}
    for key in ("image_dim_out", "num_img_tokens"):
        if img.get(key) is not None and not _is_count(img[key]):
            fail(f"img_processor.{key} must be an integer >= 1, got {_short(img[key])}")
    vision = img.get("vision_config")
    if vision is not None and not isinstance(vision, dict):
        fail(f"img_processor.vision_config must be an object, got {type(vision).__name__}")
    for key in _VISION_SIZE_FIELDS:
        if (vision or {}).get(key) is not None and not _is_count(vision[key]):
            fail(f"img_processor.vision_config.{key} must be an integer >= 1, got {_short(vision[key])}")


def parse_config(raw: dict, source: Path | str = "config.json") -> Phi3VConfig:
    """Build native configs from the published dict; `source` only names the file in error messages."""
    source = Path(source)
    if not isinstance(raw, dict):
        raise CheckpointError(f"{source}: expected a JSON object, got {type(raw).__name__}")
    check_values(raw, source)
    model_type = raw.get("model_type")
    if model_type not in ("phi3_v", None):
        raise CheckpointError(f"{source}: model_type is {model_type!r}, expected 'phi3_v'")
    embd = raw.get("embd_layer") or {}
    img = raw.get("img_processor") or {}
    if embd.get("embedding_cls", "image") != "image" or embd.get("projection_cls", "mlp") != "mlp":
        raise CheckpointError(f"{source}: only embd_layer.embedding_cls='image' with projection_cls='mlp' is supported")
    if not embd.get("use_hd_transform", True) or not embd.get("with_learnable_separator", True):
        raise CheckpointError(f"{source}: only the HD transform with learnable separators is supported")
    embedding = ImageEmbeddingConfig(
        image_dim_out=int(img.get("image_dim_out", 1024)),
        num_img_tokens=int(img.get("num_img_tokens", 144)),
        hd_transform_order=embd.get("hd_transform_order", "sub_glb"),
    )
    text_kwargs = {k: v for k, v in raw.items() if k not in _IGNORED_KEYS}
    rope = text_kwargs.get("rope_scaling")
    if isinstance(rope, dict):
        rope = dict(rope)
        rope_type = rope.pop("type", None) or rope.pop("rope_type", None)
        # "su" (Phi-3's name) and "longrope" are the same scheme: short/long factor lists, attention scaling.
        rope["rope_type"] = "longrope" if rope_type in ("su", "longrope") else rope_type
        if rope["rope_type"] == "longrope" and "factor" not in rope and "original_max_position_embeddings" in raw:
            # Phi-3 derives the attention scaling from this ratio; stating it keeps transformers from guessing.
            rope["factor"] = raw.get("max_position_embeddings", 131072) / raw["original_max_position_embeddings"]
        text_kwargs["rope_scaling"] = rope
    try:
        text = Phi3Config(**text_kwargs)
        vision = _vision_config(img, source)
    except CheckpointError:
        raise
    except (TypeError, ValueError, StrictDataclassError) as exc:
        # transformers' validation errors span lines ("Validation error for field 'x':\n    TypeError: ...").
        raise CheckpointError(f"{source}: {' '.join(str(exc).split())}") from exc
    if vision.hidden_size != embedding.image_dim_out:
        raise CheckpointError(
            f"{source}: img_processor.image_dim_out={embedding.image_dim_out} does not match the vision tower width {vision.hidden_size}"
        )
    return Phi3VConfig(
        text=text,
        vision=vision,
        embedding=embedding,
        checkpoint_dtype=raw.get("torch_dtype") or raw.get("dtype"),
        raw=raw,
    )


def load_config(model_dir: Path | str) -> Phi3VConfig:
    path = Path(model_dir) / "config.json"
    if not path.is_file():
        raise CheckpointError(f"{path}: not found (is {model_dir} a Phi-3-vision checkpoint directory?)")
    try:
        raw = json.loads(path.read_text())
    except json.JSONDecodeError as exc:
        raise CheckpointError(f"{path}:{exc.lineno}: invalid JSON ({exc.msg})") from exc
    return parse_config(raw, path)

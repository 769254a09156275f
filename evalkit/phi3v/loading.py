"""Build a `Phi3VForCausalLM` from a checkpoint: settings checked first, weights loaded strictly by key name."""

from __future__ import annotations

import contextlib
import json
from pathlib import Path

import torch
from safetensors import SafetensorError, safe_open
from transformers import GenerationConfig
from transformers.initialization import no_init_weights

from evalkit.errors import CheckpointError, ConfigError, UnsupportedSettingError
from evalkit.phi3v.attention import check_attention, flash_attn_version, implementation, probe_sdpa_backend, register
from evalkit.phi3v.config import load_config
from evalkit.phi3v.hub import ModelSource, resolve_model, weight_files
from evalkit.phi3v.modeling import DEFAULT_IMAGE_TOKEN_ID, Phi3VForCausalLM

DTYPES = {"float32": torch.float32, "float16": torch.float16, "bfloat16": torch.bfloat16}
__all__ = ["check_setting", "flash_attn_version", "load_model", "resolve_device", "resolve_dtype"]
# Published checkpoints may carry this alias of embed_tokens (the remote code shared the module); same tensor.
_ALIASES = {"model.vision_embed_tokens.wte.weight": "model.embed_tokens.weight"}


def resolve_dtype(name: str | torch.dtype) -> torch.dtype:
    if isinstance(name, torch.dtype):
        return name
    if name not in DTYPES:
        raise ConfigError(f"unknown dtype {name!r}; choose one of {', '.join(DTYPES)}")
    return DTYPES[name]


def resolve_device(name: str | torch.device) -> torch.device:
    text = str(name)
    if text == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        device = torch.device(text)
    except RuntimeError as exc:
        raise ConfigError(f"unknown device {text!r}; use auto, cpu, cuda or cuda:N") from exc
    if device.type == "cuda" and not torch.cuda.is_available():
        raise UnsupportedSettingError(f"device {text!r} asked for, but CUDA is not available on this machine")
    if device.type not in ("cpu", "cuda"):
        raise ConfigError(f"device {text!r} is not supported; use auto, cpu, cuda or cuda:N")
    return device


def check_setting(attn: str, dtype: torch.dtype, device: torch.device, *, masked: bool = False) -> None:
    """Refuse an attention / dtype / device combination before anything is loaded (see evalkit.phi3v.attention)."""
    check_attention(attn, dtype, device, masked=masked)


def read_special_token_ids(model_dir: Path) -> dict[str, int]:
    """Ids of the added special tokens (`<|end|>`, `<|endoftext|>`, `<|image|>` ...) from tokenizer.json."""
    path = model_dir / "tokenizer.json"
    if not path.is_file():
        return {}
    try:
        added = json.loads(path.read_text()).get("added_tokens", [])
    except json.JSONDecodeError as exc:
        raise CheckpointError(f"{path}:{exc.lineno}: invalid JSON ({exc.msg})") from exc
    return {tok["content"]: int(tok["id"]) for tok in added}


@contextlib.contextmanager
def _default_dtype(dtype: torch.dtype):
    previous = torch.get_default_dtype()
    torch.set_default_dtype(dtype)
    try:
        yield
    finally:
        torch.set_default_dtype(previous)


def load_state(model: torch.nn.Module, files: list[Path], device: torch.device) -> None:
    """Copy every tensor into the parameter of the same name; fail naming missing, unexpected or misshapen keys."""
    expected = model.state_dict(keep_vars=True)
    seen: set[str] = set()
    unexpected: list[str] = []
    for file in files:
        try:
            with safe_open(str(file), framework="pt", device=str(device)) as handle:
                for key in handle.keys():  # noqa: SIM118 (safe_open handles are not iterable)
                    if key in _ALIASES:
                        continue
                    if key not in expected:
                        unexpected.append(key)
                        continue
                    tensor = handle.get_tensor(key)
                    target = expected[key]
                    if tuple(tensor.shape) != tuple(target.shape):
                        raise CheckpointError(
                            f"{file.name}: {key} has shape {tuple(tensor.shape)}, the config implies {tuple(target.shape)}"
                        )
                    with torch.no_grad():
                        target.copy_(tensor)
                    seen.add(key)
        except SafetensorError as exc:
            raise CheckpointError(f"{file}: not a readable safetensors file ({exc})") from exc
    missing = sorted(set(expected) - seen)
    if missing or unexpected:
        parts = []
        if missing:
            parts.append(
                f"{len(missing)} missing tensor(s): {', '.join(missing[:8])}{' ...' if len(missing) > 8 else ''}"
            )
        if unexpected:
            parts.append(
                f"{len(unexpected)} unexpected tensor(s): {', '.join(sorted(unexpected)[:8])}{' ...' if len(unexpected) > 8 else ''}"
            )
        raise CheckpointError(f"{files[0].parent}: weights do not match the config: {'; '.join(parts)}")


def load_model(
    path_or_repo_id: str | Path,
    revision: str | None = None,
    *,
    dtype: str | torch.dtype = "float32",
    attn_implementation: str = "sdpa",
    device: str | torch.device = "cpu",
    source: ModelSource | None = None,
    masked: bool = False,
) -> Phi3VForCausalLM:
    """`masked`: the caller will pass attention masks (left-padded batches, a static cache); some kernels refuse them."""
    torch_dtype = resolve_dtype(dtype)
    torch_device = resolve_device(device)
    check_setting(attn_implementation, torch_dtype, torch_device, masked=masked)
    source = source or resolve_model(path_or_repo_id, revision)
    spec = load_config(source.path)
    files = weight_files(source.path)
    register()
    head_dims = [c.hidden_size // c.num_attention_heads for c in (spec.text, spec.vision)]
    probe_sdpa_backend(attn_implementation, torch_dtype, torch_device, head_dims, masked=masked)
    spec.text._attn_implementation = implementation(attn_implementation)
    spec.vision._attn_implementation = implementation(attn_implementation)
    # Parameters are allocated empty, in the target dtype and on the target device, then filled from the files:
    # no random init of billions of weights, no float32 copy on the way.
    with no_init_weights(), _default_dtype(torch_dtype), torch_device:
        model = Phi3VForCausalLM(spec.text, spec.vision, spec.embedding)
    load_state(model, files, torch_device)
    model.eval()
    model.source = source
    tokens = read_special_token_ids(source.path)
    model.image_token_id = tokens.get("<|image|>", DEFAULT_IMAGE_TOKEN_ID)
    model.generation_config = _generation_config(source.path, tokens)
    return model


def _generation_config(model_dir: Path, tokens: dict[str, int]) -> GenerationConfig:
    """Greedy, stopping on `<|end|>` and `<|endoftext|>` as read from the tokenizer."""
    stops = [tokens[t] for t in ("<|end|>", "<|endoftext|>") if t in tokens]
    config = GenerationConfig(do_sample=False)
    if (model_dir / "generation_config.json").is_file():
        try:
            config = GenerationConfig.from_pretrained(model_dir)
        except (OSError, ValueError) as exc:
            raise CheckpointError(f"{model_dir / 'generation_config.json'}: {exc}") from exc
    if stops:
        config.eos_token_id = stops
    config.pad_token_id = tokens.get("<|endoftext|>", config.pad_token_id)
    config.do_sample = False
    config.temperature = None
    config.top_p = None
    config.top_k = None
    return config

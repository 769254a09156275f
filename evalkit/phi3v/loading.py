"""Build a `Phi3VForCausalLM` from a checkpoint: settings checked first, weights loaded strictly by key name."""

from __future__ import annotations

import contextlib
import json
from pathlib import Path

import torch
from safetensors import SafetensorError, safe_open
from transformers import GenerationConfig
from transformers.initialization import no_init_weights

from evalkit.config.settings import DTYPE_NAMES
from evalkit.errors import CheckpointError, ConfigError, UnsupportedSettingError
from evalkit.phi3v.attention import check_attention, flash_attn_version, implementation, probe_sdpa_backend, register
from evalkit.phi3v.config import load_config
from evalkit.phi3v.hub import ModelSource, resolve_model, weight_files
from evalkit.phi3v.modeling import DEFAULT_IMAGE_TOKEN_ID, Phi3VForCausalLM

DTYPES = {name: getattr(torch, name) for name in DTYPE_NAMES}  # the names are evalkit.config.settings'
__all__ = ["check_setting", "flash_attn_version", "load_model", "resolve_device", "resolve_dtype", "set_attention"]
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


def _file_shapes(files: list[Path]) -> dict[str, tuple[tuple[int, ...], Path]]:
    """Tensor name -> (shape, file) from the safetensors headers; no tensor data is read."""
    shapes = {}
    for file in files:
        try:
            with safe_open(str(file), framework="pt", device="cpu") as handle:
                for key in handle.keys():  # noqa: SIM118 (safe_open handles are not iterable)
                    shapes[key] = (tuple(handle.get_slice(key).get_shape()), file)
        except SafetensorError as exc:
            raise CheckpointError(f"{file}: not a readable safetensors file ({exc})") from exc
    return shapes


def check_tensors(expected: dict[str, tuple[int, ...]], files: list[Path]) -> None:
    """Compare the shapes the config implies with the weight files' headers, before anything is allocated: fail
    naming missing, unexpected or misshapen tensors (a wrong or absurd size in config.json shows here, not as a
    256 GB allocation)."""
    found = _file_shapes(files)
    for key, (shape, file) in found.items():
        if key in expected and shape != tuple(expected[key]):
            raise CheckpointError(f"{file}: {key} has shape {shape}, the config implies {tuple(expected[key])}")
    missing = sorted(set(expected) - set(found))
    unexpected = sorted(k for k in found if k not in expected and k not in _ALIASES)
    if missing or unexpected:
        parts = []
        if missing:
            parts.append(
                f"{len(missing)} missing tensor(s): {', '.join(missing[:8])}{' ...' if len(missing) > 8 else ''}"
            )
        if unexpected:
            parts.append(
                f"{len(unexpected)} unexpected tensor(s): {', '.join(unexpected[:8])}{' ...' if len(unexpected) > 8 else ''}"
            )
        raise CheckpointError(f"{files[0].parent}: weights do not match the config: {'; '.join(parts)}")


def load_state(model: torch.nn.Module, files: list[Path], device: torch.device) -> None:
    """Copy every tensor into the parameter of the same name (names and shapes checked by `check_tensors`)."""
    expected = model.state_dict(keep_vars=True)
    check_tensors({k: tuple(v.shape) for k, v in expected.items()}, files)
    for file in files:
        try:
            with safe_open(str(file), framework="pt", device=str(device)) as handle:
                for key in handle.keys():  # noqa: SIM118 (safe_open handles are not iterable)
                    if key in expected:
                        with torch.no_grad():
                            expected[key].copy_(handle.get_tensor(key))
        except SafetensorError as exc:
            raise CheckpointError(f"{file}: not a readable safetensors file ({exc})") from exc


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
    with torch.device("meta"):  # shapes only: checked against the files before any memory is allocated
        skeleton = Phi3VForCausalLM(spec.text, spec.vision, spec.embedding)
    check_tensors({k: tuple(v.shape) for k, v in skeleton.state_dict().items()}, files)
    # Parameters are allocated empty, in the target dtype and on the target device, then filled from the files:
    # no random init of billions of weights, no float32 copy on the way.
    with no_init_weights(), _default_dtype(torch_dtype), torch_device:
        model = Phi3VForCausalLM(spec.text, spec.vision, spec.embedding)
    load_state(model, files, torch_device)
    model.eval()
    model.source = source
    tokens = read_special_token_ids(source.path)
    model.image_token_id = tokens.get("<|image|>", DEFAULT_IMAGE_TOKEN_ID)
    model.generation_config, model.decoding = _generation_config(source.path, tokens)
    return model


def set_attention(model: Phi3VForCausalLM, attn: str, *, masked: bool = False) -> None:
    """Switch a loaded model to another attention setting without reloading its weights (a sweep over attention
    settings loads once): the same checks as load_model, then both configs name the new implementation, which
    transformers looks up at every call."""
    dtype, device = model.model.embed_tokens.weight.dtype, model.model.embed_tokens.weight.device
    check_setting(attn, dtype, device, masked=masked)
    register()
    vision = model.model.vision_embed_tokens.img_processor.vision_model.config
    head_dims = [c.hidden_size // c.num_attention_heads for c in (model.config, vision)]
    probe_sdpa_backend(attn, dtype, device, head_dims, masked=masked)
    model.config._attn_implementation = implementation(attn)
    vision._attn_implementation = implementation(attn)


# What evalkit decodes with, whatever the checkpoint's generation_config.json says: greedy search, one beam, no
# penalties, bans or minimum length. Options left unset fall back to transformers' neutral defaults, never to the
# checkpoint's file, because the model's generation_config is built here and not read from that file.
GREEDY = {"do_sample": False, "num_beams": 1, "repetition_penalty": 1.0, "no_repeat_ngram_size": 0, "min_length": 0}
# Keys of generation_config.json that do not steer decoding (special ids are taken from the tokenizer first).
_NOT_DECODING = {"transformers_version", "_from_model_config", "bos_token_id", "eos_token_id", "pad_token_id"}


def _generation_config(model_dir: Path, tokens: dict[str, int]) -> tuple[GenerationConfig, dict]:
    """Greedy decoding stopping on `<|end|>` and `<|endoftext|>` (ids read from the tokenizer), and a record of it.

    The checkpoint's generation_config.json is read only for its stop and pad ids when the tokenizer lacks them;
    its decoding options (num_beams, repetition_penalty, no_repeat_ngram_size, sampling, lengths...) are ignored
    and listed in the record under `ignored_checkpoint_options`.
    """
    path = model_dir / "generation_config.json"
    published: dict = {}
    if path.is_file():
        try:
            published = json.loads(path.read_text())
        except json.JSONDecodeError as exc:
            raise CheckpointError(f"{path}:{exc.lineno}: invalid JSON ({exc.msg})") from exc
        if not isinstance(published, dict):
            raise CheckpointError(f"{path}: expected a JSON object, got {type(published).__name__}")
    stops = [tokens[t] for t in ("<|end|>", "<|endoftext|>") if t in tokens] or published.get("eos_token_id")
    pad = tokens.get("<|endoftext|>", published.get("pad_token_id"))
    try:
        config = GenerationConfig(
            **GREEDY,
            eos_token_id=stops,
            pad_token_id=pad,
            bos_token_id=tokens.get("<s>", published.get("bos_token_id")),
        )
    except (TypeError, ValueError) as exc:
        raise CheckpointError(f"{path}: unusable stop or pad ids ({exc})") from exc
    ignored = {k: v for k, v in sorted(published.items()) if k not in _NOT_DECODING and GREEDY.get(k) != v}
    record = {
        "strategy": "greedy",
        **GREEDY,
        "eos_token_id": config.eos_token_id,
        "pad_token_id": config.pad_token_id,
        "ignored_checkpoint_options": ignored,
    }
    return config, record

"""Attention settings: what each name runs, and whether it can run on this machine, decided before loading.

`eager`, `sdpa`, `flex_attention`, `flash_attention_2` and `flash_attention_3` are transformers' own
implementations. `sdpa_flash`, `sdpa_efficient`, `sdpa_math` and `sdpa_cudnn` (cuDNN's fused attention, CUDA only)
are transformers' sdpa restricted to one PyTorch kernel with `torch.nn.attention.sdpa_kernel`: PyTorch ships its own
FlashAttention-2 kernel, so `sdpa_flash` gives flash attention without the flash-attn package. They are registered
with transformers' `AttentionInterface` (and its mask interface, as sdpa), so the language model and the CLIP tower
both use them, under names without "flash" in them (`IMPLEMENTATIONS`): transformers takes any implementation whose
name contains "flash" for the flash-attn package.

A restricted kernel that cannot handle a call raises at that call ("No viable backend"), in the middle of a run.
So every setting is refused up front instead: `check_attention` applies the known rules (device, dtype, package,
GPU generation), and `probe_sdpa_backend` runs the restricted kernel once on tiny tensors of the model's head sizes,
with a mask when the run will pass one, to catch whatever the rules do not know about this build of PyTorch.
"""

from __future__ import annotations

import importlib.util
import os
import shutil
import warnings
from collections.abc import Sequence

import torch
from torch.nn.attention import SDPBackend, sdpa_kernel

from evalkit.config.settings import ATTN_NAMES, SDPA_BACKEND_NAMES
from evalkit.errors import ConfigError, UnsupportedSettingError

SDPA_BACKENDS = {
    "sdpa_flash": SDPBackend.FLASH_ATTENTION,
    "sdpa_efficient": SDPBackend.EFFICIENT_ATTENTION,
    "sdpa_math": SDPBackend.MATH,
    "sdpa_cudnn": SDPBackend.CUDNN_ATTENTION,
}
assert set(SDPA_BACKENDS) == set(SDPA_BACKEND_NAMES)
# The name transformers knows each setting by (config._attn_implementation).
IMPLEMENTATIONS = {
    "sdpa_flash": "sdpa_only_fa2",
    "sdpa_efficient": "sdpa_only_efficient",
    "sdpa_math": "sdpa_only_math",
    "sdpa_cudnn": "sdpa_only_cudnn",
}
HALF = (torch.float16, torch.bfloat16)
_registered = False


def _name(dtype: torch.dtype) -> str:
    return str(dtype).removeprefix("torch.")


def _restricted(backend: SDPBackend):
    from transformers.integrations.sdpa_attention import sdpa_attention_forward

    def attention(*args, **kwargs):
        with sdpa_kernel(backend):
            return sdpa_attention_forward(*args, **kwargs)

    attention.__name__ = f"sdpa_{backend.name.lower()}_attention_forward"
    return attention


def implementation(attn: str) -> str:
    """The transformers attention implementation of an evalkit setting name."""
    return IMPLEMENTATIONS.get(attn, attn)


def register() -> None:
    """Make the sdpa_* settings known to transformers (idempotent; called by the loader)."""
    global _registered
    if _registered:
        return
    from transformers import AttentionInterface
    from transformers.masking_utils import AttentionMaskInterface, sdpa_mask

    for name, backend in SDPA_BACKENDS.items():
        AttentionInterface.register(IMPLEMENTATIONS[name], _restricted(backend))
        AttentionMaskInterface.register(IMPLEMENTATIONS[name], sdpa_mask)
    _registered = True


def flash_attn_version() -> str | None:
    if importlib.util.find_spec("flash_attn") is None:
        return None
    try:
        import flash_attn

        return getattr(flash_attn, "__version__", "unknown")
    except Exception:  # a broken build imports badly; treat it as absent
        return None


def _capability(device: torch.device) -> tuple[int, int]:
    return torch.cuda.get_device_capability(device)


def cpp_compiler() -> str | None:
    """The C++ compiler torch.compile's CPU backend (inductor) would use, or None."""
    for name in filter(None, (os.environ.get("CXX"), "g++", "clang++", "c++")):
        if shutil.which(name):
            return name
    return None


def compile_unsupported_reason(device: torch.device) -> str | None:
    """Why torch.compile (inductor) cannot run on `device` here, or None when it can."""
    if device.type == "cpu" and cpp_compiler() is None:
        return "torch.compile on the CPU needs a C++ compiler (g++ or clang++; none found on PATH or in $CXX)"
    if device.type == "cuda" and importlib.util.find_spec("triton") is None:
        return "torch.compile on CUDA needs the triton package, which is not installed"
    return None


def check_attention(attn: str, dtype: torch.dtype, device: torch.device, *, masked: bool = False) -> None:
    """Refuse an attention / dtype / device combination this machine cannot run, with the reason.

    `masked`: the run passes an attention mask (left-padded batches, or the 4-D masks of a static cache).
    """
    if attn not in ATTN_NAMES:
        raise ConfigError(f"unknown attention implementation {attn!r}; choose one of {', '.join(ATTN_NAMES)}")
    cuda = device.type == "cuda"
    if attn in ("flash_attention_2", "flash_attention_3"):
        if not cuda:
            raise UnsupportedSettingError(f"{attn} needs a CUDA device (this run is on the CPU)")
        if dtype not in HALF:
            raise UnsupportedSettingError(f"{attn} runs in float16 or bfloat16 only, not {_name(dtype)}")
    if attn == "flash_attention_2" and flash_attn_version() is None:
        raise UnsupportedSettingError(
            "flash_attention_2 needs the flash-attn package, which is not installed "
            "(pip install 'evalkit[flash]'; or use sdpa_flash, PyTorch's own flash kernel)"
        )
    if attn == "flash_attention_3":
        from transformers.utils import is_flash_attn_3_available

        if _capability(device)[0] != 9:
            raise UnsupportedSettingError("flash_attention_3 needs a Hopper GPU (H100/H200, compute capability 9.x)")
        if not is_flash_attn_3_available():
            raise UnsupportedSettingError(
                "flash_attention_3 needs the flash-attn-3 package (flash_attn_interface), which is not installed"
            )
    if attn == "sdpa_efficient" and not cuda:
        raise UnsupportedSettingError(
            "sdpa_efficient: PyTorch has no memory-efficient attention kernel for the CPU (use sdpa_flash or sdpa_math)"
        )
    if attn == "sdpa_cudnn":
        if not cuda:
            raise UnsupportedSettingError(
                "sdpa_cudnn: PyTorch's cuDNN attention kernel runs on CUDA only (this run is on the CPU)"
            )
        if dtype not in HALF:
            raise UnsupportedSettingError(
                f"sdpa_cudnn: PyTorch's cuDNN attention runs in float16 or bfloat16, not {_name(dtype)}"
            )
        if _capability(device) < (8, 0):
            major, minor = _capability(device)
            raise UnsupportedSettingError(
                f"sdpa_cudnn: cuDNN attention needs compute capability 8.0 or newer (this GPU is {major}.{minor})"
            )
    if attn == "sdpa_flash" and cuda:
        if dtype not in HALF:
            raise UnsupportedSettingError(
                f"sdpa_flash: PyTorch's flash kernel runs in float16 or bfloat16 on CUDA, not {_name(dtype)}"
            )
        if _capability(device) < (8, 0):
            major, minor = _capability(device)
            raise UnsupportedSettingError(
                f"sdpa_flash: PyTorch's flash kernel needs compute capability 8.0 or newer (this GPU is {major}.{minor})"
            )
        if masked:
            raise UnsupportedSettingError(
                "sdpa_flash: PyTorch's flash kernel on CUDA takes no attention mask, and left-padded batches "
                "(batch_size > 1) and the static cache of runtime.compile pass one; use batch_size=1 without "
                "compile, or sdpa_efficient"
            )
    if attn == "flex_attention":
        from transformers.utils import is_torch_flex_attn_available

        if not is_torch_flex_attn_available():
            raise UnsupportedSettingError(
                f"flex_attention needs torch >= 2.5 with flex attention (torch {torch.__version__})"
            )
        reason = compile_unsupported_reason(device)
        if reason:
            raise UnsupportedSettingError(f"flex_attention is compiled by torch.compile: {reason}")
        if masked and not cuda:
            # Seen with torch 2.13: inductor's C++ flex kernel does not compile for a padding mask (CppCompileError
            # in the middle of the first padded batch), while unpadded prompts run and match eager.
            raise UnsupportedSettingError(
                f"flex_attention on the CPU: torch {torch.__version__} fails to compile its flex kernel for padding "
                "masks (left-padded batches, the static cache of runtime.compile); use batch_size=1 without compile"
            )


def probe_sdpa_backend(
    attn: str, dtype: torch.dtype, device: torch.device, head_dims: Sequence[int], *, masked: bool = False
) -> None:
    """Run the restricted kernel once per head size the model uses; refuse the setting if it cannot."""
    backend = SDPA_BACKENDS.get(attn)
    if backend is None:
        return
    for head_dim in sorted(set(head_dims)):
        # Causal without a mask (prefill of an unpadded prompt), and with a boolean mask when the run passes one.
        q = torch.zeros(2, 2, 8, head_dim, dtype=dtype, device=device)
        calls = [{"is_causal": True}]
        if masked:
            calls.append({"attn_mask": torch.ones(8, 8, dtype=torch.bool, device=device).tril()})
        for kwargs in calls:
            with warnings.catch_warnings(record=True) as caught:
                warnings.simplefilter("always")
                try:
                    with sdpa_kernel(backend):
                        torch.nn.functional.scaled_dot_product_attention(q, q, q, **kwargs)
                except RuntimeError as exc:
                    why = "; ".join(dict.fromkeys(str(w.message).strip() for w in caught)) or str(exc).splitlines()[0]
                    what = "with an attention mask" if "attn_mask" in kwargs else "causal, no mask"
                    raise UnsupportedSettingError(
                        f"{attn}: PyTorch's {backend.name} kernel cannot run here ({device.type}, {_name(dtype)}, "
                        f"head size {head_dim}, {what}): {why}"
                    ) from None

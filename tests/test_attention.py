"""Attention settings: refused up front with the reason when they cannot run here, restricted for real when they
can, and every setting that runs on the CPU answers exactly as eager does (float32, the tiny model)."""

from __future__ import annotations

import pytest
import torch

from evalkit.config.settings import ATTN_NAMES, RuntimeConfig
from evalkit.data.suites import resolve_suites
from evalkit.errors import ConfigError, UnsupportedSettingError
from evalkit.phi3v import attention, engine, load_model
from evalkit.phi3v.attention import check_attention, probe_sdpa_backend
from evalkit.phi3v.processing import Phi3VProcessor, build_prompt

CPU, CUDA = torch.device("cpu"), torch.device("cuda")


@pytest.mark.parametrize(
    ("attn", "dtype", "device", "masked", "match"),
    [
        ("sdpa_efficient", torch.float32, CPU, False, "no memory-efficient attention kernel for the CPU"),
        ("flash_attention_3", torch.bfloat16, CPU, False, "flash_attention_3 needs a CUDA device"),
        ("flash_attention_2", torch.float16, CPU, False, "flash_attention_2 needs a CUDA device"),
        ("sdpa_flash", torch.float32, CUDA, False, "flash kernel runs in float16 or bfloat16 on CUDA, not float32"),
        ("sdpa_flash", torch.bfloat16, CUDA, True, "takes no attention mask"),
        ("flash_attention_3", torch.bfloat16, CUDA, False, "needs a Hopper GPU"),
        ("flex_attention", torch.float32, CPU, True, "fails to compile its flex kernel for padding masks"),
        ("sdpa_cudnn", torch.bfloat16, CPU, False, "cuDNN attention kernel runs on CUDA only"),
        ("sdpa_cudnn", torch.float32, CUDA, False, "cuDNN attention runs in float16 or bfloat16, not float32"),
    ],
)
def test_settings_that_cannot_run_are_refused_with_the_reason(monkeypatch, attn, dtype, device, masked, match):
    monkeypatch.setattr(attention, "_capability", lambda device: (8, 0))  # an A100, as far as the rules can tell
    with pytest.raises(UnsupportedSettingError, match=match):
        check_attention(attn, dtype, device, masked=masked)


def test_sdpa_cudnn_is_refused_on_the_cpu_in_one_line(tiny_checkpoint, capsys):
    from evalkit.cli import generate

    args = ["--model", str(tiny_checkpoint), "--prompt", "hi", "--attn", "sdpa_cudnn", "--device", "cpu"]
    assert generate.main(args) == 3
    assert capsys.readouterr().err == (
        "evalkit generate: error: sdpa_cudnn: PyTorch's cuDNN attention kernel runs on CUDA only (this run is on the "
        "CPU)\n"
    )


def test_flex_attention_and_compile_need_a_compiler(monkeypatch):
    monkeypatch.setattr(attention, "cpp_compiler", lambda: None)
    with pytest.raises(
        UnsupportedSettingError, match="flex_attention is compiled by torch.compile: .*C\\+\\+ compiler"
    ):
        check_attention("flex_attention", torch.float32, CPU)
    with pytest.raises(UnsupportedSettingError, match="runtime.compile=true: torch.compile on the CPU needs a C\\+\\+"):
        engine.check_runtime(RuntimeConfig(device="cpu", compile=True))


def test_names_and_modes_are_validated():
    assert {"sdpa_flash", "sdpa_efficient", "sdpa_math", "flex_attention", "flash_attention_3"} <= set(ATTN_NAMES)
    with pytest.raises(ConfigError, match="runtime.mode='fast': expected one of latency, throughput"):
        RuntimeConfig(mode="fast")
    with pytest.raises(ConfigError, match="unknown attention implementation 'flash'"):
        check_attention("flash", torch.float32, CPU)


def test_probe_runs_the_restricted_kernel_once():
    probe_sdpa_backend("sdpa_flash", torch.float32, CPU, [96, 64], masked=True)  # PyTorch's CPU flash kernel
    probe_sdpa_backend("sdpa_math", torch.bfloat16, CPU, [96], masked=True)
    with pytest.raises(
        UnsupportedSettingError,
        match=r"sdpa_efficient: PyTorch's EFFICIENT_ATTENTION kernel cannot run here \(cpu, float32, head size 96",
    ):
        probe_sdpa_backend("sdpa_efficient", torch.float32, CPU, [96])


def _inputs(checkpoint, padded: bool):
    """Two left-padded prompts of different length (one image, two images), or one prompt alone."""
    processor = Phi3VProcessor.from_pretrained(checkpoint, num_crops=1)
    samples = [resolve_suites(["ocr"])[0].samples[0], resolve_suites(["compare"])[0].samples[0]]
    samples = samples if padded else samples[1:]
    prompts = [build_prompt(s.question, len(s.images)) for s in samples]
    return processor(prompts, [list(s.images) for s in samples])


def _tokens(model, inputs, tokens: int = 6) -> list[list[int]]:
    with torch.inference_mode():
        out = model.generate(**inputs, max_new_tokens=tokens, min_new_tokens=tokens, do_sample=False)
    return out[:, inputs["input_ids"].shape[1] :].tolist()


@pytest.mark.slow
def test_the_restriction_is_real(tiny_checkpoint):
    """A model told to use only a kernel the CPU lacks fails: sdpa_* never falls back to another kernel."""
    model = load_model(tiny_checkpoint, attn_implementation="sdpa_math")
    for config in (model.config, model.model.vision_embed_tokens.img_processor.vision_model.config):
        config._attn_implementation = attention.implementation("sdpa_efficient")  # bypassing the checks
    with pytest.raises(RuntimeError, match="No viable backend"):
        _tokens(model, _inputs(tiny_checkpoint, padded=True), tokens=1)


@pytest.mark.slow
def test_every_setting_that_runs_on_cpu_answers_as_eager(tiny_checkpoint):
    """Settings that take masks are compared on a left-padded batch, the others (flex_attention on the CPU) on one
    unpadded prompt; every name of ATTN_NAMES that runs here is compared."""
    runnable = {}
    for attn in ATTN_NAMES:
        for masked in (True, False):
            try:
                check_attention(attn, torch.float32, CPU, masked=masked)
            except UnsupportedSettingError:
                continue
            runnable[attn] = masked
            break
    assert {"sdpa": True, "sdpa_flash": True, "sdpa_math": True, "flex_attention": False}.items() <= runnable.items()
    eager = load_model(tiny_checkpoint, attn_implementation="eager")
    inputs = {padded: _inputs(tiny_checkpoint, padded) for padded in (True, False)}
    expected = {padded: _tokens(eager, inputs[padded]) for padded in (True, False)}
    for attn, masked in runnable.items():
        if attn != "eager":
            model = load_model(tiny_checkpoint, attn_implementation=attn, masked=masked)
            assert _tokens(model, inputs[masked]) == expected[masked], attn

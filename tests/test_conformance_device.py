"""The conformance checks on any device and attention setting: `EVALKIT_TEST_DEVICE=cuda` on a GPU machine
(scripts/gpu_acceptance.sh does it), the CPU otherwise.

float32: the official implementation's last-position logits (within 1e-2) and its 8 greedy tokens, exactly.
bfloat16: agreement, not identity: logits within 0.25 and, over the cases, the first greedy token of every case and
at least half of the 8-token prefixes (the dtype's minimum agreement of the benchmark gates).
On the CPU only bfloat16 sdpa runs (float32 eager/sdpa are test_model.py's, and every other setting that runs on the
CPU is compared with eager in test_attention.py), which keeps these thresholds checked by every CI run.
"""

from __future__ import annotations

import os

import numpy as np
import pytest
import torch

from evalkit.config.settings import ATTN_NAMES
from evalkit.errors import UnsupportedSettingError
from evalkit.phi3v import load_model
from evalkit.phi3v.decode import GreedyDecoder
from evalkit.phi3v.loading import check_setting, resolve_device, resolve_dtype

DEVICE = os.environ.get("EVALKIT_TEST_DEVICE", "cpu")
ON_CPU = torch.device(DEVICE).type == "cpu"
BFLOAT16 = ["sdpa"] if ON_CPU else list(ATTN_NAMES)


def _model(reference_checkpoint, attn: str, dtype: str):
    device = resolve_device(DEVICE)  # EVALKIT_TEST_DEVICE=cuda without CUDA fails, it does not skip
    try:
        check_setting(attn, resolve_dtype(dtype), device)
    except UnsupportedSettingError as exc:
        pytest.skip(str(exc))
    return load_model(reference_checkpoint, dtype=dtype, attn_implementation=attn, device=device), device


def _run(model, device, reference_dir, case):
    data = np.load(reference_dir / f"{case['name']}.npz")
    ids = torch.tensor(data["input_ids"])[None].to(device)
    images = {}
    if case["images"]:
        images = {
            "pixel_values": torch.tensor(data["pixel_values"]).float().to(device),
            "image_sizes": torch.tensor(data["image_sizes"]).to(device),
        }
    with torch.inference_mode():
        logits = model(input_ids=ids, **images).logits[0, -1].float().cpu()
    # Tokens from evalkit's own decode loop, the one runs and benchmarks use.
    out = GreedyDecoder(model).generate(input_ids=ids, **images, max_new_tokens=8, stop_token_ids=[])
    diff = (logits - torch.tensor(data["last_logits"])).abs().max().item()
    return diff, out.new_tokens[0].tolist()


@pytest.mark.slow
@pytest.mark.skipif(ON_CPU, reason="float32 on the CPU is test_model.py's and test_attention.py's")
@pytest.mark.parametrize("attn", ATTN_NAMES)
def test_float32_reproduces_the_reference(attn, reference_checkpoint, reference_dir, reference_cases):
    model, device = _model(reference_checkpoint, attn, "float32")
    for case in reference_cases:
        diff, tokens = _run(model, device, reference_dir, case)
        assert diff < 1e-2, (attn, case["name"], diff)
        assert tokens == case["generated"], (attn, case["name"])


@pytest.mark.slow
@pytest.mark.parametrize("attn", BFLOAT16)
def test_bfloat16_agrees_with_the_reference(attn, reference_checkpoint, reference_dir, reference_cases):
    model, device = _model(reference_checkpoint, attn, "bfloat16")
    prefixes = []
    for case in reference_cases:
        diff, tokens = _run(model, device, reference_dir, case)
        assert diff < 0.25, (attn, case["name"], diff)
        assert tokens[0] == case["generated"][0], (attn, case["name"], tokens)
        prefixes.append(next((i for i, (a, b) in enumerate(zip(tokens, case["generated"], strict=True)) if a != b), 8))
    assert sum(prefixes) / (8 * len(prefixes)) >= 0.5, (attn, prefixes)

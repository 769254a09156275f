"""Roofline figures: the GPU table, the published model's shape, the bounds by hand, and how reports show them."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest
import torch

sys.path.insert(0, str(Path(__file__).parent))
from test_records import write_fake_run  # noqa: E402

from evalkit.phi3v.config import parse_config  # noqa: E402
from evalkit.phi3v.modeling import Phi3VForCausalLM  # noqa: E402
from evalkit.records import RUN_FILE  # noqa: E402
from evalkit.reports import write_run_reports  # noqa: E402
from evalkit.run.roofline import (  # noqa: E402
    BatchFigures,
    ModelShape,
    gpu_spec,
    measure_copy_bandwidth,
    model_shape,
    prefill_flops,
    roofline,
)

ASSETS = Path(__file__).resolve().parents[1] / "evalkit" / "phi3v" / "assets"


@pytest.mark.parametrize(
    ("name", "spec", "bandwidth"),
    [
        ("NVIDIA H100 80GB HBM3", "H100 SXM", 3350),
        ("NVIDIA H100 PCIe", "H100 PCIe", 2000),
        ("NVIDIA H200", "H200 SXM", 4800),
        ("NVIDIA A100-SXM4-80GB", "A100 80GB SXM", 2039),
        ("NVIDIA A100-PCIE-40GB", "A100 40GB", 1555),
        ("NVIDIA L4", "L4", 300),
        ("NVIDIA L40S", "L40S", 864),
        ("NVIDIA A10G", "A10G", 600),
    ],
)
def test_known_gpus_by_torch_device_name(name, spec, bandwidth):
    found = gpu_spec(name)
    assert found is not None and (found.name, found.bandwidth_gb_s) == (spec, bandwidth)
    assert found.tflops["bfloat16"] > found.tflops["float32"] > 0


def test_unknown_gpu_gets_no_roofline_and_says_why():
    assert gpu_spec("Tesla T4") is None and gpu_spec("NVIDIA GH200 480GB") is None
    shape = ModelShape(1000, 2, 64, 4, 16, 100, 1, 32, 577, 2)
    out = roofline(shape, [], "Tesla T4", "bfloat16", tf32=False)
    assert out["gpu"] == "Tesla T4" and "not in evalkit's table" in out["skipped"] and "H100 SXM" in out["skipped"]


def test_published_phi3v_shape():
    spec = parse_config(json.loads((ASSETS / "config_phi3v.json").read_text()))
    with torch.device("meta"):
        model = Phi3VForCausalLM(spec.text, spec.vision, spec.embedding).to(torch.bfloat16)
    shape = model_shape(model)
    # Phi-3-mini: 3.82 B parameters of which 98.5 M (32064 x 3072) are the embedding table a decode step skips.
    assert 3.70e9 < shape.lm_matmul_params < 3.75e9
    assert shape.kv_bytes_per_token() == 2 * 32 * 32 * 96 * 2  # K and V, 32 layers, 32 heads of 96, bf16
    assert (shape.vision_layers, shape.vision_width, shape.vision_tokens_per_crop) == (23, 1024, 577)
    assert 0.29e9 < shape.vision_matmul_params < 0.32e9  # 23 CLIP-L layers (~12.6 M each) + the projector
    assert shape.lm_head_params == 32064 * 3072
    assert shape.projector_params == 4096 * 3072 + 3072 + 3072 * 3072 + 3072  # Linear(4096, 3072), Linear(3072, 3072)


def test_bounds_by_hand():
    shape = ModelShape(
        lm_matmul_params=1_000_000_000, lm_layers=10, lm_hidden=1000, kv_heads=10, head_dim=100,
        vision_matmul_params=100_000_000, vision_layers=4, vision_width=500, vision_tokens_per_crop=577,
        bytes_per_param=2,
    )  # fmt: skip
    batch = BatchFigures(
        prompt_tokens=[1000, 1000], generated=[100, 100], crops=10, prefill_ms=50.0, decode_tokens_per_s=200.0
    )
    out = roofline(shape, [batch], "NVIDIA H100 80GB HBM3", "bfloat16", tf32=False)
    kv_token = 2 * 10 * 10 * 100 * 2
    step_bytes = 2e9 + 2 * 1050 * kv_token  # weights once + two sequences' KV at the mean decode context
    assert out["decode_bound_tokens_per_s"] == pytest.approx(3350e9 / step_bytes)
    assert out["bandwidth_utilisation"] == pytest.approx(200.0 / (3350e9 / step_bytes))
    flops = 2 * (2e9 * 1000 + 2 * 10 * 1000 * 1000**2) + 10 * (2 * 1e8 * 577 + 4 * 4 * 500 * 577**2)
    assert prefill_flops(shape, [1000, 1000], 10) == pytest.approx(flops)
    assert out["prefill_tflops"] == pytest.approx(flops / 0.05 / 1e12)
    assert out["compute_utilisation"] == pytest.approx(out["prefill_tflops"] / 989.4)
    assert roofline(shape, [batch], "NVIDIA H100 80GB HBM3", "float32", tf32=True)["peak_kind"] == "tf32"
    assert roofline(shape, [batch], "NVIDIA H100 80GB HBM3", "float32", tf32=False)["peak_tflops"] == 66.9


def _shape(**kwargs) -> ModelShape:
    values = dict(
        lm_matmul_params=1_000_000_000, lm_layers=10, lm_hidden=1000, kv_heads=10, head_dim=100,
        vision_matmul_params=100_000_000, vision_layers=4, vision_width=500, vision_tokens_per_crop=577,
        bytes_per_param=2, lm_head_params=50_000_000, projector_params=10_000_000,
    )  # fmt: skip
    return ModelShape(**{**values, **kwargs})


def test_prefill_counts_lm_head_once_per_sequence_and_the_projector_on_merged_tokens():
    shape = _shape()
    lm = 2 * (2 * (0.95e9 * 1000 + 10 * 1000 * 1000**2) + 2 * 5e7)  # two sequences: body per token, lm_head once each
    vision = 10 * (2 * 0.9e8 * 577 + 4 * 4 * 500 * 577**2) + 2 * 1e7 * 1500  # tower per patch, projector per token
    assert prefill_flops(shape, [1000, 1000], 10, image_tokens=1500) == pytest.approx(lm + vision)
    # Counting lm_head per prompt token would add 2 x 50 M x 999 FLOPs per sequence.
    assert prefill_flops(_shape(lm_head_params=0), [1000], 0) - prefill_flops(shape, [1000], 0) == pytest.approx(
        2 * 5e7 * 999
    )


def test_bytes_read_beside_ideal_bytes_and_the_measured_bandwidth():
    shape = _shape()
    kv_token = 2 * 10 * 10 * 100 * 2
    compiled = BatchFigures([1000, 600], [100, 100], 0, 50.0, 200.0, kv_columns=1536.0)  # capacity 1536, batch 2
    out = roofline(shape, [compiled], "NVIDIA H100 80GB HBM3", "bfloat16", tf32=False, measured_bandwidth_gb_s=2800.0)
    ideal = 2e9 + 2 * 850 * kv_token  # mean context (1050 + 650) / 2 per row
    assert out["decode_bytes_ideal"] == pytest.approx(ideal)
    assert out["decode_bytes_read"] == pytest.approx(2e9 + 2 * 1536 * kv_token)
    assert out["decode_bound_tokens_per_s"] == pytest.approx(3350e9 / ideal)
    assert out["decode_bound_measured_tokens_per_s"] == pytest.approx(2800e9 / ideal)
    assert out["bandwidth_utilisation_measured"] == pytest.approx(200.0 / (2800e9 / ideal))
    # Without what was read (older records) the read bytes are the ideal ones; without a measurement, no such keys.
    plain = roofline(shape, [BatchFigures([1000], [100], 0, 50.0, 200.0)], "NVIDIA H100 80GB HBM3", "bfloat16", False)
    assert plain["decode_bytes_read"] == plain["decode_bytes_ideal"] and "measured_bandwidth_gb_s" not in plain


def test_copy_bandwidth_is_not_measured_off_cuda():
    assert measure_copy_bandwidth(torch.device("cpu")) == (None, "measured on CUDA devices only")


def test_reports_show_roofline_overhead_and_what_n_counts(tmp_path):
    run_dir = write_fake_run(tmp_path / "runs", device="cuda:0", dtype="bfloat16")
    data = json.loads((run_dir / RUN_FILE).read_text())
    data["performance"].update(
        n_batches=5, batch_size=4,
        harness={"mode": "throughput", "overhead": 0.062, "samples_per_s": 3.5, "generated_tokens_per_s": 210.0},
        roofline={"spec": "H100 SXM", "bandwidth_gb_s": 3350, "decode_bound_tokens_per_s": 420.0, "bandwidth_utilisation": 0.61,
                  "prefill_tflops": 310.0, "compute_utilisation": 0.313, "peak_tflops": 989.4, "peak_kind": "bfloat16", "n_batches": 5},
    )  # fmt: skip
    (run_dir / RUN_FILE).write_text(json.dumps(data))
    md_path, html_path = write_run_reports(run_dir)
    md = md_path.read_text()
    assert "| bandwidth utilisation (decode) | % | 61.0 |" in md
    assert "| decode bound (H100 SXM, 3350 GB/s) | tokens/s | 420.0 |" in md
    assert "| compute utilisation (prefill, of 989 bfloat16) | % | 31.3 |" in md
    assert "| harness overhead (throughput mode) | % | 6.2 |" in md
    assert "n counts 5 requests" in md and "Throughput mode: preprocessing ran ahead" in md
    assert "bandwidth utilisation (decode)" in html_path.read_text()

"""scripts/gpu_acceptance.sh without a GPU: its syntax, the commands of its dry run, and the results file it writes
(made here from hand-made records: the format is checked, no GPU figure is invented)."""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))
from test_records import write_fake_run  # noqa: E402

from evalkit.records import RUN_FILE  # noqa: E402
from evalkit.reports.gpu import RESULTS_TITLE, write_gpu_results  # noqa: E402

REPO_ROOT = Path(__file__).resolve().parents[1]
SCRIPT = REPO_ROOT / "scripts" / "gpu_acceptance.sh"
RESULTS = REPO_ROOT / "docs" / "gpu-results.md"


def dry_run(*args: str, env: dict | None = None) -> subprocess.CompletedProcess:
    environ = {**os.environ, "PYTHON": sys.executable, **(env or {})}
    return subprocess.run(
        ["bash", str(SCRIPT), "--dry-run", *args],
        cwd=REPO_ROOT,
        env=environ,
        capture_output=True,
        text=True,
        timeout=60,
    )


def commands(out: str) -> list[str]:
    return [line[2:] for line in out.splitlines() if line.startswith("+ ")]


def test_script_parses():
    result = subprocess.run(["bash", "-n", str(SCRIPT)], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr


def test_dry_run_prints_every_command_and_runs_none():
    before = hashlib.sha256(RESULTS.read_bytes()).hexdigest() if RESULTS.exists() else None
    work_existed = (REPO_ROOT / "reports" / "gpu-acceptance").exists()
    result = dry_run(env={"PYTHONPATH": ""})
    assert result.returncode == 0, result.stderr
    cmds = commands(result.stdout)
    assert "EVALKIT_TEST_DEVICE=cuda" in cmds[0] and "tests/test_conformance_device.py" in cmds[0]
    # One process measures the decode loop, loading the full-size checkpoint once; no separate runs by default.
    assert cmds[1].startswith(f"{sys.executable} scripts/gpu_decode.py --device cuda --size full")
    assert not any(" -m evalkit " in c or "benchmarks/" in c for c in cmds)
    assert cmds[-1].startswith(
        f"{sys.executable} scripts/gpu_results.py write --decode reports/gpu-acceptance/decode.json"
    )
    assert cmds[-1].endswith("--out docs/gpu-results.md ")
    assert len(cmds) == 3 and "dry run: nothing was run" in result.stdout
    assert (REPO_ROOT / "reports" / "gpu-acceptance").exists() == work_existed
    assert (hashlib.sha256(RESULTS.read_bytes()).hexdigest() if RESULTS.exists() else None) == before


def test_dry_run_with_runs_adds_the_settings_and_benchmarks(tmp_path):
    result = dry_run("--runs", env={"PYTHONPATH": ""})  # no flash-attn importable
    assert result.returncode == 0, result.stderr
    cmds = commands(result.stdout)
    runs = [c for c in cmds if " -m evalkit model=phi3v-random" in c]
    for attn in ("eager", "sdpa", "sdpa_flash"):
        assert any(f"runtime.attn={attn} name=gpu-bfloat16-{attn}" in c for c in runs), attn
    assert all("runtime.device=cuda runtime.dtype=bfloat16" in c for c in runs)
    assert any("runtime.mode=throughput runtime.batch_size=4" in c for c in runs)
    assert not any("flash_attention_2" in c or "runtime.compile" in c for c in cmds)
    assert "flash_attention_2 left out" in result.stdout
    bench = next(c for c in cmds if "-m pytest benchmarks/" in c)
    assert (
        "performance\\ or\\ memory" in bench
        and "--attn eager\\,sdpa\\,sdpa_flash" in bench
        and "--device cuda" in bench
    )
    assert "--runs reports/gpu-acceptance/runs --bench reports/gpu-acceptance/benchmarks.json" in cmds[-1]


def test_dry_run_adds_flash_attention_2_when_it_imports_and_compile_on_request(tmp_path):
    fake = tmp_path / "flash_attn"
    fake.mkdir()
    (fake / "__init__.py").write_text("__version__ = '2.8.3'\n")
    result = dry_run("--runs", "--compile", env={"PYTHONPATH": str(tmp_path)})
    assert result.returncode == 0, result.stderr
    cmds = commands(result.stdout)
    assert any("runtime.attn=flash_attention_2" in c for c in cmds)
    assert any("runtime.attn=sdpa runtime.compile=true" in c for c in cmds)
    assert "--attn eager\\,sdpa\\,sdpa_flash\\,flash_attention_2" in next(c for c in cmds if "benchmarks/" in c)


@pytest.mark.slow
def test_cpu_run_measures_the_tiny_model_and_writes_the_results(tmp_path):
    """--device cpu: the acceptance's own code path end to end (tiny checkpoint, small sizes), into tmp dirs."""
    work, out = tmp_path / "work", tmp_path / "results.md"
    cmd = ["bash", str(SCRIPT), "--device", "cpu", "--work", str(work), "--cache-dir", str(tmp_path / "cache")]
    result = subprocess.run(
        [*cmd, "--out", str(out)], cwd=REPO_ROOT, env={**os.environ, "PYTHON": sys.executable},
        capture_output=True, text=True, timeout=900,
    )  # fmt: skip
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    data = json.loads((work / "decode.json").read_text())
    assert set(data["cases"]) == {"eager_bs1", "graph_bs1", "graph_bs2"}
    assert data["cases"]["graph_bs1"]["equal_to_eager"] and data["cases"]["graph_bs1"]["loop"] == "compiled"
    assert data["cases"]["graph_bs2"]["aggregate_tokens_per_s"] == pytest.approx(
        2 * data["cases"]["graph_bs2"]["decode_tokens_per_s"]
    )
    assert data["decoder"]["compiled"]["graph_breaks"] == 0
    assert (
        data["energy"]["graph_bs1"]["joules"] is None and "CUDA devices only" in data["energy"]["graph_bs1"]["reason"]
    )
    assert data["copy_bandwidth"]["gb_s"] is None and data["profile"]["top"]
    assert [(e["attn"], e["round"]) for e in data["attention"] if e.get("loop") == "compiled"] == [
        ("sdpa", 1), ("sdpa_math", 1), ("sdpa", 2), ("sdpa_math", 2)
    ]  # fmt: skip
    text = out.read_text()
    assert text.startswith(RESULTS_TITLE) and "## Decode loop" in text and "| graph_bs1 | compiled |" in text
    assert "## Settings" not in text and "| decode |" in text  # the steps table, no empty run sections
    assert "conformance left out: --device cpu" in result.stdout


def test_unknown_option_is_refused():
    result = dry_run("--gpus", "8")
    assert result.returncode == 2 and "unknown option --gpus" in result.stderr


def test_results_file_is_made_from_the_records(tmp_path):
    runs = tmp_path / "runs"
    run_dir = write_fake_run(runs, "gpu-bfloat16-sdpa_flash", device="cuda:0", dtype="bfloat16", attn="sdpa_flash")
    data = json.loads((run_dir / RUN_FILE).read_text())
    data["provenance"]["environment"] = {
        "gpu_name": "NVIDIA H100 80GB HBM3", "gpu_memory_mb": 81559.0, "compute_capability": "9.0",
        "driver_version": "580.159.04", "cuda_version": "13.0", "torch": "2.11.0+cu130", "transformers": "5.24.0",
        "flash_attn": None, "python": "3.12.3",
    }  # fmt: skip
    data["performance"]["memory_mb"]["peak_allocated"] = 9123.4
    data["performance"]["harness"] = {"mode": "latency", "overhead": 0.041}
    data["performance"]["roofline"] = {"spec": "H100 SXM", "decode_bound_tokens_per_s": 410.0, "bandwidth_utilisation": 0.55,
                                       "prefill_tflops": 200.0, "compute_utilisation": 0.2}  # fmt: skip
    (run_dir / RUN_FILE).write_text(json.dumps(data))
    bench = tmp_path / "benchmarks.json"
    bench.write_text(json.dumps({"benchmarks": [{"name": "test_latency[bfloat16-sdpa_flash-ocr]",
        "stats": {"median": 0.512, "min": 0.5, "rounds": 3},
        "extra_info": {"time_to_first_token_ms": 95.0, "decode_tokens_per_s": 230.0, "peak_allocated_mb": 9100.0}}]}))  # fmt: skip
    steps = tmp_path / "steps.tsv"
    steps.write_text("conformance\t0\t41\nrun sdpa_flash\t1\t63\n")
    out = write_gpu_results(
        runs, bench, steps, tmp_path / "gpu-results.md", when="2026-01-01T00:00:00+00:00", commit="abc1234"
    )
    text = out.read_text()
    assert text.startswith(RESULTS_TITLE) and "commit `abc1234`" in text
    assert "NVIDIA H100 80GB HBM3 (81559 MiB, compute 9.0); driver 580.159.04, CUDA 13.0; torch 2.11.0+cu130" in text
    assert "| run sdpa_flash | 1 | 63 |" in text
    row = next(line for line in text.splitlines() if line.startswith("| gpu-bfloat16-sdpa_flash |"))
    cells = [c.strip() for c in row.strip("|").split("|")]
    # The fake samples' medians: prefill 49.0 (TTFT), decode 115.5 tokens/s, end_to_end 172.5 ms.
    assert cells[1:7] == ["bfloat16 sdpa_flash", "complete", "latency", "–", "20/20", "49.0"]
    assert cells[7:] == ["115.5", "410.0", "55.0%", "200.0", "20.0%", "9123", "172.5", "4.1%"]
    assert "| test_latency[bfloat16-sdpa_flash-ocr] | 512.0 | 500.0 | 3 | 95.0 | 230.0 | 9100 |" in text


def test_committed_results_are_real_or_say_there_are_none():
    text = RESULTS.read_text()
    if text.startswith(RESULTS_TITLE):
        assert "| run | attn |" in text or "## Decode loop" in text  # written by the script from a real run
    else:
        assert "No GPU run has happened yet" in text and "scripts/gpu_acceptance.sh" in text


@pytest.mark.parametrize("option", ["--help"])
def test_help(option):
    result = subprocess.run(["bash", str(SCRIPT), option], capture_output=True, text=True)
    assert result.returncode == 0 and "gpu_acceptance.sh [--dry-run]" in result.stdout

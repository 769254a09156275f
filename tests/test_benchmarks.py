"""`pytest benchmarks/` end to end on the tiny model: the matrix, the quality gate, `evalkit compare`, pytest-benchmark.

Each scenario is one subprocess run of the real suite from the repository root (`sys.executable -m pytest
benchmarks/`), kept short with `--suites ocr --limit 3` and few settings; module-scoped fixtures run each once and
several tests read its output. Nothing is written under reports/: runs go to tmp dirs, baselines that get updated
are tmp copies, and the committed baseline is checked to be untouched at the end.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import pytest

import evalkit

pytestmark = pytest.mark.slow

REPO_ROOT = Path(__file__).resolve().parents[1]
COMMITTED_BASELINE = REPO_ROOT / "reports" / "baselines" / "tiny" / "default.json"
COMMITTED_SHA256 = hashlib.sha256(COMMITTED_BASELINE.read_bytes()).hexdigest() if COMMITTED_BASELINE.is_file() else None
# Three OCR samples on the CPU: a few seconds per setting. --device cpu keeps the flash-attention skip and the
# committed (CPU) baseline meaningful on a machine that has a GPU too.
# --limit-mode head: the first three samples, which the degraded test below names.
QUICK = ["--suites", "ocr", "--limit", "3", "--device", "cpu", "--limit-mode", "head"]
# The timing runs use one thread: on a shared 2-core box two intra-op threads fighting other jobs for the cores
# make a round several times slower at random, one thread slows down by at most the share it loses.
ONE_THREAD = {"OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}
# Same setting against itself must pass and a ~10x heavier one must fail under the same threshold. The margin is
# wide on purpose: other jobs on this machine can make one run twice as slow as the next.
COMPARE_FAIL = "median:150%"


@dataclass
class Outcome:
    """One finished subprocess: exit code, merged stdout/stderr, and where its runs went."""

    args: list[str]
    rc: int
    output: str
    seconds: float
    runs_dir: Path | None = None

    def explain(self) -> str:
        return f"`{' '.join(self.args)}` exited {self.rc} after {self.seconds:.1f}s:\n{self.output[-6000:]}"

    def passed(self, test: str) -> bool:
        """Whether `test` (e.g. test_quality.py::name[params]) is listed as PASSED in the -rA summary."""
        return f"PASSED benchmarks/{test}" in self.output

    def failed(self, test: str) -> bool:
        return f"FAILED benchmarks/{test}" in self.output

    def run_dir(self, setting: str) -> Path:
        assert self.runs_dir is not None
        dirs = sorted(p.parent for p in self.runs_dir.rglob("run.json") if p.parent.name.endswith(f"-tiny-{setting}"))
        assert len(dirs) == 1, f"expected one run dir for {setting} under {self.runs_dir}, found {dirs}"
        return dirs[0]


def _env(extra: dict[str, str] | None = None) -> dict[str, str]:
    env = dict(os.environ)
    env.pop("PYTEST_ADDOPTS", None)  # options meant for this session must not leak into the nested one
    env.update(extra or {})
    return env


def _start(args: list[str], env: dict[str, str] | None = None) -> tuple[subprocess.Popen, float]:
    proc = subprocess.Popen(
        args, cwd=REPO_ROOT, env=_env(env), stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
    )
    return proc, time.perf_counter()


def _finish(proc: subprocess.Popen, started: float, timeout: float = 300) -> Outcome:
    try:
        output, _ = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        output, _ = proc.communicate()
        pytest.fail(f"`{' '.join(proc.args)}` timed out after {timeout}s:\n{output[-4000:]}")
    return Outcome(list(proc.args), proc.returncode, output, time.perf_counter() - started)


def pytest_benchmarks(*args: str, runs_dir: Path | None = None, env: dict[str, str] | None = None) -> Outcome:
    command = [sys.executable, "-m", "pytest", "benchmarks/", "-p", "no:cacheprovider", "-rA", *args]
    if runs_dir is not None:
        command += ["--runs-dir", str(runs_dir)]
    outcome = _finish(*_start(command, env))
    outcome.runs_dir = runs_dir
    return outcome


def evalkit_compare(reference: Path, candidate: Path, out: Path) -> Outcome:
    command = [sys.executable, "-m", "evalkit", "compare", str(reference), str(candidate), "--out", str(out)]
    return _finish(*_start(command), timeout=120)


def collected(outcome: Outcome) -> list[tuple[str, str]]:
    """(test kind, params) of each collected node id, in collection order."""
    return re.findall(r"^benchmarks/test_(\w+)\.py::\w+\[([^\]]+)\]$", outcome.output, flags=re.M)


def expected_nodes(settings: list[str], suites: list[str]) -> set[tuple[str, str]]:
    nodes = set()
    for setting in settings:
        nodes |= {("agreement", setting), ("memory", setting)}
        nodes |= {(kind, f"{setting}-{suite}") for kind in ("performance", "quality") for suite in suites}
    return nodes


# ---------------------------------------------------------------------------------------------- fixtures


@pytest.fixture(scope="module")
def collections() -> tuple[Outcome, Outcome]:
    """`--collect-only` with the default matrix and with a dtype x attn x batch-size matrix (run side by side)."""
    base = [sys.executable, "-m", "pytest", "benchmarks/", "-p", "no:cacheprovider", "--collect-only", "-q"]
    matrix = ["--dtype", "float32,bfloat16", "--attn", "eager", "--attn", "sdpa", "--batch-size", "1,2"]
    started = [_start(base), _start([*base, *matrix, "--suites", "ocr"])]
    return _finish(*started[0]), _finish(*started[1])


@pytest.fixture(scope="module")
def normal(tmp_path_factory) -> Outcome:
    """The default attention matrix (what this machine runs of it) against the committed baseline, with
    --benchmark-json."""
    tmp = tmp_path_factory.mktemp("normal")
    return pytest_benchmarks(
        *QUICK,
        *("--benchmark-json", str(tmp / "bench.json")),
        *("--perf-samples", "1", "--perf-rounds", "2", "--perf-warmup", "0"),
        runs_dir=tmp / "runs",
    )


@pytest.fixture(scope="module")
def degraded(tmp_path_factory) -> Outcome:
    """One generated token instead of 16 against the committed baseline: OCR answers become a single word."""
    tmp = tmp_path_factory.mktemp("degraded")
    return pytest_benchmarks(
        *QUICK, "--attn", "eager", "--max-new-tokens", "1", "--benchmark-disable", runs_dir=tmp / "runs"
    )


@dataclass
class BaselineCycle:
    baseline: Path
    storage: Path
    update: Outcome
    follow: Outcome


@pytest.fixture(scope="module")
def cycle(tmp_path_factory) -> BaselineCycle:
    """--update-baseline into a tmp file (saving the timings), then a run of the same setting against both."""
    tmp = tmp_path_factory.mktemp("cycle")
    baseline, storage = tmp / "baselines" / "b.json", tmp / "bench-storage"
    # One crop per image: the cheapest setting, and the fast side of the timing comparison below.
    common = [*QUICK, "--attn", "eager", "--num-crops", "1", "--perf-samples", "1", "--baseline", str(baseline)]
    update = pytest_benchmarks(
        *common,
        # --force-baseline: a baseline of three samples per suite (--limit) is refused without it.
        *("--update-baseline", "--force-baseline", "--benchmark-autosave", "--benchmark-storage", f"file://{storage}"),
        runs_dir=tmp / "runs-update",
        env=ONE_THREAD,
    )
    follow = pytest_benchmarks(
        *common,
        *("--benchmark-storage", f"file://{storage}", "--benchmark-compare=0001"),
        f"--benchmark-compare-fail={COMPARE_FAIL}",
        runs_dir=tmp / "runs-follow",
        env=ONE_THREAD,
    )
    return BaselineCycle(baseline, storage, update, follow)


# ----------------------------------------------------------------------------------------- the matrix


def test_default_matrix_is_float32_times_the_attention_kernels_that_run_here(collections):
    default, _ = collections
    assert default.rc == 0, default.explain()
    # flash_attention_2 is in the default list, but never runs in float32 (nor on a CPU): left out, with its reason.
    settings = ["float32-eager", "float32-sdpa"]
    nodes = collected(default)
    assert set(nodes) == expected_nodes(settings, ["describe", "ocr", "compare"]), default.explain()
    assert len(nodes) == 16
    assert "evalkit: left out float32-flash_attention_2 (not requested by name): flash_attention_2 " in default.output
    # The reference setting runs first (the agreement tests of the others read its answers), and each setting's
    # tests are contiguous so its model is loaded once.
    order = [next(s for s in settings if params.startswith(s + "-") or params == s) for _, params in nodes]
    assert order[0] == "float32-eager"
    assert order == sorted(order, key=order.index) and len(dict.fromkeys(order)) == 2


def test_dtype_attn_and_batch_size_options_make_a_product(collections):
    _, matrix = collections
    assert matrix.rc == 0, matrix.explain()
    settings = [
        f"{dtype}-{attn}-bs{bs}" for dtype in ("float32", "bfloat16") for attn in ("eager", "sdpa") for bs in (1, 2)
    ]
    assert set(collected(matrix)) == expected_nodes(settings, ["ocr"]), matrix.explain()


# -------------------------------------------------------------------------------- against the committed baseline


def test_normal_run_passes_the_quality_and_agreement_gates(normal):
    assert normal.rc == 0, normal.explain()
    for setting in ("float32-eager", "float32-sdpa"):
        assert normal.passed(f"test_quality.py::test_quality_against_baseline[{setting}-ocr]"), normal.explain()
        assert normal.passed(f"test_memory.py::test_memory_within_budget[{setting}]"), normal.explain()
        assert normal.passed(f"test_performance.py::test_latency[{setting}-ocr]"), normal.explain()
    assert normal.passed("test_agreement.py::test_agreement_with_reference_setting[float32-sdpa]"), normal.explain()


def test_flash_attention_on_cpu_is_left_out_of_the_default_matrix_with_its_reason(normal):
    reason = "flash_attention_2 needs a CUDA device (this run is on the CPU)"
    assert f"evalkit: left out float32-flash_attention_2 (not requested by name): {reason}" in normal.output
    # Only the reference's own agreement test is skipped; nothing passes for a setting that did not run.
    assert re.search(r"\b7 passed, 1 skipped\b", normal.output), normal.explain()


def test_benchmark_json_has_setting_params_extra_info_and_machine_info(normal):
    bench_json = next(Path(a) for a in normal.args if a.endswith("bench.json"))
    data = json.loads(bench_json.read_text(encoding="utf-8"))
    by_name = {b["name"]: b for b in data["benchmarks"]}
    assert set(by_name) == {"test_latency[float32-eager-ocr]", "test_latency[float32-sdpa-ocr]"}
    for attn in ("eager", "sdpa"):
        bench = by_name[f"test_latency[float32-{attn}-ocr]"]
        assert bench["params"] == {"setting": f"float32-{attn}", "suite": "ocr"}
        assert bench["group"] == "ocr"
        extra = bench["extra_info"]
        assert extra["setting"] == f"float32-{attn}"
        assert (extra["dtype"], extra["attn"], extra["device"], extra["samples"]) == ("float32", attn, "cpu", 1)
        assert extra["max_new_tokens"] == 16 and extra["num_crops"] == 4  # the tiny model's quick defaults
        for key in ("time_to_first_token_ms", "decode_tokens_per_s", "peak_rss_mb"):
            assert isinstance(extra[key], float) and extra[key] > 0, (key, extra)
        assert bench["stats"]["rounds"] == 2
        assert extra["time_to_first_token_ms"] < bench["stats"]["max"] * 1000  # a part of a round, in ms
    machine = data["machine_info"]["evalkit"]
    assert set(machine) == {
        "gpu_name",
        "driver_version",
        "cuda_version",
        "torch",
        "transformers",
        "flash_attn",
        "evalkit_version",
    }
    assert machine["evalkit_version"] == evalkit.__version__
    run = json.loads((normal.run_dir("float32-eager") / "run.json").read_text(encoding="utf-8"))
    assert machine["torch"] == run["provenance"]["environment"]["torch"]


def test_evalkit_compare_passes_the_normal_run(normal, tmp_path):
    result = evalkit_compare(COMMITTED_BASELINE, normal.run_dir("float32-eager"), tmp_path / "compare")
    assert result.rc == 0, result.explain()
    assert "no failing regression" in result.output
    assert (tmp_path / "compare" / "compare.md").is_file()


def test_degraded_setting_fails_quality_with_interval_and_worst_samples(degraded):
    assert degraded.rc == 1, degraded.explain()
    assert degraded.failed("test_quality.py::test_quality_against_baseline[float32-eager-ocr]"), degraded.explain()
    # Only the quality gate fails: memory and latency still pass (the reference skips its own agreement test).
    assert re.search(r"\b1 failed, 2 passed, 1 skipped\b", degraded.output), degraded.explain()
    message = degraded.output.split("test_quality_against_baseline[float32-eager-ocr] _", 1)[-1]
    assert "float32-eager ocr: quality regression against default.json" in message, degraded.explain()
    diff = re.search(
        r"located_cer \(lower is better\): baseline [\d.]+ \(n=3\) -> now [\d.]+ \(n=3\), "
        r"paired diff \+([\d.]+) \[95% CI \+([\d.]+), \+([\d.]+)\] over 3 samples",
        message,
    )
    assert diff, degraded.explain()
    mean, low, high = map(float, diff.groups())
    assert 0 < low <= mean <= high  # a located CER increase whose interval excludes zero
    assert "setting differs from the baseline: max_new_tokens 16 -> 1" in message
    # All three samples got worse; each is listed with both scores and both answers.
    worst = message.split("  worst samples:\n", 1)[1].splitlines()[:3]
    rows = [re.match(r"  (\w+): located_cer ([\d.]+) -> ([\d.]+)  baseline '.+' / now '.+'$", line) for line in worst]
    assert all(rows), degraded.explain()
    assert {row.group(1) for row in rows} == {"receipt_greenleaf", "receipt_aurora", "sign_no_parking"}
    assert all(float(row.group(3)) > float(row.group(2)) for row in rows)


def test_evalkit_compare_fails_the_degraded_run(degraded, tmp_path):
    result = evalkit_compare(COMMITTED_BASELINE, degraded.run_dir("float32-eager"), tmp_path / "compare")
    assert result.rc == 1, result.explain()
    assert "REGRESSION" in result.output


# ------------------------------------------------------------------------- --update-baseline and timings


def test_update_baseline_writes_the_given_file_and_the_next_run_passes(cycle):
    update, follow = cycle.update, cycle.follow
    assert update.rc == 0, update.explain()
    assert f"evalkit: baseline updated -> {cycle.baseline}" in update.output
    assert re.search(r"^SKIPPED \[1\] \S+: --update-baseline: \S+b\.json rewritten from this run$", update.output, re.M)
    assert re.search(r"^SKIPPED \[1\] \S+: --update-baseline: this run is the new baseline$", update.output, re.M)
    data = json.loads(cycle.baseline.read_text(encoding="utf-8"))
    assert data["kind"] == "evalkit-baseline"
    assert data["source_run"] == str(update.run_dir("float32-eager").resolve())
    assert (data["setting"]["attn"], data["setting"]["num_crops"]) == ("eager", 1)
    assert set(data["suites"]) == {"ocr"} and len(data["samples"]) == 3

    assert follow.rc == 0, follow.explain()
    assert follow.passed("test_quality.py::test_quality_against_baseline[float32-eager-ocr]"), follow.explain()
    assert follow.passed("test_memory.py::test_memory_within_budget[float32-eager]"), follow.explain()


def test_benchmark_compare_passes_the_same_setting(cycle):
    saved = list(cycle.storage.rglob("0001_*.json"))
    assert len(saved) == 1, cycle.update.explain()
    assert "Comparing against benchmarks from:" in cycle.follow.output and "0001_" in cycle.follow.output
    assert "Performance has regressed" not in cycle.follow.output, cycle.follow.explain()
    assert cycle.follow.rc == 0, cycle.follow.explain()


def test_benchmark_compare_fails_a_much_slower_setting(cycle, tmp_path):
    # 16 crops instead of 1 (about 6x the image tokens) and two samples per round instead of one: ~10x the work.
    slow = pytest_benchmarks(
        *QUICK,
        *("--attn", "eager", "--num-crops", "16", "-k", "test_latency"),
        *("--perf-samples", "2", "--perf-rounds", "1", "--perf-warmup", "0"),
        *("--benchmark-storage", f"file://{cycle.storage}", "--benchmark-compare=0001"),
        f"--benchmark-compare-fail={COMPARE_FAIL}",
        runs_dir=tmp_path / "runs",
        env=ONE_THREAD,
    )
    assert slow.rc != 0, slow.explain()
    assert "Performance has regressed" in slow.output, slow.explain()
    assert re.search(
        r"test_latency\[float32-eager-ocr\] \(0001_\w+\) - Field 'median' has failed PercentageRegressionCheck",
        slow.output,
    ), slow.explain()


# ------------------------------------------------------------------------------- fail closed, one line each


@pytest.fixture(scope="module")
def refusals(tmp_path_factory) -> dict[str, Outcome]:
    """Sessions that must refuse (or fail) instead of passing on no evidence, run side by side. All but the last
    stop at configure time, before any model is loaded."""
    from evalkit.phi3v.checkpoints import make_checkpoint

    tmp = tmp_path_factory.mktemp("refusals")
    # A checkpoint directory whose default baseline (reports/baselines/<dir name>/default.json) does not exist.
    ckpt = make_checkpoint(tmp / "gate-test-model-without-baseline", "tiny")
    quick = [*QUICK[:3], "1", *QUICK[4:], "--attn", "eager"]  # one OCR sample
    no_hub = {"HF_HUB_OFFLINE": "1", "HF_HOME": str(tmp / "hf")}
    cases = {
        "cuda": (["--device", "cuda", "--collect-only"], None),
        "dtype": (["--dtype", "fp16", "--collect-only"], None),
        "hub": (["--model", "phi3v", "--collect-only"], no_hub),
        "allow-skip": ([*QUICK, "--attn", "eager,flash_attention_2", "--allow-skip", "-k", "flash_attention_2"], None),
        "no-baseline": (
            [*quick, "--model", str(ckpt), "-m", "quality or memory", "--benchmark-disable", "--runs-dir", str(tmp)],
            None,
        ),
    }
    started = {
        name: _start([sys.executable, "-m", "pytest", "benchmarks/", "-p", "no:cacheprovider", "-rA", *args], env)
        for name, (args, env) in cases.items()
    }
    return {name: _finish(*proc) for name, proc in started.items()}


def _last_lines(outcome: Outcome) -> list[str]:
    return [line for line in outcome.output.strip().splitlines() if line.strip()]


def test_a_device_that_is_not_here_stops_with_exit_three(refusals):
    # Before: "12 skipped", exit 0: a CI job that lost its GPU went green.
    out = refusals["cuda"]
    assert out.rc == 3, out.explain()
    assert _last_lines(out) == [
        "Exit: evalkit: float32-eager on cuda cannot run here: device 'cuda' asked for, but CUDA is not available on "
        "this machine (and 2 more); --allow-skip records it as skipped and goes on"
    ]


@pytest.mark.parametrize(
    ("case", "message"),
    [
        ("dtype", "ERROR: --dtype fp16: expected one of float32, float16, bfloat16"),
        ("hub", "ERROR: microsoft/Phi-3-vision-128k-instruct@main: not in the Hub cache and HF_HUB_OFFLINE is set"),
    ],
)
def test_bad_options_are_one_usage_error_line(refusals, case, message):
    # Before: the same error once per test: 1,272 lines for --dtype fp16, 5,413 for a model it cannot fetch.
    out = refusals[case]
    assert out.rc == 4, out.explain()
    (line,) = _last_lines(out)
    assert line.startswith(message), out.explain()


class _Config:
    """Enough of pytest's Config for benchmarks/conftest.py's pytest_configure (options by dest name)."""

    def __init__(self, **options):
        self.options = options

    def getoption(self, name):
        return self.options.get(name)

    def getini(self, name):
        return self.options.get(name)


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"baseline": "{tmp}/missing.json"}, "--baseline {tmp}/missing.json: no such file"),
        (
            {"baseline": "{tmp}/damaged.json"},
            "{tmp}/damaged.json: field summary: expected a mapping, got a string 'lost'",
        ),
        ({"quality_tolerance": "nan"}, "--quality-tolerance nan: expected a finite number >= 0"),
        ({"min_agreement": "bfloat16=1.5"}, "--min-agreement bfloat16=1.5: the share must be between 0 and 1"),
        ({"reference_setting": "float32"}, "--reference-setting float32: expected DTYPE-ATTN with DTYPE one of"),
        ({"update_baseline": True, "limit": "3"}, "--update-baseline with --limit 3 would record a baseline of part"),
        ({"suites": "ocr,nosuch"}, "unknown suite 'nosuch'"),
        (
            {"baseline": "{tmp}/other.json"},
            "baseline {tmp}/other.json is model phi3v at revision abc123, this run model tiny at revision none; its"
            " scores are not this model's (--allow-other-model gates against it anyway)",
        ),
    ],
    ids=[
        "missing-baseline",
        "damaged-baseline",
        "nan-tolerance",
        "agreement-share",
        "reference",
        "update-limit",
        "suite",
        "other-model-baseline",  # before: the quality gate passed against it without a word
    ],
)
def test_bad_options_are_refused_at_configure_time(tmp_path, options, message):
    """Before: a missing or damaged baseline skipped the quality tests and the session passed; a NaN tolerance
    disabled the gate."""
    import benchmarks.conftest as bench_conftest

    damaged = json.loads(COMMITTED_BASELINE.read_text(encoding="utf-8"))
    damaged["summary"] = "lost"
    (tmp_path / "damaged.json").write_text(json.dumps(damaged), encoding="utf-8")
    _other_model_baseline(tmp_path / "other.json")
    options = {k: v.format(tmp=tmp_path) if isinstance(v, str) else v for k, v in options.items()}
    config = _Config(runs_dir=str(tmp_path / "runs"), device="cpu", **options)
    with pytest.raises(pytest.UsageError) as info:
        bench_conftest.pytest_configure(config)
    assert str(info.value).startswith(message.format(tmp=tmp_path)) and "\n" not in str(info.value)


def _other_model_baseline(path: Path) -> Path:
    other = json.loads(COMMITTED_BASELINE.read_text(encoding="utf-8"))
    other["setting"].update(model="phi3v", revision="abc123")
    path.write_text(json.dumps(other), encoding="utf-8")
    return path


@pytest.mark.parametrize("how", [{"allow_other_model": True}, {"evalkit_allow_other_model": True}])
def test_a_baseline_of_another_model_is_used_when_asked(tmp_path, how):
    import benchmarks.conftest as bench_conftest

    config = _Config(
        runs_dir=str(tmp_path / "runs"), device="cpu", baseline=str(_other_model_baseline(tmp_path / "o.json")), **how
    )
    bench_conftest.pytest_configure(config)
    assert config._evalkit_options.allow_other_model


def test_allow_skip_records_requested_settings_that_cannot_run_as_skipped(refusals):
    out = refusals["allow-skip"]
    assert out.rc == 0, out.explain()
    reason = "cannot run here: flash_attention_2 needs a CUDA device (this run is on the CPU)"
    assert len(re.findall(rf"^SKIPPED \[1\] benchmarks/test_\w+\.py: {re.escape(reason)}$", out.output, re.M)) == 4
    assert (
        "evalkit: float32-flash_attention_2 skipped (--allow-skip): flash_attention_2 needs a CUDA device" in out.output
    )


def test_a_missing_baseline_fails_the_quality_and_memory_gates(refusals):
    out = refusals["no-baseline"]
    assert out.rc == 1, out.explain()
    path = "reports/baselines/gate-test-model-without-baseline/default.json"
    for test in (
        "test_quality.py::test_quality_against_baseline[float32-eager-ocr]",
        "test_memory.py::test_memory_within_budget[float32-eager]",
    ):
        assert out.failed(test), out.explain()
    assert out.output.count(f"no baseline at {path}: record one with `pytest benchmarks/ --update-baseline`") >= 2


def test_committed_baseline_is_untouched(normal, degraded, cycle):
    assert COMMITTED_SHA256 is not None, f"{COMMITTED_BASELINE} is missing"
    assert hashlib.sha256(COMMITTED_BASELINE.read_bytes()).hexdigest() == COMMITTED_SHA256


# ----------------------------------------------------- a fresh runner: no pytest-benchmark history, verdicts


@pytest.fixture(scope="module")
def fresh_runner(tmp_path_factory) -> tuple[Path, Outcome, Outcome]:
    """--benchmark-compare-fail with an empty history: refused in one line by default, saved with
    --missing-history save (one OCR sample, eager only, the job summary and verdicts written)."""
    tmp = tmp_path_factory.mktemp("fresh")
    compare = [
        *("--benchmark-storage", f"file://{tmp / 'storage'}", "--benchmark-compare"),
        "--benchmark-compare-fail=median:150%",
    ]
    quick = [*QUICK[:3], "1", *QUICK[4:], "--attn", "eager", "--perf-samples", "1", "--perf-rounds", "1"]
    refused = pytest_benchmarks(*quick, *compare, runs_dir=tmp / "runs-refused")
    saved = pytest_benchmarks(
        *quick,
        *compare,
        "--missing-history",
        "save",
        runs_dir=tmp / "runs",
        env={"GITHUB_STEP_SUMMARY": str(tmp / "summary.md")},
    )
    return tmp, refused, saved


def test_no_history_is_one_line_before_any_model_is_loaded(fresh_runner):
    # Before: the whole matrix ran, then a traceback and exit 4.
    tmp, refused, _ = fresh_runner
    assert refused.rc == 4, refused.explain()
    assert "Traceback" not in refused.output and "loading model" not in refused.output, refused.explain()
    assert f"evalkit: --benchmark-compare-fail: no saved pytest-benchmark run in {tmp / 'storage'} to compare with" in (
        refused.output
    )


def test_missing_history_save_saves_the_first_run_and_writes_the_verdicts(fresh_runner):
    tmp, _, saved = fresh_runner
    assert saved.rc == 0, saved.explain()
    assert f"evalkit: no pytest-benchmark history in {tmp / 'storage'}: nothing compared" in saved.output
    assert len(list((tmp / "storage").rglob("0001_*.json"))) == 1, saved.explain()
    document = json.loads((tmp / "runs" / "verdicts.json").read_text(encoding="utf-8"))
    assert document["kind"] == "evalkit-verdicts" and document["passed"] is True
    by_gate = {v["gate"]: v for v in document["verdicts"]}
    assert set(by_gate) == {"quality", "agreement", "memory", "performance"}
    quality = by_gate["quality"]
    assert (quality["verdict"], quality["setting"], quality["suite"], quality["metric"]) == (
        "pass", "float32-eager", "ocr", "located_cer"
    )  # fmt: skip
    assert quality["n"] == 1 and quality["difference"] == pytest.approx(quality["candidate"] - quality["reference"])
    assert (
        by_gate["performance"]["verdict"] == "skip"
        and "no pytest-benchmark history" in by_gate["performance"]["message"]
    )
    run = json.loads(next((tmp / "runs").rglob("run.json")).read_text(encoding="utf-8"))
    load = run["performance"]["machine_load"]  # what else ran while this run was timed
    assert load["cpu_count"] >= 1 and len(load["load_average_end"]) == 3 and 0 <= load["other_share"] <= 1
    summary = (tmp / "summary.md").read_text(encoding="utf-8")
    assert summary.startswith("## evalkit benchmarks: passed (0 failed, 2 passed, 2 skipped)"), summary
    assert "### Reports" in summary and "report.md" in summary
    assert summary.count("## evalkit benchmarks") == 1 and "# evalkit run" not in summary  # no run report before it


def test_benchmark_runs_go_under_their_own_directory():
    # Before: reports/runs/, where `evalkit compare ... latest` could pick a CI run over the user's own.
    import benchmarks.conftest as bench_conftest

    opts = bench_conftest._options(_Config())
    assert opts.runs_dir == Path("reports/benchmarks") and opts.verdicts == Path("reports/benchmarks/verdicts.json")
    assert opts.missing_history == "fail"
    custom = bench_conftest._options(_Config(runs_dir="/tmp/x", missing_history="save"))
    assert custom.verdicts == Path("/tmp/x/verdicts.json") and custom.missing_history == "save"

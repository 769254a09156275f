"""`pytest benchmarks/`: quality, agreement, performance and memory gates over a matrix of settings.

Every setting is built by composing the same Hydra config as `python -m evalkit` and evaluated by the same runner;
each setting's model is loaded once and its suites evaluated once per session, whatever the number of tests.
Options (see README "GPU CI"): --model --revision --dtype --attn --suites --batch-size --baseline --update-baseline ...
"""

from __future__ import annotations

import itertools
from pathlib import Path

import pytest

from benchmarks.session import BenchSession, Options

OPTION_DEFAULTS = {
    "model": ("tiny", "conf/model name (tiny, phi3v, phi35v, phi3v-random) or a checkpoint dir / Hub repo id"),
    "revision": (None, "Hub revision of --model"),
    "dtype": ("float32", "dtype(s), comma-separated or repeated: a matrix"),
    "attn": ("eager,sdpa,flash_attention_2", "attention implementation(s), comma-separated or repeated"),
    "suites": ("describe,ocr,compare", "suite names or directories, comma-separated"),
    "batch-size": ("1", "batch size(s), comma-separated"),
    "device": ("auto", "auto, cpu, cuda or cuda:N"),
    "mode": ("latency", "runtime.mode: latency (requests timed from the image files) or throughput (prefetched)"),
    "num-crops": (None, "HD crops per image (default: 4 for the tiny model on CPU, else the checkpoint's)"),
    "max-new-tokens": (None, "tokens to generate (default: 16 for the tiny model, else 64)"),
    "limit": (None, "at most this many samples per suite"),
    "baseline": (None, "baseline file (default reports/baselines/<model>/<revision or 'default'>.json)"),
    "reference-setting": ("float32-eager", "DTYPE-ATTN whose answers the agreement tests compare against"),
    "quality-tolerance": ("0.0", "absolute drop of a suite's primary score tolerated beyond its confidence interval"),
    "memory-tolerance": (
        None,
        "allowed peak-memory growth over the baseline, fraction (default 0.05 on CUDA, 0.25 on CPU)",
    ),
    "min-agreement": ("", "per-dtype minimum first-N-token agreement, e.g. bfloat16=0.6,float16=0.6"),
    "agreement-tokens": ("8", "N of the first-N-token agreement"),
    "perf-samples": ("2", "samples per suite in each performance measurement"),
    "perf-rounds": ("3", "timed rounds per performance test (pytest-benchmark pedantic)"),
    "perf-warmup": ("1", "untimed warm-up rounds per performance test"),
    "runs-dir": ("reports/runs", "where the session's run records and reports are written"),
}


def pytest_addoption(parser):
    group = parser.getgroup("evalkit", "evalkit regression gates")
    for name, (default, help_text) in OPTION_DEFAULTS.items():
        group.addoption(
            f"--{name}",
            action="append" if name in ("dtype", "attn") else "store",
            default=None,
            help=f"{help_text} (default: {default})",
        )
    group.addoption(
        "--update-baseline", action="store_true", help="write the reference setting's run as the new baseline"
    )
    group.addoption("--compile", action="store_true", help="runtime.compile: static KV cache + torch.compile of decode")


def _option(config, name: str):
    value = config.getoption(name.replace("-", "_"))
    if value is None:
        return OPTION_DEFAULTS[name][0]
    return ",".join(value) if isinstance(value, list) else value


def _split(text: str | None) -> list[str]:
    return [part.strip() for part in (text or "").split(",") if part.strip()]


def pytest_configure(config):
    opts = Options(
        model=_option(config, "model"),
        revision=_option(config, "revision"),
        dtypes=_split(_option(config, "dtype")),
        attns=_split(_option(config, "attn")),
        batch_sizes=[int(b) for b in _split(_option(config, "batch-size"))],
        suites=_split(_option(config, "suites")),
        device=_option(config, "device"),
        mode=_option(config, "mode"),
        compile=config.getoption("compile"),
        num_crops=_option(config, "num-crops"),
        max_new_tokens=_option(config, "max-new-tokens"),
        limit=_option(config, "limit"),
        baseline=_option(config, "baseline"),
        update_baseline=config.getoption("update_baseline"),
        reference_setting=_option(config, "reference-setting"),
        quality_tolerance=float(_option(config, "quality-tolerance")),
        memory_tolerance=_option(config, "memory-tolerance"),
        min_agreement=_option(config, "min-agreement"),
        agreement_tokens=int(_option(config, "agreement-tokens")),
        perf_samples=int(_option(config, "perf-samples")),
        perf_rounds=int(_option(config, "perf-rounds")),
        perf_warmup=int(_option(config, "perf-warmup")),
        runs_dir=Path(_option(config, "runs-dir")),
    )
    if opts.update_baseline and opts.reference_setting not in settings_matrix(opts):
        raise pytest.UsageError(
            f"--update-baseline records the reference setting {opts.reference_setting}, which is not in the matrix "
            f"{settings_matrix(opts)}; add it (--dtype/--attn) or choose --reference-setting"
        )
    config._evalkit_options = opts


def settings_matrix(opts: Options) -> list[str]:
    return [
        f"{dtype}-{attn}" + (f"-bs{bs}" if len(opts.batch_sizes) > 1 else "")
        for dtype, attn, bs in itertools.product(opts.dtypes, opts.attns, opts.batch_sizes)
    ]


def pytest_generate_tests(metafunc):
    opts: Options = metafunc.config._evalkit_options
    if "setting" in metafunc.fixturenames:
        metafunc.parametrize("setting", settings_matrix(opts), scope="session")
    if "suite" in metafunc.fixturenames:
        metafunc.parametrize("suite", opts.suites, scope="session")


def pytest_collection_modifyitems(config, items):
    # Run every test of one setting together, so its model is loaded once and released before the next;
    # the reference setting goes first because the agreement tests of every other setting read its answers.
    # Only this directory's items are reordered (pytest tests benchmarks collects both in one session).
    here = Path(__file__).parent
    reference = config._evalkit_options.reference_setting

    def setting(item) -> str:
        callspec = getattr(item, "callspec", None)
        return str(callspec.params.get("setting", "")) if callspec else ""

    ours = [item for item in items if here in Path(item.path).parents]
    others = [item for item in items if here not in Path(item.path).parents]
    order = {s: i for i, s in enumerate(dict.fromkeys(setting(i) for i in ours))}
    ours.sort(key=lambda item: (setting(item) != reference, order[setting(item)]))
    items[:] = others + ours


@pytest.fixture(scope="session")
def bench(request) -> BenchSession:
    session = BenchSession(request.config._evalkit_options)
    request.config._evalkit_session = session
    yield session
    session.close()


def pytest_benchmark_update_machine_info(config, machine_info):
    from evalkit.provenance import environment

    env = environment()
    machine_info["evalkit"] = {
        k: env.get(k)
        for k in (
            "gpu_name",
            "driver_version",
            "cuda_version",
            "torch",
            "transformers",
            "flash_attn",
            "evalkit_version",
        )
    }


def pytest_terminal_summary(terminalreporter, config):
    session: BenchSession | None = getattr(config, "_evalkit_session", None)
    if session is not None:
        for line in session.summary_lines():
            terminalreporter.write_line(line)

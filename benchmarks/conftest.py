"""`pytest benchmarks/`: quality, agreement, performance and memory gates over a matrix of settings.

Every setting is built by composing the same Hydra config as `python -m evalkit` and evaluated by the same runner;
each setting's model is loaded once and its suites evaluated once per session, whatever the number of tests.
Under torchrun (`torchrun --nproc-per-node=N -m pytest benchmarks/`) every rank runs the session: each evaluation is
sharded over the ranks and merged into one run directory, every rank's gates judge that merged record, and only
rank 0 writes baselines, benchmark files and the summary lines.
Options (see README "GPU CI"): --model --revision --dtype --attn --suites --batch-size --baseline --update-baseline ...
"""

from __future__ import annotations

import contextlib
import functools
import itertools
import math
import os
import sys
import threading
from pathlib import Path

import pytest

from benchmarks import verdict_hooks
from benchmarks.session import BenchSession, Options, parse_setting
from evalkit.cli.preflight import plan_settings, refusal
from evalkit.config.settings import ATTN_NAMES, DTYPE_NAMES, MODE_NAMES
from evalkit.errors import EXIT_UNSUPPORTED, EvalkitError, one_line
from evalkit.run import distributed

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
    "max-new-tokens": (
        None,
        "tokens to generate per sample (default: 16 for the tiny model, else each sample's own budget)",
    ),
    "limit": (None, "at most this many samples per suite"),
    "limit-mode": (
        "stratified",
        "which --limit samples: stratified (seeded, across question types and difficulty) or head",
    ),
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
    "runs-dir": (
        "reports/benchmarks",
        "where the session's run records and reports are written (apart from `evalkit run`'s reports/runs, so that "
        "`evalkit compare latest` never picks a CI run)",
    ),
    "verdicts": (None, "the session's gate verdicts as JSON (default: RUNS_DIR/verdicts.json; docs/verdicts.md)"),
    "missing-history": (
        "fail",
        "with --benchmark-compare-fail and no saved pytest-benchmark run to compare with: `fail` (one line, exit 4, "
        "before any model is loaded) or `save` (this run is saved as the first history and nothing is compared)",
    ),
}


STEP_SUMMARY = "GITHUB_STEP_SUMMARY"


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
    group.addoption(
        "--force-baseline",
        action="store_true",
        help="with --update-baseline: accept a run with --limit or failed samples as the baseline",
    )
    group.addoption(
        "--allow-skip",
        action="store_true",
        help="record requested settings this machine cannot run as skipped instead of stopping with exit code 3",
    )
    group.addoption("--compile", action="store_true", help="runtime.compile: static KV cache + torch.compile of decode")
    group.addoption(
        "--allow-other-model",
        action="store_true",
        help="gate against a baseline of another model or revision (refused by default, naming both; ini: "
        "evalkit_allow_other_model = true)",
    )
    parser.addini(
        "evalkit_allow_other_model", "gate against a baseline of another model or revision", type="bool", default=False
    )


def _option(config, name: str):
    value = config.getoption(name.replace("-", "_"))
    if value is None:
        return OPTION_DEFAULTS[name][0]
    return ",".join(value) if isinstance(value, list) else value


def _split(text: str | None) -> list[str]:
    return [part.strip() for part in (text or "").split(",") if part.strip()]


def _number(config, name: str, kind: type, minimum: float, *, optional: bool = False):
    """An option's value as int or float, finite and >= minimum; pytest.UsageError naming the option otherwise."""
    text = _option(config, name)
    if text is None and optional:
        return None
    return _number_text(text, name, kind, minimum)


def _number_text(text: str, name: str, kind: type, minimum: float):
    try:
        value = kind(text)
    except (TypeError, ValueError):
        raise pytest.UsageError(f"--{name} {text}: expected {'an integer' if kind is int else 'a number'}") from None
    if not math.isfinite(value) or value < minimum:
        raise pytest.UsageError(f"--{name} {text}: expected a finite number >= {minimum:g}")
    return value


def _names(config, name: str, allowed: tuple[str, ...]) -> list[str]:
    values = _split(_option(config, name))
    for value in values:
        if value not in allowed:
            raise pytest.UsageError(f"--{name} {value}: expected one of {', '.join(allowed)}")
    if not values:
        raise pytest.UsageError(f"--{name}: no value given")
    return values


def _options(config) -> Options:
    """Every option parsed and checked; a bad one is one pytest.UsageError line, before any model work."""
    batch_sizes = [_number_text(b, "batch-size", int, 1) for b in _split(_option(config, "batch-size"))]
    min_agreement = _option(config, "min-agreement")
    for part in _split(min_agreement):
        dtype, _, value = part.partition("=")
        if dtype.strip() not in DTYPE_NAMES:
            raise pytest.UsageError(
                f"--min-agreement {part}: expected DTYPE=SHARE with DTYPE one of {', '.join(DTYPE_NAMES)}"
            )
        share = _number_text(value, "min-agreement", float, 0.0)
        if share > 1:
            raise pytest.UsageError(f"--min-agreement {part}: the share must be between 0 and 1")
    reference = _option(config, "reference-setting")
    ref_dtype, _, ref_attn = reference.partition("-")
    if ref_dtype not in DTYPE_NAMES or ref_attn not in ATTN_NAMES:
        raise pytest.UsageError(
            f"--reference-setting {reference}: expected DTYPE-ATTN with DTYPE one of {', '.join(DTYPE_NAMES)} "
            f"and ATTN one of {', '.join(ATTN_NAMES)}"
        )
    return Options(
        model=_option(config, "model"),
        revision=_option(config, "revision"),
        dtypes=_names(config, "dtype", DTYPE_NAMES),
        attns=_names(config, "attn", ATTN_NAMES),
        batch_sizes=batch_sizes or [1],
        suites=_split(_option(config, "suites")),
        device=_option(config, "device"),
        mode=_names(config, "mode", MODE_NAMES)[0],
        compile=config.getoption("compile"),
        num_crops=_option(config, "num-crops") and str(_number(config, "num-crops", int, 1)),
        max_new_tokens=_option(config, "max-new-tokens") and str(_number(config, "max-new-tokens", int, 1)),
        limit=_option(config, "limit") and str(_number(config, "limit", int, 1)),
        limit_mode=_names(config, "limit-mode", ("stratified", "head"))[0],
        baseline=_option(config, "baseline"),
        update_baseline=config.getoption("update_baseline"),
        force_baseline=config.getoption("force_baseline"),
        allow_skip=config.getoption("allow_skip"),
        allow_other_model=bool(config.getoption("allow_other_model") or config.getini("evalkit_allow_other_model")),
        reference_setting=reference,
        quality_tolerance=_number(config, "quality-tolerance", float, 0.0),
        memory_tolerance=_number(config, "memory-tolerance", float, 0.0, optional=True),
        min_agreement=min_agreement,
        agreement_tokens=_number(config, "agreement-tokens", int, 1),
        perf_samples=_number(config, "perf-samples", int, 1),
        perf_rounds=_number(config, "perf-rounds", int, 1),
        perf_warmup=_number(config, "perf-warmup", int, 0),
        runs_dir=Path(_option(config, "runs-dir")),
        verdicts=Path(_option(config, "verdicts") or Path(_option(config, "runs-dir")) / "verdicts.json"),
        missing_history=_names(config, "missing-history", ("fail", "save"))[0],
    )


def pytest_configure(config):
    if not distributed.current().is_main:
        config.option.verbose = min(config.option.verbose, -1)  # rank 0 speaks; the others only report failures
    opts = _options(config)
    if opts.update_baseline and opts.limit and not opts.force_baseline:
        raise pytest.UsageError(
            f"--update-baseline with --limit {opts.limit} would record a baseline of part of each suite; "
            "drop --limit, or add --force-baseline"
        )
    explicit = {dim for dim in ("dtype", "attn", "device") if config.getoption(dim) is not None}
    plan = plan_settings(
        [{"dtype": d, "attn": a, "device": opts.device} for d, a in itertools.product(opts.dtypes, opts.attns)],
        explicit,
    )
    stop = refusal(plan, opts.allow_skip, "--allow-skip")
    if stop:
        pytest.exit(f"evalkit: {stop}", returncode=EXIT_UNSUPPORTED)
    opts.left_out = [(f"{s['dtype']}-{s['attn']}", why) for s, why in plan.left_out]
    opts.skipped = {f"{s['dtype']}-{s['attn']}": why for s, why in plan.refused}  # allowed by --allow-skip
    opts.runnable = [f"{s['dtype']}-{s['attn']}" for s in plan.run]
    matrix = settings_matrix(opts)
    if opts.update_baseline and opts.reference_setting not in matrix:
        raise pytest.UsageError(
            f"--update-baseline records the reference setting {opts.reference_setting}, which is not in the matrix "
            f"{matrix}; add it (--dtype/--attn) or choose --reference-setting"
        )
    session = BenchSession(opts)
    try:
        session.check_inputs(matrix)
    except EvalkitError as exc:
        raise pytest.UsageError(one_line(exc)) from None
    config._evalkit_options = opts
    config._evalkit_session = session
    if STEP_SUMMARY in os.environ:
        # Each run's report would be appended to the job summary as the setting finishes; the session writes the
        # summary itself at the end instead: the verdicts first (failed first), then where the reports are.
        config._evalkit_step_summary = os.environ.pop(STEP_SUMMARY)


def settings_matrix(opts: Options) -> list[str]:
    """The settings that run (and, with --allow-skip, the refused ones, which are collected and skipped)."""
    keep = set(opts.runnable) | set(opts.skipped)
    return [
        f"{dtype}-{attn}" + (f"-bs{bs}" if len(opts.batch_sizes) > 1 else "")
        for dtype, attn, bs in itertools.product(opts.dtypes, opts.attns, opts.batch_sizes)
        if f"{dtype}-{attn}" in keep
    ]


def pytest_report_header(config):
    opts: Options | None = getattr(config, "_evalkit_options", None)
    if opts is None:
        return []
    return [f"evalkit: left out {s} (not requested by name): {why}" for s, why in opts.left_out]


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
    skipped = config._evalkit_options.skipped
    for item in ours:  # --allow-skip: a requested setting this machine cannot run is skipped with its reason
        dtype, attn, _ = parse_setting(setting(item)) if setting(item) else ("", "", None)
        reason = skipped.get(f"{dtype}-{attn}")
        if reason:
            item.add_marker(pytest.mark.skip(reason=f"cannot run here: {reason}"))
    order = {s: i for i, s in enumerate(dict.fromkeys(setting(i) for i in ours))}
    ours.sort(key=lambda item: (setting(item) != reference, order[setting(item)]))
    items[:] = others + ours


def pytest_sessionstart(session):
    bench_files = getattr(session.config, "_benchmarksession", None)
    if bench_files is not None and not distributed.current().is_main:
        # pytest-benchmark's files (--benchmark-json/-save/-autosave/-histogram): rank 0 writes them, once.
        bench_files.json, bench_files.save, bench_files.autosave, bench_files.histogram = None, None, False, False
    opts: Options | None = getattr(session.config, "_evalkit_options", None)
    if bench_files is not None and opts is not None:
        _first_run(session.config, bench_files, opts)


def _first_run(config, bench_files, opts: Options) -> None:
    """--benchmark-compare-fail with no saved run to compare with. pytest-benchmark would run the whole matrix and
    then end in a traceback (exit 4); here it is one line before any model is loaded, or, with
    `--missing-history save`, this run is saved as the first history and the latency tests are not compared."""
    if not bench_files.compare_fail or bench_files.compared_mapping:
        return
    wanted = "" if bench_files.compare is True else f" matching {bench_files.compare!r}"
    where = f"{bench_files.storage}{wanted}"
    if opts.missing_history != "save":
        bench_files.compare_fail = None  # so that pytest-benchmark's own check does not raise again at the end
        pytest.exit(
            f"evalkit: --benchmark-compare-fail: no saved pytest-benchmark run in {where} to compare with; "
            "save a first run (--benchmark-autosave, or --missing-history save on a fresh runner)",
            returncode=pytest.ExitCode.USAGE_ERROR,
        )
    bench_files.compare_fail, bench_files.compare = None, False
    if not (bench_files.save or bench_files.autosave) and distributed.current().is_main:
        bench_files.autosave = True
    why = f"no pytest-benchmark history in {where}: nothing compared; this run is saved as the first one"
    config._evalkit_session.first_run = why
    line = f"evalkit: {why}"
    reporter = config.pluginmanager.get_plugin("terminalreporter")
    if reporter is not None and distributed.current().is_main:
        reporter.write_line(line)


def pytest_unconfigure(config):
    summary = getattr(config, "_evalkit_step_summary", None)
    if summary is not None:
        os.environ[STEP_SUMMARY] = summary
    if "torch.distributed" in sys.modules:
        distributed.teardown()


# -- verdicts: one per test, from its report and the numbers the test gave (benchmarks/verdict_hooks.py) ------------


def pytest_runtest_setup(item):
    session: BenchSession | None = getattr(item.config, "_evalkit_session", None)
    if session is not None and Path(__file__).parent in Path(item.path).parents:
        verdict_hooks.start_test(session, item)


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    outcome = yield
    session: BenchSession | None = getattr(item.config, "_evalkit_session", None)
    if session is not None:
        verdict_hooks.record_report(session, outcome.get_result())


@pytest.hookimpl(trylast=True)
def pytest_sessionfinish(session, exitstatus):
    """After pytest-benchmark compared its runs (in its own sessionfinish): the verdict file and the job summary."""
    bench: BenchSession | None = getattr(session.config, "_evalkit_session", None)
    if bench is not None and distributed.current().is_main:
        bench_files = getattr(session.config, "_benchmarksession", None)
        verdict_hooks.finish(bench, bench_files, getattr(session.config, "_evalkit_step_summary", None))


_SAY_LOCK = threading.Lock()


def _say(config, reporter, line: str) -> None:
    """A progress line (loading, evaluating k/n, done) on the terminal while a test runs: pytest captures the
    output of tests, so capture is suspended around the line (from the progress thread too, hence the lock)."""
    capman = config.pluginmanager.get_plugin("capturemanager")
    with _SAY_LOCK, capman.global_and_fixture_disabled() if capman else contextlib.nullcontext():
        reporter.write_line(line)


@pytest.fixture(scope="session")
def bench(request) -> BenchSession:
    session = request.config._evalkit_session
    reporter = request.config.pluginmanager.get_plugin("terminalreporter")
    if reporter is not None and distributed.current().is_main:
        session.say = functools.partial(_say, request.config, reporter)
    yield session
    session.close()


def pytest_benchmark_update_machine_info(config, machine_info):
    from evalkit.run.provenance import environment

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
        for name, why in session.options.left_out:
            terminalreporter.write_line(f"evalkit: left out {name} (not requested by name): {why}")

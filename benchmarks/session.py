"""One benchmark session: settings composed through Hydra, models loaded once, evaluations cached per setting."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from evalkit.cli.preflight import Combination, check_inputs, quote_suite_specs
from evalkit.config import CONF_DIR, compose
from evalkit.config.settings import EvalConfig, default_model_name
from evalkit.data.suites import Suite, resolve_suites
from evalkit.errors import EvalkitError, UnsupportedSettingError, one_line
from evalkit.gates import DEFAULT_MIN_AGREEMENT, other_model
from evalkit.records import SAMPLES_FILE, Prediction, RunRecord, load_run
from evalkit.reports.baseline import SavedBaseline, baseline_path, load_baseline, save_baseline
from evalkit.reports.common import RunView
from evalkit.reports.verdicts import Verdict
from evalkit.run import distributed, runner
from evalkit.run.measure import release_memory

# Quick defaults for the tiny random model, so `pytest benchmarks/` on a CPU takes about a minute per setting
# (its answers are noise: 16 tokens show any change). Real models get each sample's own budget (None), so a perfect
# reader can score perfectly.
TINY_DEFAULTS = {"num_crops": 4, "max_new_tokens": 16}
MODEL_DEFAULTS = {"max_new_tokens": None}


@dataclass
class Options:
    model: str
    revision: str | None
    dtypes: list[str]
    attns: list[str]
    batch_sizes: list[int]
    suites: list[str]
    device: str
    mode: str
    compile: bool
    num_crops: str | None
    max_new_tokens: str | None
    limit: str | None
    baseline: str | None
    update_baseline: bool
    reference_setting: str
    quality_tolerance: float
    memory_tolerance: str | None
    min_agreement: str
    agreement_tokens: int
    perf_samples: int
    perf_rounds: int
    perf_warmup: int
    runs_dir: Path
    verdicts: Path = Path("reports/benchmarks/verdicts.json")
    missing_history: str = "fail"  # --missing-history: fail | save
    limit_mode: str = "stratified"  # --limit-mode: stratified | head (evalkit/data/sampling.py)
    force_baseline: bool = False
    allow_skip: bool = False
    allow_other_model: bool = False  # gate against a baseline of another model or revision
    # Set by pytest_configure from evalkit.cli.preflight.plan_settings ("DTYPE-ATTN" names):
    runnable: list[str] = field(default_factory=list)
    left_out: list[tuple[str, str]] = field(default_factory=list)  # brought in by a default, cannot run here
    skipped: dict[str, str] = field(default_factory=dict)  # requested, cannot run here, --allow-skip: reason

    @property
    def is_named_model(self) -> bool:
        return (CONF_DIR / "model" / f"{self.model}.yaml").is_file()

    @property
    def model_name(self) -> str:
        return self.model if self.is_named_model else default_model_name(self.model)

    def baseline_path(self) -> Path:
        """--baseline, else where `evalkit baseline save` writes this model's baseline (one definition)."""
        if self.baseline:
            return Path(self.baseline)
        return baseline_path(self.model_name, self.revision)

    def agreement_minimum(self, dtype: str) -> float:
        minimums = dict(DEFAULT_MIN_AGREEMENT)
        for part in filter(None, (p.strip() for p in self.min_agreement.split(","))):
            name, _, value = part.partition("=")
            minimums[name.strip()] = float(value)
        return minimums.get(dtype, 0.5)


@dataclass
class Evaluation:
    setting: str
    config: EvalConfig
    run_dir: Path
    record: RunRecord
    predictions: list[Prediction] = field(default_factory=list)


def parse_setting(setting: str) -> tuple[str, str, int | None]:
    parts = setting.split("-")
    batch = int(parts.pop()[2:]) if parts[-1].startswith("bs") else None
    return parts[0], "-".join(parts[1:]), batch


class Progress:
    """`evaluating k/n samples` lines while a setting evaluates, so that `pytest benchmarks/` is not silent for
    minutes. The runner writes each answered sample to samples.jsonl as it goes; a thread counts the lines of the
    run directory this evaluation created and says the count when it changed, every `every` seconds."""

    def __init__(self, say: Callable[[str], None], setting: str, total: int, runs_dir: Path, every: float = 20.0):
        self.say, self.setting, self.total, self.runs_dir, self.every = say, setting, total, runs_dir, every
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._watch, name="evalkit-progress", daemon=True)
        self._before: set[Path] = set()

    def __enter__(self) -> Progress:
        self._before = set(self.runs_dir.rglob(SAMPLES_FILE)) if self.runs_dir.is_dir() else set()
        self.say(f"evalkit: {self.setting}: evaluating {self.total} samples...")
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._thread.join()

    def answered(self) -> int | None:
        new = [p for p in self.runs_dir.rglob(SAMPLES_FILE) if p not in self._before] if self.runs_dir.is_dir() else []
        if not new:
            return None
        try:
            return max(p.read_bytes().count(b"\n") for p in new)
        except OSError:
            return None

    def _watch(self) -> None:
        said = None
        while not self._stop.wait(self.every):
            k = self.answered()
            if k is not None and k != said:
                self.say(f"evalkit: {self.setting}: evaluating {k}/{self.total} samples")
                said = k


class BenchSession:
    def __init__(self, options: Options):
        self.options = options
        self._evaluations: dict[str, Evaluation] = {}
        self._skips: dict[str, str] = {}
        self._suites: dict[str, Suite] = {}
        self._loaded: tuple[str, runner.LoadedModel] | None = None
        self._baseline: RunView | str | None = None  # the loaded baseline, or why there is none
        self.baseline_written: SavedBaseline | None = None  # --update-baseline, once the reference has run
        self.notes: list[str] = []
        self.say: Callable[[str], None] = lambda line: None  # pytest's terminal reporter (conftest), rank 0 only
        self.first_run: str | None = None  # --missing-history save: why nothing was compared
        # The session's gate verdicts (conftest builds one per test from its report, with the numbers the test
        # gave through `detail`), written to --verdicts at the end.
        self.verdicts: list[Verdict] = []
        self.current_test: str | None = None
        self.details: dict[str, dict] = {}
        self.pending_performance: dict[str, dict] = {}  # latency tests that ran: pytest-benchmark judges them

    def evaluations(self) -> dict[str, Evaluation]:
        """The settings evaluated so far, in order, with their run directories."""
        return dict(self._evaluations)

    def detail(self, **fields) -> None:
        """The numbers behind the running test's verdict (metric, reference, candidate, difference, interval, n,
        unit, tolerance); its outcome comes from the test's report."""
        if self.current_test is not None:
            self.details.setdefault(self.current_test, {}).update(fields)

    # -- configuration -------------------------------------------------------------------------------------

    def overrides(self, setting: str) -> list[str]:
        o = self.options
        dtype, attn, batch = parse_setting(setting)
        tiny = o.model == "tiny"
        defaults = TINY_DEFAULTS if tiny else MODEL_DEFAULTS
        values = {
            "runtime.dtype": dtype, "runtime.attn": attn, "runtime.device": o.device,
            "runtime.mode": o.mode, "runtime.compile": str(bool(o.compile)).lower(),
            "runtime.batch_size": batch or o.batch_sizes[0],
            "runtime.num_crops": o.num_crops or defaults.get("num_crops"),
            "runtime.max_new_tokens": o.max_new_tokens or defaults["max_new_tokens"],
            "limit": o.limit, "limit_mode": o.limit_mode, "output_dir": str(o.runs_dir), "progress": "false",
            "name": f"{o.model_name}-{setting}",
        }  # fmt: skip
        out = (
            [f"model={o.model}"]
            if o.is_named_model
            else [f"model.path={o.model}", f"model.name={o.model_name}", "model.random=null"]
        )
        if o.revision:
            out.append(f"model.revision={o.revision}")
        out.append(quote_suite_specs(o.suites))  # a spec's `:schema=NAME` holds an `=`: quoted for Hydra
        out += [f"{k}={'null' if v is None else v}" for k, v in values.items()]
        return out

    def config(self, setting: str) -> tuple[EvalConfig, dict]:
        """The same composition `python -m evalkit` does: conf/ + overrides, validated by the dataclass schema."""
        from omegaconf import OmegaConf

        cfg = compose(self.overrides(setting))
        return OmegaConf.to_object(cfg), OmegaConf.to_container(cfg, resolve=True)

    def check_inputs(self, settings: list[str]) -> None:
        """Compose every setting (types and values), then check locations, suites, the model and the baseline
        once each: EvalkitError with one line, before any model is loaded."""
        check_inputs([Combination(self.overrides(s), self.config(s)[0]) for s in settings])
        path = self.options.baseline_path()
        if self.options.update_baseline:
            return  # about to be (re)written
        if self.options.baseline and not path.is_file():
            raise EvalkitError(f"--baseline {path}: no such file")
        if path.is_file():
            self._baseline = load_baseline(path)  # a damaged baseline is refused now, not in every test
            self.check_baseline_model(path, self._baseline)

    def check_baseline_model(self, path: Path, baseline: RunView) -> None:
        """A baseline of another model or revision is no reference for this session's gates: refused, naming both,
        unless --allow-other-model (or the ini key evalkit_allow_other_model)."""
        differs = other_model(baseline.setting, {"model": self.options.model_name, "revision": self.options.revision},
                              f"baseline {path}")  # fmt: skip
        if differs and not self.options.allow_other_model:
            raise EvalkitError(
                f"{differs}; its scores are not this model's (--allow-other-model gates against it anyway)"
            )

    def baseline(self) -> RunView:
        """The baseline the quality and memory gates compare with; the test fails (not skips) without one.

        With --update-baseline it is the reference setting's run of this session (evaluated first if needed)."""
        if self.options.update_baseline and self.baseline_written is None and self._baseline is None:
            self.evaluation(self.options.reference_setting)
        if isinstance(self._baseline, str):
            pytest.fail(self._baseline, pytrace=False)
        if isinstance(self._baseline, RunView):
            return self._baseline
        path = self.options.baseline_path()
        if not path.is_file():
            pytest.fail(
                f"no baseline at {path}: record one with `pytest benchmarks/ --update-baseline` "
                "or `evalkit baseline save RUN_DIR`",
                pytrace=False,
            )
        try:
            self._baseline = load_baseline(path)
        except EvalkitError as exc:
            pytest.fail(one_line(exc), pytrace=False)
        return self._baseline

    # -- models and evaluations ----------------------------------------------------------------------------

    def loaded(self, setting: str) -> runner.LoadedModel:
        """The model for `setting`, loading it (and releasing the previous one) when the setting changes."""
        if setting in self._skips:
            if not self.options.allow_skip:
                pytest.fail(f"{setting} cannot run here: {self._skips[setting]}", pytrace=False)
            pytest.skip(self._skips[setting])
        if self._loaded and self._loaded[0] == setting:
            return self._loaded[1]
        self.release()
        cfg, _ = self.config(setting)
        self.say(f"evalkit: {setting}: loading model {cfg.model.name}...")
        start = time.perf_counter()
        try:
            loaded = runner.load(cfg)
        except UnsupportedSettingError as exc:
            # The plan said it runs here, loading says otherwise: a skip only where --allow-skip allows it.
            self._skips[setting] = one_line(exc)
            if not self.options.allow_skip:
                pytest.fail(f"{setting} cannot run here: {one_line(exc)}", pytrace=False)
            pytest.skip(one_line(exc))
        self.say(f"evalkit: {setting}: model loaded in {time.perf_counter() - start:.1f} s")
        self._loaded = (setting, loaded)
        return loaded

    def release(self) -> None:
        if self._loaded is not None:
            device = self._loaded[1].device
            self._loaded = None
            release_memory(device)

    def evaluation(self, setting: str) -> Evaluation:
        """The setting's full evaluation over the suites, run once per session and written as a run record."""
        if setting in self._evaluations:
            return self._evaluations[setting]
        cfg, cfg_dict = self.config(setting)
        loaded = self.loaded(setting)
        total = len(runner.selected_samples(resolve_suites(cfg.suites), cfg.limit, cfg.limit_mode, cfg.limit_seed))
        start = time.perf_counter()
        try:
            with Progress(self.say, setting, total, Path(cfg.output_dir)):
                result = runner.run(cfg, cfg_dict, loaded=loaded)
        except EvalkitError as exc:
            pytest.fail(f"{setting}: {exc}", pytrace=False)
        record, predictions = load_run(result.run_dir)
        self.say(
            f"evalkit: {setting}: done in {time.perf_counter() - start:.1f} s: {record.n_samples} samples, "
            f"{record.n_errors} failed -> {result.run_dir}"
        )
        self._evaluations[setting] = Evaluation(setting, cfg, result.run_dir, record, predictions)
        if self.options.update_baseline and setting == self.options.reference_setting:
            self._update_baseline(result.run_dir)
        return self._evaluations[setting]

    def _update_baseline(self, run_dir: Path) -> None:
        """--update-baseline: the reference setting's run becomes the baseline, before any gate reads it. Under
        torchrun rank 0 writes it and every rank reads it once written."""
        path = self.options.baseline_path()
        dist = distributed.current()
        try:
            written = refusal = None
            if dist.is_main:
                try:
                    # --update-baseline is the explicit request to replace the file (its old content is named).
                    written = save_baseline(
                        run_dir,
                        out=path,
                        force=self.options.force_baseline,
                        force_option="--force-baseline",
                        replace=True,
                    )
                except EvalkitError as exc:
                    refusal = exc
            written, refusal = dist.broadcast((written, refusal))
            if refusal is not None:
                raise refusal
            self.baseline_written = written
            self._baseline = load_baseline(path)
        except EvalkitError as exc:
            self._baseline = f"--update-baseline refused: {one_line(exc)}"
            return
        replaced = f" (replaced {self.baseline_written.replaced})" if self.baseline_written.replaced else ""
        self.notes.append(f"evalkit: baseline updated -> {path}{replaced}")

    def suite(self, name: str) -> Suite:
        """A suite, loaded and validated once per session (reading every image file each time is wasted I/O)."""
        if name not in self._suites:
            (self._suites[name],) = resolve_suites([name])
        return self._suites[name]

    def close(self) -> None:
        self.release()

    def summary_lines(self) -> list[str]:
        if not distributed.current().is_main:
            return []  # under torchrun rank 0 says it for every rank (they share the run directories)
        lines = [f"evalkit: {s} -> {e.run_dir}" for s, e in self._evaluations.items()]
        lines += [f"evalkit: {s} skipped: {reason}" for s, reason in self._skips.items()]
        lines += [f"evalkit: {s} skipped (--allow-skip): {reason}" for s, reason in self.options.skipped.items()]
        return lines + self.notes

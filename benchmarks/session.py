"""One benchmark session: settings composed through Hydra, models loaded once, evaluations cached per setting."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import pytest

from evalkit import runner
from evalkit.errors import EvalkitError, UnsupportedSettingError
from evalkit.gates import DEFAULT_MIN_AGREEMENT
from evalkit.measure import release_memory
from evalkit.records import Prediction, RunRecord, load_run
from evalkit.settings import EvalConfig
from evalkit.suites import Suite, resolve_suites

REPO_ROOT = Path(__file__).resolve().parents[1]
CONF_DIR = REPO_ROOT / "conf"
# Quick defaults for the tiny random model, so `pytest benchmarks/` on a CPU takes about a minute per setting.
TINY_DEFAULTS = {"num_crops": 4, "max_new_tokens": 16}
MODEL_DEFAULTS = {"max_new_tokens": 64}


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

    @property
    def is_named_model(self) -> bool:
        return (CONF_DIR / "model" / f"{self.model}.yaml").is_file()

    @property
    def model_name(self) -> str:
        return self.model if self.is_named_model else Path(self.model.rstrip("/")).name

    def baseline_path(self) -> Path:
        if self.baseline:
            return Path(self.baseline)
        return REPO_ROOT / "reports" / "baselines" / self.model_name / f"{self.revision or 'default'}.json"

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


class BenchSession:
    def __init__(self, options: Options):
        self.options = options
        self._evaluations: dict[str, Evaluation] = {}
        self._skips: dict[str, str] = {}
        self._suites: dict[str, Suite] = {}
        self._loaded: tuple[str, runner.LoadedModel] | None = None
        self.notes: list[str] = []

    # -- configuration -------------------------------------------------------------------------------------

    def overrides(self, setting: str) -> list[str]:
        o = self.options
        dtype, attn, batch = parse_setting(setting)
        tiny = o.model == "tiny"
        defaults = TINY_DEFAULTS if tiny else MODEL_DEFAULTS
        values = {
            "runtime.dtype": dtype, "runtime.attn": attn, "runtime.device": o.device,
            "runtime.mode": o.mode, "runtime.compile": str(o.compile).lower(),
            "runtime.batch_size": batch or o.batch_sizes[0],
            "runtime.num_crops": o.num_crops or defaults.get("num_crops"),
            "runtime.max_new_tokens": o.max_new_tokens or defaults["max_new_tokens"],
            "limit": o.limit, "output_dir": str(o.runs_dir), "progress": "false",
            "name": f"{o.model_name}-{setting}",
        }  # fmt: skip
        out = (
            [f"model={o.model}"]
            if o.is_named_model
            else [f"model.path={o.model}", f"model.name={o.model_name}", "model.random=null"]
        )
        if o.revision:
            out.append(f"model.revision={o.revision}")
        out.append("suites=[" + ",".join(o.suites) + "]")
        out += [f"{k}={'null' if v is None else v}" for k, v in values.items()]
        return out

    def config(self, setting: str) -> tuple[EvalConfig, dict]:
        """The same composition `python -m evalkit` does: conf/ + overrides, validated by the dataclass schema."""
        from hydra import compose, initialize_config_dir
        from hydra.core.global_hydra import GlobalHydra
        from omegaconf import OmegaConf

        from evalkit.settings import register_configs

        register_configs()
        GlobalHydra.instance().clear()
        with initialize_config_dir(config_dir=str(CONF_DIR), version_base="1.3"):
            cfg = compose(config_name="config", overrides=self.overrides(setting))
        return OmegaConf.to_object(cfg), OmegaConf.to_container(cfg, resolve=True)

    # -- models and evaluations ----------------------------------------------------------------------------

    def loaded(self, setting: str) -> runner.LoadedModel:
        """The model for `setting`, loading it (and releasing the previous one) when the setting changes."""
        if setting in self._skips:
            pytest.skip(self._skips[setting])
        if self._loaded and self._loaded[0] == setting:
            return self._loaded[1]
        self.release()
        cfg, _ = self.config(setting)
        try:
            loaded = runner.load(cfg)
        except UnsupportedSettingError as exc:
            self._skips[setting] = str(exc)
            pytest.skip(str(exc))
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
        try:
            result = runner.run(cfg, cfg_dict, loaded=loaded)
        except EvalkitError as exc:
            pytest.fail(f"{setting}: {exc}", pytrace=False)
        record, predictions = load_run(result.run_dir)
        self._evaluations[setting] = Evaluation(setting, cfg, result.run_dir, record, predictions)
        return self._evaluations[setting]

    def suite(self, name: str) -> Suite:
        """A suite, loaded and validated once per session (reading every image file each time is wasted I/O)."""
        if name not in self._suites:
            (self._suites[name],) = resolve_suites([name])
        return self._suites[name]

    def close(self) -> None:
        self.release()

    def summary_lines(self) -> list[str]:
        lines = [f"evalkit: {s} -> {e.run_dir}" for s, e in self._evaluations.items()]
        lines += [f"evalkit: {s} skipped: {reason}" for s, reason in self._skips.items()]
        return lines + self.notes

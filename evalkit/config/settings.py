"""Typed run configuration: the schema behind the Hydra configs in conf/.

Registered with Hydra's ConfigStore, so a misspelt key or a wrong type is refused by name before anything runs;
the values are checked in `__post_init__` (which runs when the config becomes these dataclasses).
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field, fields
from pathlib import Path

from evalkit.errors import ConfigError

DTYPE_NAMES = ("float32", "float16", "bfloat16")
# eager / sdpa / flex_attention / flash_attention_2|3 are transformers' own implementations; sdpa_<backend> is sdpa
# restricted to one PyTorch kernel (torch.nn.attention.sdpa_kernel), so "flash" needs no flash-attn package.
# What each needs to run is checked in evalkit/phi3v/attention.py.
SDPA_BACKEND_NAMES = ("sdpa_flash", "sdpa_efficient", "sdpa_math", "sdpa_cudnn")
ATTN_NAMES = ("eager", "sdpa", *SDPA_BACKEND_NAMES, "flex_attention", "flash_attention_2", "flash_attention_3")
DEVICE_NAMES = ("auto", "cpu", "cuda")
# latency: each request is timed from the image files (preprocessing inside); throughput: a background thread
# preprocesses the next batch while the current one generates, and the loop's wall time is what counts.
MODE_NAMES = ("latency", "throughput")
RANDOM_SIZES = ("tiny", "full")


def default_model_name(path: str) -> str:
    """The model name a checkpoint directory or Hub repo id gets when none is given: the directory's name, or the
    repo id itself (run names, baselines and history are keyed by it)."""
    local = Path(path).expanduser()
    if local.is_dir():
        return local.resolve().name
    return str(path).strip().rstrip("/")


@dataclass
class ModelConfig:
    name: str = "tiny"  # label for run names, baselines and history
    path: str | None = None  # a checkpoint directory or a Hub repo id (e.g. microsoft/Phi-3-vision-128k-instruct)
    revision: str | None = None  # Hub branch, tag or commit (repo ids only)
    random: str | None = "tiny"  # with no path: make a random-weight checkpoint of this size ("tiny" | "full")
    family: str = "phi3v"  # phi3v | phi35v: which published config a random checkpoint copies
    seed: int = 0  # seed of the random weights

    def __post_init__(self) -> None:
        if not self.path and not self.random:
            raise ConfigError("model: set model.path (a directory or Hub repo id) or model.random (tiny|full)")
        if self.random and self.random not in RANDOM_SIZES:
            raise ConfigError(f"model.random={self.random!r}: expected one of {', '.join(RANDOM_SIZES)}")
        if self.family not in ("phi3v", "phi35v"):
            raise ConfigError(f"model.family={self.family!r}: expected phi3v or phi35v")
        if self.revision and not self.path:
            raise ConfigError("model.revision needs model.path to be a Hub repo id")


# The longest context of the Phi-3-vision family (max_position_embeddings of both published models): no answer budget
# can reach it, whatever the model. Each loaded model's own limit is checked per sample (evalkit.run.requests).
MAX_CONTEXT_TOKENS = 131072


@dataclass
class RuntimeConfig:
    device: str = "auto"  # auto | cpu | cuda | cuda:N
    dtype: str = "float32"
    attn: str = "sdpa"
    batch_size: int = 1
    # None: each sample's own budget from its labels (metrics.token_budget); a number: that budget for every sample
    max_new_tokens: int | None = None
    num_crops: int | None = None  # None: the checkpoint's preprocessor_config.json
    warmup: int = 1  # untimed generations before measuring
    repeats: int = 1  # timed generations per batch; the batch's timings are those of its median request
    seed: int = 0
    mode: str = "latency"  # latency | throughput (see MODE_NAMES)
    bucket: bool = True  # batch_size > 1: batch samples of similar prompt length (answers keep manifest order)
    compile: bool = False  # static KV cache + torch.compile of the decode step

    def __post_init__(self) -> None:
        if self.dtype not in DTYPE_NAMES:
            raise ConfigError(f"runtime.dtype={self.dtype!r}: expected one of {', '.join(DTYPE_NAMES)}")
        if self.attn not in ATTN_NAMES:
            raise ConfigError(f"runtime.attn={self.attn!r}: expected one of {', '.join(ATTN_NAMES)}")
        if self.device.split(":")[0] not in DEVICE_NAMES:
            raise ConfigError(f"runtime.device={self.device!r}: expected auto, cpu, cuda or cuda:N")
        for name in ("batch_size", "max_new_tokens", "repeats"):
            if getattr(self, name) is not None and getattr(self, name) < 1:
                raise ConfigError(f"runtime.{name}={getattr(self, name)}: must be at least 1")
        if self.max_new_tokens is not None and self.max_new_tokens >= MAX_CONTEXT_TOKENS:
            raise ConfigError(
                f"runtime.max_new_tokens={self.max_new_tokens}: must be below {MAX_CONTEXT_TOKENS:,}, the context of"
                " the largest Phi-3-vision model (prompt and answer together); each model's own context is checked"
                " once it is loaded"
            )
        if self.warmup < 0:
            raise ConfigError(f"runtime.warmup={self.warmup}: must be 0 or more")
        if self.num_crops is not None and not 1 <= self.num_crops <= 64:
            raise ConfigError(f"runtime.num_crops={self.num_crops}: must be between 1 and 64")
        if self.mode not in MODE_NAMES:
            raise ConfigError(f"runtime.mode={self.mode!r}: expected one of {', '.join(MODE_NAMES)}")


@dataclass
class EvalConfig:
    model: ModelConfig = field(default_factory=ModelConfig)
    runtime: RuntimeConfig = field(default_factory=RuntimeConfig)
    suites: list[str] = field(default_factory=lambda: ["describe", "ocr", "compare"])  # names under datasets/ or paths
    limit: int | None = None  # at most this many samples per suite (smoke runs)
    # Which `limit` samples (evalkit/data/sampling.py): `stratified`, a seeded sample across question types and
    # difficulty; `head`, the first N in manifest order (evalkit before limit_mode).
    limit_mode: str = "stratified"
    limit_seed: int = 0
    output_dir: str = "reports/runs"
    name: str | None = None  # run name; default <model>-<dtype>-<attn>
    cache_dir: str = "~/.cache/evalkit"  # where random checkpoints are made
    reports: bool = True  # write report.md / report.html next to the records
    progress: bool = True
    allow_skip: bool = False  # record a requested setting this machine cannot run as skipped instead of exit 3
    # `python -m evalkit resume=RUN_DIR`: continue that run with the config it recorded (evalkit/run/resume.py); with
    # resume_force=true even when the code, the weights or a suite changed since it started.
    resume: str | None = None
    resume_force: bool = False

    def __post_init__(self) -> None:
        if self.resume_force and not self.resume:
            raise ConfigError("resume_force=true needs resume=RUN_DIR (the run to continue)")
        if not self.suites:
            raise ConfigError("suites: the list is empty; name at least one suite")
        if self.limit is not None and self.limit < 1:
            raise ConfigError(f"limit={self.limit}: must be at least 1")
        if self.limit_mode not in ("stratified", "head"):
            raise ConfigError(f"limit_mode={self.limit_mode!r}: expected stratified or head")

    @property
    def run_name(self) -> str:
        """`name`, else <model>-<dtype>-<attn>, then what differs from the defaults, so that two runs that differ say
        so in their names: -throughput, -bs<N>, -compile, -crops<N>, -tok<N>, -limit<N> (-head), and -h<6 hex> of
        any other runtime setting off its default (warmup, repeats, seed, bucket)."""
        if self.name:
            return self.name
        rt = self.runtime
        extras = ["throughput"] if rt.mode == "throughput" else []
        extras += [f"bs{rt.batch_size}"] if rt.batch_size > 1 else []
        extras += ["compile"] if rt.compile else []
        extras += [f"crops{rt.num_crops}"] if rt.num_crops is not None else []
        extras += [f"tok{rt.max_new_tokens}"] if rt.max_new_tokens is not None else []
        if self.limit is not None:
            extras += [f"limit{self.limit}" + ("-head" if self.limit_mode == "head" else "")]
            extras += [f"seed{self.limit_seed}"] if self.limit_seed and self.limit_mode != "head" else []
        named = {"device", "dtype", "attn", "mode", "batch_size", "compile", "num_crops", "max_new_tokens"}
        default = RuntimeConfig()
        others = sorted(
            (f.name, getattr(rt, f.name)) for f in fields(RuntimeConfig)
            if f.name not in named and getattr(rt, f.name) != getattr(default, f.name)
        )  # fmt: skip
        if others:
            extras.append("h" + hashlib.sha256(repr(others).encode()).hexdigest()[:6])
        return "-".join([self.model.name, rt.dtype, rt.attn, *extras])


def register_configs() -> None:
    from hydra.core.config_store import ConfigStore

    store = ConfigStore.instance()
    store.store(name="evalkit_schema", node=EvalConfig)

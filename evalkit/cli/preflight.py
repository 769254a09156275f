"""What `python -m evalkit` (and `pytest benchmarks/`) check before the first model load.

Every combination of a sweep is composed and validated (types, values, unknown keys with or without `+`), output
and cache locations are checked, suites and model paths resolved once; then `plan_settings` decides which of the
dtype x attention x device settings this machine can run. The rule (README "Exit codes"):

- a setting that cannot run here is *refused* (exit 3) when every dimension its reason depends on was named by the
  user, or when a value the user named would then run nowhere; `allow_skip` records refused settings as skipped;
- otherwise a default value brought it in, and it is *left out* with its reason (printed);
- nothing left to run is exit 3 in every case: a session that measures nothing must not pass.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from evalkit.config import compose
from evalkit.config.overrides import hydra_one_line, override_key, to_eval_config
from evalkit.config.settings import ATTN_NAMES, DTYPE_NAMES, EvalConfig, RuntimeConfig
from evalkit.errors import ConfigError, EvalkitError, UnsupportedSettingError, one_line

SUPPORT_KEYS = {"dtype": "runtime.dtype", "attn": "runtime.attn", "device": "runtime.device"}
_DEVICE_PROBES = ("cpu", "cuda")


# ------------------------------------------------------------------------------------------- which settings run


@dataclass
class Plan:
    """Settings (dicts with dtype, attn, device, ...) split by whether and why they run."""

    run: list[dict] = field(default_factory=list)
    left_out: list[tuple[dict, str]] = field(default_factory=list)  # brought in by a default; cannot run here
    refused: list[tuple[dict, str]] = field(default_factory=list)  # requested by name; cannot run here
    jobs: list[list[str]] = field(default_factory=list)  # every job's overrides, in Hydra's job order

    def skipped(self, setting: dict) -> str | None:
        """The reason `setting` does not run (left out or refused), None when it runs."""
        key = _key(setting)
        return next((why for s, why in self.left_out + self.refused if _key(s) == key), None)


def _key(setting: dict) -> tuple:
    return tuple(str(setting.get(k)) for k in SUPPORT_KEYS)


def unsupported_reason(setting: dict) -> str | None:
    """Why this machine cannot run the dtype / attn / device of `setting`, or None; nothing is loaded."""
    from evalkit.phi3v.engine import check_runtime  # torch and transformers: imported when a plan is made

    try:
        check_runtime(RuntimeConfig(dtype=setting["dtype"], attn=setting["attn"], device=str(setting["device"])))
    except UnsupportedSettingError as exc:
        return one_line(exc)
    return None


def plan_settings(
    settings: Sequence[dict],
    explicit: set[str],
    reason: Callable[[dict], str | None] = unsupported_reason,
) -> Plan:
    """Split `settings` into those that run here, those left out (a default brought them in) and those refused.

    `explicit` holds the dimensions (dtype, attn, device) whose values the user named.
    """
    cache: dict[tuple, str | None] = {}

    def why(setting: dict) -> str | None:
        key = _key(setting)
        if key not in cache:
            cache[key] = reason(setting)
        return cache[key]

    def involved(setting: dict) -> set[str]:
        """The dimensions that, changed alone, would make the setting run: what its reason depends on."""
        probes = {"dtype": DTYPE_NAMES, "attn": ATTN_NAMES, "device": _DEVICE_PROBES}
        found = {
            dim
            for dim, values in probes.items()
            if any(v != setting[dim] and why({**setting, dim: v}) is None for v in values)
        }
        return found or set(probes)

    plan = Plan()
    for setting in settings:
        if why(setting) is None:
            plan.run.append(setting)
    for setting in settings:
        reason_text = why(setting)
        if reason_text is None:
            continue
        named = {dim: setting[dim] for dim in explicit}
        runs_elsewhere = all(any(s[d] == v for s in plan.run) for d, v in named.items())
        if involved(setting) <= explicit or not runs_elsewhere:
            plan.refused.append((setting, reason_text))
        else:
            plan.left_out.append((setting, reason_text))
    return plan


def setting_label(setting: dict) -> str:
    return "-".join(str(setting[k]) for k in ("dtype", "attn")) + (
        f" on {setting['device']}" if setting.get("device") not in (None, "auto") else ""
    )


def refusal(plan: Plan, allow_skip: bool, flag: str) -> str | None:
    """The one-line reason to stop with exit 3, or None when the plan may go on."""
    if plan.refused and not allow_skip:
        setting, why = plan.refused[0]
        more = f" (and {len(plan.refused) - 1} more)" if len(plan.refused) > 1 else ""
        return f"{setting_label(setting)} cannot run here: {why}{more}; {flag} records it as skipped and goes on"
    if not plan.run:
        reasons = "; ".join(f"{setting_label(s)}: {why}" for s, why in (plan.refused + plan.left_out)[:3])
        return f"none of the requested settings can run here ({reasons})"
    return None


# --------------------------------------------------------------------------------------- composing and checking


def check_output_dir(path: str, key: str) -> None:
    """`key`=`path` must be (or become) a directory evalkit can write in."""
    directory = Path(path).expanduser()
    try:
        directory.mkdir(parents=True, exist_ok=True)
        fd, probe = tempfile.mkstemp(prefix=".evalkit-write-check-", dir=directory)
        os.close(fd)
        os.unlink(probe)
    except (FileExistsError, NotADirectoryError):
        raise ConfigError(f"{key}={path}: not a directory (it, or a parent of it, is a file)") from None
    except OSError as exc:
        raise ConfigError(f"{key}={path}: cannot write there ({exc.strerror or exc})") from None


def check_locations(cfg: EvalConfig) -> None:
    check_output_dir(cfg.output_dir, "output_dir")
    if cfg.model.random and not cfg.model.path:  # random checkpoints are made (or found) under cache_dir
        cache = Path(cfg.cache_dir).expanduser()
        if cache.exists() and not cache.is_dir():
            raise ConfigError(f"cache_dir={cfg.cache_dir}: not a directory (it is a file)")
        if not cache.exists():
            check_output_dir(cfg.cache_dir, "cache_dir")


@dataclass
class Combination:
    overrides: list[str]
    config: EvalConfig

    @property
    def setting(self) -> dict:
        rt = self.config.runtime
        return {"dtype": rt.dtype, "attn": rt.attn, "device": rt.device}


def expand(argv: Sequence[str]) -> tuple[list[list[str]], bool] | None:
    """The overrides of every job `argv` makes (a sweep's full product) and whether it is a sweep; None when
    `argv` holds flags other than -m that only Hydra understands (--cfg, --help, -cd ...)."""
    from hydra._internal.core_plugins.basic_sweeper import BasicSweeper
    from hydra.core.override_parser.overrides_parser import OverridesParser

    multirun = any(a in ("-m", "--multirun") for a in argv)
    args = [a for a in argv if a not in ("-m", "--multirun")]
    if any(a.startswith("-") for a in args):
        return None
    parsed = [o for o in OverridesParser.create().parse_overrides(args) if not o.is_hydra_override()]
    sweeps = [o.input_line for o in parsed if o.is_sweep_override()]
    if sweeps and not multirun:
        raise ConfigError(f"{sweeps[0]} lists several values: add -m (--multirun) to run a sweep")
    (jobs,) = BasicSweeper.split_arguments(parsed, max_batch_size=None)
    return jobs, multirun


def compose_all(jobs: list[list[str]]) -> list[Combination]:
    """Every job of a (possibly swept) command line composed (evalkit.config.compose) and validated."""
    out = []
    for overrides in jobs:
        cfg = compose(overrides)
        out.append(Combination(list(overrides), to_eval_config(cfg, {override_key(o) for o in overrides})))
    return out


def _check_suites(cfg: EvalConfig) -> None:
    from evalkit.data.suites import resolve_suites

    resolve_suites(cfg.suites)


def _check_model(cfg: EvalConfig) -> None:
    from evalkit.phi3v.hub import resolve_model

    if cfg.model.path:  # a directory, or a Hub repo id found in (or fetched into) the HF cache
        resolve_model(cfg.model.path, cfg.model.revision)


def check_inputs(combos: Sequence[Combination]) -> None:
    """Locations, suites and model paths, each distinct one once (one line for a bad model, not one per job)."""
    seen: set = set()
    for combo in combos:
        cfg = combo.config
        # Read-only checks first: a bad suite or model creates no directory.
        checks = {
            ("suites", tuple(cfg.suites)): _check_suites,
            ("model", cfg.model.path, cfg.model.revision): _check_model,
            ("locations", cfg.output_dir, cfg.cache_dir, cfg.model.random, cfg.model.path): check_locations,
        }
        for key, check in checks.items():
            if key not in seen:
                seen.add(key)
                check(cfg)


def preflight(argv: Sequence[str], say: Callable[[str], None] = print) -> Plan | None:
    """Validate every job of `argv` before Hydra starts any: ConfigError / SuiteError / CheckpointError (exit 2),
    then UnsupportedSettingError (exit 3) for requested settings this machine cannot run. Prints the settings the
    defaults left out. Returns the plan (None when `argv` holds Hydra-only flags: each job then checks itself)."""
    try:
        expanded = expand(argv)
        if expanded is None:
            return None
        jobs, _ = expanded
        combos = compose_all(jobs)
    except EvalkitError:
        raise
    except Exception as exc:  # Hydra and OmegaConf raise many types; each is a config the user wrote
        raise ConfigError(suite_quoting_hint(argv) or hydra_one_line(exc)) from exc
    check_inputs(combos)
    explicit = {dim for dim, key in SUPPORT_KEYS.items() if any(override_key(o) == key for o in argv)}
    plan = plan_settings([c.setting for c in combos], explicit)
    plan.jobs = [list(c.overrides) for c in combos]
    allow_skip = all(c.config.allow_skip for c in combos)
    stop = refusal(plan, allow_skip, "allow_skip=true")
    if stop:
        raise UnsupportedSettingError(stop)
    for setting, why in plan.left_out:
        say(f"evalkit: left out {setting_label(setting)} (not requested by name): {why}")
    return plan


def quote_suite_specs(specs: Sequence[str]) -> str:
    """`suites=[...]` as Hydra parses it whatever the specs hold: each spec in double quotes (a `:key=value` option
    has an `=`, which Hydra's grammar does not take in an unquoted list element)."""
    quoted = ",".join('"' + spec.replace('"', '\\"') + '"' for spec in specs)
    return f"suites=[{quoted}]"


def suite_quoting_hint(argv: Sequence[str]) -> str | None:
    """For a `suites=[...]` override that Hydra cannot parse because a spec holds an unquoted `=` (`:schema=NAME`,
    `:config=NAME`; the shell's quotes do not reach Hydra): one line with the exact form that works."""
    for arg in argv:
        key, _, value = arg.partition("=")
        if key.lstrip("+") != "suites" or not (value.startswith("[") and value.endswith("]")):
            continue
        inner = value[1:-1]
        if "=" in inner and not any(q in inner for q in "\"'"):
            specs = [part.strip() for part in inner.split(",") if part.strip()]
            return (
                f"{arg}: a suite spec with an option (:key=value) must be quoted inside the list, as Hydra reads "
                f"it; in the shell write: '{quote_suite_specs(specs)}'"
            )
    return None

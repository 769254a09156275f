"""Continue an unfinished run in its own directory (`python -m evalkit resume=RUN_DIR`).

Resuming reloads the run's resolved config from run.json and refuses, with one line and exit code 2 before any model
is loaded, when what the answers depend on changed since the run started: the code (evalkit's version, git commit
and uncommitted changes), the model weights (sha256 fingerprint) or a suite's content hash; `resume_force=true`
continues anyway and records what differed in the run's `attempts`. The samples the run answered are kept (a failed
sample is answered again), samples.jsonl is rewritten atomically with exactly those (a torn last line and
duplicates dropped) before anything is appended, and the run finishes as one uninterrupted run would have. Under
torchrun the samples left are sharded over the ranks of the new job, whatever the number of ranks of the old one.
"""

from __future__ import annotations

import os
import shlex
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

from evalkit.config.overrides import hydra_one_line, override_key
from evalkit.config.settings import EvalConfig
from evalkit.errors import ConfigError, EvalkitError
from evalkit.records import RUN_FILE, Prediction, RunRecord, read_record
from evalkit.records.lock import RunLock, lock_run_dir

# What may go with resume=: everything else is the run's recorded config.
RESUME_OPTIONS = ("resume", "resume_force", "progress", "reports")
UNFINISHED = ("running", "interrupted", "failed")


@dataclass
class ResumePoint:
    """An unfinished run, checked and ready to continue (evalkit.run.runner.run(..., resume=point))."""

    run_dir: Path
    record: RunRecord
    cfg: EvalConfig
    config_dict: dict
    done: list[Prediction]  # the answered samples it keeps
    forced: list[str] = field(default_factory=list)  # differences resume_force=true accepted
    lock: RunLock | None = None  # the run directory, held from the checks to the end of the run (rank 0)


def requested(argv: list[str]) -> bool:
    return any(not a.startswith("-") and override_key(a) == "resume" for a in argv)


def _bool(key: str, text: str) -> bool:
    lowered = text.strip().lower()
    if lowered not in ("true", "false"):
        raise ConfigError(f"{key}={text}: expected true or false")
    return lowered == "true"


def parse(argv: list[str]) -> tuple[Path, bool, dict]:
    """(run directory, resume_force, {progress, reports}) from `resume=DIR [resume_force=true] [progress=..]`."""
    if any(a in ("-m", "--multirun") for a in argv):
        raise ConfigError("resume=DIR continues one run: it cannot be part of a sweep (-m)")
    values: dict[str, str] = {}
    for arg in argv:
        key = override_key(arg)
        if arg.startswith("-") or "=" not in arg:
            raise ConfigError(f"{arg}: resume=DIR takes only {', '.join(f'{k}=' for k in RESUME_OPTIONS)}")
        if key not in RESUME_OPTIONS:
            raise ConfigError(
                f"{arg}: resume=DIR continues the run with the config it recorded; only "
                f"{', '.join(RESUME_OPTIONS[1:])} may be given with it"
            )
        values[key] = arg.split("=", 1)[1]
    if not values.get("resume"):
        raise ConfigError("resume=: name the run directory to continue, e.g. resume=reports/runs/<date>/<run>")
    overrides = {k: _bool(k, values[k]) for k in ("progress", "reports") if k in values}
    force = _bool("resume_force", values["resume_force"]) if "resume_force" in values else False
    return Path(values["resume"]).expanduser(), force, overrides


def still_running(record: RunRecord) -> int | None:
    """The pid of the process still writing the run, when it is on this host and alive; None otherwise."""
    import psutil

    from evalkit.run.distributed import host

    if record.status != "running" or not record.attempts:
        return None
    last = record.attempts[-1]
    pid = last.get("pid")
    if last.get("host") != host() or not isinstance(pid, int) or pid == os.getpid():
        return None
    try:
        created = psutil.Process(pid).create_time()
        started = datetime.fromisoformat(str(last.get("started_at"))).timestamp()
    except (psutil.Error, ValueError):
        return None
    return pid if created <= started + 2 else None  # a newer process with a recycled pid is not the run's


def recorded_config(run_dir: Path, record: RunRecord, overrides: dict) -> EvalConfig:
    from omegaconf import OmegaConf

    if not record.config:
        raise ConfigError(f"{run_dir / RUN_FILE}: no recorded config (the run was not started by `python -m evalkit`)")
    try:
        config = dict(record.config)
        if config.get("limit") and "limit_mode" not in config:
            config["limit_mode"] = "head"  # recorded before limit_mode: its limit took the first N samples
        merged = OmegaConf.merge(OmegaConf.structured(EvalConfig), config)
        for key, value in overrides.items():
            merged[key] = value
        return OmegaConf.to_object(merged)
    except EvalkitError:
        raise
    except Exception as exc:  # OmegaConf's many error types: a key or value this evalkit does not accept
        raise ConfigError(f"{run_dir / RUN_FILE}: its config does not fit this evalkit: {hydra_one_line(exc)}") from exc


def code_differences(record: RunRecord) -> list[str]:
    from evalkit.run.provenance import environment

    then, now = record.provenance.get("environment") or {}, environment()
    out = []
    if then.get("evalkit_version") != now.get("evalkit_version"):
        out.append(f"evalkit version changed ({then.get('evalkit_version')} -> {now.get('evalkit_version')})")
    old, new = then.get("evalkit_git") or {}, now.get("evalkit_git") or {}
    if old.get("code_sha256") and new.get("code_sha256"):  # docs-, tests- or data-only changes do not count
        if old["code_sha256"] != new["code_sha256"]:
            out.append(
                f"code changed (evalkit/, conf/ or hydra_plugins/ differ from the run's; git commit "
                f"{str(old.get('commit'))[:12]} -> {str(new.get('commit'))[:12]})"
            )
    elif old.get("commit") != new.get("commit"):
        out.append(f"code changed (git commit {str(old.get('commit'))[:12]} -> {str(new.get('commit'))[:12]})")
    elif (old.get("dirty"), old.get("diff_sha256")) != (new.get("dirty"), new.get("diff_sha256")):
        out.append("code changed (uncommitted changes differ from the run's)")
    return out


def suite_differences(record: RunRecord, cfg: EvalConfig) -> list[str]:
    from evalkit.data.suites import resolve_suites

    out = []
    suites = resolve_suites(cfg.suites)  # SuiteError (exit 2) for a suite that is gone or no longer valid
    for suite in suites:
        recorded = (record.suites.get(suite.name) or {}).get("content_hash")
        if recorded != suite.content_hash:
            out.append(
                f"suite {suite.name} changed (content hash {str(recorded)[:12]} -> {suite.content_hash[:12]}): "
                "its samples, labels or images differ from those the run answered"
            )
    out += [f"suite {name} is no longer selected" for name in sorted(set(record.suites) - {s.name for s in suites})]
    return out


def weight_differences(record: RunRecord, cfg: EvalConfig) -> list[str]:
    from evalkit.phi3v.engine import hash_cache_file, model_source
    from evalkit.phi3v.hub import weights_fingerprint

    recorded = (record.provenance.get("weights") or {}).get("sha256")
    path = model_source(cfg.model, cfg.cache_dir).path
    now = weights_fingerprint(path, hash_cache_file(cfg.cache_dir))["sha256"]  # cached: the load reuses it
    return [] if recorded == now else [f"model weights changed (sha256 {str(recorded)[:12]} -> {now[:12]})"]


def prepare(run_dir: Path, force: bool = False, overrides: dict | None = None) -> ResumePoint:
    """Check that `run_dir` can be continued here and take it (`ResumePoint.lock`); ConfigError or RunDirLocked
    (one line, exit 2) if not."""
    run_dir = Path(run_dir)
    if not (run_dir / RUN_FILE).is_file():
        raise ConfigError(f"resume={run_dir}: not a run directory (no {RUN_FILE})")
    # Taken before the run is read: of several resumes started at the same moment one proceeds, the others are
    # refused here naming it (each would otherwise answer every remaining sample into the same files).
    lock = lock_run_dir(run_dir, f"resume={run_dir}")
    try:
        return _prepare(run_dir, force, overrides, lock)
    except BaseException:
        lock.release()
        raise


def _prepare(run_dir: Path, force: bool, overrides: dict | None, lock: RunLock) -> ResumePoint:
    from evalkit.run.shard_files import collect

    record = read_record(run_dir / RUN_FILE)
    if record.status not in UNFINISHED:
        raise ConfigError(f"resume={run_dir}: the run is {record.status}; there is nothing to resume")
    pid = still_running(record)
    if pid is not None:
        raise ConfigError(f"resume={run_dir}: the run is still being written by process {pid} on this host")
    cfg = recorded_config(run_dir, record, overrides or {})
    differences = code_differences(record) + suite_differences(record, cfg) + weight_differences(record, cfg)
    if differences and not force:
        more = f" (and {len(differences) - 1} more)" if len(differences) > 1 else ""
        raise ConfigError(
            f"resume={run_dir}: {differences[0]}{more}; its answers would not be those of one run "
            "(resume_force=true continues anyway)"
        )
    done = [p for p in collect(run_dir) if not p.failed]
    return ResumePoint(run_dir, record, cfg, dict(record.config), done, differences, lock)


def resume_command(run_dir: Path, world_size: int = 1) -> str:
    """The command that continues `run_dir`, shell-quoted: pasted, it runs evalkit and nothing else, whatever the
    directory's name holds (spaces, `;`, `$(...)`)."""
    launcher = f"torchrun --nproc-per-node={world_size} -m evalkit" if world_size > 1 else "python -m evalkit"
    return f"{launcher} {shlex.quote(f'resume={run_dir}')}"

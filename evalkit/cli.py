"""The `evalkit` command: the Hydra app for runs and sweeps, plus plain subcommands.

python -m evalkit [hydra overrides]          evaluate one setting (or -m for a sweep)
evalkit make-checkpoint DIR --size tiny|full write a random-weight checkpoint in the published layout
evalkit compare A B [...]                    comparison report, non-zero exit on a regression
evalkit baseline save RUN_DIR                write reports/baselines/<model>/<revision or default>.json
evalkit history --model NAME                 scores, latency and memory by revision
"""

from __future__ import annotations

import argparse
import logging
import sys
from pathlib import Path

from evalkit import interrupt
from evalkit.errors import (
    EXIT_FAILED,
    EXIT_OK,
    EXIT_UNSUPPORTED,
    EXIT_USER_ERROR,
    EvalkitError,
    exit_code,
    one_line,
)
from evalkit.preflight import CONF_DIR, Plan, override_key, preflight, to_eval_config

log = logging.getLogger("evalkit")
EXIT_SAMPLES_FAILED = EXIT_FAILED


class _State:
    """What the Hydra jobs of this process did, for the exit code and the sweep report."""

    exit_code = EXIT_OK
    run_dirs: list[Path] = []
    plan: Plan | None = None
    jobs = 0  # Hydra jobs started (none for --help, --cfg ...)
    ran = 0  # settings that were evaluated (not skipped)
    sweep_dir: Path | None = None

    @classmethod
    def reset(cls, plan: Plan | None) -> None:
        cls.exit_code, cls.run_dirs, cls.plan, cls.sweep_dir = EXIT_OK, [], plan, None
        cls.jobs = cls.ran = 0

    @classmethod
    def worse(cls, code: int) -> None:
        """Keep the most serious exit code seen: 3 (a setting could not run) > 2 (bad input) > 1 (samples failed)."""
        rank = {EXIT_OK: 0, EXIT_FAILED: 1, EXIT_USER_ERROR: 2, EXIT_UNSUPPORTED: 3}
        if rank.get(code, 4) > rank.get(cls.exit_code, 4):
            cls.exit_code = code


def _fail(exc: BaseException) -> int:
    print(f"evalkit: error: {one_line(exc)}", file=sys.stderr)
    return exit_code(exc)


def _job_keys() -> set[str]:
    from hydra.core.hydra_config import HydraConfig

    hydra_cfg = HydraConfig.get()
    if _State.sweep_dir is None and hydra_cfg.mode.name == "MULTIRUN":
        _State.sweep_dir = Path(hydra_cfg.sweep.dir)
    return {override_key(o) for o in hydra_cfg.overrides.task}


def _task(cfg) -> None:
    """One Hydra job: one setting. User errors become one line and an exit code; the next job still runs."""
    from omegaconf import OmegaConf

    from evalkit.runner import run

    interrupt.check()  # a signal between two jobs of a sweep: stop before the next setting
    _State.jobs += 1
    try:
        eval_cfg = to_eval_config(cfg, _job_keys())
        config_dict = OmegaConf.to_container(cfg, resolve=True)
        setting = {"dtype": eval_cfg.runtime.dtype, "attn": eval_cfg.runtime.attn, "device": eval_cfg.runtime.device}
        skip_allowed = eval_cfg.allow_skip or bool(_State.plan and _State.plan.skipped(setting))
        result = run(eval_cfg, config_dict, allow_skip=skip_allowed)
    except (EvalkitError, OSError) as exc:
        _State.worse(_fail(exc))
        return
    _State.run_dirs.append(result.run_dir)
    record = result.record
    if record.status == "skipped":
        print(f"evalkit: {record.name}: skipped ({record.skip_reason})")
        return
    _State.ran += 1
    print(f"evalkit: {record.name}: {record.n_samples} samples, {record.n_errors} failed -> {result.run_dir}")
    if record.n_errors:
        _State.worse(EXIT_SAMPLES_FAILED)


try:
    from hydra.experimental.callback import Callback
except ImportError:  # pragma: no cover - hydra is a dependency
    Callback = object


class SweepReport(Callback):
    """After a multirun, put every setting of the sweep side by side in the sweep directory."""

    def on_multirun_end(self, config, **kwargs) -> None:
        _write_sweep_report(Path(config.hydra.sweep.dir))


def _write_sweep_report(out: Path | None) -> None:
    if not _State.run_dirs or out is None:
        return
    from evalkit.reports import write_sweep_report

    try:
        md, html = write_sweep_report(out, list(_State.run_dirs))
    except (EvalkitError, OSError) as exc:
        _State.worse(_fail(exc))
        return
    print(f"evalkit: sweep report -> {md} and {html}")


def report_stop(exc: interrupt.Interrupted) -> int:
    """The one line said when a signal stopped evalkit (the single place it is printed); returns the exit code."""
    where = f"; {exc.run_dir} is recorded as interrupted" if exc.run_dir else ""
    done = f" after {_State.ran} complete setting(s)" if _State.ran else ""
    print(f"evalkit: stopped by {exc.signame}{done}{where}", file=sys.stderr, flush=True)
    return exc.exit_code


def hydra_main(argv: list[str]) -> int:
    import hydra

    from evalkit.settings import register_configs

    register_configs()
    plan = preflight(argv)  # ConfigError & co (exit 2), UnsupportedSettingError (exit 3): before any job
    _State.reset(plan)
    app = hydra.main(version_base="1.3", config_path=str(CONF_DIR), config_name="config")(_task)
    saved = sys.argv
    sys.argv = [saved[0], *argv]
    try:
        app()
    finally:
        sys.argv = saved
    if _State.jobs and not _State.ran and _State.exit_code == EXIT_OK:
        # Every setting was skipped (allow_skip): nothing was measured, which must not read as success.
        print("evalkit: error: no setting could run here; every one was skipped", file=sys.stderr)
        return EXIT_UNSUPPORTED
    return _State.exit_code


def make_checkpoint_main(argv: list[str]) -> int:
    from evalkit.phi3v.checkpoints import FAMILIES, SIZES, count_parameters, make_checkpoint

    parser = argparse.ArgumentParser(
        prog="evalkit make-checkpoint", description="Write a random-weight checkpoint in the published layout."
    )
    parser.add_argument("out", type=Path, help="directory to create")
    parser.add_argument("--size", choices=SIZES, default="tiny")
    parser.add_argument("--family", choices=sorted(FAMILIES), default="phi3v")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--overwrite", action="store_true")
    args = parser.parse_args(argv)
    path = make_checkpoint(args.out, args.size, family=args.family, seed=args.seed, overwrite=args.overwrite)
    print(
        f"{path}: {args.family} {args.size}, {count_parameters(args.size, args.family) / 1e6:.1f} M parameters, seed {args.seed}"
    )
    return EXIT_OK


def _subcommands() -> dict:
    from evalkit.reports.cli import baseline_main, compare_main, history_main

    return {
        "make-checkpoint": make_checkpoint_main,
        "compare": compare_main,
        "baseline": baseline_main,
        "history": history_main,
    }


SUBCOMMAND_NAMES = ("make-checkpoint", "compare", "baseline", "history")


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else list(argv)
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    _State.reset(None)
    try:
        if argv and argv[0] in SUBCOMMAND_NAMES:
            return _subcommands()[argv[0]](argv[1:])
        with interrupt.handle_signals():  # runs and sweeps stop gracefully (finish the batch, record, report)
            return hydra_main(argv)
    except (EvalkitError, OSError) as exc:
        return _fail(exc)
    except KeyboardInterrupt as exc:  # SIGINT / SIGTERM (evalkit.interrupt), or Ctrl-C in a subcommand
        stop = interrupt.Interrupted.of(exc)
        _write_sweep_report(_State.sweep_dir)  # the settings that finished, side by side
        return report_stop(stop)

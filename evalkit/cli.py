"""The `evalkit` command: the Hydra app for runs and sweeps, plus plain subcommands.

python -m evalkit [hydra overrides]          evaluate one setting (or -m for a sweep)
evalkit make-checkpoint DIR --size tiny|full write a random-weight checkpoint in the published layout
evalkit compare A B [...]                    comparison report, non-zero exit on a regression
evalkit baseline save RUN_DIR                write reports/baselines/<model>/<name>.json
evalkit history --model NAME                 scores, latency and memory by revision
"""

from __future__ import annotations

import argparse
import logging
import sys
from pathlib import Path

from evalkit.errors import EvalkitError

log = logging.getLogger("evalkit")
CONF_DIR = Path(__file__).resolve().parents[1] / "conf"
EXIT_OK, EXIT_SAMPLES_FAILED, EXIT_USER_ERROR = 0, 1, 2


class _State:
    """What the Hydra jobs of this process did, for the exit code and the sweep report."""

    exit_code = EXIT_OK
    run_dirs: list[Path] = []


def _fail(message: str) -> None:
    print(f"evalkit: error: {message}", file=sys.stderr)
    _State.exit_code = EXIT_USER_ERROR


def _task(cfg) -> None:
    from omegaconf import OmegaConf

    from evalkit.runner import run
    from evalkit.settings import EvalConfig

    try:
        eval_cfg: EvalConfig = OmegaConf.to_object(cfg)
        result = run(eval_cfg, OmegaConf.to_container(cfg, resolve=True))
    except EvalkitError as exc:
        _fail(str(exc))
        return
    _State.run_dirs.append(result.run_dir)
    record = result.record
    if record.status == "skipped":
        print(f"evalkit: {record.name}: skipped ({record.skip_reason})")
    else:
        print(f"evalkit: {record.name}: {record.n_samples} samples, {record.n_errors} failed -> {result.run_dir}")
        if record.n_errors and _State.exit_code == EXIT_OK:
            _State.exit_code = EXIT_SAMPLES_FAILED


try:
    from hydra.experimental.callback import Callback
except ImportError:  # pragma: no cover - hydra is a dependency
    Callback = object


class SweepReport(Callback):
    """After a multirun, put every setting of the sweep side by side in the sweep directory."""

    def on_multirun_end(self, config, **kwargs) -> None:
        if not _State.run_dirs:
            return
        from evalkit.reports import write_sweep_report

        out = Path(config.hydra.sweep.dir)
        md, html = write_sweep_report(out, list(_State.run_dirs))
        print(f"evalkit: sweep report -> {md} and {html}")


def _one_line(exc: BaseException) -> str:
    """Hydra's composition errors span several lines; the first line of the error and of its cause say it all."""
    text = str(exc)
    line = text.splitlines()[0].rstrip(".") if text else type(exc).__name__
    if "Available options" in text:  # an unknown config group option: list the choices on the same line
        listing = text.split("Available options", 1)[1].split("Config search path", 1)[0]
        options = [o.strip() for o in listing.splitlines()[1:] if o.startswith("\t")]
        line += f" (available: {', '.join(options)})"
    if exc.__cause__ is not None and str(exc.__cause__):
        line += f": {str(exc.__cause__).splitlines()[0]}"
    return line


def preflight(argv: list[str]) -> None:
    """Compose and validate the config (a sweep's first combination) before Hydra starts any job.

    Raises ConfigError with one line; Hydra's own flags (--cfg, --help, ...) are left to Hydra.
    """
    from hydra import compose, initialize_config_dir
    from hydra.core.global_hydra import GlobalHydra
    from hydra.core.override_parser.overrides_parser import OverridesParser
    from omegaconf import OmegaConf

    from evalkit.errors import ConfigError

    args = [a for a in argv if a not in ("-m", "--multirun")]
    if any(a.startswith("-") for a in args):
        return
    try:
        overrides = []
        for override in OverridesParser.create().parse_overrides(args):
            if override.is_hydra_override():
                continue
            if override.is_sweep_override():
                first = next(iter(override.sweep_string_iterator()))
                overrides.append(f"{override.get_key_element()}={first}")
            else:
                overrides.append(override.input_line)
        GlobalHydra.instance().clear()
        with initialize_config_dir(config_dir=str(CONF_DIR), version_base="1.3"):
            cfg = compose(config_name="config", overrides=overrides)
        OmegaConf.to_object(cfg)
    except EvalkitError:
        raise
    except Exception as exc:  # Hydra and OmegaConf raise many types; each is a config the user wrote
        raise ConfigError(_one_line(exc)) from exc
    finally:
        GlobalHydra.instance().clear()


def hydra_main(argv: list[str]) -> int:
    import hydra

    from evalkit.settings import register_configs

    register_configs()
    preflight(argv)
    _State.exit_code, _State.run_dirs = EXIT_OK, []
    app = hydra.main(version_base="1.3", config_path=str(CONF_DIR), config_name="config")(_task)
    saved = sys.argv
    sys.argv = [saved[0], *argv]
    try:
        app()
    finally:
        sys.argv = saved
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
    try:
        if argv and argv[0] in SUBCOMMAND_NAMES:
            return _subcommands()[argv[0]](argv[1:])
        return hydra_main(argv)
    except EvalkitError as exc:
        _fail(str(exc))
        return EXIT_USER_ERROR

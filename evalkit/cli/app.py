"""`evalkit run`: the Hydra app that evaluates one setting, a sweep (-m) or a resumed run, and says what happened.

python -m evalkit [hydra overrides]          evaluate one setting (or -m for a sweep)
python -m evalkit resume=RUN_DIR             continue an interrupted or killed run (evalkit/run/resume.py)
torchrun --nproc-per-node=N -m evalkit ...   data parallel: the samples sharded over N processes (evalkit/run/sharded_run.py)

Each Hydra job is one setting (`_task`): preflight has checked every setting before the first job; the run itself is
evalkit.run.runner.run. The other commands are in the table of evalkit/cli/commands.py.
"""

from __future__ import annotations

import logging
import os
import sys
import warnings
from pathlib import Path

from evalkit.cli import sweep
from evalkit.cli.preflight import Plan, preflight
from evalkit.config import CONF_DIR
from evalkit.config.overrides import override_key, to_eval_config
from evalkit.errors import (
    EXIT_FAILED,
    EXIT_OK,
    EXIT_UNSUPPORTED,
    EXIT_USER_ERROR,
    EvalkitError,
    exit_code,
    one_line,
)
from evalkit.run import distributed, interrupt

log = logging.getLogger("evalkit")
EXIT_SAMPLES_FAILED = EXIT_FAILED
# conf/hydra/launcher/submitit_*.yaml replace the plugin's configs of the same names (hydra_plugins/evalkit_submitit/launchers.py) and are
# still checked against their schema; Hydra 1.3 warns that this matching by name is deprecated.
warnings.filterwarnings("ignore", message=r"(?s).*is validated against ConfigStore schema with the same name")


class _State:
    """What the Hydra jobs of this process did, for the exit code and the sweep report."""

    exit_code = EXIT_OK
    run_dirs: list[Path] = []
    plan: Plan | None = None
    jobs = 0  # Hydra jobs started (none for --help, --cfg ...)
    ran = 0  # settings that were evaluated (not skipped)
    sweep_dir: Path | None = None
    sweep_done = False  # the sweep report was written (once)
    job_failures: dict[int, str] = {}  # the launcher's word on jobs that failed or died in another process

    @classmethod
    def reset(cls, plan: Plan | None) -> None:
        cls.exit_code, cls.run_dirs, cls.plan, cls.sweep_dir = EXIT_OK, [], plan, None
        cls.jobs = cls.ran = 0
        cls.sweep_done, cls.job_failures = False, {}

    @classmethod
    def worse(cls, code: int) -> None:
        """Keep the most serious exit code seen: 3 (a setting could not run) > 2 (bad input) > 1 (samples failed)."""
        rank = {EXIT_OK: 0, EXIT_FAILED: 1, EXIT_USER_ERROR: 2, EXIT_UNSUPPORTED: 3}
        if rank.get(code, 4) > rank.get(cls.exit_code, 4):
            cls.exit_code = code


def _fail(exc: BaseException) -> int:
    from evalkit.run.sharded_run import RankFailed

    if not distributed.speaks() and isinstance(exc, RankFailed):
        return EXIT_OK  # rank 0 says it, with the run's exit code
    print(f"evalkit: error: {one_line(exc)}", file=sys.stderr)
    return exit_code(exc)


def _job() -> tuple[set[str], sweep.Job | None, Path | None]:
    """This Hydra job's override keys and, in a sweep, its job record and directory."""
    from hydra.core.hydra_config import HydraConfig

    hydra_cfg = HydraConfig.get()
    keys = {override_key(o) for o in hydra_cfg.overrides.task}
    if hydra_cfg.mode.name != "MULTIRUN":
        return keys, None, None
    if _State.plan is None:  # a job in its own process (a launcher plugin): the plan the sweep's process wrote
        _State.plan = sweep.read_plan(Path(hydra_cfg.sweep.dir))
    job = sweep.Job(num=int(hydra_cfg.job.num), overrides=list(hydra_cfg.overrides.task))
    return keys, job, Path(hydra_cfg.runtime.output_dir)


def _submitit_ranks() -> None:
    """A submitit job of several tasks (hydra.launcher.tasks_per_node=N, one per GPU) is one data-parallel run: its
    tasks become the ranks (RANK, WORLD_SIZE, LOCAL_RANK, MASTER_ADDR/PORT), as torchrun's would be."""
    if os.environ.get("WORLD_SIZE") or "submitit" not in sys.modules:
        return
    from submitit import JobEnvironment
    from submitit.helpers import TorchDistributedEnvironment

    try:
        if JobEnvironment().num_tasks > 1:
            TorchDistributedEnvironment().export(set_cuda_visible_devices=False)  # rank r uses cuda:LOCAL_RANK
    except RuntimeError:  # not inside a submitit job after all
        return


def _task(cfg) -> int:
    """One Hydra job: one setting. User errors become one line and an exit code; the next job still runs. In a
    sweep the job records its outcome in its directory (evalkit/cli/sweep.py), for the process that launched it."""
    interrupt.check()  # a signal between two jobs of a sweep: stop before the next setting
    _State.jobs += 1
    _submitit_ranks()
    keys, job, job_dir = _job()
    speaks = distributed.speaks()
    if job is not None and speaks:
        sweep.write_job(job_dir, job)
    try:
        code, run_dir, ran = _evaluate(cfg, keys, sweep=job is not None)
    except KeyboardInterrupt as exc:
        if job is not None and speaks:
            job.state, job.run_dir = "interrupted", str(getattr(exc, "run_dir", None) or "") or None
            sweep.write_job(job_dir, job)
        raise
    except BaseException as exc:  # a bug: Hydra reports it; the job file says the job did not finish
        if job is not None and speaks:
            job.state, job.error = "failed", f"{type(exc).__name__}: {one_line(exc)}"
            sweep.write_job(job_dir, job)
        raise
    if job is not None and speaks:
        job.state, job.exit_code, job.run_dir, job.ran = "done", code, str(run_dir) if run_dir else None, ran
        sweep.write_job(job_dir, job)
    _State.worse(code)
    return code


def _evaluate(cfg, keys: set[str], sweep: bool = False) -> tuple[int, Path | None, bool]:
    """(exit code, run directory, whether a setting was evaluated) of one setting. The jobs of a sweep that run in
    this process share one loaded model where they share weights, dtype, device and crops (evalkit.phi3v.engine)."""
    from omegaconf import OmegaConf

    from evalkit.run.runner import run

    try:
        eval_cfg = to_eval_config(cfg, keys)
        config_dict = OmegaConf.to_container(cfg, resolve=True)
        setting = {"dtype": eval_cfg.runtime.dtype, "attn": eval_cfg.runtime.attn, "device": eval_cfg.runtime.device}
        skip_allowed = eval_cfg.allow_skip or bool(_State.plan and _State.plan.skipped(setting))
        result = run(eval_cfg, config_dict, allow_skip=skip_allowed, keep_model=sweep)
    except (EvalkitError, OSError) as exc:
        return _fail(exc), None, False
    _State.run_dirs.append(result.run_dir)
    if result.record.status != "skipped":
        _State.ran += 1
    return _said(result), result.run_dir, result.record.status != "skipped"


def _said(result) -> int:
    """One line for a finished run (rank 0 only); its exit code."""
    record = result.record
    if not distributed.speaks():
        return EXIT_OK
    if record.status == "skipped":
        print(f"evalkit: {record.name}: skipped ({record.skip_reason})")
        return EXIT_OK
    print(f"evalkit: {record.name}: {record.n_samples} samples, {record.n_errors} failed -> {result.run_dir}")
    _print_table(Path(result.run_dir))
    return EXIT_SAMPLES_FAILED if record.n_errors else EXIT_OK


def _print_table(run_dir: Path) -> None:
    """The run's numbers per suite, read back from its record (what the reports show, nothing recomputed)."""
    from evalkit.reports.baseline import load_run_or_baseline
    from evalkit.reports.console import run_table

    try:
        table = run_table(load_run_or_baseline(run_dir), run_dir / "report.html")
    except (EvalkitError, OSError) as exc:  # the run is recorded; a summary that cannot be read must not hide that
        print(f"evalkit: no summary table: {one_line(exc)}", file=sys.stderr)
        return
    print(table, flush=True)


def note_job_failure(num: int, overrides, reason: str) -> None:
    """Called by hydra_plugins/evalkit_submitit/launchers.py in the sweep's process for a job that failed or died in its own process."""
    _State.job_failures[num] = reason


try:
    from hydra.experimental.callback import Callback
except ImportError:  # pragma: no cover - hydra is a dependency
    Callback = object


class SweepReport(Callback):
    """Around a multirun (in the process that launches it): before the jobs, note the sweep directory and write the
    plan for jobs in other processes; after them, put every setting of the sweep side by side."""

    def on_multirun_start(self, config, **kwargs) -> None:
        _State.sweep_dir = Path(config.hydra.sweep.dir)
        if distributed.speaks():
            sweep.write_plan(_State.sweep_dir, _State.plan)

    def on_multirun_end(self, config, **kwargs) -> None:
        _finish_sweep()


def _finish_sweep() -> None:
    """Once, when the jobs have ended (or the sweep stopped): the exit code and the sweep report from the job files,
    whichever process ran each job."""
    out = _State.sweep_dir
    if out is None or _State.sweep_done or not distributed.speaks():
        return
    _State.sweep_done = True
    jobs = sweep.read_jobs(out, _State.plan.jobs if _State.plan else None)
    unfinished = []
    for job in jobs:
        if job.state == "done":
            _State.worse(job.exit_code or EXIT_OK)
            continue
        if job.state == "interrupted" or (job.state == "missing" and interrupt.pending() is not None):
            continue  # the stop line says it
        why = _State.job_failures.get(job.num) or job.error or "it died or was stopped before recording its outcome"
        line = f"{sweep.describe(job)} did not finish: {why}"
        unfinished.append(line)
        print(f"evalkit: {line}", file=sys.stderr)
        _State.worse(EXIT_FAILED)
    _State.jobs = max(_State.jobs, sum(j.state != "missing" for j in jobs))
    _State.ran = max(_State.ran, sum(j.ran for j in jobs))
    run_dirs = [Path(j.run_dir) for j in jobs if j.run_dir and (Path(j.run_dir) / "run.json").is_file()]
    if not run_dirs and not unfinished:
        return
    from evalkit.reports import write_sweep_report

    try:
        md, html = write_sweep_report(out, run_dirs, unfinished)
    except (EvalkitError, OSError) as exc:
        _State.worse(_fail(exc))
        return
    print(f"evalkit: sweep report -> {md} and {html}")


def report_stop(exc: interrupt.Interrupted) -> int:
    """The one line said when a signal stopped evalkit (the single place it is printed); returns the exit code."""
    if not distributed.speaks():
        return EXIT_OK  # rank 0 says it for the whole torchrun job, with the run's exit code
    from evalkit.run.resume import resume_command

    where = ""
    if exc.run_dir:
        world = distributed.current().world_size
        where = f"; {exc.run_dir} is recorded as interrupted; resume with: {resume_command(exc.run_dir, world)}"
    done = f" after {_State.ran} complete setting(s)" if _State.ran else ""
    print(f"evalkit: stopped by {exc.signame}{done}{where}", file=sys.stderr, flush=True)
    return exc.exit_code


def _resume_main(argv: list[str]) -> int:
    """`resume=RUN_DIR`: rank 0 checks the run (every rank gets its verdict), then the run goes on."""
    from evalkit.run import resume, sharded_run
    from evalkit.run.runner import run

    run_dir, force, overrides = resume.parse(argv)
    dist = distributed.current()
    distributed.setup(dist, sharded_run.coordination_device("auto"))
    point = dist.on_main(lambda: resume.prepare(run_dir, force, overrides))
    for line in point.forced:
        print(f"evalkit: resume_force=true: {line}", file=sys.stderr)
    _State.jobs += 1
    result = run(point.cfg, point.config_dict, resume=point)
    _State.ran += 1
    return _said(result)


def hydra_main(argv: list[str]) -> int:
    import hydra

    from evalkit.config.settings import register_configs

    register_configs()
    plan = preflight(argv, say=print if distributed.speaks() else lambda _: None)  # exit 2 / 3 before any job
    _State.reset(plan)
    app = hydra.main(version_base="1.3", config_path=str(CONF_DIR), config_name="config")(_task)
    saved = sys.argv
    sys.argv = [saved[0], *argv]
    try:
        app()
    except SystemExit as exc:  # Hydra reported an error (e.g. a job that raised) and exits 1: end the sweep first
        _finish_sweep()
        _State.worse(EXIT_FAILED if exc.code else EXIT_OK)
    finally:
        sys.argv = saved
    _finish_sweep()
    if _State.jobs and not _State.ran and _State.exit_code == EXIT_OK:
        # Every setting was skipped (allow_skip): nothing was measured, which must not read as success.
        print("evalkit: error: no setting could run here; every one was skipped", file=sys.stderr)
        return EXIT_UNSUPPORTED
    return _State.exit_code


def run_main(argv: list[str]) -> int:
    """`evalkit run` (and `evalkit k=v ...`, `python -m evalkit ...`): one setting, a sweep with -m, or
    `resume=RUN_DIR`. SIGINT / SIGTERM stop gracefully: the batch finishes, the run is recorded, reports are written."""
    from evalkit.run.resume import requested

    _State.reset(None)
    try:
        with interrupt.handle_signals():
            return _resume_main(argv) if requested(argv) else hydra_main(argv)
    except (EvalkitError, OSError) as exc:
        return _fail(exc)
    except KeyboardInterrupt as exc:  # SIGINT / SIGTERM (evalkit.run.interrupt)
        stop = interrupt.Interrupted.of(exc)
        _finish_sweep()  # the settings that finished, side by side
        return report_stop(stop)
    finally:
        if "torch.distributed" in sys.modules:
            from evalkit.run.distributed import teardown

            teardown()

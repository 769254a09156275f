"""Run one setting (model x dtype x attention x runtime) over suites: predictions, scores, timings, memory.

`run()` is the whole job behind `python -m evalkit`: validate suites, check the setting, load once, warm up, evaluate
(evalkit/run/evaluation.py answers the batches), write the run directory. `load()` is what `pytest benchmarks/` reuses.
What is timed and how is in evalkit/run/measure.py and evalkit/run/requests.py; batching and the prefetching stage in
evalkit/run/batching.py.
"""

from __future__ import annotations

import contextlib
import logging
import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import torch
from tqdm import tqdm

from evalkit.config.settings import EvalConfig, RuntimeConfig
from evalkit.data.sampling import select
from evalkit.data.suites import Sample, Suite, resolve_suites
from evalkit.errors import EvalkitError, OutputError, UnsupportedSettingError
from evalkit.phi3v import engine
from evalkit.phi3v.decode import decoder_for
from evalkit.phi3v.engine import LoadedModel
from evalkit.records import (
    RUN_FILE,
    Prediction,
    RunRecord,
    RunWriter,
    make_run_dir,
    read_record,
    summarize_performance,
    utc_now,
    write_skipped_run,
)
from evalkit.records.lock import lock_run_dir
from evalkit.records.machine_load import MachineLoad
from evalkit.reports import write_run_reports
from evalkit.run import distributed, interrupt, sharded_run
from evalkit.run.batching import check_context, estimate_prompt_tokens
from evalkit.run.energy import EnergyMeter, EnergyWindow
from evalkit.run.evaluation import RunState, check_images, evaluate, plan, predict, warm_up
from evalkit.run.items import Item, make_items
from evalkit.run.measure import MemoryTracker, release_memory
from evalkit.run.provenance import environment
from evalkit.run.requests import request_round
from evalkit.run.roofline import BatchFigures, copy_bandwidth, model_shape, roofline

if TYPE_CHECKING:
    from evalkit.run.resume import ResumePoint

__all__ = [
    "Item", "LoadedModel", "RunResult", "check_images", "load", "make_items", "plan", "predict", "request_round", "run",
]  # fmt: skip
log = logging.getLogger(__name__)


@dataclass
class RunResult:
    run_dir: Path
    record: RunRecord

    @property
    def failed_samples(self) -> int:
        return self.record.n_errors


def load(cfg: EvalConfig, *, keep: bool = False) -> LoadedModel:
    """The model of `cfg` through the one engine, on this process's device (under torchrun: cuda:LOCAL_RANK);
    `keep`: a sweep's job, whose model may serve the next job with another attention setting (engine.load)."""
    return engine.load(cfg.model, cfg.runtime, cfg.cache_dir, place=distributed.current().place, keep=keep)


def _record(cfg: EvalConfig, suites: Sequence[Suite], config_dict: dict) -> RunRecord:
    rt = cfg.runtime
    setting = {
        "model": cfg.model.name, "revision": cfg.model.revision, "dtype": rt.dtype, "attn": rt.attn, "device": rt.device,
        "batch_size": rt.batch_size, "max_new_tokens": rt.max_new_tokens, "num_crops": rt.num_crops,
    }  # fmt: skip
    # Recorded only when not the default, so that records from before these keys existed compare as equal.
    setting.update(
        {k: v for k, v, default in (("mode", rt.mode, "latency"), ("compile", rt.compile, False)) if v != default}
    )
    return RunRecord(
        name=cfg.run_name, run_id="", status="running", started_at=utc_now(), finished_at=None, setting=setting,
        config=config_dict, provenance={"environment": environment()},
        suites={s.name: {"version": s.version, "content_hash": s.content_hash, "task": s.task, "n_samples": len(s.samples), "path": str(s.path)} for s in suites},
    )  # fmt: skip


@contextlib.contextmanager
def _reports_when_stopped(cfg: EvalConfig, run_dir: Path):
    """Outermost around the writer: once an interrupted run is recorded, write its reports for what finished."""
    try:
        yield
    except KeyboardInterrupt as exc:
        if isinstance(exc, interrupt.Interrupted):
            exc.run_dir = run_dir
        if cfg.reports:
            write_reports(run_dir)
        raise


def write_reports(run_dir: Path) -> None:
    """report.md and report.html of a stopped run; a failure to write them must not hide why the run stopped."""

    try:
        write_run_reports(run_dir)
    except (EvalkitError, OSError) as report_exc:
        log.warning("%s: reports not written: %s", run_dir, report_exc)


def _roofline(loaded: LoadedModel, runtime: RuntimeConfig, figures: list[BatchFigures]) -> dict | None:
    if loaded.device.type != "cuda":
        return None
    tf32 = torch.get_float32_matmul_precision() != "highest" or torch.backends.cuda.matmul.allow_tf32
    name = torch.cuda.get_device_name(loaded.device)
    bandwidth, _how = copy_bandwidth(loaded.device)
    return roofline(model_shape(loaded.model), figures, name, runtime.dtype, tf32, bandwidth)


def _extra(runtime: RuntimeConfig) -> dict:
    return {"warmup": runtime.warmup, "repeats": runtime.repeats, "batch_size": runtime.batch_size}


def _performance(
    everything, new, loaded: LoadedModel, runtime: RuntimeConfig, state: RunState, memory, machine_load: dict
) -> dict:
    """`performance` over `everything` (a resumed run's earlier samples included); the loop, load time, memory and
    machine load are this process's (`new`: what it answered)."""
    loop = state.loop_figures(runtime.mode, new)
    window = state.energy or EnergyWindow(None, None, None, None, "no evaluation loop ran")
    extra = {
        **_extra(runtime),
        "harness": loop.to_dict(),
        "machine_load": machine_load,
        "fingerprint_s": loaded.fingerprint_s,
        "model_reused": loaded.reused,
        "decode": decoder_for(loaded.model, graph=runtime.compile).stats(since=state.decode_start),
        "energy": window.to_dict(loop.generated_tokens, loop.answered),
    }
    if loaded.reused:  # this run loaded nothing: its load_s stays null and the attention switch is named as such
        extra["attention_switch_s"] = loaded.load_s
    rooftop = _roofline(loaded, runtime, state.figures)
    if rooftop is not None:
        extra["roofline"] = rooftop
    load_s = None if loaded.reused else loaded.load_s
    return summarize_performance(everything, load_s=load_s, memory_mb=memory, extra=extra)


def _evaluate(
    cfg: EvalConfig, loaded: LoadedModel, batches, state: RunState, writer, new: list, show: bool
) -> tuple[dict, dict]:
    """Warm up, then answer `batches` into `writer` (each prediction also appended to `new`), stopping between
    batches on a pending signal. Returns the memory figures of the evaluation and the machine's load meanwhile."""
    rt = cfg.runtime
    # a first signal finishes the batch (answering_batches); the machine's load is recorded beside the timings
    with MemoryTracker(loaded.device) as memory, MachineLoad() as machine, interrupt.answering_batches():
        warm_up(loaded, batches, rt)
        interrupt.check()
        bars: dict[str, tqdm] = {}
        energy = EnergyMeter(loaded.device)  # NVML on CUDA; elsewhere it records why there is no figure
        energy.start()
        state.clock.start()
        try:
            for batch, predictions in evaluate(loaded, batches, rt, state):
                for prediction in predictions:
                    writer.add(prediction)
                    new.append(prediction)
                suite = batch[0].suite
                if suite not in bars:
                    for bar in bars.values():
                        bar.close()
                    total = sum(len(b) for b in batches if b[0].suite == suite)
                    bars[suite] = tqdm(total=total, desc=suite, unit="sample", disable=not show, leave=True)
                bars[suite].update(len(batch))
                interrupt.check()  # a signal during the batch: the batch is finished and written, then we stop
        finally:
            for bar in bars.values():
                bar.close()
        state.clock.stop()
        state.energy = energy.stop()
    return memory.to_dict(), machine.to_dict()


def shard(loaded: LoadedModel, items: Sequence[Item], dist: distributed.Dist) -> list[Item]:
    """This rank's items (manifest order kept): rank 0 balances the estimated prompt lengths over the ranks
    (distributed.assign) and tells every rank, so all agree whatever their view of the files."""
    if not dist.enabled:
        return list(items)

    def assign() -> list[int]:
        costs = [estimate_prompt_tokens(loaded.processor, item) for item in items]
        return distributed.assign(costs, dist.world_size)

    ranks = dist.on_main(assign)
    return [item for item, r in zip(items, ranks, strict=True) if r == dist.rank]


def plan_run(cfg: EvalConfig, loaded: LoadedModel, suites: Sequence[Suite], items, done, dist) -> list[list[Item]]:
    """This process's batches: the items not answered yet (`done`: kept from earlier attempts), sharded over the
    ranks, batched per suite."""
    kept = {(p.suite, p.sample_id) for p in done}
    mine = shard(loaded, [item for item in items if (item.suite, item.id) not in kept], dist)
    return [b for suite in suites for b in plan(loaded, [i for i in mine if i.suite == suite.name], cfg.runtime)]


def _run_dir(cfg: EvalConfig, dist: distributed.Dist) -> Path:
    """Rank 0 creates the run directory and every rank gets its path; it must be where every rank can write."""
    run_dir = dist.on_main(lambda: make_run_dir(Path(cfg.output_dir), cfg.run_name))
    if not Path(run_dir).is_dir():
        raise OutputError(
            f"{run_dir}: rank {dist.rank} cannot see the run directory rank 0 created; under torchrun on several nodes output_dir must be on a shared filesystem"
        )
    return Path(run_dir)


def _describe(record: RunRecord, loaded: LoadedModel, rt: RuntimeConfig, dist: distributed.Dist) -> None:
    record.setting["device"] = str(loaded.device)
    record.setting["num_crops"] = loaded.processor.num_crops
    record.provenance.update(model=loaded.source.to_dict(), weights=loaded.weights)
    record.provenance["decoding"] = {**loaded.model.decoding, "max_new_tokens": rt.max_new_tokens}
    if dist.enabled:
        where = dist.gather({"rank": dist.rank, "host": distributed.host(), "device": str(loaded.device)})
        record.provenance["distributed"] = {"world_size": dist.world_size, "ranks": where}


@contextlib.contextmanager
def _owned(run_dir: Path, resume, dist: distributed.Dist):
    """Hold the run directory's lock (evalkit/records/lock.py) for the whole run: a resume took it in its checks,
    a new run takes it here. Under torchrun rank 0 holds it for the job (the other ranks write only their shards)."""
    lock = resume.lock if resume is not None else lock_run_dir(run_dir) if dist.is_main else None
    try:
        yield
    finally:
        if lock is not None:
            lock.release()


def _begin_attempt(record: RunRecord, dist: distributed.Dist, resume, kept: int) -> None:
    entry = {
        "started_at": utc_now(), "finished_at": None, "status": "running", "host": distributed.host(),
        "pid": os.getpid(), "world_size": dist.world_size, "samples_kept": kept,
    }  # fmt: skip
    if resume is not None and resume.forced:
        entry["forced"] = list(resume.forced)
    record.attempts.append(entry)


def run(
    cfg: EvalConfig,
    config_dict: dict | None = None,
    *,
    loaded: LoadedModel | None = None,
    allow_skip: bool | None = None,
    resume: ResumePoint | None = None,
    keep_model: bool = False,
) -> RunResult:
    """Evaluate one setting and write its run directory (records, then reports).

    A setting this machine cannot run raises UnsupportedSettingError before any run directory exists, unless
    skipping is allowed (`allow_skip`, default `cfg.allow_skip`): then it is recorded as `skipped`. Between batches
    a pending SIGINT / SIGTERM (evalkit.run.interrupt) stops the run as `interrupted`, with reports for what finished.
    `resume` (evalkit.run.resume.prepare) continues an unfinished run in its own directory: the samples it already
    answered are kept, the others are answered. Under torchrun the samples are sharded over the ranks and rank 0
    merges their shards into one run directory (evalkit/run/sharded_run.py).
    """
    dist = distributed.current()
    suites = resolve_suites(cfg.suites)  # validates every manifest and image before any model work
    record = resume.record if resume is not None else _record(cfg, suites, config_dict or {})
    distributed.setup(dist, sharded_run.coordination_device(cfg.runtime.device))
    try:
        if loaded is None:
            loaded = load(cfg, keep=keep_model)
    except UnsupportedSettingError as exc:
        if resume is not None or not (cfg.allow_skip if allow_skip is None else allow_skip):
            raise
        return _skipped(cfg, dist, record, exc)
    interrupt.check()  # stopped while loading: nothing was evaluated, no run directory is made
    # One Item per selected sample (prompt and budget made once), checked against the model's context before any
    # record exists.
    samples = selected_samples(suites, cfg.limit, cfg.limit_mode, cfg.limit_seed)
    items = make_items(loaded.processor, samples, cfg.runtime)
    context = getattr(loaded.model.config, "max_position_embeddings", None)
    check_context(loaded.processor, context, items, fixed=cfg.runtime.max_new_tokens is not None)
    # After the load: a failed load leaves no empty directory.
    run_dir = resume.run_dir if resume is not None else _run_dir(cfg, dist)
    with _owned(run_dir, resume, dist):  # one process at a time writes a run directory
        rt = cfg.runtime
        _describe(record, loaded, rt, dist)
        done = list(resume.done) if resume is not None else []
        _begin_attempt(record, dist, resume, len(done))
        torch.manual_seed(rt.seed)
        batches = plan_run(cfg, loaded, suites, items, done, dist)
        release_memory(loaded.device)  # what earlier settings of this process left must not count as this one's peak
        base = 1 + max((p.batch_id for p in done if p.batch_id is not None), default=-1)
        state = RunState(base=base, stride=dist.world_size, offset=dist.rank)
        state.decode_start = decoder_for(loaded.model, graph=rt.compile).stats()  # a reused model's counts so far
        order = {(item.suite, item.id): i for i, item in enumerate(items)}
        new: list[Prediction] = []
        show = cfg.progress and dist.is_main

        def evaluate_into(writer) -> dict:
            """Answer this process's batches into `writer`; returns its own performance."""
            memory, machine_load = _evaluate(cfg, loaded, batches, state, writer, new, show)
            return _performance(new, new, loaded, rt, state, memory, machine_load)

        if dist.enabled:
            job = sharded_run.ShardedJob(cfg, dist, run_dir, record, done, order, str(loaded.device))
            record = job.run(evaluate_into, lambda: new, lambda: state.figures, extra=_extra(rt),
                             roofline=lambda figures: _roofline(loaded, rt, figures),
                             loop=lambda: state.loop_figures(rt.mode, new))  # fmt: skip
            return RunResult(run_dir, record)
        with (
            _reports_when_stopped(cfg, run_dir),
            RunWriter(run_dir, record, existing=done if resume else None) as writer,
        ):
            memory, machine_load = _evaluate(cfg, loaded, batches, state, writer, new, show)
            performance = _performance(writer.predictions, new, loaded, rt, state, memory, machine_load)
            record = writer.finish(performance, order=order)
        if cfg.reports:
            write_run_reports(run_dir)
        return RunResult(run_dir, record)


def selected_samples(
    suites: Sequence[Suite], limit: int | None, mode: str = "stratified", seed: int = 0
) -> list[Sample]:
    """Each suite's samples, at most `limit` of each (evalkit.data.sampling: stratified by default, or the first N)."""
    return [s for suite in suites for s in select(suite.samples, limit, mode, seed, key=suite.name)]


def _skipped(cfg: EvalConfig, dist: distributed.Dist, record: RunRecord, exc: UnsupportedSettingError) -> RunResult:
    """A setting this machine cannot run, recorded as `skipped` with the reason (allow_skip)."""
    log.warning("skipping %s: %s", cfg.run_name, exc)
    run_dir = _run_dir(cfg, dist)
    if dist.is_main:
        write_skipped_run(run_dir, record, str(exc))
    dist.barrier()
    return RunResult(run_dir, read_record(run_dir / RUN_FILE))

"""Run one setting (model x dtype x attention x runtime) over suites: predictions, scores, timings, memory.

`load()`, `predict()` and `request_round()` are the pieces `pytest benchmarks/` reuses; `run()` is the whole job
behind `python -m evalkit`: validate suites, check the setting, load once, warm up, evaluate, write the run directory.
What is timed and how is in evalkit/measure.py and evalkit/request.py; batching and the prefetching stage in
evalkit/pipeline.py.
"""

from __future__ import annotations

import contextlib
import logging
import os
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

import torch
from tqdm import tqdm

from evalkit import distributed, interrupt, metrics, scaleout
from evalkit.errors import EvalkitError, OutputError, UnsupportedSettingError
from evalkit.measure import LoopClock, MemoryTracker, median_request, release_memory
from evalkit.phi3v.hub import weights_fingerprint
from evalkit.phi3v.images import CROP_SIZE
from evalkit.phi3v.loading import load_model
from evalkit.phi3v.processing import Phi3VProcessor
from evalkit.pipeline import Prepared, check_samples, estimate_prompt_tokens, plan_batches
from evalkit.provenance import environment
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
from evalkit.reports import write_run_reports
from evalkit.request import LoadedModel, Request, budgets, prefetcher, prompts_of, request_round, timed_request
from evalkit.roofline import BatchFigures, model_shape, roofline
from evalkit.runtime import check_runtime, model_source, needs_mask
from evalkit.settings import EvalConfig, RuntimeConfig
from evalkit.suites import Sample, Suite, resolve_suites

if TYPE_CHECKING:
    from evalkit.resume import ResumePoint

__all__ = [
    "LoadedModel", "RunResult", "budgets", "check_images", "load", "plan", "predict", "prompts_of", "request_round",
    "run",
]  # fmt: skip
log = logging.getLogger(__name__)


@dataclass
class RunResult:
    run_dir: Path
    record: RunRecord

    @property
    def failed_samples(self) -> int:
        return self.record.n_errors


def load(cfg: EvalConfig) -> LoadedModel:
    device = distributed.current().place(check_runtime(cfg.runtime))  # under torchrun: cuda:LOCAL_RANK
    source = model_source(cfg.model, cfg.cache_dir)
    start = time.perf_counter()
    model = load_model(
        source.path, dtype=cfg.runtime.dtype, attn_implementation=cfg.runtime.attn, device=device, source=source,
        masked=needs_mask(cfg.runtime),
    )  # fmt: skip
    processor = Phi3VProcessor.from_pretrained(source.path, num_crops=cfg.runtime.num_crops)
    if device.type == "cuda":
        torch.cuda.synchronize(device)
    load_s = time.perf_counter() - start
    return LoadedModel(model, processor, source, device, load_s, weights_fingerprint(source.path))


def _labels(sample: Sample) -> dict:
    labels: dict = {"type": sample.type}
    if sample.reference is not None:
        labels["reference"] = sample.reference
    if sample.answers:
        labels["answers"] = list(sample.answers)
    if sample.choices:
        labels["choices"] = list(sample.choices)
    if sample.type == "short_answer":
        labels["match"] = sample.match
    if sample.keywords:
        labels["keywords"] = [g.to_json() if hasattr(g, "to_json") else list(g) for g in sample.keywords]
    if sample.forbidden:
        labels["forbidden"] = list(sample.forbidden)
    return labels


def _tags(sample: Sample) -> dict[str, str]:
    # The question type is a tag of every prediction, so reports break scores down by it.
    return {**sample.tags, "type": sample.type}


def _failed(sample: Sample, prompt: str, error: BaseException, budget: int | None = None) -> Prediction:
    return Prediction(
        sample_id=sample.id, suite=sample.suite, task=sample.task, tags=_tags(sample),
        images=[str(p) for p in sample.images], prompt=prompt, answer=None, answer_token_ids=[], scores={},
        timings_ms={}, tokens={}, decode_tokens_per_s=None, error=f"{type(error).__name__}: {error}", labels=_labels(sample),
        max_new_tokens=budget,
    )  # fmt: skip


@dataclass
class RunState:
    """What the evaluation loop accumulates: batch ids, the loop clock, per-batch figures for the roofline."""

    clock: LoopClock = field(default_factory=LoopClock)
    batches: int = 0
    compiled_requests: int = 0
    figures: list[BatchFigures] = field(default_factory=list)
    # Batch ids are unique within the run: rank r of N numbers its batches base + r, base + r + N, ...; a resumed
    # run starts past the ids its earlier attempts used.
    base: int = 0
    stride: int = 1
    offset: int = 0

    def new_batch_id(self) -> int:
        self.batches += 1
        return self.base + (self.batches - 1) * self.stride + self.offset


def _answer_ids(row: torch.Tensor, stop_ids: set[int], budget: int) -> tuple[list[int], bool]:
    """The answer's tokens, cut at the first stop token or at the sample's own budget, and whether it was cut
    off by the budget. A batch generates up to its largest budget; cutting each row to its own budget gives the
    tokens a batch of one would have produced (greedy decoding: a row does not depend on the others)."""
    ids = []
    for token in row.tolist()[:budget]:
        if token in stop_ids:
            return ids, False
        ids.append(token)
    return ids, len(ids) >= budget


# Errors a generate() call can end in: CUDA OOM and kernel failures are RuntimeErrors; inputs the per-sample check
# missed surface as ValueError or EvalkitError.
_GENERATION_ERRORS = (RuntimeError, ValueError, EvalkitError)


def _generate_once(loaded: LoadedModel, samples, prompts: list[str], max_new_tokens: int, **kwargs) -> Request:
    """One timed request (the seam tests use to make a generation fail)."""
    return timed_request(loaded, samples, prompts, max_new_tokens=max_new_tokens, **kwargs)


def _release(loaded: LoadedModel) -> None:
    if loaded.device.type == "cuda":
        torch.cuda.empty_cache()


def _timed_predictions(loaded, batch, prompts, runtime, limits, state, prepared=None, retry=None) -> dict:
    """Time `runtime.repeats` requests for the batch, then build (and score) its predictions outside the timing."""
    batch_prompts = [prompts[s.id] for s in batch]
    longest = max(limits[s.id] for s in batch)  # each answer is cut to its own budget afterwards
    requests = [
        _generate_once(loaded, batch, batch_prompts, longest, runtime=runtime, prepared=prepared)
        for _ in range(runtime.repeats)
    ]
    for request in requests:
        state.clock.add(request.timing)
        state.compiled_requests += request.timing.compiled
    return _predictions(loaded, batch, batch_prompts, requests, limits, state, prepared, retry)


def _answer(loaded, batch, prompts, runtime, limits, state: RunState, prepared: Prepared | None = None) -> dict:
    """Answer a batch whose samples passed their own check. One bad sample never fails another sample of its batch:
    if the batch's generation fails, each sample is generated alone to find the one(s) that fail, then the rest of
    the batch together again (the batch size closest to the configured one). If only the whole batch fails (e.g.
    out of memory), the samples keep their answers from being generated alone. Retries start from the image files
    (as in latency mode); every prediction records the batch it was generated in (`batch_size`, `retry`)."""
    try:
        return _timed_predictions(loaded, batch, prompts, runtime, limits, state, prepared)
    except _GENERATION_ERRORS as exc:
        _release(loaded)
        if len(batch) == 1:
            return {batch[0].id: _failed(batch[0], prompts[batch[0].id], exc, limits[batch[0].id])}
        cause = f"the batch of {len(batch)} failed ({type(exc).__name__}: {exc})"
        log.warning("%s; retrying its samples", cause)
    results, bad = {}, []
    for s in batch:
        try:
            results.update(
                _timed_predictions(loaded, [s], prompts, runtime, limits, state, retry=f"{cause}; generated alone")
            )
        except _GENERATION_ERRORS as exc:
            _release(loaded)
            results[s.id] = _failed(s, prompts[s.id], exc, limits[s.id])
            bad.append(s.id)
    rest = [s for s in batch if s.id not in bad]
    if bad and len(rest) > 1:
        note = f"{cause}; generated again without {', '.join(repr(b) for b in bad)}"
        try:
            results.update(_timed_predictions(loaded, rest, prompts, runtime, limits, state, retry=note))
        except _GENERATION_ERRORS:
            _release(loaded)  # the rest keep their answers from being generated alone
    return results


def _predictions(loaded, samples, prompts, requests: list[Request], limits, state: RunState, prepared, retry) -> dict:
    first, chosen = requests[0], median_request([r.timing for r in requests])
    stop_ids = set(loaded.processor.stop_token_ids) | {loaded.processor.pad_token_id}
    inputs = first.inputs
    image_positions = loaded.model.image_positions(inputs["input_ids"]).sum(dim=1).tolist()
    prompt_lengths = inputs["attention_mask"].sum(dim=1).tolist()
    timings = chosen.phases()
    if prepared is not None:
        timings["preprocess"] = prepared.preprocess_ms  # done ahead, in the background: not part of `generate`
    rate = chosen.generation.decode_tokens_per_s  # per sequence
    batch_id, out, generated = state.new_batch_id(), {}, []
    for i, (sample, prompt) in enumerate(zip(samples, prompts, strict=True)):
        budget = limits[sample.id]
        ids, truncated = _answer_ids(first.new_tokens[i], stop_ids, budget)
        differ = any(_answer_ids(r.new_tokens[i], stop_ids, budget)[0] != ids for r in requests[1:])
        answer = loaded.processor.decode(ids)
        generated.append(len(ids))
        out[sample.id] = Prediction(
            sample_id=sample.id, suite=sample.suite, task=sample.task, tags=_tags(sample),
            images=[str(p) for p in sample.images], prompt=prompt, answer=answer, answer_token_ids=ids,
            scores=metrics.score_sample(sample, answer), timings_ms=dict(timings),
            tokens={"prompt": int(prompt_lengths[i]), "image": int(image_positions[i]), "generated": len(ids)},
            decode_tokens_per_s=rate, labels=_labels(sample), max_new_tokens=budget, truncated=truncated,
            batch_size=len(samples), retry=retry, batch_id=batch_id, repeats_differ=differ,
        )  # fmt: skip
    if "image_sizes" in inputs:
        crops = int(sum(1 + (h // CROP_SIZE) * (w // CROP_SIZE) for h, w in inputs["image_sizes"].tolist()))
    else:
        crops = 0
    prompt_tokens = [int(n) for n in prompt_lengths]
    state.figures.append(BatchFigures(prompt_tokens, generated, crops, chosen.generation.prefill_ms, rate))
    return out


def check_images(
    loaded: LoadedModel, samples: Sequence[Sample], prompts: dict[str, str], limits: dict[str, int] | None = None
) -> tuple[list[Sample], dict[str, Prediction]]:
    """Check each sample alone, untimed (images decoded and sized, prompt tokenized), so that a bad file or prompt
    fails its sample and not its batch. Returns the samples that passed and failed predictions for the others."""
    ready, _, failures = check_samples(loaded.processor, samples, prompts)
    limits = limits or {}
    return ready, {s.id: _failed(s, prompts[s.id], exc, limits.get(s.id)) for s, exc in failures}


def predict(
    loaded: LoadedModel, samples: Sequence[Sample], runtime: RuntimeConfig, state: RunState | None = None
) -> list[Prediction]:
    """Answer, score and time one batch (latency mode: the timed request decodes the image files again, because
    its latency is meant to start from them). Predictions come back in the order of `samples`."""
    state = state or RunState()
    prompts = prompts_of(samples)
    limits = budgets(loaded.processor, samples, runtime)
    ready, results = check_images(loaded, samples, prompts, limits)
    if ready:
        results.update(_answer(loaded, ready, prompts, runtime, limits, state))
    return [results[s.id] for s in samples]


def plan(loaded: LoadedModel, samples: Sequence[Sample], runtime: RuntimeConfig) -> list[list[Sample]]:
    """The batches of one suite's samples; bucketed by estimated prompt length when batch_size > 1."""
    if runtime.batch_size == 1 or not runtime.bucket:
        return plan_batches(samples, runtime.batch_size)
    prompts = prompts_of(samples)
    lengths = [estimate_prompt_tokens(loaded.processor, s, prompts[s.id]) for s in samples]
    return plan_batches(samples, runtime.batch_size, lengths)


def evaluate(loaded: LoadedModel, batches: Sequence[list[Sample]], runtime: RuntimeConfig, state: RunState) -> Iterator:
    """(batch, its predictions in batch order) for each batch, in the runtime's mode."""
    if runtime.mode == "latency":
        for batch in batches:
            yield batch, predict(loaded, batch, runtime, state)
        return
    for batch, prepared in prefetcher(loaded, batches):
        prompts = prompts_of(batch)
        limits = budgets(loaded.processor, batch, runtime)
        if isinstance(prepared, (EvalkitError, ValueError, RuntimeError)):  # e.g. an image the processor cannot crop
            results = {s.id: _failed(s, prompts[s.id], prepared, limits[s.id]) for s in batch}
        elif isinstance(prepared, Exception):  # anything else is a bug: fail loudly, as latency mode would
            raise prepared
        else:
            results = {s.id: _failed(s, prompts[s.id], exc, limits[s.id]) for s, exc in prepared.failures}
            if prepared.samples:
                results.update(_answer(loaded, prepared.samples, prompts, runtime, limits, state, prepared))
        yield batch, [results[s.id] for s in batch]


def warm_up(loaded: LoadedModel, batches: Sequence[list[Sample]], runtime: RuntimeConfig) -> None:
    """Untimed requests so that kernels are compiled and caches allocated before anything is measured. With
    runtime.compile, batches of two prompt lengths and of each batch size: torch.compile specialises on the first
    shape it sees and generalises on the second, so the timed requests find their graphs built (a request that
    still compiles is counted in performance.harness.compiled_requests)."""
    picks = list(batches[:1])
    if runtime.compile and picks:

        def length(batch: list[Sample]) -> int:
            prompts = prompts_of(batch)
            return max(estimate_prompt_tokens(loaded.processor, s, prompts[s.id]) for s in batch)

        sizes, lengths = {len(picks[0])}, {length(picks[0])}
        for batch in batches[1:]:
            new_length = len(lengths) < 2 and length(batch) not in lengths
            if new_length or len(batch) not in sizes:
                picks.append(batch)
                sizes.add(len(batch))
                lengths.add(length(batch))
    for _ in range(runtime.warmup):
        for batch in picks:
            prompts = prompts_of(batch)
            ready, _ = check_images(loaded, batch, prompts)
            if not ready:
                continue
            limits = budgets(loaded.processor, ready, runtime)
            try:
                timed_request(
                    loaded, ready, [prompts[s.id] for s in ready], runtime=runtime,
                    max_new_tokens=max(limits.values()),
                )  # fmt: skip
            except _GENERATION_ERRORS as exc:
                log.warning("warm-up request failed (%s); the timed requests will show it too", exc)


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


def _harness(runtime: RuntimeConfig, state: RunState, predictions: list[Prediction]) -> dict:
    """The evaluation loop of this process (`predictions`: those it answered, not those of earlier attempts)."""
    ok = [p for p in predictions if not p.failed]
    wall = state.clock.wall_s
    return {
        "mode": runtime.mode, "wall_s": wall, "generate_s": state.clock.generate_s, "overhead": state.clock.overhead,
        "requests": state.clock.requests, "compiled_requests": state.compiled_requests,
        "samples_per_s": len(ok) / wall if wall > 0 else None,
        "generated_tokens_per_s": sum(p.tokens.get("generated", 0) for p in ok) / wall if wall > 0 else None,
    }  # fmt: skip


def _roofline(loaded: LoadedModel, runtime: RuntimeConfig, figures: list[BatchFigures]) -> dict | None:
    if loaded.device.type != "cuda":
        return None
    tf32 = torch.get_float32_matmul_precision() != "highest" or torch.backends.cuda.matmul.allow_tf32
    name = torch.cuda.get_device_name(loaded.device)
    return roofline(model_shape(loaded.model), figures, name, runtime.dtype, tf32)


def _extra(runtime: RuntimeConfig) -> dict:
    return {"warmup": runtime.warmup, "repeats": runtime.repeats, "batch_size": runtime.batch_size}


def _performance(everything, new, loaded: LoadedModel, runtime: RuntimeConfig, state: RunState, memory) -> dict:
    """`performance` over `everything` (a resumed run's earlier samples included); the loop, load time and memory
    are this process's (`new`: what it answered)."""
    extra = {**_extra(runtime), "harness": _harness(runtime, state, new)}
    rooftop = _roofline(loaded, runtime, state.figures)
    if rooftop is not None:
        extra["roofline"] = rooftop
    return summarize_performance(everything, load_s=loaded.load_s, memory_mb=memory, extra=extra)


def _evaluate(cfg: EvalConfig, loaded: LoadedModel, batches, state: RunState, writer, new: list, show: bool) -> dict:
    """Warm up, then answer `batches` into `writer` (each prediction also appended to `new`), stopping between
    batches on a pending signal. Returns the memory figures of the evaluation."""
    rt = cfg.runtime
    with MemoryTracker(loaded.device) as memory:
        warm_up(loaded, batches, rt)
        interrupt.check()
        bars: dict[str, tqdm] = {}
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
    return memory.to_dict()


def shard(loaded: LoadedModel, samples: Sequence[Sample], dist: distributed.Dist) -> list[Sample]:
    """This rank's samples (manifest order kept): rank 0 balances the estimated prompt lengths over the ranks
    (distributed.assign) and tells every rank, so all agree whatever their view of the files."""
    if not dist.enabled:
        return list(samples)
    ranks = None
    if dist.is_main:
        prompts = prompts_of(samples)
        costs = [estimate_prompt_tokens(loaded.processor, s, prompts[s.id]) for s in samples]
        ranks = distributed.assign(costs, dist.world_size)
    ranks = dist.broadcast(ranks)
    return [s for s, r in zip(samples, ranks, strict=True) if r == dist.rank]


def _run_dir(cfg: EvalConfig, dist: distributed.Dist) -> Path:
    """Rank 0 creates the run directory and every rank gets its path; it must be where every rank can write."""
    run_dir = dist.broadcast(make_run_dir(Path(cfg.output_dir), cfg.run_name) if dist.is_main else None)
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
) -> RunResult:
    """Evaluate one setting and write its run directory (records, then reports).

    A setting this machine cannot run raises UnsupportedSettingError before any run directory exists, unless
    skipping is allowed (`allow_skip`, default `cfg.allow_skip`): then it is recorded as `skipped`. Between batches
    a pending SIGINT / SIGTERM (evalkit.interrupt) stops the run as `interrupted`, with reports for what finished.
    `resume` (evalkit.resume.prepare) continues an unfinished run in its own directory: the samples it already
    answered are kept, the others are answered. Under torchrun the samples are sharded over the ranks and rank 0
    merges their shards into one run directory (evalkit/scaleout.py).
    """
    dist = distributed.current()
    suites = resolve_suites(cfg.suites)  # validates every manifest and image before any model work
    samples = selected_samples(suites, cfg.limit)
    record = resume.record if resume is not None else _record(cfg, suites, config_dict or {})
    distributed.setup(dist, scaleout.coordination_device(cfg.runtime.device))
    try:
        if loaded is None:
            loaded = load(cfg)
    except UnsupportedSettingError as exc:
        if resume is not None or not (cfg.allow_skip if allow_skip is None else allow_skip):
            raise
        log.warning("skipping %s: %s", cfg.run_name, exc)
        run_dir = _run_dir(cfg, dist)
        if dist.is_main:
            write_skipped_run(run_dir, record, str(exc))
        dist.barrier()
        return RunResult(run_dir, read_record(run_dir / RUN_FILE))
    interrupt.check()  # stopped while loading: nothing was evaluated, no run directory is made
    # After the load: a failed load leaves no empty directory.
    run_dir = resume.run_dir if resume is not None else _run_dir(cfg, dist)
    rt = cfg.runtime
    _describe(record, loaded, rt, dist)
    done = list(resume.done) if resume is not None else []
    _begin_attempt(record, dist, resume, len(done))
    kept = {(p.suite, p.sample_id) for p in done}
    mine = shard(loaded, [s for s in samples if (s.suite, s.id) not in kept], dist)
    torch.manual_seed(rt.seed)
    batches = [b for suite in suites for b in plan(loaded, [s for s in mine if s.suite == suite.name], rt)]
    release_memory(loaded.device)  # what earlier settings of this process left must not count as this one's peak
    base = 1 + max((p.batch_id for p in done if p.batch_id is not None), default=-1)
    state = RunState(base=base, stride=dist.world_size, offset=dist.rank)
    order = {(s.suite, s.id): i for i, s in enumerate(samples)}
    new: list[Prediction] = []
    show = cfg.progress and dist.is_main

    def evaluate_into(writer) -> dict:
        """Answer this process's batches into `writer`; returns its own performance."""
        memory = _evaluate(cfg, loaded, batches, state, writer, new, show)
        return _performance(new, new, loaded, rt, state, memory)

    if dist.enabled:
        job = scaleout.ShardedJob(cfg, dist, run_dir, record, done, order, str(loaded.device))
        record = job.run(evaluate_into, lambda: new, lambda: state.figures, extra=_extra(rt),
                         roofline=lambda figures: _roofline(loaded, rt, figures))  # fmt: skip
        return RunResult(run_dir, record)
    with _reports_when_stopped(cfg, run_dir), RunWriter(run_dir, record, existing=done if resume else None) as writer:
        memory = _evaluate(cfg, loaded, batches, state, writer, new, show)
        performance = _performance(writer.predictions, new, loaded, rt, state, memory)
        record = writer.finish(performance, order=order)
    if cfg.reports:
        write_run_reports(run_dir)
    return RunResult(run_dir, record)


def selected_samples(suites: Sequence[Suite], limit: int | None) -> list[Sample]:
    return [s for suite in suites for s in (suite.samples[:limit] if limit else suite.samples)]


def batches(samples: Sequence[Sample], size: int) -> list[list[Sample]]:
    """Consecutive batches in manifest order (see `plan` for length bucketing)."""
    return plan_batches(samples, size)

"""Run one setting (model x dtype x attention x runtime) over suites: predictions, scores, timings, memory.

`load()`, `predict()` and `request_round()` are the pieces `pytest benchmarks/` reuses; `run()` is the whole job
behind `python -m evalkit`: validate suites, check the setting, load once, warm up, evaluate, write the run directory.
What is timed and how is in evalkit/measure.py; batching and the prefetching stage in evalkit/pipeline.py.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import torch
from tqdm import tqdm

from evalkit import metrics
from evalkit.errors import EvalkitError, UnsupportedSettingError
from evalkit.measure import LoopClock, MemoryTracker, median_request, release_memory
from evalkit.phi3v.attention import compile_unsupported_reason
from evalkit.phi3v.checkpoints import cached_tiny_checkpoint, make_checkpoint
from evalkit.phi3v.hub import ModelSource, resolve_model, weights_fingerprint
from evalkit.phi3v.loading import check_setting, load_model, resolve_device, resolve_dtype
from evalkit.phi3v.processing import Phi3VProcessor, build_prompt
from evalkit.pipeline import Prepared, decode_images, estimate_prompt_tokens, plan_batches
from evalkit.provenance import environment
from evalkit.records import (
    Prediction,
    RunRecord,
    RunWriter,
    make_run_dir,
    summarize_performance,
    utc_now,
    write_skipped_run,
)
from evalkit.request import LoadedModel, Request, prefetcher, prompts_of, request_round, timed_request
from evalkit.roofline import BatchFigures, model_shape, roofline
from evalkit.settings import EvalConfig, ModelConfig, RuntimeConfig
from evalkit.suites import Sample, Suite, resolve_suites

__all__ = ["LoadedModel", "RunResult", "check_images", "load", "plan", "predict", "request_round", "run"]
log = logging.getLogger(__name__)


@dataclass
class RunResult:
    run_dir: Path
    record: RunRecord

    @property
    def failed_samples(self) -> int:
        return self.record.n_errors


def model_source(model_cfg: ModelConfig, cache_dir: str | Path) -> ModelSource:
    """The checkpoint a model config names; random-weight checkpoints are made on first use."""
    if model_cfg.path:
        return resolve_model(model_cfg.path, model_cfg.revision)
    cache = Path(cache_dir).expanduser()
    if model_cfg.random == "tiny":
        return ModelSource(path=cached_tiny_checkpoint(cache, family=model_cfg.family, seed=model_cfg.seed))
    path = cache / f"{model_cfg.family}-full-seed{model_cfg.seed}"
    if not (path / "config.json").is_file():
        log.info("writing a full-size random checkpoint to %s (about 8.3 GB)", path)
        make_checkpoint(path, "full", family=model_cfg.family, seed=model_cfg.seed, overwrite=True)
    return ModelSource(path=path)


def _masked(runtime: RuntimeConfig) -> bool:
    # Left-padded batches carry an attention mask, and so does the static cache that runtime.compile uses.
    return runtime.batch_size > 1 or runtime.compile


def check_runtime(runtime: RuntimeConfig) -> torch.device:
    """Raise UnsupportedSettingError if this machine cannot run the setting; nothing is loaded."""
    device = resolve_device(runtime.device)
    check_setting(runtime.attn, resolve_dtype(runtime.dtype), device, masked=_masked(runtime))
    reason = compile_unsupported_reason(device) if runtime.compile else None
    if reason:
        raise UnsupportedSettingError(f"runtime.compile=true: {reason}")
    return device


def load(cfg: EvalConfig) -> LoadedModel:
    device = check_runtime(cfg.runtime)
    source = model_source(cfg.model, cfg.cache_dir)
    start = time.perf_counter()
    model = load_model(
        source.path, dtype=cfg.runtime.dtype, attn_implementation=cfg.runtime.attn, device=device, source=source,
        masked=_masked(cfg.runtime),
    )  # fmt: skip
    processor = Phi3VProcessor.from_pretrained(source.path, num_crops=cfg.runtime.num_crops)
    if device.type == "cuda":
        torch.cuda.synchronize(device)
    load_s = time.perf_counter() - start
    return LoadedModel(model, processor, source, device, load_s, weights_fingerprint(source.path))


def _labels(sample: Sample) -> dict:
    labels: dict = {}
    if sample.reference is not None:
        labels["reference"] = sample.reference
    if sample.fields:
        labels["fields"] = dict(sample.fields)
    if sample.keywords:
        labels["keywords"] = [list(group) for group in sample.keywords]
    if sample.forbidden:
        labels["forbidden"] = list(sample.forbidden)
    return labels


def _failed(sample: Sample, prompt: str, error: BaseException) -> Prediction:
    return Prediction(
        sample_id=sample.id, suite=sample.suite, task=sample.task, tags=dict(sample.tags),
        images=[str(p) for p in sample.images], prompt=prompt, answer=None, answer_token_ids=[], scores={},
        timings_ms={}, tokens={}, decode_tokens_per_s=None, error=f"{type(error).__name__}: {error}", labels=_labels(sample),
    )  # fmt: skip


@dataclass
class RunState:
    """What the evaluation loop accumulates: batch ids, the loop clock, per-batch figures for the roofline."""

    clock: LoopClock = field(default_factory=LoopClock)
    batches: int = 0
    compiled_requests: int = 0
    figures: list[BatchFigures] = field(default_factory=list)

    def new_batch_id(self) -> int:
        self.batches += 1
        return self.batches - 1


def _answer_ids(row: torch.Tensor, stop_ids: set[int]) -> list[int]:
    ids = []
    for token in row.tolist():
        if token in stop_ids:
            break
        ids.append(token)
    return ids


def _answer(loaded, samples, prompts, runtime, state: RunState, prepared: Prepared | None = None) -> dict:
    """Time `runtime.repeats` requests for a batch whose images decoded, then build (and score) its predictions
    outside the timing. A generation error fails the batch."""
    try:
        requests = [timed_request(loaded, samples, prompts, runtime, prepared) for _ in range(runtime.repeats)]
    except (RuntimeError, ValueError, EvalkitError) as exc:  # CUDA OOM is a RuntimeError
        if loaded.device.type == "cuda":
            torch.cuda.empty_cache()
        return {s.id: _failed(s, p, exc) for s, p in zip(samples, prompts, strict=True)}
    for request in requests:
        state.clock.add(request.timing)
        state.compiled_requests += request.timing.compiled
    return _predictions(loaded, samples, prompts, requests, state, prepared)


def _predictions(loaded, samples, prompts, requests: list[Request], state: RunState, prepared) -> dict:
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
        ids = _answer_ids(first.new_tokens[i], stop_ids)
        differ = any(_answer_ids(r.new_tokens[i], stop_ids) != ids for r in requests[1:])
        answer = loaded.processor.decode(ids)
        generated.append(len(ids))
        out[sample.id] = Prediction(
            sample_id=sample.id, suite=sample.suite, task=sample.task, tags=dict(sample.tags),
            images=[str(p) for p in sample.images], prompt=prompt, answer=answer, answer_token_ids=ids,
            scores=metrics.score_sample(sample, answer), timings_ms=dict(timings),
            tokens={"prompt": int(prompt_lengths[i]), "image": int(image_positions[i]), "generated": len(ids)},
            decode_tokens_per_s=rate, labels=_labels(sample), batch_id=batch_id, repeats_differ=differ,
        )  # fmt: skip
    if "image_sizes" in inputs:
        crops = int(sum(1 + (h // 336) * (w // 336) for h, w in inputs["image_sizes"].tolist()))
    else:
        crops = 0
    prompt_tokens = [int(n) for n in prompt_lengths]
    state.figures.append(BatchFigures(prompt_tokens, generated, crops, chosen.generation.prefill_ms, rate))
    return out


def check_images(samples: Sequence[Sample], prompts: dict[str, str]) -> tuple[list[Sample], dict[str, Prediction]]:
    """Decode every image once, untimed, so that a bad file fails its sample and not its batch."""
    ready, _, failures = decode_images(samples)
    return ready, {s.id: _failed(s, prompts[s.id], exc) for s, exc in failures}


def predict(
    loaded: LoadedModel, samples: Sequence[Sample], runtime: RuntimeConfig, state: RunState | None = None
) -> list[Prediction]:
    """Answer, score and time one batch (latency mode: the timed request decodes the image files again, because
    its latency is meant to start from them). Predictions come back in the order of `samples`."""
    state = state or RunState()
    prompts = {s.id: build_prompt(s.question, len(s.images)) for s in samples}
    ready, results = check_images(samples, prompts)
    if ready:
        results.update(_answer(loaded, ready, [prompts[s.id] for s in ready], runtime, state))
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
        if isinstance(prepared, (EvalkitError, ValueError, RuntimeError)):  # e.g. an image the processor cannot crop
            results = {s.id: _failed(s, prompts[s.id], prepared) for s in batch}
        elif isinstance(prepared, Exception):  # anything else is a bug: fail loudly, as latency mode would
            raise prepared
        else:
            results = {s.id: _failed(s, prompts[s.id], exc) for s, exc in prepared.failures}
            if prepared.samples:
                results.update(_answer(loaded, prepared.samples, prepared.prompts, runtime, state, prepared))
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
            ready, _ = check_images(batch, prompts)
            if not ready:
                continue
            try:
                timed_request(loaded, ready, [prompts[s.id] for s in ready], runtime)
            except (RuntimeError, ValueError, EvalkitError) as exc:
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


def _harness(runtime: RuntimeConfig, state: RunState, predictions: list[Prediction]) -> dict:
    ok = [p for p in predictions if not p.failed]
    wall = state.clock.wall_s
    return {
        "mode": runtime.mode, "wall_s": wall, "generate_s": state.clock.generate_s, "overhead": state.clock.overhead,
        "requests": state.clock.requests, "compiled_requests": state.compiled_requests,
        "samples_per_s": len(ok) / wall if wall > 0 else None,
        "generated_tokens_per_s": sum(p.tokens.get("generated", 0) for p in ok) / wall if wall > 0 else None,
    }  # fmt: skip


def _roofline(loaded: LoadedModel, runtime: RuntimeConfig, state: RunState) -> dict | None:
    if loaded.device.type != "cuda":
        return None
    tf32 = torch.get_float32_matmul_precision() != "highest" or torch.backends.cuda.matmul.allow_tf32
    name = torch.cuda.get_device_name(loaded.device)
    return roofline(model_shape(loaded.model), state.figures, name, runtime.dtype, tf32)


def run(cfg: EvalConfig, config_dict: dict | None = None, *, loaded: LoadedModel | None = None) -> RunResult:
    """Evaluate one setting and write its run directory (records, then reports)."""
    suites = resolve_suites(cfg.suites)  # validates every manifest and image before any model work
    samples = selected_samples(suites, cfg.limit)
    record = _record(cfg, suites, config_dict or {})
    run_dir = make_run_dir(Path(cfg.output_dir), cfg.run_name)
    try:
        if loaded is None:
            loaded = load(cfg)
    except UnsupportedSettingError as exc:
        log.warning("skipping %s: %s", cfg.run_name, exc)
        return RunResult(run_dir, write_skipped_run(run_dir, record, str(exc)))
    rt = cfg.runtime
    record.setting["device"] = str(loaded.device)
    record.setting["num_crops"] = loaded.processor.num_crops
    record.provenance.update(model=loaded.source.to_dict(), weights=loaded.weights)
    torch.manual_seed(rt.seed)
    batches = [b for suite in suites for b in plan(loaded, [s for s in samples if s.suite == suite.name], rt)]
    release_memory(loaded.device)  # what earlier settings of this process left must not count as this one's peak
    state = RunState()
    with RunWriter(run_dir, record) as writer:
        with MemoryTracker(loaded.device) as memory:
            warm_up(loaded, batches, rt)
            bars: dict[str, tqdm] = {}
            state.clock.start()
            for batch, predictions in evaluate(loaded, batches, rt, state):
                for prediction in predictions:
                    writer.add(prediction)
                suite = batch[0].suite
                if suite not in bars:
                    for bar in bars.values():
                        bar.close()
                    total = sum(1 for s in samples if s.suite == suite)
                    bars[suite] = tqdm(total=total, desc=suite, unit="sample", disable=not cfg.progress, leave=True)
                bars[suite].update(len(batch))
            state.clock.stop()
            for bar in bars.values():
                bar.close()
        extra = {"warmup": rt.warmup, "repeats": rt.repeats, "batch_size": rt.batch_size,
                 "harness": _harness(rt, state, writer.predictions)}  # fmt: skip
        rooftop = _roofline(loaded, rt, state)
        if rooftop is not None:
            extra["roofline"] = rooftop
        performance = summarize_performance(
            writer.predictions, load_s=loaded.load_s, memory_mb=memory.to_dict(), extra=extra
        )
        order = {(s.suite, s.id): i for i, s in enumerate(samples)}
        record = writer.finish(performance, order=order)
    if cfg.reports:
        from evalkit.reports import write_run_reports

        write_run_reports(run_dir)
    return RunResult(run_dir, record)


def selected_samples(suites: Sequence[Suite], limit: int | None) -> list[Sample]:
    return [s for suite in suites for s in (suite.samples[:limit] if limit else suite.samples)]


def batches(samples: Sequence[Sample], size: int) -> list[list[Sample]]:
    """Consecutive batches in manifest order (see `plan` for length bucketing)."""
    return plan_batches(samples, size)

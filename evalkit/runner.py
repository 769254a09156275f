"""Run one setting (model x dtype x attention x runtime) over suites: predictions, scores, timings, memory.

`load()` and `predict()` are the pieces `pytest benchmarks/` reuses; `run()` is the whole job behind
`python -m evalkit`: validate suites, check the setting, load once, warm up, evaluate, write the run directory.
"""

from __future__ import annotations

import contextlib
import logging
import statistics
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, replace
from pathlib import Path

import torch
from tqdm import tqdm
from transformers import LogitsProcessorList

from evalkit import interrupt, metrics
from evalkit.errors import EvalkitError, UnsupportedSettingError
from evalkit.measure import LatencyTracker, MemoryTracker, StepClock
from evalkit.phi3v.checkpoints import cached_checkpoint
from evalkit.phi3v.hub import ModelSource, resolve_model, weights_fingerprint
from evalkit.phi3v.images import load_image
from evalkit.phi3v.loading import check_setting, load_model, resolve_device, resolve_dtype
from evalkit.phi3v.modeling import Phi3VForCausalLM
from evalkit.phi3v.processing import Phi3VProcessor, build_prompt
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
from evalkit.settings import EvalConfig, ModelConfig, RuntimeConfig
from evalkit.suites import Sample, Suite, question_text, resolve_suites

log = logging.getLogger(__name__)


@dataclass
class LoadedModel:
    model: Phi3VForCausalLM
    processor: Phi3VProcessor
    source: ModelSource
    device: torch.device
    load_s: float
    weights: dict  # sha256 fingerprint of the weight files


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
    path = cached_checkpoint(cache_dir, model_cfg.random, family=model_cfg.family, seed=model_cfg.seed)
    return ModelSource(path=path)


def check_runtime(runtime: RuntimeConfig) -> torch.device:
    """Raise UnsupportedSettingError if this machine cannot run the setting; nothing is loaded."""
    device = resolve_device(runtime.device)
    check_setting(runtime.attn, resolve_dtype(runtime.dtype), device)
    return device


def load(cfg: EvalConfig) -> LoadedModel:
    device = check_runtime(cfg.runtime)
    source = model_source(cfg.model, cfg.cache_dir)
    start = time.perf_counter()
    model = load_model(
        source.path, dtype=cfg.runtime.dtype, attn_implementation=cfg.runtime.attn, device=device, source=source
    )
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


def budgets(loaded: LoadedModel, samples: Sequence[Sample], runtime: RuntimeConfig) -> dict[str, int]:
    """Each sample's max_new_tokens: runtime.max_new_tokens when set (one override for every sample), else the
    sample's own budget from its labels, counted with this model's tokenizer (metrics.token_budget)."""
    if runtime.max_new_tokens is not None:
        return {s.id: runtime.max_new_tokens for s in samples}
    tokenizer = loaded.processor.tokenizer

    def count(text: str) -> int:
        return len(tokenizer(text, add_special_tokens=False)["input_ids"])

    return {s.id: metrics.token_budget(s, count) for s in samples}


def _generate_once(loaded: LoadedModel, samples: Sequence[Sample], prompts: list[str], max_new_tokens: int):
    """Preprocess from the image files and generate: one timed request for the batch."""
    tracker = LatencyTracker(loaded.device)
    clock = StepClock(loaded.device)
    with tracker.track("end_to_end"):
        with tracker.track("preprocess"):
            images = [[load_image(path) for path in s.images] for s in samples]
            inputs = loaded.processor(prompts, images)
            inputs = {k: v.to(loaded.device) for k, v in inputs.items()}
        clock.start()
        with torch.inference_mode():
            output = loaded.model.generate(
                **inputs,
                max_new_tokens=max_new_tokens,
                do_sample=False,
                logits_processor=LogitsProcessorList([clock]),
            )
        timing = clock.stop()
        new_tokens = output[:, inputs["input_ids"].shape[1] :].cpu()
    return inputs, new_tokens, timing, tracker


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


def predict(loaded: LoadedModel, samples: Sequence[Sample], runtime: RuntimeConfig) -> list[Prediction]:
    """Answer, score and time one batch. One bad sample never fails another sample of its batch.

    Each sample is first checked alone, untimed (its images decoded, its prompt tokenized), and fails alone if that
    fails. If the batch's generation still fails, `_generate_isolating` finds the sample(s) that fail alone and
    generates the rest of the batch again without them. Every prediction records the batch it was generated in
    (`batch_size`, and `retry` when it is not the batch it was given), so its timings are that batch's timings.
    """
    prompts = {s.id: build_prompt(question_text(s), len(s.images)) for s in samples}
    limits = budgets(loaded, samples, runtime)
    ready, results = [], {}
    for s in samples:
        try:
            # Untimed: the timed request below decodes the images again, because its latency is meant to start
            # from the image files.
            loaded.processor.validate(prompts[s.id], s.images)
            ready.append(s)
        except EvalkitError as exc:
            results[s.id] = _failed(s, prompts[s.id], exc, limits[s.id])
    if ready:
        results.update(_generate_isolating(loaded, ready, prompts, runtime, limits))
    return [results[s.id] for s in samples]


def _release(loaded: LoadedModel) -> None:
    if loaded.device.type == "cuda":
        torch.cuda.empty_cache()


def _generate(
    loaded: LoadedModel, batch: list[Sample], prompts: dict, runtime: RuntimeConfig, limits: dict, retry=None
) -> dict:
    batch_prompts = [prompts[s.id] for s in batch]
    longest = max(limits[s.id] for s in batch)  # each answer is cut to its own budget afterwards
    runs = [_generate_once(loaded, batch, batch_prompts, longest) for _ in range(runtime.repeats)]
    return _predictions(loaded, batch, batch_prompts, runs, limits, retry)


def _generate_isolating(
    loaded: LoadedModel, batch: list[Sample], prompts: dict, runtime: RuntimeConfig, limits: dict
) -> dict:
    """Generate the batch; if that fails, generate each sample alone to find the one(s) that fail, then the rest of
    the batch together again (the batch size closest to the configured one). If only the whole batch fails (e.g.
    out of memory), the samples keep their answers from being generated alone."""
    try:
        return _generate(loaded, batch, prompts, runtime, limits)
    except _GENERATION_ERRORS as exc:
        _release(loaded)
        if len(batch) == 1:
            return {batch[0].id: _failed(batch[0], prompts[batch[0].id], exc, limits[batch[0].id])}
        cause = f"the batch of {len(batch)} failed ({type(exc).__name__}: {exc})"
        log.warning("%s; retrying its samples", cause)
    results, bad = {}, []
    for s in batch:
        try:
            results.update(_generate(loaded, [s], prompts, runtime, limits, retry=f"{cause}; generated alone"))
        except _GENERATION_ERRORS as exc:
            _release(loaded)
            results[s.id] = _failed(s, prompts[s.id], exc, limits[s.id])
            bad.append(s.id)
    rest = [s for s in batch if s.id not in bad]
    if bad and len(rest) > 1:
        note = f"{cause}; generated again without {', '.join(repr(b) for b in bad)}"
        try:
            results.update(_generate(loaded, rest, prompts, runtime, limits, retry=note))
        except _GENERATION_ERRORS:
            _release(loaded)  # the rest keep their answers from being generated alone
    return results


def _predictions(
    loaded: LoadedModel, samples, prompts, runs, limits: dict[str, int], retry: str | None = None
) -> dict[str, Prediction]:
    inputs, new_tokens, _, _ = runs[0]  # greedy: every repeat gives the same tokens, the first is kept
    stop_ids = set(loaded.processor.stop_token_ids) | {loaded.processor.pad_token_id}
    image_positions = loaded.model.image_positions(inputs["input_ids"]).sum(dim=1).tolist()
    prompt_lengths = inputs["attention_mask"].sum(dim=1).tolist()
    timings = {phase: statistics.median(run[3].last(phase) for run in runs) for phase in ("preprocess", "end_to_end")}
    timings["prefill"] = statistics.median(run[2].prefill_ms for run in runs)
    timings["decode"] = statistics.median(run[2].decode_ms for run in runs)
    rates = [r for r in (run[2].decode_tokens_per_s for run in runs) if r is not None]
    out = {}
    for i, (sample, prompt) in enumerate(zip(samples, prompts, strict=True)):
        ids, truncated = _answer_ids(new_tokens[i], stop_ids, limits[sample.id])
        answer = loaded.processor.decode(ids)
        out[sample.id] = Prediction(
            sample_id=sample.id, suite=sample.suite, task=sample.task, tags=_tags(sample),
            images=[str(p) for p in sample.images], prompt=prompt, answer=answer, answer_token_ids=ids,
            scores=metrics.score_sample(sample, answer), timings_ms=dict(timings),
            tokens={"prompt": int(prompt_lengths[i]), "image": int(image_positions[i]), "generated": len(ids)},
            decode_tokens_per_s=statistics.median(rates) if rates else None,  # per sequence
            labels=_labels(sample), max_new_tokens=limits[sample.id], truncated=truncated,
            batch_size=len(samples), retry=retry,
        )  # fmt: skip
    return out


def batches(samples: Sequence[Sample], size: int) -> Iterator[list[Sample]]:
    for start in range(0, len(samples), size):
        yield list(samples[start : start + size])


def selected_samples(suites: Sequence[Suite], limit: int | None) -> list[Sample]:
    return [s for suite in suites for s in (suite.samples[:limit] if limit else suite.samples)]


def warm_up(loaded: LoadedModel, samples: Sequence[Sample], runtime: RuntimeConfig) -> None:
    """Untimed generations so that kernels are compiled and caches allocated before anything is measured."""
    batch = list(samples[: runtime.batch_size])
    for _ in range(runtime.warmup):
        predict(loaded, batch, replace(runtime, repeats=1))


def _record(cfg: EvalConfig, suites: Sequence[Suite], config_dict: dict) -> RunRecord:
    rt = cfg.runtime
    setting = {
        "model": cfg.model.name, "revision": cfg.model.revision, "dtype": rt.dtype, "attn": rt.attn, "device": rt.device,
        "batch_size": rt.batch_size, "max_new_tokens": rt.max_new_tokens, "num_crops": rt.num_crops,
    }  # fmt: skip
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
            from evalkit.reports import write_run_reports

            try:
                write_run_reports(run_dir)
            except (EvalkitError, OSError) as report_exc:  # the stop must still be reported as a stop
                log.warning("%s: reports not written: %s", run_dir, report_exc)
        raise


def run(
    cfg: EvalConfig,
    config_dict: dict | None = None,
    *,
    loaded: LoadedModel | None = None,
    allow_skip: bool | None = None,
) -> RunResult:
    """Evaluate one setting and write its run directory (records, then reports).

    A setting this machine cannot run raises UnsupportedSettingError before any run directory exists, unless
    skipping is allowed (`allow_skip`, default `cfg.allow_skip`): then it is recorded as `skipped`. Between batches
    a pending SIGINT / SIGTERM (evalkit.interrupt) stops the run as `interrupted`, with reports for what finished.
    """
    suites = resolve_suites(cfg.suites)  # validates every manifest and image before any model work
    samples = selected_samples(suites, cfg.limit)
    record = _record(cfg, suites, config_dict or {})
    try:
        if loaded is None:
            loaded = load(cfg)
    except UnsupportedSettingError as exc:
        if not (cfg.allow_skip if allow_skip is None else allow_skip):
            raise
        log.warning("skipping %s: %s", cfg.run_name, exc)
        run_dir = make_run_dir(Path(cfg.output_dir), cfg.run_name)
        return RunResult(run_dir, write_skipped_run(run_dir, record, str(exc)))
    interrupt.check()  # stopped while loading: nothing was evaluated, no run directory is made
    run_dir = make_run_dir(Path(cfg.output_dir), cfg.run_name)  # after the load: a failed load leaves no empty dir
    record.setting["device"] = str(loaded.device)
    record.setting["num_crops"] = loaded.processor.num_crops
    record.provenance.update(model=loaded.source.to_dict(), weights=loaded.weights)
    record.provenance["decoding"] = {**loaded.model.decoding, "max_new_tokens": cfg.runtime.max_new_tokens}
    torch.manual_seed(cfg.runtime.seed)
    with (
        _reports_when_stopped(cfg, run_dir),
        RunWriter(run_dir, record) as writer,
        MemoryTracker(loaded.device) as memory,
    ):
        warm_up(loaded, samples, cfg.runtime)
        interrupt.check()
        for suite in suites:
            chosen = [s for s in samples if s.suite == suite.name]
            bar = tqdm(total=len(chosen), desc=suite.name, unit="sample", disable=not cfg.progress, leave=True)
            for batch in batches(chosen, cfg.runtime.batch_size):
                for prediction in predict(loaded, batch, cfg.runtime):
                    writer.add(prediction)
                bar.update(len(batch))
                interrupt.check()  # a signal during the batch: the batch is finished and written, then we stop
            bar.close()
        memory.read_cuda()
        performance = summarize_performance(
            writer.predictions, load_s=loaded.load_s, memory_mb=memory.to_dict(),
            extra={"warmup": cfg.runtime.warmup, "repeats": cfg.runtime.repeats},
        )  # fmt: skip
        record = writer.finish(performance)
    if cfg.reports:
        from evalkit.reports import write_run_reports

        write_run_reports(run_dir)
    return RunResult(run_dir, record)

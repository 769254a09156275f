"""One run sharded over the ranks of a torchrun job: each rank answers its shard into its own files, rank 0 merges.

The order of a sharded attempt (evalkit/run/distributed.py for the process group, evalkit/run/shard_files.py for the files):
1. rank 0 writes run.json (`running`) and samples.jsonl (the samples earlier attempts of a resumed run answered);
2. every rank answers its samples into shards/rank-<r>.jsonl and records shards/rank-<r>.json;
3. every rank tells rank 0 how it ended (complete, interrupted by a signal, failed) with its own performance;
4. rank 0 merges: samples.jsonl in manifest order, run.json with the merged status and performance, the reports;
5. the ranks leave together. A rank stopped by a signal or failed makes the whole run `interrupted` or `failed`
   (every rank raises accordingly, and rank 0's line and exit code say so); a rank that died leaves the others
   without an answer: rank 0 still merges what the shard files hold, as `failed`, and resume continues from there.
"""

from __future__ import annotations

import logging
import signal
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path

import torch

from evalkit.config.settings import EvalConfig
from evalkit.errors import EXIT_FAILED, EvalkitError, one_line
from evalkit.records import RUN_FILE, LoopFigures, Prediction, RunRecord, RunWriter, read_predictions, read_record
from evalkit.records import summarize_performance as summarize
from evalkit.run import interrupt
from evalkit.run.distributed import Dist, host
from evalkit.run.shard_files import (
    RankOutcome,
    merged_performance,
    merged_status,
    remove_shards,
    shard_dir,
    shard_files,
    shard_names,
)

log = logging.getLogger(__name__)


class RankFailed(EvalkitError):
    """Another rank of a torchrun run failed (or died); the run is recorded as failed. Exit code 1."""

    exit_code = EXIT_FAILED


def coordination_device(device: str) -> torch.device:
    """The kind of device a run will use, for the process group's backend (nothing is checked here)."""
    if device != "cpu" and torch.cuda.is_available():
        return torch.device("cuda")
    return torch.device("cpu")


class ShardedJob:
    """Steps 1-5 above for one rank."""

    def __init__(self, cfg: EvalConfig, dist: Dist, run_dir: Path, record: RunRecord, done, order: dict, device: str):
        self.cfg, self.dist, self.run_dir, self.record = cfg, dist, Path(run_dir), record
        self.done, self.order, self.device = list(done), order, device

    def run(
        self,
        evaluate_into: Callable[[RunWriter], dict],
        new: Callable[[], list[Prediction]],
        figures: Callable[[], list],
        *,
        extra: dict,
        roofline: Callable[[list], dict | None],
        loop: Callable[[], LoopFigures],
    ) -> RunRecord:
        dist = self.dist
        main = None
        if dist.is_main:
            main = RunWriter(self.run_dir, self.record, existing=self.done)
            remove_shards(self.run_dir)  # an earlier attempt's shard samples are in samples.jsonl now
        dist.barrier()
        outcome, pending = self._own_shard(evaluate_into, new, figures, loop)
        lost = None
        try:
            outcomes = dist.gather(outcome)
        except (RuntimeError, OSError) as exc:  # a rank died (killed, out of memory): merge what is on disk
            outcomes, lost = [outcome], f"lost contact with the other ranks ({type(exc).__name__}: {one_line(exc)})"
        record = self._merge(main, outcomes, extra, roofline, lost) if dist.is_main else None
        if lost is None:
            dist.barrier()  # the other ranks read run.json once rank 0 has written it
        if record is None:
            if lost is not None and pending is None:
                raise RankFailed(f"{lost}; rank 0 records what the shard files hold")
            record = read_record(self.run_dir / RUN_FILE)
        if pending is not None:
            if isinstance(pending, interrupt.Interrupted):
                pending.run_dir = self.run_dir
            raise pending
        if record.status == "interrupted":
            signum = next((o.signum for o in outcomes if o.signum), signal.SIGINT)
            stop = interrupt.Interrupted(signum)
            stop.run_dir = self.run_dir
            raise stop
        if record.status == "failed":
            raise RankFailed(f"{record.error}; {self.run_dir} is recorded as failed")
        return record

    def _own_shard(self, evaluate_into, new, figures, loop) -> tuple[RankOutcome, BaseException | None]:
        rank = self.dist.rank
        shard_record = replace(
            self.record, run_id=f"{self.run_dir.name}/rank-{rank}", attempts=[],
            setting={**self.record.setting, "device": self.device},
        )  # fmt: skip
        outcome = RankOutcome(rank=rank, host=host(), device=self.device, status="complete")
        pending: BaseException | None = None
        try:
            with RunWriter(shard_dir(self.run_dir), shard_record, **shard_names(rank)) as writer:
                outcome.performance = evaluate_into(writer)
                writer.finish(outcome.performance)
        except KeyboardInterrupt as exc:
            pending, outcome.status, outcome.error = exc, "interrupted", str(exc) or type(exc).__name__
            outcome.signum = getattr(exc, "signum", int(signal.SIGINT))
        except Exception as exc:  # recorded, reported to rank 0, and raised again once the run is merged
            pending, outcome.status, outcome.error = exc, "failed", f"{type(exc).__name__}: {one_line(exc)}"
        outcome.loop = loop()
        outcome.figures = list(figures())
        if not outcome.performance:  # stopped before its performance was summarized: what it measured
            outcome.performance = summarize(new(), load_s=None, memory_mb=None)
        return outcome, pending

    def _merge(self, main: RunWriter, outcomes: list[RankOutcome], extra: dict, roofline, lost: str | None):
        main.extend(p for path in shard_files(self.run_dir) for p in read_predictions(path))
        status, error = merged_status(outcomes)
        if lost is not None and status != "interrupted":
            status, error = "failed", lost
        perf_extra = dict(extra)
        rooftop = roofline([f for o in outcomes for f in o.figures])
        if rooftop is not None:
            perf_extra["roofline"] = rooftop
        performance = merged_performance(main.predictions, outcomes, perf_extra)
        record = main.finish(performance, status=status, error=error, order=self.order)
        remove_shards(self.run_dir)  # every shard's predictions are in samples.jsonl now
        if self.cfg.reports:
            from evalkit.reports import write_run_reports

            try:
                write_run_reports(self.run_dir)
            except (EvalkitError, OSError) as exc:
                if status == "complete":
                    raise
                log.warning("%s: reports not written: %s", self.run_dir, exc)
        return record

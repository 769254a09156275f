"""The shard files of a torchrun run and their merge into one run record (docs/records.md "Shards").

Under torchrun every rank writes its own files, as a single-process run writes samples.jsonl and run.json:

    <run dir>/shards/rank-<r>.jsonl   the rank's predictions, appended and fsync'ed as each sample finishes
    <run dir>/shards/rank-<r>.json    the rank's RunRecord: its status, and the performance of its samples

Rank 0 keeps run.json (status `running`) and samples.jsonl (what earlier attempts of a resumed run finished) and,
when every rank has finished or stopped, merges: samples.jsonl gets every prediction once, in manifest order, and
run.json the merged performance with each rank's figures. The shard files are then removed; they remain only while
a run is in progress or after it was killed, and `collect` (what resume reads) finds their samples there.
"""

from __future__ import annotations

import logging
import re
import shutil
import warnings
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from evalkit.records import (
    SAMPLES_FILE,
    LoopFigures,
    Prediction,
    RecordWarning,
    merged_decode,
    merged_energy,
    merged_memory,
    read_predictions,
    summarize_performance,
)

SHARDS_DIR = "shards"
_SHARD_FILE = re.compile(r"rank-(\d+)\.jsonl")
log = logging.getLogger(__name__)


def shard_dir(run_dir: Path) -> Path:
    return Path(run_dir) / SHARDS_DIR


def shard_names(rank: int) -> dict[str, str]:
    """RunWriter's file names (inside `shard_dir`) for one rank."""
    return {"run_file": f"rank-{rank}.json", "samples_file": f"rank-{rank}.jsonl"}


def shard_files(run_dir: Path) -> list[Path]:
    """The ranks' prediction files, in rank order."""
    found = [
        (int(m.group(1)), p) for p in shard_dir(run_dir).glob("rank-*.jsonl") if (m := _SHARD_FILE.fullmatch(p.name))
    ]
    return [p for _, p in sorted(found)]


def key(p: Prediction) -> tuple[str, str]:
    return (p.suite, p.sample_id)


def collect(run_dir: Path) -> list[Prediction]:
    """Every prediction a run directory holds (samples.jsonl, then each rank's shard file), each sample once: an
    answered prediction wins over a failed one, otherwise the first one read. A torn last line (a process killed while
    writing it) is skipped with a RecordWarning."""
    chosen: dict[tuple[str, str], Prediction] = {}
    for path in [Path(run_dir) / SAMPLES_FILE, *shard_files(run_dir)]:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always", RecordWarning)
            predictions = read_predictions(path)
        for warning in caught:
            log.warning("%s", warning.message)  # one line: which file, which line was dropped
        for p in predictions:
            old = chosen.get(key(p))
            if old is None or (old.failed and not p.failed):
                chosen[key(p)] = p
    return list(chosen.values())


def remove_shards(run_dir: Path) -> None:
    """After a merge: samples.jsonl holds every shard's predictions."""
    shutil.rmtree(shard_dir(run_dir), ignore_errors=True)


@dataclass
class RankOutcome:
    """What one rank reports to rank 0 at the end of an attempt (sent with all_gather_object)."""

    rank: int
    host: str
    device: str
    status: str  # complete | interrupted | failed
    error: str | None = None  # the signal's name, or "ExceptionType: message"
    signum: int | None = None  # interrupted: the signal
    performance: dict = field(default_factory=dict)  # the rank's own samples of this attempt (summarize_performance)
    loop: LoopFigures | None = None  # the rank's evaluation loop (performance.harness merges them)
    figures: list = field(default_factory=list)  # evalkit.run.roofline.BatchFigures of its batches (CUDA roofline)


def merged_status(outcomes: Sequence[RankOutcome]) -> tuple[str, str | None]:
    """failed if any rank failed, else interrupted if any was stopped, else complete; with the first rank's reason."""
    for status in ("failed", "interrupted"):
        hit = next((o for o in outcomes if o.status == status), None)
        if hit is not None:
            return status, hit.error if status == "interrupted" else f"rank {hit.rank}: {hit.error}"
    return "complete", None


def merged_performance(predictions: Sequence[Prediction], outcomes: Sequence[RankOutcome], extra: dict) -> dict:
    """`performance` of the merged run: latency and token statistics over every batch of every rank (batch ids are
    unique across ranks), the largest load time and per-process memory peak of any rank (each rank is its own
    process on its own device, so the largest is what one device must hold), the merged loop, decode counts and
    energy, and each rank's own figures under `ranks`."""
    loop = LoopFigures.merge([o.loop for o in outcomes if o.loop is not None])
    harness = loop.to_dict()
    merged = {
        "decode": merged_decode([o.performance.get("decode") for o in outcomes]),
        "energy": merged_energy([o.performance.get("energy") for o in outcomes], loop.generated_tokens, loop.answered),
    }
    ranks = [
        {"rank": o.rank, "host": o.host, "device": o.device, "status": o.status, **o.performance} for o in outcomes
    ]
    return summarize_performance(
        predictions,
        load_s=max(
            (o.performance["load_s"] for o in outcomes if o.performance.get("load_s") is not None), default=None
        ),
        memory_mb=merged_memory(o.performance.get("memory_mb") or {} for o in outcomes),
        extra={
            **extra,
            **{k: v for k, v in merged.items() if v is not None},
            "harness": harness,
            "world_size": len(outcomes),
            "ranks": ranks,
        },  # fmt: skip
    )

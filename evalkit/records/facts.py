"""Facts about a run that several readers need (reports, gates, history, compare): derived from the record alone,
decided here once, so that a report only renders them.

- `random_weights`: whether the run's model is known to have random weights (its quality scores are noise);
- `memory_key`: which memory figure judges a setting (what the memory gate compares and the reports show);
- `repeated_samples`: the samples a record holds more than once ("complete" means every selected sample once).
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

from evalkit.records.schema import Prediction, RunRecord

# The file `evalkit make-checkpoint` writes into every checkpoint it makes (evalkit.phi3v.checkpoints).
CHECKPOINT_MARKER = "evalkit-checkpoint.json"
# Model configs in conf/model/ that name generated checkpoints.
RANDOM_MODEL_NAMES = ("tiny", "phi3v-random")


def random_weights(record: RunRecord) -> str | None:
    """Why this run's model is known to have random weights, or None.

    The record knows it three ways: the model config asks for a generated checkpoint (`model.random`: the `tiny`
    and `phi3v-random` configs), the model name is one of those configs, or the checkpoint directory the run loaded
    carries the marker `evalkit make-checkpoint` writes (a checkpoint made by hand and passed as model.path)."""
    model_cfg = (record.config or {}).get("model") or {}
    name = record.setting.get("model")
    if isinstance(model_cfg, dict) and model_cfg.get("random"):
        return f"model `{name}` is a generated checkpoint (random: {model_cfg['random']})"
    if name in RANDOM_MODEL_NAMES:
        return f"model `{name}` is a generated checkpoint"
    path = ((record.provenance or {}).get("model") or {}).get("path")
    if path and (Path(path) / CHECKPOINT_MARKER).is_file():
        return f"{path} was written by `evalkit make-checkpoint`"
    return None


def memory_key(device: str, *memory: dict) -> str:
    """Which memory figure gates a setting: on CUDA peak allocated memory (reset per setting: what the model needs);
    on the CPU the growth of the process RSS during the evaluation (`rss_growth`), because the absolute peak RSS
    depends on what ran before in the same process (a pytest session, a sweep). Records written before
    `rss_growth` existed fall back to `peak_rss`."""
    if device.startswith("cuda"):
        return "peak_allocated"
    return "rss_growth" if all(m.get("rss_growth") is not None for m in memory) else "peak_rss"


def record_memory_key(record: RunRecord) -> str:
    """`memory_key` of one run, from its own device and memory figures."""
    return memory_key(str(record.setting.get("device") or "cpu"), record.performance.get("memory_mb") or {})


def repeated_samples(predictions: Iterable[Prediction]) -> list[tuple[str, str]]:
    """The (suite, sample_id) pairs recorded more than once, in the order of their first repeat."""
    seen: set[tuple[str, str]] = set()
    repeated: list[tuple[str, str]] = []
    for p in predictions:
        key = (p.suite, p.sample_id)
        if key in seen and key not in repeated:
            repeated.append(key)
        seen.add(key)
    return repeated

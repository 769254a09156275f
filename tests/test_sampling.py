"""`limit=N`: a seeded sample stratified by question type and difficulty, or the first N (`limit_mode=head`)."""

from __future__ import annotations

from collections import Counter

import pytest

from evalkit.config.settings import EvalConfig
from evalkit.data.sampling import select, stratum
from evalkit.data.suites import resolve_suites
from evalkit.errors import ConfigError
from evalkit.run.runner import selected_samples


@pytest.fixture(scope="module")
def ocr():
    (suite,) = resolve_suites(["ocr"])
    return suite


def test_head_keeps_the_first_n(ocr):
    assert select(ocr.samples, 20, "head") == list(ocr.samples[:20])


def test_stratified_covers_every_type_and_difficulty_in_proportion(ocr):
    # Before: limit=20 took the first 20 OCR rows: transcriptions only, one hard sample, no short answer.
    head = Counter(stratum(s) for s in ocr.samples[:20])
    assert {t for t, _ in head} == {"transcription"}
    chosen = select(ocr.samples, 20, "stratified", seed=0, key="ocr")
    groups, everything = Counter(stratum(s) for s in chosen), Counter(stratum(s) for s in ocr.samples)
    assert len(chosen) == 20 and set(groups) == set(everything)  # every group, the 1-sample one included
    for group, n in everything.items():
        assert abs(groups[group] - 20 * n / len(ocr.samples)) <= 1.5, (group, groups[group], n)
    order = {s.id: i for i, s in enumerate(ocr.samples)}
    assert [order[s.id] for s in chosen] == sorted(order[s.id] for s in chosen)  # manifest order kept


def test_stratified_is_seeded(ocr):
    ids = lambda seed: [s.id for s in select(ocr.samples, 10, seed=seed, key="ocr")]  # noqa: E731
    assert ids(0) == ids(0) and ids(0) != ids(1)
    assert select(ocr.samples, 100) == list(ocr.samples) and select(ocr.samples, None) == list(ocr.samples)


def test_the_config_names_the_mode_and_a_run_selects_by_it(ocr):
    with pytest.raises(ConfigError, match="limit_mode='first': expected stratified or head"):
        EvalConfig(limit=3, limit_mode="first")
    cfg = EvalConfig(limit=3)
    assert (cfg.limit_mode, cfg.limit_seed) == ("stratified", 0)  # recorded in run.json's config
    assert selected_samples([ocr], 3) == select(ocr.samples, 3, "stratified", 0, key="ocr")
    assert selected_samples([ocr], 3, "head") == list(ocr.samples[:3])


def test_a_run_recorded_before_limit_mode_resumes_with_the_first_n(tmp_path):
    from dataclasses import asdict
    from types import SimpleNamespace

    from evalkit.run.resume import recorded_config

    old = {k: v for k, v in asdict(EvalConfig(limit=3)).items() if k not in ("limit_mode", "limit_seed")}
    assert recorded_config(tmp_path, SimpleNamespace(config=old), {}).limit_mode == "head"
    new = asdict(EvalConfig(limit=3))
    assert recorded_config(tmp_path, SimpleNamespace(config=new), {}).limit_mode == "stratified"


def test_run_names_say_what_differs_from_the_defaults():
    # Before: a baseline and a run with other crops and budget were both `tiny-float32-sdpa`.
    from evalkit.config.settings import RuntimeConfig

    assert EvalConfig().run_name == "tiny-float32-sdpa"
    assert (
        EvalConfig(runtime=RuntimeConfig(num_crops=4, max_new_tokens=16)).run_name == "tiny-float32-sdpa-crops4-tok16"
    )
    assert EvalConfig(limit=20).run_name == "tiny-float32-sdpa-limit20"
    assert EvalConfig(limit=20, limit_mode="head").run_name == "tiny-float32-sdpa-limit20-head"
    quiet = EvalConfig(runtime=RuntimeConfig(warmup=0)).run_name
    assert quiet.startswith("tiny-float32-sdpa-h") and len(quiet.rsplit("-", 1)[1]) == 7  # others: a short hash
    assert quiet != EvalConfig(runtime=RuntimeConfig(repeats=3)).run_name
    assert EvalConfig(name="mine", limit=3).run_name == "mine"

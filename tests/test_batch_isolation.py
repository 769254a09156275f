"""One bad sample never fails another sample of its batch; predictions say which batch they were generated in."""

from __future__ import annotations

import dataclasses
import shutil

import pytest

from evalkit.config.settings import EvalConfig, ModelConfig, RuntimeConfig
from evalkit.data.suites import load_suite, resolve_suites
from evalkit.run import evaluation, runner

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def loaded(tmp_path_factory):
    cache = tmp_path_factory.mktemp("cache")
    cfg = EvalConfig(model=ModelConfig(), runtime=_runtime(), cache_dir=str(cache), progress=False)
    return runner.load(cfg)


def _runtime() -> RuntimeConfig:
    return RuntimeConfig(device="cpu", num_crops=1, max_new_tokens=4, warmup=0, batch_size=3)


@pytest.fixture(scope="module")
def ocr():
    return list(resolve_suites(["ocr"])[0].samples[:3])


def _predict(loaded, samples, runtime=None):
    runtime = runtime or _runtime()
    return runner.predict(loaded, runner.make_items(loaded.processor, samples, runtime), runtime)


def _answers(predictions):
    return {p.sample_id: p.answer_token_ids for p in predictions}


def test_special_tokens_in_a_question_fail_only_that_sample(loaded, ocr):
    """Samples built without the suite loader (e.g. by an adapter) are checked alone before batching."""
    bad = dataclasses.replace(ocr[1], question="What does <|image_1|> say?")
    predictions = _predict(loaded, [ocr[0], bad, ocr[2]])
    assert [p.sample_id for p in predictions] == [ocr[0].id, bad.id, ocr[2].id]
    assert predictions[1].error.startswith("InputError: ") and "<|image_1|>" in predictions[1].error
    assert predictions[1].batch_size is None and predictions[1].answer is None
    good = [predictions[0], predictions[2]]
    assert all(p.error is None and p.batch_size == 2 and p.retry is None for p in good)
    assert _answers(good) == _answers(_predict(loaded, [ocr[0], ocr[2]]))


def test_image_over_the_pixel_limit_at_run_time_fails_only_its_sample(loaded, ocr, tmp_path):
    from test_suite_validation import bomb_png

    suite_dir = tmp_path / "ocr"
    shutil.copytree(ocr[0].images[0].parents[1], suite_dir)
    samples = load_suite(suite_dir).samples[:3]  # validated while the files are intact
    bomb_png(samples[2].images[0], 20_000, 10_000)  # then replaced by a decompression bomb
    predictions = _predict(loaded, samples)
    assert (
        predictions[2].error.startswith("InputError: image file ") and "above evalkit's limit" in predictions[2].error
    )
    assert all(p.answer is not None and p.batch_size == 2 for p in predictions[:2])


def test_a_sample_failing_in_generation_is_found_and_the_rest_retried_together(loaded, ocr, monkeypatch):
    clean = _answers(_predict(loaded, [ocr[0], ocr[2]]))
    real = evaluation._generate_once
    batches = []

    def poisoned(loaded, items, max_new_tokens, **kwargs):
        batches.append([item.id for item in items])
        if ocr[1].id in batches[-1]:
            raise RuntimeError("device-side assert triggered")
        return real(loaded, items, max_new_tokens, **kwargs)

    monkeypatch.setattr(evaluation, "_generate_once", poisoned)
    predictions = _predict(loaded, ocr)
    # The batch, then each sample alone, then the rest of the batch without the culprit.
    assert batches == [[s.id for s in ocr], [ocr[0].id], [ocr[1].id], [ocr[2].id], [ocr[0].id, ocr[2].id]]
    assert predictions[1].error == "RuntimeError: device-side assert triggered"
    good = [predictions[0], predictions[2]]
    assert all(p.batch_size == 2 for p in good) and _answers(good) == clean
    for p in good:
        assert p.retry == (
            f"the batch of 3 failed (RuntimeError: device-side assert triggered); generated again without {ocr[1].id!r}"
        )


def test_a_batch_that_fails_only_as_a_whole_is_generated_sample_by_sample(loaded, ocr, monkeypatch):
    real = evaluation._generate_once

    def out_of_memory_above_one(loaded, items, max_new_tokens, **kwargs):
        if len(items) > 1:
            raise RuntimeError("CUDA out of memory")
        return real(loaded, items, max_new_tokens, **kwargs)

    monkeypatch.setattr(evaluation, "_generate_once", out_of_memory_above_one)
    predictions = _predict(loaded, ocr)
    assert all(p.answer is not None and p.batch_size == 1 for p in predictions)
    assert {p.retry for p in predictions} == {
        "the batch of 3 failed (RuntimeError: CUDA out of memory); generated alone"
    }

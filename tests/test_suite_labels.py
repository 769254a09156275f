"""Label sanity across the committed suites: perfect answers score perfectly, empty answers worst."""

from __future__ import annotations

import pytest

from evalkit.metrics import PRIMARY_METRIC, _words, forbidden_rate, keyword_recall, normalize_text, score_sample
from evalkit.suites import resolve_suites

SUITES = resolve_suites(["describe", "ocr", "compare"])
SAMPLES = [s for suite in SUITES for s in suite.samples]


def _perfect_answer(sample) -> str:
    if sample.task == "ocr":
        return sample.reference
    return "The image shows " + ", ".join(group[0] for group in sample.keywords) + "."


@pytest.mark.parametrize("sample", SAMPLES, ids=lambda s: f"{s.suite}/{s.id}")
def test_perfect_answer_scores_perfectly_and_empty_scores_worst(sample):
    perfect = score_sample(sample, _perfect_answer(sample))
    empty = score_sample(sample, "")
    primary = PRIMARY_METRIC[sample.task]
    if sample.task == "ocr":
        assert perfect["cer"] == perfect["wer"] == perfect["located_cer"] == 0.0
        assert empty["cer"] == empty["wer"] == empty["located_cer"] == 1.0
        if sample.fields:
            assert perfect["field_cer"] == 0.0 and empty["field_cer"] == 1.0
    else:
        assert perfect == {"keyword_recall": 1.0, "forbidden_rate": 0.0}
        assert empty == {"keyword_recall": 0.0, "forbidden_rate": 0.0}
        # every alternative counts on its own, not only the first
        for group in sample.keywords:
            for alt in group:
                assert keyword_recall(alt, [group]) == 1.0, alt
    assert perfect[primary] != empty[primary]


@pytest.mark.parametrize("sample", [s for s in SAMPLES if s.task != "ocr"], ids=lambda s: f"{s.suite}/{s.id}")
def test_forbidden_words_never_collide_with_keywords(sample):
    assert sample.forbidden, "every describe/compare sample names plausible hallucinations"
    for group in sample.keywords:
        for alt in group:
            assert forbidden_rate(alt, sample.forbidden) == 0.0, (alt, sample.forbidden)
    for word in sample.forbidden:
        assert _words(word), word  # a forbidden word that normalises to nothing could never be detected


def test_fields_appear_in_their_reference():
    for sample in (s for s in SAMPLES if s.fields):
        ref = normalize_text(sample.reference, case_sensitive=sample.case_sensitive)
        for name, text in sample.fields.items():
            assert normalize_text(text, case_sensitive=sample.case_sensitive) in ref, (sample.id, name)


def test_degraded_samples_share_their_clean_reference():
    ocr = {s.id: s for s in SAMPLES if s.task == "ocr"}
    degraded = [s for s in ocr.values() if s.tags["degradation"] != "none" and s.tags["source"] == "rendered"]
    assert len(degraded) >= 10
    for s in degraded:
        clean_id = s.id.rsplit("_" + s.tags["degradation"], 1)[0]
        assert ocr[clean_id].reference == s.reference and ocr[clean_id].fields == s.fields


def test_hand_checked_labels():
    by_id = {(s.suite, s.id): s for s in SAMPLES}
    cover = by_id[("ocr", "cover_alone")]
    assert cover.fields == {"title": "ALONE", "author": "Morgan Maxwell"} and cover.case_sensitive is False
    assert by_id[("ocr", "real_name_tag")].reference == "COMO HOPPER"
    assert by_id[("ocr", "real_page_heading")].reference == "Region-based segmentation"
    chelsea = by_id[("describe", "photo_chelsea")]
    assert ("cat" in chelsea.keywords[0]) and "dog" in chelsea.forbidden
    chart = by_id[("describe", "chart_dc_revenue")]
    assert score_sample(chart, "A bar chart of data center revenue by fiscal year; FY2024 is highest.") == {
        "keyword_recall": 1.0,
        "forbidden_rate": 0.0,
    }

"""Scoring: hand-computed CER/WER/located CER, keyword recall, forbidden rate, aggregates."""

from __future__ import annotations

import itertools
import math
import random
from pathlib import Path

import jiwer
import pytest

from evalkit.metrics import (
    METRICS,
    PRIMARY_METRIC,
    aggregate,
    cer,
    field_cers,
    forbidden_rate,
    keyword_recall,
    located_cer,
    normalize_text,
    score_sample,
    substring_edit_distance,
    wer,
)
from evalkit.suites import TASKS, Sample


def _ocr(reference: str, **kw) -> Sample:
    return Sample(id="s", suite="t", task="ocr", images=(Path("/x.png"),), question="Read.", reference=reference, **kw)


def _desc(keywords, forbidden=(), task="describe") -> Sample:
    groups = tuple(tuple(g) for g in keywords)
    return Sample(id="d", suite="t", task=task, images=(Path("/x.png"),), question="Describe.", keywords=groups,
                  forbidden=tuple(forbidden))  # fmt: skip


def test_normalize_text():
    assert normalize_text("  Hello \n\t World  ") == "Hello World"
    assert normalize_text("ﬁne Ｆｕｌｌ") == "fine Full"  # NFKC: ligature and full-width forms
    assert normalize_text("ALONE\nMorgan", case_sensitive=False) == "alone morgan"


@pytest.mark.parametrize(
    ("ref", "hyp"),
    [("hello world", "hello world"), ("hello world", "helo wrld"), ("abc", "xyz123"), ("The cat", "the  cat\n")],
)
def test_cer_and_wer_equal_jiwer_on_normalised_strings(ref, hyp):
    assert cer(ref, hyp) == pytest.approx(jiwer.cer(normalize_text(ref), normalize_text(hyp)))
    assert wer(ref, hyp) == pytest.approx(jiwer.wer(normalize_text(ref), normalize_text(hyp)))


def test_cer_hand_computed():
    assert cer("kitten", "sitting") == pytest.approx(3 / 6)
    assert cer("ALONE", "alone") == pytest.approx(1.0)
    assert cer("ALONE", "alone", case_sensitive=False) == 0.0
    assert cer("Line one\nline two", "Line one line two") == 0.0  # line breaks never count
    assert wer("a b c d", "a x c") == pytest.approx(2 / 4)
    # raw jiwer CER is not clipped: a long answer around a short reference exceeds 1
    assert cer("EXIT", "The sign in this image says EXIT") > 1.0
    assert cer("EXIT", "") == 1.0 and wer("EXIT now", "") == 1.0
    with pytest.raises(ValueError, match="reference is empty"):
        cer("   ", "x")


def _brute_substring_distance(pattern: str, text: str) -> int:
    best = len(pattern)
    for i, j in itertools.combinations_with_replacement(range(len(text) + 1), 2):
        best = min(best, _lev(pattern, text[i:j]))
    return best


def _lev(a: str, b: str) -> int:
    prev = list(range(len(b) + 1))
    for i, ca in enumerate(a, 1):
        cur = [i]
        for j, cb in enumerate(b, 1):
            cur.append(min(prev[j] + 1, cur[j - 1] + 1, prev[j - 1] + (ca != cb)))
        prev = cur
    return prev[-1]


def test_substring_edit_distance_matches_brute_force():
    rng = random.Random(0)
    for _ in range(150):
        p = "".join(rng.choice("abc") for _ in range(rng.randint(1, 6)))
        t = "".join(rng.choice("abcd") for _ in range(rng.randint(0, 9)))
        assert substring_edit_distance(p, t) == _brute_substring_distance(p, t), (p, t)
    assert substring_edit_distance("", "abc") == 0
    assert substring_edit_distance("abc", "") == 3


def test_located_cer_ignores_preamble_and_counts_real_errors():
    ref = "Invoice No. 000417"
    wrapped = f"Sure! The text in the image reads: {ref}. Let me know if you need anything else."
    assert located_cer(ref, wrapped) == 0.0
    assert cer(ref, wrapped) > 1.0
    one_wrong = located_cer(ref, "The text reads: Invoice No. 000411")
    two_missing = located_cer(ref, "The text reads: Invoice No 00417")
    assert one_wrong == pytest.approx(1 / len(ref))
    assert two_missing == pytest.approx(2 / len(ref))
    assert located_cer(ref, "Invoice No. 0004") == pytest.approx(2 / len(ref))  # truncated answer
    assert located_cer(ref, "") == 1.0
    assert located_cer(ref, "something unrelated entirely") <= 1.0
    assert located_cer("ALONE", "the title is Alone", case_sensitive=False) == 0.0
    assert located_cer("ALONE", "the title is Alone") == pytest.approx(4 / 5)
    # located never exceeds plain CER on the same strings
    for hyp in ("Invoice No. 000417", "Invoice 417", "xx Invoice No. 000417 yy"):
        assert located_cer(ref, hyp) <= cer(ref, hyp) + 1e-12


def test_located_cer_is_fast_for_long_texts():
    ref = "The committee met on Tuesday to review the annual budget. " * 6
    answer = "Here is the transcription: " + ref.replace("budget", "budgets") + " Hope this helps!" * 20
    assert located_cer(ref, answer) == pytest.approx(6 / len(normalize_text(ref)))


def test_keyword_recall_whole_words_phrases_plurals():
    groups = [["cat", "kitten", "feline"], ["orange", "ginger", "tabby"], ["stop sign"]]
    assert keyword_recall("A ginger CAT sits by a Stop-Sign.", groups) == 1.0
    assert keyword_recall("Two kittens on a mat", groups) == pytest.approx(1 / 3)  # plural tolerated
    assert keyword_recall("A category of catalogues; stop, then sign.", groups) == 0.0  # no substrings/gaps
    assert keyword_recall("", groups) == 0.0
    assert keyword_recall("Several galaxies and a sky full of stars", [["galaxy"], ["star"]]) == 1.0  # ies / s
    assert keyword_recall("three boxes", [["box"]]) == 1.0  # es
    assert keyword_recall("Revenue peaked in FY2024.", [["2024", "fy2024"]]) == 1.0
    assert keyword_recall("it costs $4.99", [["4.99"]]) == 1.0
    assert math.isnan(keyword_recall("anything", []))


def test_forbidden_rate():
    assert forbidden_rate("A cat on a sofa.", ["dog", "puppy"]) == 0.0
    assert forbidden_rate("A cat and two dogs.", ["dog", "puppy"]) == 0.5
    assert forbidden_rate("A woman in uniform.", ["man"]) == 0.0  # whole words only
    assert forbidden_rate("anything", []) == 0.0
    assert forbidden_rate("Dog! PUPPY!", ["dog", "puppy"]) == 1.0


def test_score_sample_ocr_and_fields():
    plain = _ocr("NO PARKING\nFIRE LANE")
    assert score_sample(plain, "NO PARKING FIRE LANE") == {"cer": 0.0, "wer": 0.0, "located_cer": 0.0}
    worst = score_sample(plain, "")
    assert worst == {"cer": 1.0, "wer": 1.0, "located_cer": 1.0}

    cover = _ocr("ALONE\nA NOVEL\nMorgan Maxwell", fields={"title": "ALONE", "author": "Morgan Maxwell"},
                 case_sensitive=False)  # fmt: skip
    answer = "The title of the book is Alone and the author is Morgan Maxwel."
    per_field = field_cers(cover, answer)
    assert per_field == {"title": 0.0, "author": pytest.approx(1 / 14)}
    scores = score_sample(cover, answer)
    assert scores["field_cer"] == pytest.approx((0 + 1 / 14) / 2)
    assert scores["located_cer"] == scores["field_cer"]
    assert set(scores) <= set(METRICS)
    assert score_sample(cover, "")["field_cer"] == 1.0


def test_score_sample_describe_compare_and_determinism():
    sample = _desc([["cat", "kitten"], ["orange", "ginger"]], ["dog"])
    answer = "An orange cat looks at a dog."
    first = score_sample(sample, answer)
    assert first == {"keyword_recall": 1.0, "forbidden_rate": 1.0}
    assert score_sample(sample, answer) == first
    cmp = _desc([["star"], ["added", "new"]], ["heart"], task="compare")
    assert score_sample(cmp, "The second image has a new yellow star.") == {
        "keyword_recall": 1.0,
        "forbidden_rate": 0.0,
    }


def test_metric_registry():
    assert set(PRIMARY_METRIC) == set(TASKS)
    assert PRIMARY_METRIC == {"ocr": "located_cer", "describe": "keyword_recall", "compare": "keyword_recall"}
    for name, info in METRICS.items():
        assert info.name == name and info.unit and info.description
    assert METRICS["keyword_recall"].higher_is_better and not METRICS["located_cer"].higher_is_better


def test_aggregate_ci_contains_mean_and_shrinks_with_more_samples():
    rng = random.Random(1)
    small = [{"located_cer": rng.random()} for _ in range(10)]
    large = [{"located_cer": rng.random()} for _ in range(400)]
    est_small, est_large = aggregate(small)["located_cer"], aggregate(large)["located_cer"]
    for est, scores in ((est_small, small), (est_large, large)):
        assert est.low <= est.mean <= est.high
        assert est.mean == pytest.approx(sum(s["located_cer"] for s in scores) / len(scores))
        assert est.n == len(scores)
    assert (est_large.high - est_large.low) < (est_small.high - est_small.low)
    assert aggregate(small) == aggregate(small)  # fixed seed: deterministic
    mixed = aggregate([{"cer": 0.5, "field_cer": 0.0}, {"cer": 0.1}])
    assert mixed["field_cer"].n == 1 and mixed["cer"].n == 2

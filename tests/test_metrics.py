"""Scoring: hand-computed CER/WER/located CER, ANLS, relaxed accuracy, yes/no and choice scores, aggregates."""

from __future__ import annotations

import itertools
import random
from pathlib import Path

import jiwer
import pytest

from evalkit.data.samples import token_budget
from evalkit.data.suites import TASKS, Relation, Sample
from evalkit.scoring.metrics import (
    METRICS,
    PRIMARY_METRIC,
    aggregate,
    anls,
    cer,
    contains_answer,
    exact_match,
    free_form_score,
    located_cer,
    normalize_text,
    relaxed_accuracy,
    score_sample,
    substring_edit_distance,
    vqa_accuracy,
    wer,
    yes_no_f1_estimate,
    yes_no_metrics,
)


def _sample(task="ocr", **kw) -> Sample:
    return Sample(id="s", suite="t", task=task, images=(Path("/x.png"),), question="Q?", **kw)


def _ocr(reference: str, **kw) -> Sample:
    return _sample(reference=reference, **kw)


def _desc(keywords, forbidden=(), task="describe") -> Sample:
    groups = tuple(g if isinstance(g, Relation) else tuple(g) for g in keywords)
    return _sample(task, keywords=groups, forbidden=tuple(forbidden))


def test_normalize_text():
    assert normalize_text("  Hello \n\t World  ") == "Hello World"
    assert normalize_text("ﬁne Ｆｕｌｌ") == "fine Full"  # NFKC: ligature and full-width forms
    assert normalize_text("ALONE\nMorgan", case_sensitive=False) == "alone morgan"
    assert normalize_text("Cartographer\u2019s \u201cmap\u201d \u2014 x\u2026") == 'Cartographer\'s "map" - x...'


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
    assert located_cer("EXIT", "Exit", case_sensitive=False) == 0.0
    assert located_cer("The Cartographer's Daughter", "The Cartographer\u2019s Daughter") == 0.0
    # located never exceeds plain CER on the same strings
    for hyp in ("Invoice No. 000417", "Invoice 417", "xx Invoice No. 000417 yy"):
        assert located_cer(ref, hyp) <= cer(ref, hyp) + 1e-12


def test_located_cer_is_fast_for_long_texts():
    ref = "The committee met on Tuesday to review the annual budget. " * 6
    answer = "Here is the transcription: " + ref.replace("budget", "budgets") + " Hope this helps!" * 20
    assert located_cer(ref, answer) == pytest.approx(6 / len(normalize_text(ref)))


TABLE = "Quarterly Sales (units)\nRegion Q1 Q2\nNorth 120 135\nSouth 98 102"


def test_markdown_and_preambles_cost_nothing_in_transcriptions():
    md = "**Quarterly Sales (units)**\n\n| Region | Q1 | Q2 |\n|---|---|---|\n| North | 120 | 135 |\n| South | 98 | 102 |"
    assert located_cer(TABLE, md) == 0.0
    scores = score_sample(_ocr(TABLE), "Here is the text in the image:\n" + md)
    assert scores == {"located_cer": 0.0, "located_cer_cs": 0.0, "cer": 0.0, "wer": 0.0}
    bullets = "- **NO PARKING**\n- *FIRE LANE*"
    assert score_sample(_ocr("NO PARKING\nFIRE LANE"), bullets)["located_cer"] == 0.0
    # cer / wer keep everything except one preamble line: the exact text and nothing else
    chatty = score_sample(_ocr("EXIT"), "The sign says EXIT and points to the right.")
    assert chatty["located_cer"] == 0.0 and chatty["cer"] > 1.0


def test_case_rule():
    assert score_sample(_ocr("EXIT"), "Exit")["located_cer"] == 0.0  # default: case-insensitive
    assert score_sample(_ocr("EXIT"), "Exit")["located_cer_cs"] == pytest.approx(0.75)
    code = _ocr("def mean(values):", case_sensitive=True)
    assert score_sample(code, "Def Mean(values):")["located_cer"] == pytest.approx(2 / 17)


def test_exact_match_anls_relaxed_accuracy():
    assert exact_match("The West.", ["West"]) == 1.0 and exact_match("five", ["5"]) == 1.0
    assert exact_match("", ["x"]) == 0.0 and exact_match("East", ["West"]) == 0.0
    # ANLS: 1 - edit distance / longer length, 0 below a similarity of 0.5 (0.5 itself is kept)
    assert anls("ALONE", ["Alone"]) == 1.0
    assert anls("ALONF", ["ALONE"]) == pytest.approx(0.8)
    assert anls("A Novel by Morgan Maxwell", ["ALONE"]) == 0.0
    assert anls("Jane Doe", ["Jane A. Doe", "J. Doe"]) == pytest.approx(1 - 3 / 11)
    assert anls("", ["ALONE"]) == 0.0
    # relaxed accuracy: within 5% of a number, exact otherwise
    assert relaxed_accuracy("168", ["170"]) == 1.0 and relaxed_accuracy("161", ["170"]) == 0.0
    assert relaxed_accuracy("$14.7B", ["14.7"]) == 1.0 and relaxed_accuracy("25%", ["25"]) == 1.0
    assert relaxed_accuracy("25%", ["0.25"]) == 1.0 and relaxed_accuracy(".35", ["0.35"]) == 1.0
    assert relaxed_accuracy("0", ["0"]) == 1.0 and relaxed_accuracy("0.01", ["0"]) == 0.0
    assert relaxed_accuracy("Rust", ["rust"]) == 1.0 and relaxed_accuracy(None, ["3"]) == 0.0


def test_vqa_accuracy_over_human_answers():
    # The VQA metric: for each of the 10 humans left out, min(1, others who gave the answer / 3), averaged.
    ten = ["stop"] * 7 + ["stop sign"] * 3
    assert vqa_accuracy("stop", ten) == 1.0
    assert vqa_accuracy("stop sign", ten) == pytest.approx((7 * 1 + 3 * 2 / 3) / 10)  # 0.9
    assert vqa_accuracy("go", ["stop"] * 9 + ["go"]) == pytest.approx(0.0 * 1 / 10 + 9 * (1 / 3) / 10)  # 0.3
    assert vqa_accuracy("yield", ten) == 0.0 and vqa_accuracy("", ten) == 0.0
    # Normalised as the VQA evaluation does: case, punctuation, articles, number words, contractions.
    assert vqa_accuracy("Two.", ["2"] * 10) == 1.0 and vqa_accuracy("the STOP-sign", ["stop sign"] * 10) == 1.0
    assert vqa_accuracy("dont", ["don't"] * 10) == 1.0 and vqa_accuracy("1,000", ["1000"] * 10) == 1.0
    assert vqa_accuracy("3.5", ["35"] * 10) == 0.0  # a decimal point stays
    assert vqa_accuracy("red", ["red"]) == 1.0  # one reference answer: its exact match
    sample = _sample("vqa", type="short_answer", answers=tuple(ten), match="vqa")
    # a standard benchmark: `score` is the published scorer on the raw answer, the extracted number beside it
    assert score_sample(sample, "The answer is stop sign.") == {
        "exact_match": 1.0, "vqa_accuracy": 0.0, "vqa_accuracy_extracted": pytest.approx(0.9), "unparsed": 0.0,
        "score": 0.0}  # fmt: skip
    assert score_sample(sample, "stop sign")["score"] == pytest.approx(0.9)


def test_contains_answer_is_ocrbench_rule():
    assert contains_answer("The sign says EXIT.", ["exit"]) == 1.0  # lower-cased, anywhere in the reply
    assert contains_answer("It reads\nGREEN\nLEAF", ["green leaf"]) == 1.0  # newlines are spaces
    assert contains_answer("Exit", ["EXIT", "Way out"]) == 1.0 and contains_answer("Ext", ["EXIT"]) == 0.0
    assert contains_answer("x + 1 = y", ["x+1=y"], formula=True) == 1.0  # handwritten maths: spaces removed
    assert contains_answer("X+1=y", ["x+1=y"], formula=True) == 0.0  # ... and case kept
    assert contains_answer("anything", [""]) == 0.0 and contains_answer("", ["a"]) == 0.0  # nothing is free
    sample = _sample("vqa", type="short_answer", answers=("EXIT",), match="contains")
    assert score_sample(sample, "It could be EXIT or ENTRY") == {"exact_match": 0.0, "contains_answer": 1.0,
                                                                 "unparsed": 0.0, "score": 1.0}  # fmt: skip


def test_short_answers_are_scored_on_the_extracted_value():
    title = _ocr(None, type="short_answer", answers=("ALONE",), match="anls")
    right = score_sample(title, "The title is 'Alone'.")
    wrong = score_sample(title, "The book is 'A Novel' by Morgan Maxwell, about being alone")
    assert right == {"exact_match": 1.0, "unparsed": 0.0, "anls": 0.0, "anls_extracted": 1.0, "located_cer": 0.0,
                     "located_cer_cs": 0.8}  # fmt: skip
    assert wrong["anls_extracted"] == 0.0 and wrong["located_cer"] == 1.0 and wrong["exact_match"] == 0.0
    value = _sample("describe", type="short_answer", answers=("170",), match="number")
    # evalkit's own suite: `score` is the extracted number; the published rule (float() of the raw answer) beside it
    assert score_sample(value, "About 168 units.") == {"exact_match": 0.0, "relaxed_accuracy": 0.0,
                                                       "relaxed_accuracy_extracted": 1.0, "unparsed": 0.0,
                                                       "score": 1.0}  # fmt: skip
    assert score_sample(value, "between 160 and 170")["unparsed"] == 1.0
    clock = _sample("describe", type="short_answer", answers=("3:00",), match="time")
    assert score_sample(clock, "15:00")["score"] == 1.0 and score_sample(clock, "3:45")["score"] == 0.0
    word = _sample("describe", type="short_answer", answers=("West",))
    assert score_sample(word, "West.") == {"exact_match": 1.0, "unparsed": 0.0, "score": 1.0}
    assert score_sample(word, "")["unparsed"] == 1.0


def test_choice_and_yes_no_scores():
    mc = _sample("describe", type="multiple_choice", choices=("dog", "cat"), answers=("B",))
    assert score_sample(mc, "B. cat") == {"accuracy": 1.0, "unparsed": 0.0, "score": 1.0}
    assert score_sample(mc, "A") == {"accuracy": 0.0, "unparsed": 0.0, "score": 0.0}
    assert score_sample(mc, "a cat or a dog") == {"accuracy": 0.0, "unparsed": 1.0, "score": 0.0}
    yn = _sample("describe", type="yes_no", answers=("no",))
    assert score_sample(yn, "No, there is no dog.") == {"accuracy": 1.0, "unparsed": 0.0, "score": 1.0,
                                                        "yes_ratio": 0.0}  # fmt: skip
    assert score_sample(yn, "Yes.")["yes_ratio"] == 1.0
    assert score_sample(yn, "Maybe.") == {"accuracy": 0.0, "unparsed": 1.0, "score": 0.0}  # no yes_ratio


def test_yes_no_metrics_hand_computed():
    golds = [True, True, True, False, False, False]
    said = [True, True, None, True, False, False]  # tp 2, fn 1 (unparsed), fp 1, tn 2
    m = yes_no_metrics(golds, said)
    assert m["accuracy"] == pytest.approx(4 / 6) and m["unparsed"] == pytest.approx(1 / 6)
    assert m["precision"] == pytest.approx(2 / 3) and m["recall"] == pytest.approx(2 / 3)
    assert m["f1"] == pytest.approx(2 / 3) and m["yes_ratio"] == pytest.approx(3 / 5)
    est = yes_no_f1_estimate(golds, said)
    assert est.mean == pytest.approx(2 / 3) and est.low <= est.mean <= est.high and est.n == 6
    assert yes_no_f1_estimate(golds, said) == est  # fixed seed
    always_yes = yes_no_metrics(golds, [True] * 6)
    assert always_yes["accuracy"] == 0.5 and always_yes["yes_ratio"] == 1.0 and always_yes["f1"] == pytest.approx(2 / 3)


def test_score_sample_free_form_and_determinism():
    sample = _desc([["cat", "kitten"], ["orange", "ginger"]], ["dog"])
    answer = "An orange cat looks at a dog."
    first = score_sample(sample, answer)
    assert first == {"keyword_recall": 1.0, "forbidden_rate": 1.0, "score": pytest.approx(2 / 3)}  # 2 right, 1 false
    assert score_sample(sample, answer) == first
    assert score_sample(sample, "An orange cat; there is no dog.") == {"keyword_recall": 1.0, "forbidden_rate": 0.0,
                                                                       "score": 1.0}  # fmt: skip
    added = Relation((("object", ("star",)), ("change", ("added", "new"))))
    cmp = _desc([added], ["heart", "removed"], task="compare")
    assert score_sample(cmp, "The second image has a new yellow star.")["score"] == 1.0
    assert score_sample(cmp, "A yellow star was removed.")["score"] == 0.0
    # listing every possibility: one right, four wrong -> recall 1 x precision 1/5
    hedge = _desc([["darker"]], ["brighter", "blurred", "mirrored", "cropped"], task="compare")
    assert score_sample(hedge, "It is darker, brighter, blurred, mirrored or cropped.")["score"] == pytest.approx(0.2)
    assert free_form_score(0, 0, 3) == 0.0 and free_form_score(3, 0, 3) == 1.0 and free_form_score(2, 2, 4) == 0.25


def test_token_budget():
    words = lambda text: len(text.split())  # noqa: E731 (a stand-in tokenizer)
    assert token_budget(_ocr("one two three four five six seven eight nine ten"), words) == 13 + 16
    assert token_budget(_sample("describe", type="yes_no", answers=("yes",)), words) == 2 + 16
    short = _sample("describe", type="short_answer", answers=("5", "five red circles"))
    assert token_budget(short, words) == 4 + 16  # the longest accepted answer
    assert token_budget(_desc([["cat"], ["orange"]]), words) == 64  # free-form floor


def test_metric_registry():
    assert set(PRIMARY_METRIC) == set(TASKS)
    assert PRIMARY_METRIC == {"ocr": "located_cer", "describe": "score", "compare": "score", "vqa": "score"}
    for name, info in METRICS.items():
        assert info.name == name and info.unit and info.description
    higher = {"score", "exact_match", "anls", "relaxed_accuracy", "accuracy", "yes_no_f1", "keyword_recall",
              "vqa_accuracy", "contains_answer", "anls_extracted", "relaxed_accuracy_extracted",
              "vqa_accuracy_extracted", "pope_accuracy", "pope_f1", "mmbench_accuracy", "circular_accuracy",
              "circular_accuracy_extracted"}  # fmt: skip
    lower = {"located_cer", "located_cer_cs", "cer", "wer", "unparsed", "forbidden_rate"}
    assert {n for n, i in METRICS.items() if i.higher_is_better is True} == higher
    assert {n for n, i in METRICS.items() if i.higher_is_better is False} == lower
    assert METRICS["yes_ratio"].higher_is_better is None  # its ideal is the labels' share of yes
    assert METRICS["pope_yes_ratio"].higher_is_better is None
    assert {i.interval for i in METRICS.values()} == {"proportion", "bounded", "mean"}


def test_every_score_is_a_registered_metric():
    samples = [
        _ocr("x"), _ocr(None, type="short_answer", answers=("x",), match="anls"),
        _sample("describe", type="short_answer", answers=("3",), match="number"),
        _sample("describe", type="multiple_choice", choices=("a", "b"), answers=("A",)),
        _sample("describe", type="yes_no", answers=("yes",)), _desc([["x"]], ["y"]),
        _sample("vqa", type="short_answer", answers=("x", "y"), match="vqa"),
        _sample("vqa", type="short_answer", answers=("x",), match="contains"),
        _sample("vqa", type="short_answer", answers=("x",), match="contains_formula"),
        _sample("vqa", type="short_answer", answers=("x",), match="anls"),
        _sample("vqa", type="short_answer", answers=("3",), match="number"),
        _sample("vqa", type="yes_no", answers=("yes",), match="pope"),
        _sample("vqa", type="multiple_choice", choices=("a", "b"), answers=("A",), match="mmbench"),
    ]  # fmt: skip
    for sample in samples:
        for answer in ("", "x", "Yes. A. 3"):
            assert set(score_sample(sample, answer)) <= set(METRICS), sample.type


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

"""The published scorers, each rule pinned with cases written from its reference's definition (docs/scoring.md
names the reference of each), MMBench's CircularEval over rotated copies, and intervals that mean what they say."""

from __future__ import annotations

from pathlib import Path

import pytest

from evalkit.data.benchmark_schemas import SCHEMAS, circular_group, row_fields
from evalkit.data.samples import Sample
from evalkit.records import Prediction, summarize
from evalkit.scoring.metrics import circular_outcomes, estimates, primary_metric_for, score_sample, yes_no_f1_estimate
from evalkit.scoring.published import (
    anls_published,
    mmbench_choice,
    pope_says_yes,
    relaxed_accuracy_published,
    vqa_accuracy_published,
)
from evalkit.scoring.statistics import bounded_mean_ci, proportion_ci, wilson_ci

# ------------------------------------------------------------------------------------------------ VQA


def test_vqa_official_evaluation():
    ten = ["stop"] * 8 + ["stop sign"] * 2
    # 10 choose 9: "stop sign" matches 2 of the 9 others for the 8 "stop" humans, 1 for the 2 "stop sign" humans
    assert vqa_accuracy_published("stop sign", ten) == pytest.approx((8 * 2 / 3 + 2 * 1 / 3) / 10)
    assert vqa_accuracy_published("stop", ten) == 1.0
    # the answer gets punctuation, lower case, number words, articles: "The STOP." -> "stop"
    assert vqa_accuracy_published("The STOP.", ten) == 1.0
    assert vqa_accuracy_published("Two", ["2"] * 10) == 1.0
    # the human answers are normalised only when they disagree, and then punctuation only
    assert vqa_accuracy_published("Two", ["Two"] * 10) == 0.0  # unanimous: compared as written, the answer is "2"
    assert vqa_accuracy_published("two", ["two"] * 5 + ["2"] * 5) == pytest.approx(1.0)  # "2" agrees 5 times
    assert vqa_accuracy_published("the sign", ["the sign"] * 9 + ["x"]) == 0.0  # gold keeps its article
    # the raw answer: a sentence is not the answer
    assert vqa_accuracy_published("The answer is stop", ten) == 0.0
    assert vqa_accuracy_published("1,000", ["1000"] * 4 + ["x"]) == 1.0  # digit-comma-digit: the comma deleted


# ------------------------------------------------------------------------------------------------ ANLS


def test_anls_as_lmms_eval_and_vlmevalkit_compute_it():
    assert anls_published("ALONE", ["alone"]) == 1.0  # case and surrounding spaces do not count
    assert anls_published("  ALONF ", ["ALONE"]) == pytest.approx(1 - 1 / 8)  # raw length divides: 8
    assert anls_published("ab", ["abcd"]) == 0.5  # similarity exactly 0.5 is kept
    assert anls_published("a", ["abcd"]) == 0.0  # 0.25 < 0.5: nothing
    assert anls_published("Jane Doe", ["J. Doe", "Jane A. Doe"]) == pytest.approx(1 - 3 / 11)  # the best gold
    assert anls_published("The title is Alone", ["Alone"]) == 0.0  # raw answer: the sentence costs


# ------------------------------------------------------------------------------------------------ ChartQA


def test_chartqa_relaxed_accuracy_rule():
    assert relaxed_accuracy_published("168", ["170"]) == 1.0 and relaxed_accuracy_published("161", ["170"]) == 0.0
    assert relaxed_accuracy_published("35%", ["0.35"]) == 1.0 and relaxed_accuracy_published("35%", ["35"]) == 0.0
    assert relaxed_accuracy_published(".35", ["0.35"]) == 1.0 and relaxed_accuracy_published(" 12\n", ["12"]) == 1.0
    assert relaxed_accuracy_published("0", ["0"]) == 1.0  # a gold of 0 compares as text
    assert relaxed_accuracy_published("0.0", ["0"]) == 0.0
    assert relaxed_accuracy_published("1,000", ["1000"]) == 0.0 and relaxed_accuracy_published("$5", ["5"]) == 0.0
    assert relaxed_accuracy_published("YES", ["Yes"]) == 1.0 and relaxed_accuracy_published("nan", ["nan"]) == 0.0
    assert relaxed_accuracy_published("7", ["3", "7"]) == 1.0  # the best gold (VLMEvalKit)


# ------------------------------------------------------------------------------------------------ POPE


def test_pope_official_rule():
    assert pope_says_yes("Yes, there is a dog.") and not pope_says_yes("No, there is not.")
    assert not pope_says_yes("There is not a dog in the image")  # "not" is no
    assert pope_says_yes("There is a dog.")  # neither word: yes
    assert pope_says_yes("I cannot tell")  # neither word: yes (evalkit's own reading: unparsed)
    assert pope_says_yes("There is a dog. No other animals.")  # only the first sentence counts
    assert not pope_says_yes("no")
    assert pope_says_yes("NO")  # only "No", "no" and "not" as written
    pope = Sample(id="p", suite="pope", task="vqa", images=(Path("/x.png"),), question="Is there a dog?",
                  type="yes_no", answers=("no",), match="pope")  # fmt: skip
    scores = score_sample(pope, "I cannot tell.")
    assert scores == {"accuracy": 0.0, "unparsed": 1.0, "score": 0.0, "pope_accuracy": 0.0, "pope_yes_ratio": 1.0}
    assert score_sample(pope, "There is not one.")["score"] == 1.0  # published: "not" is no


# ------------------------------------------------------------------------------------------------ MMBench


def test_mmbench_matching_as_vlmevalkit_exact_matching():
    options = {"A": "cat", "B": "dog", "C": "cow"}
    assert mmbench_choice("B", options) == "B" and mmbench_choice("(B) dog", options) == "B"
    assert mmbench_choice("The answer is C.", options) == "C"
    assert mmbench_choice("A or B", options) is None  # two letters and two texts
    assert mmbench_choice("It is a dog", options) == "B"  # no lone letter ("a" is lower case): the option text
    assert mmbench_choice("Cannot determine the answer", options) is None  # a refusal
    assert mmbench_choice("Z", options) is None
    assert mmbench_choice("D", options) is None  # not an option here


def _mmbench_rows(answers: dict[str, str], replies: dict[str, str]) -> list[Prediction]:
    """Two questions, each with its options rotated (VLMEvalKit: index + k * 1e6)."""
    schema = SCHEMAS["mcq"]
    rows = {
        "1": ("cat", "dog", "cow", "A"), "1000001": ("dog", "cow", "cat", "C"), "2000001": ("cow", "cat", "dog", "B"),
        "2": ("red", "blue", "B"), "1000002": ("blue", "red", "A"),
    }  # fmt: skip
    preds = []
    for index, (*options, answer) in rows.items():
        row = {"index": index, "question": "Which?", "answer": answer, "L2-category": "attr", "hint": "nan"}
        row.update(dict(zip("ABCD", options, strict=False)))
        f = row_fields(schema, row, [*row, "image"])
        sample = Sample(id=index, suite="mmb", task="vqa", images=(Path("/x.png"),), question=f.question,
                        type=f.type, answers=f.answers, choices=f.choices, match=f.match, tags=f.tags, group=f.group)  # fmt: skip
        reply = replies.get(index, answers.get(index, ""))
        preds.append(Prediction(sample_id=index, suite="mmb", task="vqa", tags=f.tags, images=[], prompt="",
                                answer=reply, answer_token_ids=[], scores=score_sample(sample, reply), timings_ms={},
                                tokens={}, decode_tokens_per_s=None, labels={"group": f.group}))  # fmt: skip
    return preds


def test_circular_eval_is_all_or_nothing_and_primary():
    always_a = _mmbench_rows({}, {i: "A" for i in ("1", "1000001", "2000001", "2", "1000002")})
    summary = summarize(always_a)["mmb"]["metrics"]
    assert summary["accuracy"]["mean"] == pytest.approx(2 / 5)  # per row, "A" is right twice
    assert summary["circular_accuracy"]["mean"] == 0.0 and summary["circular_accuracy"]["n"] == 2  # groups
    assert summary["circular_accuracy"]["high"] > 0  # 0/2 is not certainty
    right = _mmbench_rows({"1": "A", "1000001": "C", "2000001": "B", "2": "B", "1000002": "A"}, {"1000002": "B"})
    metrics = summarize(right)["mmb"]["metrics"]
    assert metrics["circular_accuracy"]["mean"] == 0.5 and metrics["circular_accuracy_extracted"]["mean"] == 0.5
    assert metrics["mmbench_accuracy"]["mean"] == pytest.approx(4 / 5)
    assert primary_metric_for("vqa", list(metrics)) == "circular_accuracy"
    assert primary_metric_for("vqa", ["score"]) == "score"
    by_tag = summarize(right)["mmb"]["by_tag"]["l2_category=attr"]
    assert by_tag["circular_accuracy"]["mean"] == 0.5


def test_a_group_with_a_failed_row_is_not_judged():
    rows = [("1", {"mmbench_accuracy": 1.0}), ("1", None), ("2", {"mmbench_accuracy": 1.0})]
    assert circular_outcomes(rows, "circular_accuracy") == {"2": 1.0}


def test_circular_groups_follow_the_index_convention():
    assert circular_group("17") == "17" and circular_group("3000017") == "17" and circular_group(2000017.0) == "17"
    assert circular_group("q17") is None and circular_group("1.5") is None


def test_mmbench_adapter_metadata():
    schema = SCHEMAS["mcq"]
    hub = {"index": 5, "question": "Which?", "A": "x", "B": "y", "C": "nan", "D": "nan", "answer": "A",
           "hint": "nan", "L2-category": "attribute_recognition", "category": "color"}  # fmt: skip
    f = row_fields(schema, hub, [*hub, "image"])
    assert f.choices == ("x", "y") and "nan" not in f.question and f.question == "Which?"
    assert f.tags == {"category": "color", "l2_category": "attribute_recognition"} and f.group == "5"
    tsv = {**hub, "l2-category": "attribute_recognition", "hint": "A hint."}
    del tsv["L2-category"]
    g = row_fields(schema, tsv, [*tsv, "image"])
    assert g.tags["l2_category"] == "attribute_recognition" and g.question == "Hint: A hint.\nWhich?"


# ------------------------------------------------------------------------------------------------ intervals


def test_wilson_intervals_never_zero_width():
    zero = proportion_ci([0.0] * 5)
    assert (zero.mean, zero.low) == (0.0, 0.0) and zero.high == pytest.approx(0.4345, abs=1e-3)
    full = proportion_ci([1.0] * 5)
    assert full.high == 1.0 and full.low == pytest.approx(0.5655, abs=1e-3)
    mid = wilson_ci(3, 10)  # textbook: 3/10 -> [0.108, 0.603]
    assert (mid.low, mid.high) == (pytest.approx(0.1078, abs=1e-3), pytest.approx(0.6032, abs=1e-3))
    one = proportion_ci([1.0])
    assert one.low < 1.0 and one.n == 1
    assert bounded_mean_ci([0.0] * 4).high > 0  # a [0, 1] mean with no spread still gets a width
    est = estimates({"accuracy": [0.0] * 3, "anls": [0.0] * 3, "cer": [0.2, 0.2]})
    assert est["accuracy"].high > 0 and est["anls"].high > 0
    assert est["cer"].low == est["cer"].high == 0.2  # an unbounded mean has no such floor (see docs/scoring.md)
    one = yes_no_f1_estimate([True], [True])
    assert one.mean == 1.0 and one.low < 1.0  # one question is not certainty
    none_right = yes_no_f1_estimate([True, False, True], [False, True, False])
    assert none_right.mean == 0.0 and none_right.high > 0.0


def test_always_answering_a_scores_a_quarter_per_row_and_nothing_circular():
    """The issue's case: four options, each question asked in its four rotations; a model that always says "A" is
    right once per question (0.25 per row) and never in every rotation (CircularEval 0.00)."""
    schema, preds = SCHEMAS["mcq"], []
    for q in range(1, 6):
        for k in range(4):
            options = ["w", "x", "y", "z"][k:] + ["w", "x", "y", "z"][:k]
            index = str(q + k * 1_000_000)
            row = {"index": index, "question": "Which?", "answer": "ABCD"[options.index("w")],
                   **dict(zip("ABCD", options, strict=True))}  # fmt: skip
            f = row_fields(schema, row, [*row, "image"])
            sample = Sample(id=index, suite="mmb", task="vqa", images=(Path("/x.png"),), question=f.question,
                            type=f.type, answers=f.answers, choices=f.choices, match=f.match, group=f.group)  # fmt: skip
            preds.append(Prediction(sample_id=index, suite="mmb", task="vqa", tags={}, images=[], prompt="", answer="A",
                                    answer_token_ids=[], scores=score_sample(sample, "A"), timings_ms={}, tokens={},
                                    decode_tokens_per_s=None, labels={"group": f.group}))  # fmt: skip
    metrics = summarize(preds)["mmb"]["metrics"]
    assert metrics["mmbench_accuracy"]["mean"] == metrics["accuracy"]["mean"] == 0.25
    assert metrics["circular_accuracy"]["mean"] == 0.0 and metrics["circular_accuracy"]["n"] == 5
    assert metrics["score"]["mean"] == 0.25 and metrics["circular_accuracy"]["high"] > 0

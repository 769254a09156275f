"""A right answer always scores full: the gold answer given verbatim, and each alternative gold answer, scores every
metric's best value, for every sample of every built-in suite and for rows of every benchmark adapter; and the
cases of issue 18, where evalkit's extraction used to cut into a right answer, each pinned."""

from __future__ import annotations

from pathlib import Path

import pytest

from evalkit.data.benchmark_schemas import SCHEMAS, row_fields
from evalkit.data.samples import CHOICE_LETTERS, Sample
from evalkit.data.suites import resolve_suites
from evalkit.scoring.extraction import answer_candidates, extract_short_answer
from evalkit.scoring.metrics import METRICS, score_sample

SUITES = {s.name: s for s in resolve_suites(["describe", "ocr", "compare"])}
SAMPLES = [s for suite in SUITES.values() for s in suite.samples if s.type != "free_form"]

# The best value of each per-sample metric (vqa_accuracy's depends on how many humans agree: checked apart).
BEST = {
    name: (1.0 if info.higher_is_better else 0.0) for name, info in METRICS.items() if info.higher_is_better is not None
}


def _golds(sample: Sample) -> list[str]:
    """Every answer a grader would accept verbatim: each gold answer; for a choice also the option's text."""
    if sample.type == "transcription":
        return [sample.reference]
    if sample.type == "multiple_choice":
        index = CHOICE_LETTERS.index(sample.answers[0])
        return [sample.answers[0], sample.choices[index]]
    return list(sample.answers)


def _assert_full(sample: Sample, gold: str) -> None:
    scores = score_sample(sample, gold)
    for metric, value in scores.items():
        if metric in ("vqa_accuracy", "vqa_accuracy_extracted") or (metric == "score" and sample.match == "vqa"):
            continue  # below: its best is set by the human answers
        if metric in BEST:
            assert value == BEST[metric], f"{sample.suite}/{sample.id}: {gold!r} scores {metric} {value}"


@pytest.mark.parametrize("sample", SAMPLES, ids=lambda s: f"{s.suite}/{s.id}")
def test_every_gold_answer_of_every_built_in_sample_scores_full(sample):
    for gold in _golds(sample):
        if sample.type == "multiple_choice" and gold != sample.answers[0]:
            others = [c for c in sample.choices if c != gold]
            if any(gold.lower() in o.lower() or o.lower() in gold.lower() for o in others):
                continue  # an option text inside another option's names two options: not an answer
        _assert_full(sample, gold)


def test_every_built_in_suite_is_covered():
    assert {s.suite for s in SAMPLES} == {"describe", "ocr", "compare"}
    assert {s.type for s in SAMPLES} == {"transcription", "short_answer", "multiple_choice", "yes_no"}


# ------------------------------------------------------------------------------------------------ every adapter

# Gold answers of the kinds the issue found cut or lowered, for each benchmark schema.
HARD_TEXT = ["Smoking is harmful", "answer sheet", "Mt. Sinai Hospital", "Vol. 3", "U.S.A.", "(202) 555-0123",
             "Research is the key", "The answer", "It is what it is", "Dr. Reyes", "A. Doe", "$10.74", "'Alone'",
             "e.g. this", "No. 5", "St. Louis, MO"]  # fmt: skip
HARD_NUMBERS = ["0.35", ".35", "35%", "1,000", "$14.7B", "0", "-3.5", "12", "2024"]

ROWS = {
    "ocrbench": [{"question": "What is written?", "answer": [g], "question_type": "x", "dataset": "y", "category": "z"}
                 for g in HARD_TEXT],
    "docvqa": [{"questionId": str(i), "question": "What?", "answers": [g, "other"]} for i, g in enumerate(HARD_TEXT)],
    "textvqa": [{"question": "What?", "answers": [g.lower()] * 7 + ["x"] * 3, "ocr_tokens": []} for g in HARD_TEXT],
    "chartqa": [{"query": "How much?", "label": g} for g in HARD_NUMBERS + ["East", "Yes"]],
    "pope": [{"question": "Is there a dog?", "answer": a, "image_source": "x"} for a in ("yes", "no")],
    "mcq": [{"index": "1", "question": "Which?", "A": "cat", "B": "dog", "C": "cow", "answer": a} for a in "ABC"],
}  # fmt: skip


def _adapter_samples(name: str) -> list[Sample]:
    schema = SCHEMAS[name]
    out = []
    for i, row in enumerate(ROWS[name]):
        columns = [*row, "image"]
        f = row_fields(schema, row, columns)
        out.append(Sample(id=str(i), suite=name, task="vqa", images=(Path("/x.png"),), question=f.question,
                          type=f.type, answers=f.answers, choices=f.choices, match=f.match, tags=f.tags,
                          group=f.group))  # fmt: skip
    return out


def test_the_adapter_list_is_complete():
    assert set(ROWS) == set(SCHEMAS)


@pytest.mark.parametrize("name", sorted(SCHEMAS))
def test_every_gold_answer_of_every_adapter_scores_full(name):
    for sample in _adapter_samples(name):
        for gold in _golds(sample):
            _assert_full(sample, gold)
            scores = score_sample(sample, gold)
            assert scores["score"] == 1.0 or sample.match == "vqa", (sample.answers, gold, scores)


def test_vqa_gold_answers_score_what_their_agreement_earns():
    (sample, *_) = _adapter_samples("textvqa")
    agreed, lone = sample.answers[0], sample.answers[-1]  # 7 humans, 3 humans
    for metric in ("vqa_accuracy", "vqa_accuracy_extracted"):
        assert score_sample(sample, agreed)[metric] == 1.0
        assert score_sample(sample, lone)[metric] == pytest.approx((7 * 1.0 + 3 * 2 / 3) / 10)


# ------------------------------------------------------------------------------------------------ the cases


def test_extraction_never_cuts_inside_an_answer():
    assert "Smoking is harmful" in answer_candidates("Smoking is harmful")
    assert extract_short_answer("answer sheet") == "answer sheet"  # a leading "answer" needs "is" or ":"
    assert extract_short_answer("Answer: 5") == "5" and extract_short_answer("The answer is 5.") == "5"
    assert extract_short_answer("Mt. Sinai Hospital") == "Mt. Sinai Hospital"
    assert extract_short_answer("Vol. 3") == "Vol. 3"
    assert extract_short_answer("(202) 555-0123") == "(202) 555-0123"  # an unbalanced bracket is part of it
    assert extract_short_answer("The title is 'Alone'.") == "Alone"  # enclosing quotes and final period are not


def _doc(*answers: str) -> Sample:
    return Sample(id="d", suite="docvqa", task="vqa", images=(Path("/x.png"),), question="?", type="short_answer",
                  answers=answers, match="anls")  # fmt: skip


def test_a_verbatim_right_answer_scores_full_and_beats_a_wrong_one():
    smoking = _doc("Smoking is harmful")
    assert score_sample(smoking, "Smoking is harmful")["anls"] == 1.0  # used to be 0.00 (extracted "harmful")
    assert score_sample(smoking, "Smoking is harmful")["anls_extracted"] == 1.0
    usa = _doc("U.S.A.")
    assert score_sample(usa, "U.S.A.")["anls_extracted"] == 1.0  # used to be 0.83: edges stripped on one side
    phone = _doc("(202) 555-0123")
    assert score_sample(phone, "(202) 555-0123")["anls_extracted"] == 1.0
    key = _doc("Research is the key")
    right, wrong = score_sample(key, "Research is the key"), score_sample(key, "Research, the key")
    assert right["anls"] == right["anls_extracted"] == 1.0
    assert wrong["anls_extracted"] < right["anls_extracted"] and wrong["anls"] < right["anls"]
    sinai = _doc("Mt. Sinai Hospital")
    assert score_sample(sinai, "Mt. Sinai Hospital.")["anls_extracted"] == 1.0


def _chart(gold: str) -> Sample:
    return Sample(id="c", suite="chartqa", task="vqa", images=(Path("/x.png"),), question="?", type="short_answer",
                  answers=(gold,), match="number")  # fmt: skip


def test_chartqa_numbers_read_as_the_published_rule_reads_them():
    assert score_sample(_chart("0.35"), ".35")["relaxed_accuracy"] == 1.0  # used to be read as 35
    assert score_sample(_chart("0.35"), ".35")["relaxed_accuracy_extracted"] == 1.0
    assert score_sample(_chart("0.35"), "35%")["relaxed_accuracy"] == 1.0  # "%" divides by 100
    assert score_sample(_chart("35"), "35%")["relaxed_accuracy"] == 0.0  # ... so 35% is not 35 there
    assert score_sample(_chart("0.35"), "35")["relaxed_accuracy"] == 0.0
    for loose in ("1,000", "$1000", "1000 units"):  # the published rule takes float() or text, nothing else
        assert score_sample(_chart("1000"), loose)["relaxed_accuracy"] == 0.0, loose
        assert score_sample(_chart("1000"), loose)["relaxed_accuracy_extracted"] == 1.0, loose
    assert score_sample(_chart("5"), "five")["relaxed_accuracy"] == 0.0
    assert score_sample(_chart("East"), "east")["relaxed_accuracy"] == 1.0  # text: case-insensitive equality

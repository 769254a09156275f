"""Label sanity across the committed suites: scores mean what they say.

A perfect answer scores perfectly and an empty one worst on every sample; every wrong answer quoted in issue 10
scores worse than the correct one; image-blind answers score near chance on every suite; markdown costs nothing
in a transcription; a negated mention is not a mention.
"""

from __future__ import annotations

import statistics
from collections import Counter

import pytest

from evalkit.data.suites import CHOICE_LETTERS, Relation, resolve_suites
from evalkit.scoring.extraction import parse_number, parse_time
from evalkit.scoring.keywords import keyword_recall, words
from evalkit.scoring.metrics import PRIMARY_METRIC, forbidden_rate, score_sample

SUITES = {s.name: s for s in resolve_suites(["describe", "ocr", "compare"])}
SAMPLES = [s for suite in SUITES.values() for s in suite.samples]
BY_ID = {(s.suite, s.id): s for s in SAMPLES}


def _sentence(group) -> str:
    if isinstance(group, Relation):  # every role in one sentence, in the order the roles are listed
        return " ".join(alts[0] for _, alts in group.roles) + "."
    return f"The image shows {group[0]}."


def perfect_answer(sample) -> str:
    if sample.type == "transcription":
        return sample.reference
    if sample.type == "free_form":
        return " ".join(_sentence(g) for g in sample.keywords)
    return sample.answers[0]


@pytest.mark.parametrize("sample", SAMPLES, ids=lambda s: f"{s.suite}/{s.id}")
def test_perfect_answer_scores_perfectly_and_empty_scores_worst(sample):
    perfect = score_sample(sample, perfect_answer(sample))
    empty = score_sample(sample, "")
    primary = PRIMARY_METRIC[sample.task]
    if sample.task == "ocr":
        assert perfect["located_cer"] == perfect["located_cer_cs"] == 0.0 and empty["located_cer"] == 1.0
    else:
        assert perfect["score"] == 1.0 and empty["score"] == 0.0
    if sample.type == "transcription":
        assert perfect["cer"] == perfect["wer"] == 0.0 and empty["cer"] == empty["wer"] == 1.0
    elif sample.type == "free_form":
        assert perfect["forbidden_rate"] == 0.0 and perfect["keyword_recall"] == 1.0
        for group in sample.keywords:  # every alternative counts on its own, not only the first
            for alt in group if not isinstance(group, Relation) else ():
                assert keyword_recall(alt, [group]) == 1.0, alt
    else:
        assert perfect["unparsed"] == 0.0 and empty["unparsed"] == 1.0
        assert perfect.get("exact_match", perfect.get("accuracy")) == 1.0
    assert perfect[primary] != empty[primary]


@pytest.mark.parametrize("sample", [s for s in SAMPLES if s.type == "free_form"], ids=lambda s: f"{s.suite}/{s.id}")
def test_forbidden_words_never_collide_with_keywords_and_negations_are_not_mentions(sample):
    assert sample.forbidden, "every free-form sample names plausible hallucinations"
    for group in sample.keywords:
        alts = [a for _, role in group.roles for a in role] if isinstance(group, Relation) else group
        for alt in alts:
            assert forbidden_rate(alt, sample.forbidden) == 0.0, (alt, sample.forbidden)
    for word in sample.forbidden:
        assert words(word), word  # a forbidden word that normalises to nothing could never be detected
    # "There is no X" is not a mention of X: a perfect answer that denies every forbidden thing stays perfect
    denial = perfect_answer(sample) + " " + " ".join(f"There is no {w}." for w in sample.forbidden)
    assert score_sample(sample, denial)["score"] == 1.0
    assert score_sample(sample, perfect_answer(sample) + f" There is a {sample.forbidden[0]}.")["score"] < 1.0


def _markdown(reference: str) -> str:
    """The exact transcription formatted as a chat model likes to: a heading in bold, rows as a table or bullets."""
    lines = reference.splitlines()
    rows = [line.split() for line in lines[1:]]
    if len(rows) > 1 and len({len(r) for r in rows}) == 1 and len(rows[0]) > 2:  # a table
        body = ["| " + " | ".join(rows[0]) + " |", "|" + "---|" * len(rows[0])]
        body += ["| " + " | ".join(r) + " |" for r in rows[1:]]
    else:
        body = [f"- {line}" for line in lines[1:]]
    return "\n".join([f"**{lines[0]}**", "", *body])


@pytest.mark.parametrize("sample", [s for s in SAMPLES if s.type == "transcription"], ids=lambda s: s.id)
def test_markdown_formatting_of_an_exact_transcription_costs_at_most_001(sample):
    formatted = _markdown(sample.reference)
    assert formatted != sample.reference
    assert score_sample(sample, formatted)["located_cer"] <= 0.01
    assert score_sample(sample, "Sure! Here is the text:\n" + formatted)["located_cer"] <= 0.01


# The wrong answers quoted in issue 10, each next to a correct answer to the same question: (suite, id, right, wrong).
QUOTED = [
    ("compare", "shape_removed", "The blue square was removed.", "A blue square was added."),
    ("compare", "photo_darker", "The second image is darker.", "The second image is brighter."),
    ("compare", "shape_colour", "The square changed from blue to orange.", "The square changed from orange to blue."),
    ("compare", "sign_text", "The sign changed from OPEN to CLOSED.", "The sign changed from CLOSED to OPEN."),
    ("compare", "price_text", "The price went up from $4.99 to $5.49.", "The price went down from $5.49 to $4.99."),
    ("compare", "ball_count", "Three red circles became five.", "Five red circles became three."),
    ("compare", "arrow_direction", "The arrow pointed right and now points left.",
     "The arrow pointed left and now points right."),
    ("compare", "shape_moved", "The red circle moved from the left to the right.",
     "The red circle moved from the right to the left."),
    ("compare", "season", "The tree's leaves turned from green to orange.",
     "The tree's leaves turned from orange to green."),
    ("compare", "identical", "There are no visible differences.", "The square is larger."),
    ("compare", "shape_size", "The triangle is larger.", "The square is larger."),
    ("compare", "shape_removed_any", "Yes.", "No, they are identical."),
    ("compare", "identical_any", "No.", "Yes, the square is larger."),
    ("describe", "photo_chelsea", "A tabby cat with green eyes and whiskers; there is no dog and it wears no collar.",
     "A tabby cat with green eyes and whiskers next to a dog, wearing a collar."),
    ("ocr", "cover_alone_title", "ALONE", "The book is 'A Novel' by Morgan Maxwell, about being alone"),
    ("ocr", "sign_exit", "EXIT", "EXlT"),
    ("ocr", "cover_cartographer_title", "The Cartographer\u2019s Daughter", "The Cartographer's Daughters"),
    ("describe", "clock_three_time", "15:00", "3:45"),
    ("describe", "clock_three_time", "three o'clock", "It shows 3:15."),
]  # fmt: skip


@pytest.mark.parametrize(("suite", "sid", "right", "wrong"), QUOTED, ids=[f"{q[0]}/{q[1]}" for q in QUOTED])
def test_every_quoted_wrong_answer_scores_worse_than_the_correct_one(suite, sid, right, wrong):
    sample = BY_ID[(suite, sid)]
    metric = PRIMARY_METRIC[sample.task]
    good, bad = score_sample(sample, right)[metric], score_sample(sample, wrong)[metric]
    assert (good < bad) if metric == "located_cer" else (good > bad), (good, bad)


def test_formatting_and_case_of_a_correct_answer_cost_nothing():
    assert score_sample(BY_ID[("ocr", "sign_exit")], "Exit")["located_cer"] == 0.0  # "Exit" for a sign reading EXIT
    cover = BY_ID[("ocr", "cover_cartographer_title")]
    assert score_sample(cover, "\u201cThe Cartographer\u2019s Daughter\u201d")["located_cer"] == 0.0  # curly quotes
    arrow = BY_ID[("compare", "arrow_direction")]
    assert score_sample(arrow, "The arrow pointed right, now it points left; that sums up the change.") == {
        "keyword_recall": 1.0, "forbidden_rate": 0.0, "score": 1.0,
    }  # fmt: skip


BLIND = [
    "Yes.", "No.", "A", "B", "C", "D", "3:00", "5", "I cannot tell from the image.",
    "The image shows a scene with several objects, colors and some text.",
    "The text in the image reads: Total 10.00. Thank you for shopping!",
    # one sentence naming every common object and colour, and one naming every kind of change
    "A person, an animal, a cat, a dog, a horse, a car, a chart, a bar chart, a line chart, a clock, a flag, a tree, "
    "a house, text and shapes in red, blue, green and orange.",
    "Compared with the first image, something was added, removed, moved, rotated, flipped, mirrored, cropped, "
    "zoomed, blurred, tinted, darkened, brightened, enlarged or shrunk, and the text, price, number and colour changed.",
]  # fmt: skip


def _chance(sample) -> float:
    """Expected score of a uniform guess: 1/k for k options, 1/2 for yes/no, nothing for an open answer."""
    return {"yes_no": 0.5, "multiple_choice": 1 / max(len(sample.choices), 1)}.get(sample.type, 0.0)


@pytest.mark.parametrize("name", sorted(SUITES))
def test_image_blind_answers_score_near_chance_on_every_suite(name):
    suite = SUITES[name]
    metric = PRIMARY_METRIC[suite.task]
    for answer in BLIND:
        scores = [score_sample(s, answer)[metric] for s in suite.samples]
        mean = statistics.mean(scores)
        if metric == "located_cer":  # an error rate: chance is reading nothing (1.0)
            assert mean >= 0.75, (answer, mean)
            continue
        chance = statistics.mean(_chance(s) for s in suite.samples)
        assert mean <= chance + 0.05, (answer, mean, chance)
        free = [score_sample(s, answer)[metric] for s in suite.samples if s.type == "free_form"]
        assert statistics.mean(free) <= 0.2, (answer, statistics.mean(free))


@pytest.mark.parametrize("name", ["describe", "compare"])
def test_yes_no_is_balanced_and_option_letters_are_spread(name):
    samples = SUITES[name].samples
    yes_no = Counter(s.answers[0] for s in samples if s.type == "yes_no")
    assert yes_no["yes"] == yes_no["no"] >= 6
    letters = Counter(s.answers[0] for s in samples if s.type == "multiple_choice")
    n = sum(letters.values())
    assert n >= 10 and max(letters.values()) <= 0.4 * n, letters  # always answering one letter is not rewarded
    for s in samples:
        if s.type == "multiple_choice":
            assert s.answers[0] in CHOICE_LETTERS[: len(s.choices)] and len(set(s.choices)) == len(s.choices)


def test_short_answers_parse_as_their_match():
    for s in (s for s in SAMPLES if s.type == "short_answer"):
        for answer in s.answers:
            if s.match == "number":
                assert parse_number(answer) is not None, (s.id, answer)
            elif s.match == "time":
                assert parse_time(answer) is not None, (s.id, answer)


def test_compare_has_answerable_items_and_no_change_controls():
    compare = SUITES["compare"].samples
    exact = [s for s in compare if s.type != "free_form"]
    assert len(exact) >= 25
    controls = [s for s in exact if s.type == "yes_no" and s.answers == ("no",)]
    assert len(controls) >= 5 and {s.tags["category"] for s in controls} >= {"control"}


def test_degraded_samples_share_their_clean_reference():
    ocr = {s.id: s for s in SAMPLES if s.task == "ocr" and s.type == "transcription"}
    degraded = [s for s in ocr.values() if s.tags["degradation"] != "none" and s.tags["source"] == "rendered"]
    assert len(degraded) >= 10
    for s in degraded:
        clean_id = s.id.rsplit("_" + s.tags["degradation"], 1)[0]
        assert ocr[clean_id].reference == s.reference


def test_hand_checked_labels():
    assert BY_ID[("ocr", "cover_alone_title")].answers == ("ALONE",)
    assert BY_ID[("ocr", "cover_alone_author")].answers == ("Morgan Maxwell",)
    assert BY_ID[("ocr", "real_name_tag")].reference == "COMO HOPPER"
    assert BY_ID[("ocr", "real_page_heading")].reference == "Region-based segmentation"
    assert BY_ID[("ocr", "code_python")].case_sensitive and not BY_ID[("ocr", "sign_exit")].case_sensitive
    chelsea = BY_ID[("describe", "photo_chelsea")]
    assert ("cat" in chelsea.keywords[0]) and "dog" in chelsea.forbidden
    chart = BY_ID[("describe", "chart_dc_revenue")]
    assert score_sample(chart, "A bar chart of data center revenue by fiscal year; FY2024 is highest.")["score"] == 1.0
    # the label problems of issue 10 stay fixed
    for sid in ("photo_astronaut", "photo_grace_hopper"):
        assert score_sample(BY_ID[("describe", sid)], "She wears a uniform.")["keyword_recall"] > 0
    assert keyword_recall("a camcorder on a tripod", BY_ID[("describe", "photo_camera")].keywords) > 0
    assert keyword_recall("A colour wheel", BY_ID[("describe", "graphic_color_wheel")].keywords) == 1.0
    assert keyword_recall("A rocket at twilight", BY_ID[("describe", "photo_rocket")].keywords[1:2]) == 1.0
    for s in SAMPLES:
        for group in s.keywords:
            alts = [a for _, r in group.roles for a in r] if isinstance(group, Relation) else group
            assert "black and white" not in alts or s.task == "compare", s.id  # a property of the photo
    assert {BY_ID[("describe", i)].tags["category"] for i in ("clipart_horse", "clipart_gift")} == {"clipart"}
    assert "up" not in BY_ID[("compare", "arrow_direction")].forbidden
    assert "apple" in BY_ID[("compare", "price_text")].forbidden

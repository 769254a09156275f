"""Free-form keyword matching: whole words, plurals, negation, relations within a sentence, ordered roles."""

from __future__ import annotations

import math

import pytest

from evalkit.data.suites import Relation
from evalkit.scoring.keywords import forbidden_rate, keyword_recall, mentions, sentences


def test_whole_words_phrases_plurals():
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


@pytest.mark.parametrize(
    ("answer", "word", "mentioned"),
    [
        ("There is no dog", "dog", False),
        ("There is no dog and it wears no collar", "collar", False),
        ("There is no red dog", "dog", False),  # up to three words after "no"
        ("The cat is not wearing a collar", "collar", False),
        ("The cat isn\u2019t wearing a collar", "collar", False),  # n't, curly apostrophe included
        ("The cat doesn't have a collar or a tag", "tag", False),
        ("A cat without a collar", "collar", False),
        ("Nothing was added", "added", False),
        ("Neither a dog nor a puppy is visible", "puppy", False),
        ("There is no dog, but a cat is asleep", "cat", True),  # the clause ends at the comma
        ("There is no dog and the cat is orange", "cat", True),  # ... and at "and"
        ("The cat is not orange but grey", "grey", True),
        ("A dog.", "dog", True),
        ("There is no difference", "no difference", True),  # a phrase counts unless its first word is negated
        ("The square is no longer there", "no longer", True),
    ],
)
def test_negated_mentions_do_not_count(answer, word, mentioned):
    assert mentions(answer, word) is mentioned


def test_forbidden_rate_ignores_negations_and_substrings():
    assert forbidden_rate("A cat on a sofa.", ["dog", "puppy"]) == 0.0
    assert forbidden_rate("A cat and two dogs.", ["dog", "puppy"]) == 0.5
    assert forbidden_rate("A woman in uniform.", ["man"]) == 0.0
    assert forbidden_rate("There is no dog and it wears no collar", ["dog", "collar"]) == 0.0
    assert forbidden_rate("The arrow points left; that sums up the change.", ["upward"]) == 0.0
    assert forbidden_rate("anything", []) == 0.0


def test_sentences_split_on_full_stops_not_decimals():
    parsed = sentences("The price is $4.99. It rose to 5.49!\nNew line")
    assert [s.words for s in parsed] == [("the", "price", "is", "4", "99"), ("it", "rose", "to", "5", "49"),
                                         ("new", "line")]  # fmt: skip


def _rel(order=(), **roles) -> Relation:
    return Relation(tuple((k, tuple(v)) for k, v in roles.items()), tuple(order))


def test_relation_needs_every_role_in_one_sentence():
    removed = _rel(object=["square"], change=["removed", "missing", "gone"])
    assert keyword_recall("The blue square was removed.", [removed]) == 1.0
    assert keyword_recall("A blue square was added.", [removed]) == 0.0
    assert keyword_recall("The square is blue. Something is missing.", [removed]) == 0.0  # two sentences
    assert keyword_recall("The square was not removed.", [removed]) == 0.0  # negated role


def test_ordered_roles_catch_a_reversed_change():
    change = _rel(("before", "after"), object=["square"], before=["blue"], after=["orange"])
    assert keyword_recall("The square changed from blue to orange.", [change]) == 1.0
    assert keyword_recall("The blue square turned orange.", [change]) == 1.0
    assert keyword_recall("The square changed from orange to blue.", [change]) == 0.0
    # the cost of ordering: a correct answer phrased the other way round is missed
    assert keyword_recall("The square is orange now, it was blue.", [change]) == 0.0

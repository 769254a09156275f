"""Reading answers: typography, markdown, preambles, short-answer values, numbers, times, options, yes/no."""

from __future__ import annotations

import pytest

from evalkit.scoring.extraction import (
    answer_candidates,
    clean_value,
    drop_preamble_line,
    extract_short_answer,
    normalize_answer,
    number_readings,
    numbers_in,
    parse_choice,
    parse_number,
    parse_time,
    parse_yes_no,
    strip_markdown,
    unify_typography,
)


def test_unify_typography_does_what_nfkc_does_not():
    assert unify_typography("The Cartographer\u2019s \u201cDaughter\u201d \u2014 1\u20132\u2026") == (
        'The Cartographer\'s "Daughter" - 1-2...'
    )
    assert unify_typography("\ufb01ne \uff26\uff55\uff4c\uff4c") == "fine Full"  # NFKC still applies


def test_strip_markdown_keeps_the_text_and_drops_the_formatting():
    md = (
        "## Receipt\n**GREENLEAF MARKET**\n- Milk 2L 1.35\n* _Sourdough_ bread 2.80\n\n| Region | Q1 |\n"
        "|:---|---:|\n| North | 120 |\n```python\ndef f(): pass\n```\n`x = 1`"
    )
    assert strip_markdown(md).split() == (
        [
            "Receipt",
            "GREENLEAF",
            "MARKET",
            "Milk",
            "2L",
            "1.35",
            "Sourdough",
            "bread",
            "2.80",
            "Region",
            "Q1",
            "North",
            "120",
            "def",
            "f():",
            "pass",
            "x",
            "=",
            "1",
        ]
    )
    # identifiers, prompts and arithmetic are text, not markup
    assert strip_markdown(">>> markers = np.zeros_like(coins)") == ">>> markers = np.zeros_like(coins)"
    assert strip_markdown("a*b and 2 * 3") == "a*b and 2 * 3"
    assert strip_markdown("1. first step") == "1. first step"


def test_drop_preamble_line():
    assert drop_preamble_line("Sure! Here is the text:\nEXIT") == "EXIT"
    assert drop_preamble_line("The sign reads: EXIT") == "EXIT"
    assert drop_preamble_line("Certainly.\nNO PARKING\nFIRE LANE") == "NO PARKING\nFIRE LANE"
    assert drop_preamble_line("Date: 2024-03-15\nTotal 7.32") == "Date: 2024-03-15\nTotal 7.32"  # a field label
    assert drop_preamble_line("Name: Jane A. Doe") == "Name: Jane A. Doe"


@pytest.mark.parametrize(
    ("answer", "value"),
    [
        ("ALONE", "ALONE"),
        ("The title is ALONE.", "ALONE"),
        ("The title of the book is \u201cAlone\u201d.", "Alone"),
        ("**ALONE**", "ALONE"),
        ("Sure! Here is the answer:\nALONE", "ALONE"),
        ("The total amount on this receipt is 10.74.", "10.74"),
        ("10.74. This is the total including VAT.", "10.74"),
        ('It says "EXIT".', "EXIT"),
        ("Answer: 5.6", "5.6"),
        ("The visitor is Jane A. Doe. Her badge is V-3318.", "Jane A. Doe"),
        ("The host is Dr. Omar Reyes.", "Dr. Omar Reyes"),
        # a wrong title stays a wrong title: the words around it are not thrown away until something matches
        (
            "The book is 'A Novel' by Morgan Maxwell, about being alone",
            "'A Novel' by Morgan Maxwell, about being alone",
        ),
        ("", ""),
    ],
)
def test_extract_short_answer(answer, value):
    assert extract_short_answer(answer) == value


def test_normalize_answer():
    assert normalize_answer("  The  West. ") == "west"
    assert normalize_answer("Five") == "5" and normalize_answer("twenty") == "20"
    assert normalize_answer("\u201cData\nScience\u201d") == "data science"
    assert normalize_answer("V-3318") == "v-3318"


def test_numbers():
    assert numbers_in("$14.7B") == [14.7] and numbers_in("25%") == [25.0] and numbers_in("\u20ac1,284.50") == [1284.5]
    assert numbers_in("FY2022: 5.6") == [5.6]  # digits glued to letters are an identifier
    assert numbers_in("V-3318 on 2024-03-15") == [2024.0]
    assert numbers_in("five") == [5.0] and numbers_in("Milk 2L 1.35") == [2.0, 1.35]
    assert parse_number("About 168 units") == 168.0
    assert parse_number("between 160 and 170") is None  # two numbers: ambiguous, so unparsed
    assert parse_number("no idea") is None
    assert numbers_in(".35") == [0.35] and numbers_in("It is .5%") == [0.5]  # a bare decimal
    assert number_readings("35%") == (0.35, 35.0) and number_readings("35 %") == (0.35, 35.0)
    assert number_readings("0.35") == (0.35,) and number_readings("1 or 2") == ()


def test_clean_value_removes_only_what_surrounds_a_value():
    assert clean_value("'Alone'.") == "Alone" and clean_value("**EXIT**") == "EXIT" and clean_value("(B)") == "B"
    assert clean_value("U.S.A.") == "U.S.A" and clean_value("(202) 555-0123") == "(202) 555-0123"
    assert clean_value("(a) and (b)") == "(a) and (b)"  # not one enclosing pair
    assert clean_value(" Data\nScience ") == "Data Science"
    assert answer_candidates("Smoking is harmful.") == ["harmful", "Smoking is harmful"]
    assert answer_candidates("Here is the text:\nEXIT") == ["EXIT"] and answer_candidates("") == []


@pytest.mark.parametrize(
    ("text", "time"),
    [
        ("3:00", (3, 0)), ("15:00", (3, 0)), ("three o'clock", (3, 0)), ("3 o\u2019clock", (3, 0)), ("3 PM", (3, 0)),
        ("It shows 3:45.", (3, 45)), ("half past seven", (7, 30)), ("quarter to five", (4, 45)),
        ("ten past ten", (10, 10)), ("12:00", (0, 0)), ("It is 3:00 or maybe 3:15", None), ("noon-ish", None),
    ],
)  # fmt: skip
def test_parse_time(text, time):
    assert parse_time(text) == time


CHOICES = ["dog", "cat", "horse", "rabbit"]


@pytest.mark.parametrize(
    ("answer", "index"),
    [
        ("B", 1), ("(B)", 1), ("B.", 1), ("B. cat", 1), ("B) cat", 1), ("Answer: B", 1), ("The answer is B", 1),
        ("I think the answer is (B).", 1), ("**B**", 1), ("cat", 1), ("It is a cat.", 1), ("C - horse", 2),
        ("D rabbit", 3), ("A", 0),
        ("A cat", 1),  # "A" is an article here: option A is "dog"
        ("a cat", 1), ("The answer is a cat", 1),
        ("It is a cat, not a dog", None),  # names two options: unparsed, and wrong
        ("E", None), ("I am not sure", None), ("", None),
    ],
)  # fmt: skip
def test_parse_choice(answer, index):
    assert parse_choice(answer, CHOICES) == index


@pytest.mark.parametrize(
    ("answer", "said"),
    [
        ("Yes", True), ("yes.", True), ("No.", False), ("**No**", False), ("Yes, there is a dog.", True),
        ("No, there is no dog.", False), ("There is no dog.", False), ("There is a dog", None),
        ("Yes and no", None), ("", None),
    ],
)  # fmt: skip
def test_parse_yes_no(answer, said):
    assert parse_yes_no(answer) is said

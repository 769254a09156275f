"""Reading a model's answer: typography, markdown, preambles, and parsing values, options, yes/no and times.

Pure text functions, no labels: `evalkit.scoring.metrics` scores what these return. Everything here is deliberately
conservative: when an answer cannot be read unambiguously the parser returns None ("unparsed"), which the
metrics count as wrong and report separately, never as a lucky guess.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Sequence

# NFKC keeps curly quotes, dashes and the ellipsis as they are; models use them interchangeably with ASCII.
_TYPOGRAPHY = str.maketrans(
    {
        "\u2018": "'", "\u2019": "'", "\u201a": "'", "\u201b": "'", "\u2032": "'", "\u00b4": "'", "`": "'",
        "\u201c": '"', "\u201d": '"', "\u201e": '"', "\u201f": '"', "\u2033": '"', "\u00ab": '"', "\u00bb": '"',
        "\u2010": "-", "\u2011": "-", "\u2012": "-", "\u2013": "-", "\u2014": "-", "\u2015": "-", "\u2212": "-",
        "\u00a0": " ", "\u2007": " ", "\u202f": " ",
    }
)  # fmt: skip


def unify_typography(text: str) -> str:
    """NFKC, then curly quotes, primes and backticks to ASCII quotes, dashes to '-', the ellipsis to '...'."""
    return unicodedata.normalize("NFKC", text).translate(_TYPOGRAPHY).replace("\u2026", "...")


# ------------------------------------------------------------------------------------------------ markdown

_FENCE = re.compile(r"^\s*(```|~~~)[\w+-]*\s*$")
_TABLE_RULE = re.compile(r"^\s*\|?\s*:?-{2,}:?\s*(\|\s*:?-{2,}:?\s*)*\|?\s*$")
_HEADING = re.compile(r"^\s{0,3}#{1,6}\s+")
_BULLET = re.compile(r"^\s*[-*+\u2022\u25aa\u25cf]\s+")
# Emphasis only at word boundaries, so identifiers such as zeros_like or a*b are left alone.
_EMPHASIS = re.compile(r"(?<![\w*_])(\*\*|__|\*|_)(?=\S)(.+?)(?<=\S)\1(?![\w*_])")
_INLINE_CODE = re.compile(r"'{1,3}([^'\n]+?)'{1,3}")  # backticks are quotes after unify_typography


def strip_markdown(text: str) -> str:
    """Remove markdown formatting a chat model adds around a transcription, keep the characters it wraps.

    Code fences, table rules (|---|---|), table pipes, headings (#), bullets (-, *, +, •), bold/italic markers
    and inline code marks. Numbered lists and '>' are kept: they are real text in many documents.
    """
    lines = []
    for line in unicodedata.normalize("NFKC", text).replace("`", "\x00").splitlines():
        if _FENCE.match(line.replace("\x00", "`")) or _TABLE_RULE.match(line):
            continue
        line = _HEADING.sub("", line)
        line = _BULLET.sub("", line)
        if line.count("|") >= 2:  # a table row: | a | b |
            line = " ".join(cell.strip() for cell in line.strip().strip("|").split("|"))
        for _ in range(2):  # nested ***bold italic***
            line = _EMPHASIS.sub(r"\2", line)
        line = re.sub(r"\x00{1,3}([^\x00\n]+?)\x00{1,3}", r"\1", line)
        lines.append(line.replace("\x00", "`"))
    return "\n".join(lines)


# ------------------------------------------------------------------------------------------------ preambles

# A first line that only announces the answer: "Here is the text:", "Sure! The image reads:".
_PREAMBLE_WORDS = {"text", "reads", "read", "says", "say", "transcription", "image", "sign", "here", "sure",
                   "certainly", "content", "written", "shows", "following"}  # fmt: skip
_PREAMBLE_OPENERS = re.compile(r"^(sure|certainly|of course|okay|ok|here is|here's)\b", re.I)


def _is_preamble(head: str) -> bool:
    words = re.findall(r"[a-z']+", head.lower())
    return 0 < len(words) <= 12 and bool(_PREAMBLE_WORDS & set(words))


def drop_preamble_line(text: str) -> str:
    """Remove one recognised preamble: a short first line announcing the answer, or such a lead-in ending in ':'.

    "Sure! Here is the text:\\nEXIT" and "The sign reads: EXIT" both become "EXIT"; "Date: 2024-03-15" is kept
    (a field label is text, not a preamble).
    """
    lines = text.strip().splitlines()
    if not lines:
        return ""
    first = lines[0].strip()
    head, colon, rest = first.partition(":")
    if colon and _is_preamble(head):
        return "\n".join(([rest.strip()] if rest.strip() else []) + lines[1:]).strip()
    if len(lines) > 1 and _PREAMBLE_OPENERS.match(first) and len(first.split()) <= 12:
        return "\n".join(lines[1:]).strip()
    return text.strip()


# ------------------------------------------------------------------------------------------------ short answers

# "The total amount on this receipt is 10.74" -> "10.74": a lead-in of at most six words before the first verb. A
# leading "answer" is a lead-in only with "is" or a colon after it ("Answer: 5"), never in "answer sheet". The lead-in
# may be part of a right answer ("Smoking is harmful"), so short-answer metrics also score the whole answer
# (`answer_candidates`): removing a lead-in can only add a reading, never take the verbatim one away.
_LEAD_IN = re.compile(
    r"^(?:(?:the\s+)?(?:final\s+|correct\s+)?answer(?:\s+is\b\s*:?|\s*:)\s*"
    r"|(?:[\w'$%.,-]+\s+){0,6}?(?:is|are|was|were|reads|says|shows|read|say|show|would be|will be)\s*:?\s+)",
    re.I,
)
# Words after which a period does not end a sentence ("Dr. Reyes", "Mt. Sinai Hospital", "Vol. 3", "Fig. 2").
_ABBREVIATIONS = {
    "dr", "mr", "mrs", "ms", "st", "no", "vs", "jr", "sr", "prof", "inc", "ltd", "co", "apt", "ave", "mt", "ft", "vol",
    "fig", "figs", "pp", "ch", "sec", "dept", "corp", "approx", "est", "etc", "jan", "feb", "mar", "apr", "jun", "jul",
    "aug", "sep", "sept", "oct", "nov", "dec", "rd", "blvd", "gen", "gov", "sen", "rep", "rev", "op", "nos",
}  # fmt: skip
_TRAILING_PUNCT = ".,;:!?"
_ENCLOSING = {'"': '"', "'": "'", "*": "*", "_": "_", "(": ")", "[": "]", "{": "}", "<": ">"}


def _first_sentence(text: str) -> str:
    """Cut at the first '. ' that ends a sentence (not 'A. Doe', 'Dr. Reyes', 'Mt. Sinai', 'Vol. 3' or '4.99')."""
    for m in re.finditer(r"[.!?](?=\s+\S)", text):
        before = re.findall(r"[\w']+$", text[: m.start()])
        word = before[0] if before else ""
        if len(word) > 1 and word.lower() not in _ABBREVIATIONS:
            return text[: m.start()]
    return text


def strip_edges(text: str) -> str:
    """Remove what surrounds a value, never what is part of it: whitespace, final punctuation ('.', ',', ';', ':',
    '!', '?') and quotes, brackets or emphasis marks that enclose the whole value. "'Alone'." -> "Alone";
    "(202) 555-0123" and "U.S.A" keep their edges. Applied alike to an answer and to its gold answers."""
    previous = None
    while text != previous:
        previous = text
        text = text.strip().rstrip(_TRAILING_PUNCT).strip()
        if len(text) >= 2 and _ENCLOSING.get(text[0]) == text[-1]:
            inner = text[1:-1]
            # "(a) and (b)" is not enclosed: the first closer must be the last character
            if text[0] == text[-1] or text[-1] not in inner:
                text = inner
    return text


def clean_value(text: str) -> str:
    """The comparable form of a short value, for a model's answer and a gold answer alike: typography unified,
    markdown removed, whitespace (line breaks included) collapsed, `strip_edges`."""
    return strip_edges(" ".join(strip_markdown(unify_typography(text)).split()))


def extract_short_answer(answer: str) -> str:
    """The value a short answer gives, without the sentence around it.

    Typography unified and markdown removed; a preamble line dropped; the first remaining line; its first sentence; a
    lead-in such as "The title is", "It says" or "Answer:" removed; `strip_edges`. "The title is 'Alone'." ->
    "Alone"; "The book is 'A Novel' by M. Maxwell" -> "'A Novel' by M. Maxwell" (kept whole, so it is scored as the
    wrong title it is).
    """
    text = drop_preamble_line(strip_markdown(unify_typography(answer)))
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    if not lines:
        return ""
    value = _LEAD_IN.sub("", _first_sentence(lines[0]), count=1)
    return clean_value(value)


def answer_candidates(answer: str) -> list[str]:
    """The readings of a short answer that the extracted metrics score, best one counting: the extracted value
    (`extract_short_answer`) and the whole answer (a preamble line dropped, `clean_value`). Extraction only removes
    what surrounds a value, and the whole answer is always a reading, so a gold answer given verbatim always matches
    itself ("Smoking is harmful", "Mt. Sinai Hospital")."""
    whole = clean_value(drop_preamble_line(strip_markdown(unify_typography(answer))))
    value = extract_short_answer(answer)
    return [c for c in dict.fromkeys((value, whole)) if c]


_ARTICLE = re.compile(r"^(?:the|a|an)\s+")


def normalize_answer(text: str) -> str:
    """For exact match, of an answer and a gold answer alike: `clean_value`, case folded, a leading article removed,
    a number word (zero to twenty) written as digits."""
    text = clean_value(text).casefold()
    text = _ARTICLE.sub("", text)
    return str(NUMBER_WORDS[text]) if text in NUMBER_WORDS else text


# ------------------------------------------------------------------------------------------------ numbers, times

NUMBER_WORDS = {w: i for i, w in enumerate(
    ["zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine", "ten", "eleven", "twelve", "thirteen", "fourteen", "fifteen", "sixteen", "seventeen", "eighteen", "nineteen", "twenty"]
)}  # fmt: skip
# Digits with thousands separators and decimals, or a bare decimal (".35").
_NUMBER = re.compile(r"(?<![\w.,])([-+]?)((?:\d{1,3}(?:,\d{3})+|\d+)(?:\.\d+)?|\.\d+)(?!\d|,\d|\.\d)(\s*%)?")


def _numbers(text: str) -> list[tuple[float, bool]]:
    """(value, followed by '%') for every number in `text`, in order (see `numbers_in`)."""
    text = unify_typography(text)
    found = []
    for m in _NUMBER.finditer(text):
        start = m.start()
        if not m.group(1) and start >= 2 and text[start - 1] == "-" and text[start - 2].isalnum():
            continue
        found.append((float(m.group(1) + m.group(2).replace(",", "")), bool(m.group(3))))
    found += [(float(NUMBER_WORDS[w]), False) for w in re.findall(r"[a-z]+", text.lower()) if w in NUMBER_WORDS]
    return found


def numbers_in(text: str) -> list[float]:
    """Every number in `text`, in order: digits with thousands separators and decimals (".35" included), with
    currency or unit affixes ("$14.7B", "25%", "1,284.50", "2L"), and the number words zero to twenty. Digits glued
    to letters or hyphens on their left are part of an identifier (FY2023, V-3318, 2024-03-15) and are not numbers.
    A percentage is its number as written: "25%" is 25 (`number_readings` gives both readings)."""
    return [value for value, _ in _numbers(text)]


def parse_number(text: str) -> float | None:
    """The single number in a short answer, or None when there is none or more than one (ambiguous)."""
    nums = numbers_in(text)
    return nums[0] if len(nums) == 1 else None


def number_readings(text: str) -> tuple[float, ...]:
    """The values the single number in `text` may mean: a percentage "35%" is 0.35 (ChartQA's published rule) or 35
    (the chart's axis unit), anything else its value; () when there is no number or more than one."""
    nums = _numbers(text)
    if len(nums) != 1:
        return ()
    value, percent = nums[0]
    return (value / 100, value) if percent else (value,)


_HOUR_WORDS = {**{w: i for w, i in NUMBER_WORDS.items() if 1 <= i <= 12}, "noon": 12, "midnight": 12}
_CLOCK = re.compile(r"\b(\d{1,2})[:.h](\d{2})\b")
_OCLOCK = re.compile(r"\b(\d{1,2}|[a-z]+)\s*o'?\s*clock\b")
_AMPM = re.compile(r"\b(\d{1,2})\s*(?:a\.?m\.?|p\.?m\.?)(?![a-z])")
_PAST_TO = re.compile(r"\b(half|quarter|\d{1,2}|[a-z]+)(?: minutes)?\s+(past|after|to|before)\s+(\d{1,2}|[a-z]+)\b")


def _hour(token: str) -> int | None:
    value = int(token) if token.isdigit() else _HOUR_WORDS.get(token)
    return value if value is not None and 0 <= value <= 24 else None


def parse_time(text: str) -> tuple[int, int] | None:
    """A clock time as (hour on a 12-hour dial, minute): "3:00", "15:00", "3 o'clock", "three o'clock",
    "3 pm", "half past seven", "quarter to five". None when absent or when the answer names several times."""
    text = unify_typography(text).lower()
    times = set()
    for h, m in _CLOCK.findall(text):
        if int(h) <= 24 and int(m) < 60:
            times.add((int(h) % 12, int(m)))
    for h in _OCLOCK.findall(text):
        if _hour(h) is not None:
            times.add((_hour(h) % 12, 0))
    for h in _AMPM.findall(text):
        if _hour(h) is not None:
            times.add((_hour(h) % 12, 0))
    for amount, rel, h in _PAST_TO.findall(text):
        minutes = {"half": 30, "quarter": 15}.get(amount)
        if minutes is None:
            minutes = int(amount) if amount.isdigit() else NUMBER_WORDS.get(amount)
        hour = _hour(h)
        if minutes is None or hour is None or not 0 < minutes < 60:
            continue
        times.add(((hour % 12), minutes) if rel in ("past", "after") else ((hour - 1) % 12, 60 - minutes))
    return times.pop() if len(times) == 1 else None


# ------------------------------------------------------------------------------------------------ choices, yes/no

LETTERS = "ABCDEFGH"
_CHOICE_LEAD = re.compile(
    r"^(?:the\s+)?(?:correct\s+|final\s+|best\s+)?(?:answer|option|choice)(?:\s+is)?\s*[:\-]?\s*", re.I
)
_CHOICE_ANYWHERE = re.compile(r"\b(?:answer|option|choice)\s+(?:is\s+)?[:\-]?\s*\(?((?-i:[A-H]))\)?(?![\w'])", re.I)
_LEADING_LETTER = re.compile(r"\(?([A-H])\)?(?=$|[\s.):,])")


def parse_choice(answer: str, choices: Sequence[str]) -> int | None:
    """Index of the option an answer picks, or None when it cannot be told.

    An option letter first: "B", "(B)", "B.", "B) cat", "Answer: B", "The answer is (B)". A bare capital
    followed by other words counts only when they start that option's text, so "A cat" is not option A.
    Otherwise the option whose text (whole words) the answer names, when it names exactly one.
    """
    text = strip_markdown(unify_typography(answer)).strip()
    letters = LETTERS[: len(choices)]
    lead = _CHOICE_LEAD.match(text)
    body = text[lead.end() :] if lead else text
    m = _LEADING_LETTER.match(body)
    if m and m.group(1) in letters:
        index = letters.index(m.group(1))
        rest = body[m.end() :]
        explicit = bool(lead) or m.group(0).startswith("(") or not rest.strip() or rest[0] in ".):,"
        if explicit or _words(rest)[: len(_words(choices[index]))] == _words(choices[index]):
            return index
    m = _CHOICE_ANYWHERE.search(text)
    if m and m.group(1).upper() in letters:
        return letters.index(m.group(1).upper())
    named = [i for i, choice in enumerate(choices) if _contains_phrase(_words(text), _words(choice))]
    return named[0] if len(named) == 1 else None


def parse_yes_no(answer: str) -> bool | None:
    """True for yes, False for no, None when the answer says neither or both ("Yes, ..." and "No." count)."""
    words = _words(strip_markdown(unify_typography(answer)))
    if not words:
        return None
    if words[0] in ("yes", "no"):
        return None if words[1:3] in (["and", "no"], ["or", "no"], ["and", "yes"], ["or", "yes"]) else words[0] == "yes"
    said = {w for w in words if w in ("yes", "no")}
    return (said.pop() == "yes") if len(said) == 1 else None


def _words(text: str) -> list[str]:
    return re.sub(r"[\W_]+", " ", unify_typography(text).lower()).split()


def _contains_phrase(words: list[str], phrase: list[str]) -> bool:
    k = len(phrase)
    return k > 0 and any(words[i : i + k] == phrase for i in range(len(words) - k + 1))


# ------------------------------------------------------------------------------------------------ VQA answers

# The VQA evaluation's answer normalisation (Antol et al. 2015, used by VQAv2 and TextVQA), so that vqa_accuracy
# matches published numbers: these punctuation marks are deleted where they touch a space (or when the answer holds
# a digit-comma-digit group), else replaced by a space; a period is deleted unless a digit follows; then lower case,
# number words zero to ten (and "none") as digits, articles dropped, and contractions written without their
# apostrophe ("dont") given it back. Both the human answers and the model's are normalised.
_VQA_PUNCTUATION = ';/[]"{}()=+\\_-><@`,?!'
_VQA_DIGIT_COMMA = re.compile(r"\d,\d")
_VQA_PERIOD = re.compile(r"\.(?!\d)")
_VQA_NUMBERS = {"none": "0", **{w: str(i) for w, i in NUMBER_WORDS.items() if i <= 10}}
_VQA_ARTICLES = {"a", "an", "the"}
# Only spellings that are not words themselves ("well", "shed", "its" stay as they are).
_VQA_CONTRACTIONS = {c.replace("'", ""): c for c in (
    "ain't", "aren't", "can't", "could've", "couldn't", "didn't", "doesn't", "don't", "hadn't", "hasn't", "haven't",
    "he'd", "he's", "how'd", "how'll", "how's", "isn't", "it'd", "it'll", "ma'am", "mightn't", "might've", "mustn't",
    "must've", "needn't", "not've", "o'clock", "oughtn't", "shan't", "should've", "shouldn't", "somebody'll",
    "somebody's", "someone'd", "someone'll", "someone's", "something'd", "something'll", "that's", "there'd",
    "there're", "there's", "they'd", "they'll", "they're", "they've", "'twas", "wasn't", "we've", "weren't",
    "what'll", "what're", "what's", "what've", "when's", "where'd", "where's", "where've", "who'd", "who'll", "who's",
    "who've", "why'll", "why're", "why's", "won't", "would've", "wouldn't", "y'all", "you'd", "you'll", "you're",
    "you've",
)}  # fmt: skip
# Double contractions, each spelled with one of its apostrophes missing ("couldnt've", "couldn'tve"), as the official
# list has them; and its one reversed entry, kept for conformance.
_VQA_CONTRACTIONS.update({c[:i] + c[i + 1 :]: c for c in (
    "couldn't've", "hadn't've", "he'd've", "it'd've", "mightn't've", "she'd've", "shouldn't've", "somebody'd've",
    "someone'd've", "something'd've", "there'd've", "they'd've", "we'd've", "who'd've", "wouldn't've", "y'all'll",
    "y'all'd've", "you'd've",
) for i, ch in enumerate(c) if ch == "'"})  # fmt: skip
_VQA_CONTRACTIONS["somebody'd"] = "somebodyd"


def vqa_punctuation(text: str) -> str:
    """The VQA evaluation's processPunctuation: each listed mark is deleted where it touches a space (or anywhere,
    when the text holds a digit-comma-digit group), else replaced by a space; then a period not followed by a digit
    is deleted. Case is kept."""
    delete_all = bool(_VQA_DIGIT_COMMA.search(text))
    out = text
    for mark in _VQA_PUNCTUATION:
        touching = mark + " " in text or " " + mark in text
        out = out.replace(mark, "" if touching or delete_all else " ")
    return _VQA_PERIOD.sub("", out)


def vqa_digits_articles(text: str) -> str:
    """The VQA evaluation's processDigitArticle: lower case, number words zero to ten (and "none") as digits,
    articles dropped, contractions written without their apostrophe given it back."""
    words = [_VQA_NUMBERS.get(w, w) for w in text.lower().split()]
    return " ".join(_VQA_CONTRACTIONS.get(w, w) for w in words if w not in _VQA_ARTICLES)


def vqa_normalize(text: str) -> str:
    """An answer as the VQA evaluation compares it: "Two dogs." -> "2 dogs", "the STOP-sign" -> "stop sign"."""
    return vqa_digits_articles(vqa_punctuation(text.replace("\n", " ").replace("\t", " ").strip()))

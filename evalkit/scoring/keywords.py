"""Keyword matching for free-form answers: whole words, plurals, negation, and relations within a sentence.

Text is matched on words: typography unified (curly quotes, n't), lower-case, every non-alphanumeric character
a word break, so "4.99" is the words "4 99" on both sides. An answer word may be a plural of the keyword (+s,
+es, y -> ies). A mention inside a negated phrase does not count, neither as a keyword nor as a forbidden word:

- "no", "without", "nor", "neither", "none" negate the next three words ("there is no red dog");
- "not" (and n't), "never", "nothing", "cannot" negate the rest of the clause, at most six words ("the cat is
  not wearing a collar", "nothing was added");
- a clause ends at , ; : ( ) and at but, and, although, though, while, whereas, however, yet, instead, so,
  because, which, except, than ("there is no dog and the cat is orange": the cat counts).

A phrase counts when its first word is not negated, so "no difference" and "no longer" are keywords like any
other. Negation after the word ("a dog is not present") is not recognised; forbidden words are chosen so
that a faithful answer has no reason to name them at all.

A relation ({"object": ["square"], "change": ["larger", "bigger"]}) counts when every role is mentioned in one
sentence; with "order": ["from", "to"] those roles must appear in that order ("from blue to orange", not
"from orange to blue").
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

from evalkit.data.samples import Relation
from evalkit.scoring.extraction import unify_typography

_SENTENCE = re.compile(r"(?<=[.!?;])\s+|\n+")
_CONTRACTION = re.compile(r"n't\b")
_BOUNDARY = re.compile(r"[,;:()\[\]]")
_CLAUSE_WORDS = {"but", "and", "although", "though", "while", "whereas", "however", "yet", "instead", "so",
                 "because", "which", "except", "than"}  # fmt: skip
_NEGATE_NEXT = {"no", "without", "nor", "neither", "none"}
_NEGATE_CLAUSE = {"not", "never", "nothing", "cannot"}
_NEXT_WORDS, _CLAUSE_MAX = 3, 6


@dataclass(frozen=True)
class Sentence:
    words: tuple[str, ...]
    negated: tuple[bool, ...]


def words(text: str) -> list[str]:
    """Lower-case words of `text` (typography unified; any non-alphanumeric character separates words)."""
    return re.sub(r"[\W_]+", " ", unify_typography(text).lower()).split()


def sentences(answer: str) -> list[Sentence]:
    """The answer split into sentences, each word flagged when it sits inside a negated phrase."""
    text = _CONTRACTION.sub(" not", unify_typography(answer).lower())
    out = []
    for part in _SENTENCE.split(text):
        ws: list[str] = []
        neg: list[bool] = []
        near = clause = 0
        for chunk in _BOUNDARY.split(part):
            near = clause = 0  # punctuation ends a clause
            for w in re.sub(r"[\W_]+", " ", chunk).split():
                if w in _CLAUSE_WORDS:
                    near = clause = 0
                ws.append(w)
                neg.append(near > 0 or clause > 0)
                near, clause = max(near - 1, 0), max(clause - 1, 0)
                if w in _NEGATE_NEXT:
                    near = _NEXT_WORDS
                elif w in _NEGATE_CLAUSE:
                    clause = _CLAUSE_MAX
        if ws:
            out.append(Sentence(tuple(ws), tuple(neg)))
    return out


def _forms(word: str) -> set[str]:
    """The keyword word and the plurals an answer may use instead."""
    forms = {word, word + "s", word + "es"}
    if word.endswith("y") and len(word) > 1:
        forms.add(word[:-1] + "ies")
    return forms


def _positions(sentence: Sentence, phrase: str) -> list[int]:
    """Start positions of non-negated whole-word mentions of `phrase` (each word plural-tolerant)."""
    parts = [_forms(w) for w in words(phrase)]
    k, ws = len(parts), sentence.words
    if not parts:
        return []
    return [
        i for i in range(len(ws) - k + 1) if not sentence.negated[i] and all(ws[i + t] in parts[t] for t in range(k))
    ]


def mentions(answer: str | Sequence[Sentence], phrase: str) -> bool:
    """True when the answer mentions `phrase` outside a negated phrase."""
    parsed = sentences(answer) if isinstance(answer, str) else answer
    return any(_positions(s, phrase) for s in parsed)


def _relation_holds(sentence: Sentence, relation: Relation) -> bool:
    found = {name: sorted(p for alt in alts for p in _positions(sentence, alt)) for name, alts in relation.roles}
    if not all(found.values()):
        return False
    last = -1
    for name in relation.order:  # the first mention after the previous role's, greedily: exists iff this succeeds
        later = [p for p in found[name] if p > last]
        if not later:
            return False
        last = later[0]
    return True


def group_matched(parsed: Sequence[Sentence], group: Sequence[str] | Relation) -> bool:
    if isinstance(group, Relation):
        return any(_relation_holds(s, group) for s in parsed)
    return any(mentions(parsed, alt) for alt in group)


def groups_named(answer: str, groups: Sequence[Sequence[str] | Relation]) -> int:
    """How many groups the answer matches (a plain group: any alternative; a relation: all roles in a sentence)."""
    parsed = sentences(answer)
    return sum(group_matched(parsed, g) for g in groups)


def forbidden_named(answer: str, forbidden: Sequence[str]) -> int:
    """How many of the forbidden words the answer mentions outside a negated phrase."""
    parsed = sentences(answer)
    return sum(mentions(parsed, w) for w in forbidden)


def keyword_recall(answer: str, groups: Sequence[Sequence[str] | Relation]) -> float:
    """Share of groups matched; NaN when there are no groups."""
    return groups_named(answer, groups) / len(groups) if groups else float("nan")


def forbidden_rate(answer: str, forbidden: Sequence[str]) -> float:
    """Share of the forbidden words the answer mentions outside a negated phrase; 0.0 when there are none."""
    return forbidden_named(answer, forbidden) / len(forbidden) if forbidden else 0.0

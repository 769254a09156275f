"""Scoring a model's answer against a sample's labels. Pure and deterministic; knows nothing of models.

OCR (task "ocr")
    Both reference and answer go through `normalize_text`: Unicode NFKC, every run of whitespace
    (spaces, tabs, line breaks) collapsed to one space, leading/trailing whitespace stripped; case is
    kept unless the sample says ``case_sensitive: false`` (then both sides are lower-cased).
    Line breaks and indentation therefore never count as errors.

    ``cer`` / ``wer``  jiwer's character / word error rate on the normalised strings: edit distance
        divided by the reference length. Raw values: they exceed 1.0 when the answer is much longer
        than the reference (a chatty answer), so read them next to ``located_cer``.
    ``located_cer``  edit distance between the reference and the best-matching substring of the
        answer, divided by the reference length (approximate substring matching, Sellers' DP). A
        preamble such as "The text in the image reads:" costs nothing; missing, wrong or inserted
        characters inside the matched span do. In [0, 1]; an empty answer scores 1.0.
        For samples with ``fields`` (the question asks for parts such as title and author, not the
        whole text) it is the mean of the per-field located CERs, i.e. equal to ``field_cer``.
    ``field_cer``  mean over the sample's fields of each field's located CER (see `field_cers`).

Description and comparison (tasks "describe", "compare")
    Text is matched on words: NFKC, lower-case, every non-alphanumeric character a word break.
    ``keyword_recall``  share of keyword groups of which at least one alternative appears as a whole
        word or phrase; an answer word may be a plural of the keyword (+s, +es, y->ies).
    ``forbidden_rate``  share of the forbidden words mentioned (same matching); 0 when there are none.
        A mention counts even when negated ("there is no dog"); the forbidden words are chosen so that
        a faithful answer has no reason to name them.
"""

from __future__ import annotations

import math
import re
import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass

import jiwer
import numpy as np

from evalkit.stats import Estimate, bootstrap_mean_ci
from evalkit.suites import Sample


@dataclass(frozen=True)
class MetricInfo:
    name: str
    higher_is_better: bool
    unit: str
    description: str


METRICS: dict[str, MetricInfo] = {
    m.name: m
    for m in (
        MetricInfo("cer", False, "ratio", "character error rate of the whole answer (jiwer; can exceed 1)"),
        MetricInfo("wer", False, "ratio", "word error rate of the whole answer (jiwer; can exceed 1)"),
        MetricInfo(
            "located_cer", False, "ratio", "CER against the best-matching span of the answer (fields: mean over fields)"
        ),
        MetricInfo("field_cer", False, "ratio", "mean located CER over the fields the question asks for"),
        MetricInfo("keyword_recall", True, "fraction", "share of keyword groups mentioned"),
        MetricInfo("forbidden_rate", False, "fraction", "share of forbidden (hallucinated) words mentioned"),
    )
}

PRIMARY_METRIC: dict[str, str] = {"ocr": "located_cer", "describe": "keyword_recall", "compare": "keyword_recall"}

_WS = re.compile(r"\s+")
_NON_WORD = re.compile(r"[\W_]+")


def normalize_text(text: str, *, case_sensitive: bool = True) -> str:
    """NFKC, whitespace runs collapsed to one space, stripped; lower-cased unless case_sensitive."""
    text = _WS.sub(" ", unicodedata.normalize("NFKC", text)).strip()
    return text if case_sensitive else text.lower()


def _require_reference(reference: str) -> None:
    if not reference:
        raise ValueError("reference is empty after normalisation; it cannot be scored")


def cer(reference: str, hypothesis: str, *, case_sensitive: bool = True) -> float:
    """jiwer character error rate on the normalised strings (raw: may exceed 1.0)."""
    ref = normalize_text(reference, case_sensitive=case_sensitive)
    _require_reference(ref)
    return float(jiwer.cer(ref, normalize_text(hypothesis, case_sensitive=case_sensitive)))


def wer(reference: str, hypothesis: str, *, case_sensitive: bool = True) -> float:
    """jiwer word error rate on the normalised strings (raw: may exceed 1.0)."""
    ref = normalize_text(reference, case_sensitive=case_sensitive)
    _require_reference(ref)
    return float(jiwer.wer(ref, normalize_text(hypothesis, case_sensitive=case_sensitive)))


def substring_edit_distance(pattern: str, text: str) -> int:
    """Minimum Levenshtein distance between `pattern` and any substring of `text` (Sellers 1980).

    Row i of the DP holds, for every end position j in `text`, the cost of matching pattern[:i]
    ending there; row 0 is all zeros because the match may start anywhere. The insertion step
    D[i][j] = min(D[i][j], D[i][j-1] + 1) is a running minimum, computed per row in numpy as
    j + cummin(C[j] - j), so the whole thing is O(len(pattern)) numpy passes over `text`.
    """
    m, n = len(pattern), len(text)
    if m == 0:
        return 0
    if n == 0:
        return m
    codes = np.frombuffer(text.encode("utf-32-le"), dtype=np.uint32)
    cols = np.arange(n + 1, dtype=np.int64)
    prev = np.zeros(n + 1, dtype=np.int64)
    for i, ch in enumerate(pattern, start=1):
        mismatch = (codes != ord(ch)).astype(np.int64)
        cand = np.empty(n + 1, dtype=np.int64)
        cand[0] = i
        # substitution/match from the diagonal, deletion (skip a pattern char) from above
        cand[1:] = np.minimum(prev[:-1] + mismatch, prev[1:] + 1)
        prev = np.minimum.accumulate(cand - cols) + cols
    return int(prev.min())


def located_cer(reference: str, hypothesis: str, *, case_sensitive: bool = True) -> float:
    """Edit distance of the reference to the best-matching span of the answer, over len(reference)."""
    ref = normalize_text(reference, case_sensitive=case_sensitive)
    _require_reference(ref)
    hyp = normalize_text(hypothesis, case_sensitive=case_sensitive)
    return substring_edit_distance(ref, hyp) / len(ref)


def field_cers(sample: Sample, answer: str) -> dict[str, float]:
    """Located CER of each field of an OCR sample, by field name (empty when it has no fields)."""
    return {
        name: located_cer(text, answer, case_sensitive=sample.case_sensitive)
        for name, text in (sample.fields or {}).items()
    }


def _words(text: str) -> list[str]:
    return _NON_WORD.sub(" ", unicodedata.normalize("NFKC", text).lower()).split()


def _forms(word: str) -> set[str]:
    """The keyword word and the plurals an answer may use instead."""
    forms = {word, word + "s", word + "es"}
    if word.endswith("y") and len(word) > 1:
        forms.add(word[:-1] + "ies")
    return forms


def _mentions(answer_words: list[str], phrase: str) -> bool:
    """Whole-word/phrase match of `phrase` in the answer's words, each phrase word plural-tolerant."""
    parts = [_forms(w) for w in _words(phrase)]
    if not parts:
        return False
    k = len(parts)
    return any(all(answer_words[start + t] in parts[t] for t in range(k)) for start in range(len(answer_words) - k + 1))


def keyword_recall(answer: str, groups: Sequence[Sequence[str]]) -> float:
    """Share of groups with at least one alternative mentioned; NaN when there are no groups."""
    if not groups:
        return math.nan
    words = _words(answer)
    hits = sum(any(_mentions(words, alt) for alt in group) for group in groups)
    return hits / len(groups)


def forbidden_rate(answer: str, words: Sequence[str]) -> float:
    """Share of forbidden words mentioned in the answer; 0.0 when there are none."""
    if not words:
        return 0.0
    answer_words = _words(answer)
    return sum(_mentions(answer_words, w) for w in words) / len(words)


def score_sample(sample: Sample, answer: str) -> dict[str, float]:
    """All metrics for one answer; the keys are names in METRICS. Deterministic."""
    if sample.task == "ocr":
        if sample.reference is None:
            raise ValueError(f"ocr sample {sample.id!r} has no reference")
        cs = sample.case_sensitive
        scores = {
            "cer": cer(sample.reference, answer, case_sensitive=cs),
            "wer": wer(sample.reference, answer, case_sensitive=cs),
            "located_cer": located_cer(sample.reference, answer, case_sensitive=cs),
        }
        if sample.fields:
            per_field = field_cers(sample, answer)
            scores["field_cer"] = sum(per_field.values()) / len(per_field)
            # The question asked for the parts, not the full text, so the primary metric follows the fields.
            scores["located_cer"] = scores["field_cer"]
        return scores
    if sample.task in ("describe", "compare"):
        return {
            "keyword_recall": keyword_recall(answer, sample.keywords),
            "forbidden_rate": forbidden_rate(answer, sample.forbidden),
        }
    raise ValueError(f"unknown task {sample.task!r} for sample {sample.id!r}")


def aggregate(scores: Sequence[dict[str, float]], *, seed: int = 0) -> dict[str, Estimate]:
    """Mean and bootstrap CI (evalkit.stats) of each metric over the samples that have it."""
    names = sorted({name for s in scores for name in s})
    return {name: bootstrap_mean_ci([s[name] for s in scores if name in s], seed=seed) for name in names}

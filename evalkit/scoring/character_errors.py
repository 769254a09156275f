"""Character and word error rates of a transcription: jiwer's CER / WER of the whole answer, and the located CER
(the reference against the best-matching span of the answer, Sellers' approximate substring matching), on text
whose typography and whitespace are unified first."""

from __future__ import annotations

from collections.abc import Sequence

import jiwer
import numpy as np
from rapidfuzz.distance import Levenshtein

from evalkit.scoring.extraction import clean_value, strip_markdown, unify_typography


def normalize_text(text: str, *, case_sensitive: bool = True) -> str:
    """Typography unified (NFKC, quotes, dashes, ellipsis), whitespace runs collapsed to one space, stripped;
    case folded unless case_sensitive."""
    text = " ".join(unify_typography(text).split())
    return text if case_sensitive else text.casefold()


def _clean_answer(answer: str, case_sensitive: bool) -> str:
    return normalize_text(strip_markdown(unify_typography(answer)), case_sensitive=case_sensitive)


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
    """Edit distance of the reference to the best-matching span of the (markdown-stripped) answer, over
    len(reference)."""
    ref = normalize_text(reference, case_sensitive=case_sensitive)
    _require_reference(ref)
    return substring_edit_distance(ref, _clean_answer(hypothesis, case_sensitive)) / len(ref)


def value_cer(values: Sequence[str], answers: Sequence[str], case_sensitive: bool) -> float:
    """CER of the best reading of a short answer against the closest accepted answer, capped at 1."""
    best = 1.0
    for gold in answers:
        ref = normalize_text(clean_value(gold), case_sensitive=case_sensitive)
        _require_reference(ref)
        for value in values:
            hyp = normalize_text(value, case_sensitive=case_sensitive)
            best = min(best, Levenshtein.distance(ref, hyp) / len(ref))
    return best

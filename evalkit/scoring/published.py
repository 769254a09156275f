"""The published scorers of the standard benchmarks, applied to the model's raw answer as their reference
implementations do: the numbers users compare with leaderboards. Pure text functions, no labels files, no torch.

Each function follows one reference, named in its docstring and in docs/scoring.md with the rule it implements;
evalkit's own (extracted) metrics are in `evalkit.scoring.metrics`. Where a reference has a quirk (ChartQA's "%" rule, the VQA
evaluation normalising the human answers only when they disagree, POPE reading an answer without "no" as yes), the
quirk is kept: that is what makes the number comparable.
"""

from __future__ import annotations

import string
from collections.abc import Mapping, Sequence

from rapidfuzz.distance import Levenshtein

from evalkit.scoring.extraction import vqa_digits_articles, vqa_punctuation

__all__ = [
    "ANLS_THRESHOLD", "RELAXED_TOLERANCE", "anls_published", "mmbench_choice",
    "pope_says_yes", "relaxed_accuracy_published", "vqa_accuracy_published",
]  # fmt: skip

ANLS_THRESHOLD = 0.5
RELAXED_TOLERANCE = 0.05


# ------------------------------------------------------------------------------------------------ VQA (TextVQA, VQAv2)


def vqa_accuracy_published(answer: str, human_answers: Sequence[str]) -> float:
    """VQA accuracy as the official evaluation (vqaEval.py, Antol et al. 2015) computes it for one question.

    The answer: newlines and tabs to spaces, stripped, processPunctuation then processDigitArticle. The human answers:
    stripped, and given processPunctuation only (no digit / article step) and only when they are not all the same.
    Then for each human answer left out, min(1, matches among the other nine / 3), averaged (10 choose 9).
    """
    res = vqa_digits_articles(vqa_punctuation(answer.replace("\n", " ").replace("\t", " ").strip()))
    golds = [g.replace("\n", " ").replace("\t", " ").strip() for g in human_answers]
    if not golds:
        return 0.0
    if len(set(golds)) > 1:
        golds = [vqa_punctuation(g) for g in golds]
    matches = sum(g == res for g in golds)
    return sum(min(1.0, (matches - (g == res)) / 3) for g in golds) / len(golds)


# ------------------------------------------------------------------------------------------------ ANLS (DocVQA)


def anls_published(answer: str, golds: Sequence[str], threshold: float = ANLS_THRESHOLD) -> float:
    """DocVQA's ANLS for one question as lmms-eval and VLMEvalKit compute it (their `anls`, after the RRC script).

    Both sides stripped, lower-cased and whitespace-collapsed for the edit distance; the length it is divided by is
    the longer of the two *raw* strings. NL is the smallest over the gold answers; the score is 1 - NL, or 0 when
    1 - NL < threshold (so a similarity of exactly 0.5 keeps its 0.5).
    """
    if not golds:
        return 0.0
    det = " ".join(answer.strip().lower().split())
    distances = []
    for gold in golds:
        gt = " ".join(gold.strip().lower().split())
        length = max(len(gold.upper()), len(answer.upper()))
        distances.append(0.0 if length == 0 else Levenshtein.distance(gt, det) / length)
    score = 1.0 - min(distances)
    return 0.0 if score < threshold else score


# ------------------------------------------------------------------------------------------------ ChartQA


def _relaxed_float(text: str) -> float | None:
    try:
        return float(text.rstrip("%")) / 100.0 if text.endswith("%") else float(text)
    except ValueError:
        return None


def _relaxed_correct(prediction: str, target: str, tolerance: float) -> bool:
    pred, gold = _relaxed_float(prediction), _relaxed_float(target)
    if pred is not None and gold:  # a gold of 0 is compared as text, as in the reference
        return abs(pred - gold) / abs(gold) <= tolerance
    return prediction.lower() == target.lower()


def relaxed_accuracy_published(answer: str, golds: Sequence[str], tolerance: float = RELAXED_TOLERANCE) -> float:
    """ChartQA's relaxed accuracy as lmms-eval (chartqa/utils.py) and VLMEvalKit (vqa_eval.py) compute it.

    The answer stripped (VLMEvalKit); each side read with Python's float(), a trailing "%" dividing by 100 ("35%" is
    0.35); both numbers and a non-zero gold: correct within 5% relative error; otherwise a case-insensitive string
    comparison. "1,000", "$5" and "five" are not numbers here. The best gold counts (VLMEvalKit takes the max).
    """
    pred = answer.strip()
    return float(any(_relaxed_correct(pred, gold.strip(), tolerance) for gold in golds))


# ------------------------------------------------------------------------------------------------ POPE


def pope_says_yes(answer: str) -> bool:
    """POPE's evaluate.py (also LLaVA's eval_pope.py): keep the text before the first '.', drop commas, split on
    spaces; the answer is "no" when a word is exactly "No", "no" or "not", and "yes" otherwise, so an answer with
    neither word counts as yes."""
    text = answer.split(".")[0] if "." in answer else answer
    words = text.replace(",", "").split(" ")
    return not ("No" in words or "not" in words or "no" in words)


# ------------------------------------------------------------------------------------------------ MMBench

_REFUSALS = (
    "Sorry, I can't help with images of people yet.",
    "I can't process this file.",
    "I'm sorry, but without the image provided",
    "Cannot determine the answer",
)
_OPTION_SEPARATORS = str.maketrans({c: " " for c in ".()[],:;!*#{}"})


def mmbench_choice(answer: str, options: Mapping[str, str]) -> str | None:
    """The option letter VLMEvalKit's exact-matching policy reads from an answer (matching_util.can_infer), or None.

    First the letters: the punctuation .()[],:;!*#{} becomes spaces and the answer is split on whitespace; when
    exactly one option letter is a word, that is the answer (a known refusal, or no letter but a lone "Z", reads as
    "Z", which no option is). Otherwise the option texts: when exactly one lower-cased option text occurs in the
    lower-cased answer, that option. Without an LLM judge VLMEvalKit scores the rest as wrong, and so does evalkit.
    """
    letters = [k for k in options if k in string.ascii_uppercase]
    if any(refusal in answer for refusal in _REFUSALS):
        return None  # VLMEvalKit's "Z"
    words = answer.translate(_OPTION_SEPARATORS).split()
    named = [k for k in letters if k in words]
    if len(named) == 1:
        return named[0]
    if not named and "Z" in words:
        return None
    low = answer.lower()
    texts = [k for k in letters if str(options[k]).lower() in low]
    return texts[0] if len(texts) == 1 else None

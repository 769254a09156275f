"""Scoring a model's answer against a sample's labels. Pure and deterministic; knows nothing of models.

Each question type (`evalkit.data.suites.QUESTION_TYPES`) has its standard metric; `score_sample` returns them all,
and `score` is the type's own headline number, in [0, 1], higher is better (describe and compare gate on it).

transcription (ocr)
    Answers lose their markdown (table pipes and rules, bold/italic, bullets, headings, code fences) and both
    sides get `unify_typography` (NFKC plus quotes, dashes, ellipsis) and whitespace collapsing, so line breaks
    and formatting never count as errors. Case is ignored unless the sample says ``case_sensitive: true``.
    ``located_cer``  edit distance between the reference and the best-matching substring of the answer, over
        the reference length (Sellers' approximate substring matching): a polite preamble costs nothing,
        missing, wrong or inserted characters inside the matched span do. In [0, 1]; empty answer 1.0.
    ``located_cer_cs``  the same, always case-sensitive.
    ``cer`` / ``wer``  jiwer's character / word error rate of the whole answer after removing one recognised
        preamble line ("Here is the text:"): the exact text and nothing else. Can exceed 1 (a chatty answer).

short_answer
    The answer's value is extracted first (`evalkit.scoring.extraction.extract_short_answer`: "The total is 10.74." ->
    "10.74"), then compared with each acceptable answer; the best one counts.
    ``exact_match``  1 when the normalised value equals an answer (`normalize_answer`: case, typography,
        edge punctuation, a leading article, number words); numbers and times compare by value.
    ``anls`` (match "anls", text read from the image)  DocVQA's Average Normalized Levenshtein Similarity:
        1 - edit distance / longer length, 0 below similarity 0.5. Partial credit for a near-miss reading.
    ``relaxed_accuracy`` (match "number")  ChartQA's: correct within 5% relative error (exact when the
        answer is 0). "25%" reads as 25, "$14.7B" as 14.7; more than one number in the value is unparsed.
    match "time"  a clock time, compared on a 12-hour dial: "15:00" equals "3:00", "3:45" does not.
    ``vqa_accuracy`` (match "vqa", TextVQA / VQAv2)  the VQA metric over the human answers (usually 10): both
        sides normalised as the VQA evaluation does (`evalkit.scoring.extraction.vqa_normalize`), then for each human answer
        left out, min(1, matches among the others / 3), averaged. 3 of 10 humans agreeing earns full credit.
    ``contains_answer`` (match "contains" / "contains_formula", OCRBench)  OCRBench's rule, on the whole
        answer, not the extracted value: 1 when an accepted answer, lower-cased and with newlines as spaces,
        occurs in the lower-cased answer; "contains_formula" (handwritten maths) removes spaces and keeps case.
        A lenient published metric: an answer that lists many candidates can win it, which is why
        ``exact_match`` on the extracted value is reported beside it.
    ``unparsed``  1 when no value (number, time, text) could be read; such an answer is wrong.
    ``located_cer`` / ``located_cer_cs`` (ocr only)  CER of the extracted value against the closest answer,
        capped at 1: the field was read exactly, not merely mentioned somewhere.
    ``score``  anls, relaxed_accuracy, vqa_accuracy, contains_answer or exact_match according to the
        sample's match.

multiple_choice / yes_no
    ``accuracy`` 1 when the parsed option / yes-no is the right one; ``unparsed`` 1 when the answer names no
    option (or several) / neither yes nor no (or both): it is wrong, and counted here. ``yes_ratio`` (yes/no)
    1 for yes, 0 for no, absent when unparsed: its mean is the share of yes answers (ideal: the suite's share
    of yes labels, 0.5 when balanced). ``yes_no_f1`` (per suite and tag, from all yes/no samples) is the F1
    of "yes" (POPE); an unparsed answer counts as not-yes. ``score`` = accuracy.

free_form (describe, compare)
    ``keyword_recall``  share of keyword groups matched (`evalkit.scoring.keywords`: whole words, plurals, negation
        aware; relations within one sentence). ``forbidden_rate``  share of forbidden words mentioned outside a
        negated phrase. ``score`` = keyword_recall x named / (named + forbidden words named): recall times
        the precision of the answer's claims, so an answer that lists every possible change cannot win.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import jiwer
import numpy as np
from rapidfuzz.distance import Levenshtein

from evalkit.data.samples import CHOICE_LETTERS, Sample
from evalkit.scoring.extraction import (
    drop_preamble_line,
    extract_short_answer,
    normalize_answer,
    parse_choice,
    parse_number,
    parse_time,
    parse_yes_no,
    strip_markdown,
    unify_typography,
    vqa_normalize,
)
from evalkit.scoring.keywords import forbidden_named, forbidden_rate, groups_named, keyword_recall
from evalkit.scoring.statistics import DEFAULT_RESAMPLES, DEFAULT_SEED, Estimate, bootstrap_mean_ci

__all__ = [
    "METRICS", "PRIMARY_METRIC", "MetricInfo", "aggregate", "anls", "cer", "contains_answer", "exact_match",
    "forbidden_rate", "free_form_score", "keyword_recall", "located_cer", "normalize_text", "parse_choice",
    "parse_yes_no", "relaxed_accuracy", "score_sample", "substring_edit_distance", "vqa_accuracy",
    "wer", "yes_no_f1_estimate", "yes_no_metrics",
]  # fmt: skip


@dataclass(frozen=True)
class MetricInfo:
    name: str
    higher_is_better: bool | None  # None: no direction (a ratio whose ideal is set by the labels)
    unit: str
    description: str


METRICS: dict[str, MetricInfo] = {
    m.name: m
    for m in (
        MetricInfo("score", True, "fraction", "the question type's own metric (keyword score, ANLS, relaxed accuracy, exact match or accuracy)"),
        MetricInfo("located_cer", False, "ratio", "CER of what was asked for: the best-matching span (transcription) or the extracted value (short answer); case-insensitive unless the sample says case matters"),
        MetricInfo("located_cer_cs", False, "ratio", "located_cer, case-sensitive"),
        MetricInfo("cer", False, "ratio", "CER of the whole answer after one preamble line is removed (jiwer; can exceed 1)"),
        MetricInfo("wer", False, "ratio", "WER of the whole answer after one preamble line is removed (jiwer; can exceed 1)"),
        MetricInfo("exact_match", True, "fraction", "short answer equals an accepted answer after normalisation"),
        MetricInfo("anls", True, "fraction", "average normalized Levenshtein similarity, threshold 0.5 (DocVQA)"),
        MetricInfo("relaxed_accuracy", True, "fraction", "number within 5% of the answer (ChartQA)"),
        MetricInfo("vqa_accuracy", True, "fraction", "VQA accuracy: min(1, humans who gave the answer / 3), leave-one-out averaged (TextVQA, VQAv2)"),
        MetricInfo("contains_answer", True, "fraction", "an accepted answer occurs in the whole answer, lower-cased (OCRBench's rule; lenient)"),
        MetricInfo("accuracy", True, "fraction", "multiple choice / yes-no answered correctly"),
        MetricInfo("unparsed", False, "fraction", "share of answers that name no option, yes/no, number or time (counted wrong)"),
        MetricInfo("yes_ratio", None, "fraction", "share of parsed yes/no answers that say yes (ideal: the labels' share, 0.5 when balanced)"),
        MetricInfo("yes_no_f1", True, "fraction", "F1 of 'yes' over the yes/no questions (POPE); bootstrap interval"),
        MetricInfo("keyword_recall", True, "fraction", "share of keyword groups named (negation aware; relations within a sentence)"),
        MetricInfo("forbidden_rate", False, "fraction", "share of forbidden (hallucinated) words mentioned, negations excluded"),
    )
}  # fmt: skip

PRIMARY_METRIC: dict[str, str] = {"ocr": "located_cer", "describe": "score", "compare": "score", "vqa": "score"}


# ------------------------------------------------------------------------------------------ character errors


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


def _value_cer(value: str, answers: Sequence[str], case_sensitive: bool) -> float:
    """CER of an extracted value against the closest accepted answer, capped at 1."""
    hyp = normalize_text(value, case_sensitive=case_sensitive)
    best = 1.0
    for gold in answers:
        ref = normalize_text(gold, case_sensitive=case_sensitive)
        _require_reference(ref)
        best = min(best, Levenshtein.distance(ref, hyp) / len(ref))
    return best


# ------------------------------------------------------------------------------------------ short answers


def exact_match(prediction: str, answers: Sequence[str]) -> float:
    """1.0 when `prediction` equals one of `answers` after `normalize_answer`, else 0.0."""
    pred = normalize_answer(prediction)
    return float(bool(pred) and any(pred == normalize_answer(a) for a in answers))


def anls(prediction: str, answers: Sequence[str], threshold: float = 0.5) -> float:
    """DocVQA's ANLS for one question: max over answers of 1 - NL (NL = Levenshtein distance over the longer
    length, on lower-cased, whitespace-collapsed text), or 0 when NL >= threshold."""
    pred = normalize_text(prediction, case_sensitive=False)
    best = 0.0
    for gold in answers:
        ref = normalize_text(gold, case_sensitive=False)
        longest = max(len(ref), len(pred))
        nl = Levenshtein.distance(ref, pred) / longest if longest else 0.0
        best = max(best, 1.0 - nl if nl < threshold else 0.0)
    return best


def relaxed_accuracy(prediction: str | float | None, answers: Sequence[str], tolerance: float = 0.05) -> float:
    """ChartQA's relaxed accuracy: 1.0 when the predicted number is within `tolerance` relative error of a
    numeric answer (exactly equal when that answer is 0); a non-numeric answer needs an exact match."""
    value = parse_number(prediction) if isinstance(prediction, str) else prediction
    for gold in answers:
        target = parse_number(gold)
        if target is None:
            if isinstance(prediction, str) and exact_match(prediction, [gold]):
                return 1.0
        elif value is not None and (abs(value - target) <= tolerance * abs(target) if target != 0 else value == 0):
            return 1.0
    return 0.0


def vqa_accuracy(prediction: str, answers: Sequence[str]) -> float:
    """The VQA accuracy of one answer against the human answers (TextVQA, VQAv2): after `vqa_normalize`, the mean
    over each human answer left out of min(1, matching answers among the others / 3). With a single reference
    answer (no others to agree with) it is its exact match."""
    pred = vqa_normalize(prediction)
    golds = [vqa_normalize(a) for a in answers]
    if not pred or not golds:
        return 0.0
    if len(golds) == 1:
        return float(golds[0] == pred)
    matches = sum(g == pred for g in golds)
    return sum(min(1.0, (matches - (g == pred)) / 3) for g in golds) / len(golds)


def contains_answer(prediction: str, answers: Sequence[str], *, formula: bool = False) -> float:
    """OCRBench's score for one answer: 1.0 when an accepted answer occurs in the whole prediction.

    As OCRBench normalises: both sides stripped and newlines turned into spaces, then lower-cased; with `formula`
    (its handwritten-maths category) every space removed and case kept. An empty accepted answer never counts (it
    would occur in anything).
    """

    def norm(text: str) -> str:
        text = text.strip().replace("\n", " ")
        return text.replace(" ", "") if formula else text.lower()

    pred = norm(prediction)
    return float(any(gold and gold in pred for gold in map(norm, answers)))


def _short_answer_scores(sample: Sample, answer: str) -> dict[str, float]:
    value = extract_short_answer(answer)
    scores: dict[str, float] = {}
    if sample.match == "time":
        said = parse_time(answer)
        scores["exact_match"] = float(said is not None and any(said == parse_time(a) for a in sample.answers))
        scores["unparsed"] = float(said is None)
        scores["score"] = scores["exact_match"]
    elif sample.match == "number":
        number = parse_number(value)
        scores["exact_match"] = float(number is not None and any(number == parse_number(a) for a in sample.answers))
        scores["relaxed_accuracy"] = relaxed_accuracy(number, sample.answers)
        scores["unparsed"] = float(number is None)
        scores["score"] = scores["relaxed_accuracy"]
    elif sample.match == "vqa":
        scores["exact_match"] = exact_match(value, sample.answers)
        scores["vqa_accuracy"] = vqa_accuracy(value, sample.answers)
        scores["unparsed"] = float(not value)
        scores["score"] = scores["vqa_accuracy"]
    elif sample.match in ("contains", "contains_formula"):
        scores["exact_match"] = exact_match(value, sample.answers)
        scores["contains_answer"] = contains_answer(answer, sample.answers, formula=sample.match == "contains_formula")
        scores["unparsed"] = float(not value)
        scores["score"] = scores["contains_answer"]
    else:
        scores["exact_match"] = exact_match(value, sample.answers)
        scores["unparsed"] = float(not value)
        if sample.match == "anls":
            scores["anls"] = anls(value, sample.answers)
        scores["score"] = scores.get("anls", scores["exact_match"])
    if sample.task == "ocr":
        scores["located_cer"] = _value_cer(value, sample.answers, sample.case_sensitive)
        scores["located_cer_cs"] = _value_cer(value, sample.answers, True)
        del scores["score"]  # ocr gates on located_cer; score would only cover part of the suite
    return scores


# ------------------------------------------------------------------------------------------ choices and yes/no


def yes_no_metrics(golds: Sequence[bool], said: Sequence[bool | None]) -> dict[str, float]:
    """POPE's numbers for paired labels and parsed answers (None = unparsed, counted wrong and as not-yes):
    accuracy, precision, recall, f1 of "yes", yes_ratio (over parsed answers) and unparsed share."""
    g = np.asarray(golds, dtype=bool)
    s = np.asarray([x is True for x in said], dtype=bool)
    parsed = np.asarray([x is not None for x in said], dtype=bool)
    n = len(g)
    tp, fp, fn = int((g & s).sum()), int((~g & s & parsed).sum()), int((g & ~s).sum())
    precision = tp / (tp + fp) if tp + fp else math.nan
    recall = tp / (tp + fn) if tp + fn else math.nan
    f1 = 2 * tp / (2 * tp + fp + fn) if tp + fp + fn else math.nan
    correct = int(((g == s) & parsed).sum())
    return {
        "accuracy": correct / n if n else math.nan, "precision": precision, "recall": recall, "f1": f1,
        "yes_ratio": float(s[parsed].mean()) if parsed.any() else math.nan,
        "unparsed": float((~parsed).mean()) if n else math.nan,
    }  # fmt: skip


def yes_no_f1_estimate(
    golds: Sequence[bool],
    said: Sequence[bool | None],
    *,
    seed: int = DEFAULT_SEED,
    n_resamples: int = DEFAULT_RESAMPLES,
) -> Estimate:
    """F1 of "yes" with a percentile-bootstrap interval over the questions (fixed seed)."""
    g = np.asarray(golds, dtype=bool)
    s = np.asarray([x is True for x in said], dtype=bool)
    n = len(g)
    f1 = yes_no_metrics(golds, said)["f1"]
    if n < 2 or math.isnan(f1):
        return Estimate(f1, f1, f1, n)
    idx = np.random.default_rng(seed).integers(0, n, size=(n_resamples, n))
    gi, si = g[idx], s[idx]
    tp = (gi & si).sum(axis=1)
    wrong = (gi ^ si).sum(axis=1)  # false positives + false negatives (an unparsed answer is not-yes)
    denom = 2 * tp + wrong
    boot = np.where(denom > 0, 2 * tp / np.maximum(denom, 1), np.nan)
    low, high = np.nanquantile(boot, [0.025, 0.975])
    return Estimate(f1, min(float(low), f1), max(float(high), f1), n)


# ------------------------------------------------------------------------------------------ per sample


def score_sample(sample: Sample, answer: str) -> dict[str, float]:
    """All metrics for one answer; the keys are names in METRICS. Deterministic."""
    if sample.type == "transcription":
        if sample.reference is None:
            raise ValueError(f"transcription sample {sample.id!r} has no reference")
        cs = sample.case_sensitive
        whole = drop_preamble_line(strip_markdown(unify_typography(answer)))
        return {
            "located_cer": located_cer(sample.reference, answer, case_sensitive=cs),
            "located_cer_cs": located_cer(sample.reference, answer, case_sensitive=True),
            "cer": cer(sample.reference, whole, case_sensitive=cs),
            "wer": wer(sample.reference, whole, case_sensitive=cs),
        }
    if sample.type == "short_answer":
        return _short_answer_scores(sample, answer)
    if sample.type == "multiple_choice":
        index = parse_choice(answer, sample.choices)
        correct = float(index is not None and CHOICE_LETTERS[index] == sample.answers[0])
        return {"accuracy": correct, "unparsed": float(index is None), "score": correct}
    if sample.type == "yes_no":
        said = parse_yes_no(answer)
        correct = float(said is not None and said == (sample.answers[0] == "yes"))
        scores = {"accuracy": correct, "unparsed": float(said is None), "score": correct}
        if said is not None:
            scores["yes_ratio"] = float(said)
        return scores
    if sample.type == "free_form":
        named = groups_named(answer, sample.keywords)
        false = forbidden_named(answer, sample.forbidden)
        return {
            "keyword_recall": named / len(sample.keywords),
            "forbidden_rate": false / len(sample.forbidden) if sample.forbidden else 0.0,
            "score": free_form_score(named, false, len(sample.keywords)),
        }
    raise ValueError(f"unknown question type {sample.type!r} for sample {sample.id!r}")


def free_form_score(named: int, false: int, groups: int) -> float:
    """Keyword recall times the precision of the answer's claims: named / groups x named / (named + false).

    `named` keyword groups matched, `false` forbidden words mentioned. A hallucination costs in proportion to
    what the answer got right, so listing every possible change (one right, four wrong: 0.2) does not pay.
    """
    if groups == 0 or named == 0:
        return 0.0
    return named / groups * named / (named + false)


def estimates(values_by_metric: Mapping[str, Sequence[float]], *, seed: int = DEFAULT_SEED) -> dict[str, Estimate]:
    """Mean and bootstrap CI (evalkit.scoring.statistics) of each metric's values: the one summary of scores that run records,
    reports and gates read."""
    return {name: bootstrap_mean_ci(list(values), seed=seed) for name, values in sorted(values_by_metric.items())}


def aggregate(scores: Sequence[dict[str, float]], *, seed: int = DEFAULT_SEED) -> dict[str, Estimate]:
    """`estimates` over per-sample score dicts, each metric over the samples that have it."""
    names = sorted({name for s in scores for name in s})
    return estimates({name: [s[name] for s in scores if name in s] for name in names}, seed=seed)

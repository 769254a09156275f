"""Scoring a model's answer against a sample's labels. Pure and deterministic; knows nothing of models.

Each question type (`evalkit.data.suites.QUESTION_TYPES`) has its standard metric; `score_sample` returns them all,
and `score` is the type's own headline number, in [0, 1], higher is better (describe and compare gate on it).
Where a standard benchmark has a published scorer (`evalkit.scoring.published`), two numbers are recorded: the
**published** one, the scorer applied to the raw answer as its reference does (plain metric name; `score` of a
`vqa` suite, the number to compare with leaderboards), and evalkit's **extracted** one, the same metric on the
answer's readings (suffix ``_extracted``). docs/scoring.md names each reference and every departure.

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
    The answer's readings (`evalkit.scoring.extraction.answer_candidates`): its extracted value ("The total is 10.74." ->
    "10.74") and the whole answer; each is compared with each acceptable answer, the gold answers normalised by
    the same function (`clean_value`), and the best counts: a right answer given verbatim always scores full.
    ``exact_match``  1 when a reading equals an answer (`normalize_answer`: case, typography, enclosing quotes
        and final punctuation, a leading article, number words); numbers and times compare by value.
    ``anls`` / ``anls_extracted`` (match "anls")  DocVQA's ANLS: 1 - edit distance / longer length, 0 below
        similarity 0.5. Partial credit for a near-miss reading.
    ``relaxed_accuracy`` / ``relaxed_accuracy_extracted`` (match "number")  ChartQA's: within 5% relative
        error. Published: float() of the raw answer, "35%" is 0.35, anything else text equality. Extracted: the
        one number of a reading ("$14.7B", "1,000", "five", ".35"; "35%" as 0.35 or 35); text golds match exactly.
    match "time"  a clock time, compared on a 12-hour dial: "15:00" equals "3:00", "3:45" does not.
    ``vqa_accuracy`` / ``vqa_accuracy_extracted`` (match "vqa", TextVQA / VQAv2)  min(1, humans who gave the
        answer / 3), each human answer left out in turn, averaged. Published: the official evaluation's
        normalisation (the human answers' only when they disagree); extracted: `vqa_normalize` on both sides.
    ``contains_answer`` (match "contains" / "contains_formula", OCRBench)  OCRBench's published rule, on the whole
        answer: 1 when an accepted answer, lower-cased and with newlines as spaces, occurs in the lower-cased
        answer; "contains_formula" (handwritten maths) removes spaces and keeps case. Lenient: an answer that
        lists many candidates can win it, which is why ``exact_match`` is reported beside it.
    ``unparsed``  1 when no value (number, time, text) could be read; such an answer is wrong.
    ``located_cer`` / ``located_cer_cs`` (ocr only)  CER of the best reading against the closest answer,
        capped at 1: the field was read exactly, not merely mentioned somewhere.
    ``score``  for a `vqa` suite (a standard benchmark) the published metric of its match; for evalkit's own
        suites the extracted one (anls_extracted, relaxed_accuracy_extracted, exact_match).

multiple_choice / yes_no
    ``accuracy`` 1 when the parsed option / yes-no is the right one; ``unparsed`` 1 when the answer names no
    option (or several) / neither yes nor no (or both): it is wrong, and counted here. ``yes_ratio`` (yes/no)
    1 for yes, 0 for no, absent when unparsed: its mean is the share of yes answers (ideal: the suite's share
    of yes labels, 0.5 when balanced). ``yes_no_f1`` (per suite and tag, from all yes/no samples) is the F1
    of "yes"; an unparsed answer counts as not-yes. ``score`` = accuracy.
    match "pope" (POPE)  ``pope_accuracy`` and ``pope_yes_ratio`` by POPE's published rule (no/No/not in the
    first sentence is no, anything else yes), ``pope_f1`` per suite and tag; ``score`` = pope_accuracy.
    match "mmbench" (MMBench)  ``mmbench_accuracy``: the option VLMEvalKit's exact matching reads; ``score`` =
    mmbench_accuracy. Rows sharing a `group` (rotated options) also get ``circular_accuracy`` (published
    CircularEval: right only if every row is, over groups) and ``circular_accuracy_extracted`` in the summary
    (`circular_outcomes`); the former is then the suite's primary metric (`primary_metric_for`).

free_form (describe, compare)
    ``keyword_recall``  share of keyword groups matched (`evalkit.scoring.keywords`: whole words, plurals, negation
        aware; relations within one sentence). ``forbidden_rate``  share of forbidden words mentioned outside a
        negated phrase. ``score`` = keyword_recall x named / (named + forbidden words named): recall times
        the precision of the answer's claims, so an answer that lists every possible change cannot win.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence

import numpy as np
from rapidfuzz.distance import Levenshtein

from evalkit.data.samples import CHOICE_LETTERS, Sample
from evalkit.scoring.aggregation import aggregate, circular_outcomes, estimate_of, estimates
from evalkit.scoring.character_errors import cer, located_cer, normalize_text, substring_edit_distance, value_cer, wer
from evalkit.scoring.extraction import (
    answer_candidates,
    clean_value,
    drop_preamble_line,
    normalize_answer,
    number_readings,
    parse_choice,
    parse_number,
    parse_time,
    parse_yes_no,
    strip_markdown,
    unify_typography,
    vqa_normalize,
)
from evalkit.scoring.keywords import forbidden_named, forbidden_rate, groups_named, keyword_recall
from evalkit.scoring.published import (
    ANLS_THRESHOLD,
    RELAXED_TOLERANCE,
    anls_published,
    mmbench_choice,
    pope_says_yes,
    relaxed_accuracy_published,
    vqa_accuracy_published,
)
from evalkit.scoring.registry import CIRCULAR_METRICS, METRICS, PRIMARY_METRIC, MetricInfo, primary_metric_for
from evalkit.scoring.statistics import DEFAULT_RESAMPLES, DEFAULT_SEED, Estimate, wilson_ci

# The face of scoring: the registry (evalkit.scoring.registry), character errors and aggregation are re-exported, so
# callers import every metric from here.
__all__ = [
    "CIRCULAR_METRICS", "METRICS", "PRIMARY_METRIC", "MetricInfo", "aggregate", "anls", "cer", "circular_outcomes",
    "contains_answer", "estimate_of", "estimates", "exact_match", "forbidden_rate", "free_form_score",
    "keyword_recall", "located_cer", "normalize_text", "parse_choice", "parse_yes_no", "primary_metric_for",
    "relaxed_accuracy", "score_sample", "substring_edit_distance", "vqa_accuracy", "wer", "yes_no_f1_estimate",
    "yes_no_metrics",
]  # fmt: skip


# ------------------------------------------------------------------------------------------ short answers


def exact_match(prediction: str, answers: Sequence[str]) -> float:
    """1.0 when `prediction` equals one of `answers` after `normalize_answer` (the same function on both sides)."""
    pred = normalize_answer(prediction)
    return float(bool(pred) and any(pred == normalize_answer(a) for a in answers))


def anls(prediction: str, answers: Sequence[str], threshold: float = ANLS_THRESHOLD) -> float:
    """ANLS of one reading: max over answers of 1 - NL (Levenshtein distance over the longer length, on lower-cased,
    whitespace-collapsed text), or 0 when 1 - NL < threshold (0.5 itself is kept, as the published scorers do).
    Callers give both sides in the same form (`clean_value`)."""
    pred = normalize_text(prediction, case_sensitive=False)
    best = 0.0
    for gold in answers:
        ref = normalize_text(gold, case_sensitive=False)
        longest = max(len(ref), len(pred))
        similarity = 1.0 - (Levenshtein.distance(ref, pred) / longest if longest else 0.0)
        best = max(best, similarity if similarity >= threshold else 0.0)
    return best


def _within(value: float, target: float, tolerance: float) -> bool:
    return abs(value - target) <= tolerance * abs(target) if target != 0 else value == 0


def relaxed_accuracy(
    prediction: str | float | None, answers: Sequence[str], tolerance: float = RELAXED_TOLERANCE
) -> float:
    """evalkit's relaxed accuracy of one reading: 1.0 when its number is within `tolerance` relative error of a
    numeric answer (exactly equal when that answer is 0); a percentage may mean either of its readings
    (`number_readings`: "35%" is 0.35 or 35); a non-numeric answer needs an exact match."""
    if prediction is None:
        values: tuple[float, ...] = ()
    elif isinstance(prediction, str):
        values = number_readings(prediction)
    else:
        values = (float(prediction),)
    for gold in answers:
        targets = number_readings(gold)
        if not targets:
            if isinstance(prediction, str) and exact_match(prediction, [gold]):
                return 1.0
        elif any(_within(v, t, tolerance) for v in values for t in targets):
            return 1.0
    return 0.0


def vqa_accuracy(prediction: str, answers: Sequence[str]) -> float:
    """evalkit's VQA accuracy of one reading (TextVQA, VQAv2): both sides given `vqa_normalize` (the VQA evaluation's
    normalisation, on the human answers too), then the mean over each human answer left out of min(1, matching
    answers among the others / 3). With a single reference answer (no others to agree with) it is its exact match.
    `evalkit.scoring.published.vqa_accuracy_published` is the official evaluation, to the letter."""
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


def _best(metric: Callable[[str, Sequence[str]], float], readings: Sequence[str], answers: Sequence[str]) -> float:
    return max((metric(r, answers) for r in readings), default=0.0)


def _short_answer_scores(sample: Sample, answer: str) -> dict[str, float]:
    """Per match mode: the published scorer on the raw answer (standard benchmarks' `score`) and evalkit's metric
    on the answer's readings (`answer_candidates`: the extracted value and the whole answer; the best counts), the
    gold answers normalised by the same function as the readings."""
    readings = answer_candidates(answer)
    golds = [clean_value(a) for a in sample.answers]
    published = sample.task == "vqa"  # a standard benchmark, read by an adapter: its own scorer is its score
    scores: dict[str, float] = {}
    if sample.match == "time":
        said = parse_time(answer)
        scores["exact_match"] = float(said is not None and any(said == parse_time(a) for a in sample.answers))
        scores["unparsed"] = float(said is None)
        scores["score"] = scores["exact_match"]
    elif sample.match == "number":
        numeric = any(number_readings(g) for g in golds)
        scores["exact_match"] = float(
            any(
                parse_number(r) is not None and any(parse_number(r) == parse_number(g) for g in golds) for r in readings
            )
            or _best(exact_match, readings, golds) == 1.0
        )
        scores["relaxed_accuracy"] = relaxed_accuracy_published(answer, sample.answers)
        scores["relaxed_accuracy_extracted"] = _best(relaxed_accuracy, readings, golds)
        scores["unparsed"] = float(not any(number_readings(r) for r in readings) if numeric else not readings)
        scores["score"] = scores["relaxed_accuracy" if published else "relaxed_accuracy_extracted"]
    elif sample.match == "vqa":
        scores["exact_match"] = _best(exact_match, readings, golds)
        scores["vqa_accuracy"] = vqa_accuracy_published(answer, sample.answers)
        scores["vqa_accuracy_extracted"] = _best(vqa_accuracy, readings, golds)
        scores["unparsed"] = float(not readings)
        scores["score"] = scores["vqa_accuracy" if published else "vqa_accuracy_extracted"]
    elif sample.match in ("contains", "contains_formula"):
        scores["exact_match"] = _best(exact_match, readings, golds)
        scores["contains_answer"] = contains_answer(answer, sample.answers, formula=sample.match == "contains_formula")
        scores["unparsed"] = float(not readings)
        scores["score"] = scores["contains_answer"]
    else:
        scores["exact_match"] = _best(exact_match, readings, golds)
        scores["unparsed"] = float(not readings)
        scores["score"] = scores["exact_match"]
        if sample.match == "anls":
            scores["anls"] = anls_published(answer, sample.answers)
            scores["anls_extracted"] = _best(anls, readings, golds)
            scores["score"] = scores["anls" if published else "anls_extracted"]
    if sample.task == "ocr":
        scores["located_cer"] = value_cer(readings, sample.answers, sample.case_sensitive)
        scores["located_cer_cs"] = value_cer(readings, sample.answers, True)
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
    """F1 of "yes" with a percentile-bootstrap interval over the questions (fixed seed). When the bootstrap has no
    spread (one question, or every resample alike: F1 0 or 1 on a few questions), the Wilson interval of F1 read
    as a proportion over the tp + fp + fn answers it counts, so a small n never reads as certainty."""
    g = np.asarray(golds, dtype=bool)
    s = np.asarray([x is True for x in said], dtype=bool)
    n = len(g)
    f1 = yes_no_metrics(golds, said)["f1"]
    if math.isnan(f1):
        return Estimate(f1, f1, f1, n)
    counted = int((g | s).sum())  # tp + fp + fn: the answers F1 is about

    def floor() -> Estimate:
        w = wilson_ci(f1 * counted, counted)
        return Estimate(f1, w.low, w.high, n)

    if n < 2:
        return floor()
    idx = np.random.default_rng(seed).integers(0, n, size=(n_resamples, n))
    gi, si = g[idx], s[idx]
    tp = (gi & si).sum(axis=1)
    wrong = (gi ^ si).sum(axis=1)  # false positives + false negatives (an unparsed answer is not-yes)
    denom = 2 * tp + wrong
    boot = np.where(denom > 0, 2 * tp / np.maximum(denom, 1), np.nan)
    low, high = np.nanquantile(boot, [0.025, 0.975])
    if not high > low:
        return floor()
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
        scores = {"accuracy": correct, "unparsed": float(index is None), "score": correct}
        if sample.match == "mmbench":
            options = dict(zip(CHOICE_LETTERS, sample.choices, strict=False))
            scores["mmbench_accuracy"] = float(mmbench_choice(answer, options) == sample.answers[0])
            if sample.task == "vqa":
                scores["score"] = scores["mmbench_accuracy"]
        return scores
    if sample.type == "yes_no":
        said = parse_yes_no(answer)
        correct = float(said is not None and said == (sample.answers[0] == "yes"))
        scores = {"accuracy": correct, "unparsed": float(said is None), "score": correct}
        if said is not None:
            scores["yes_ratio"] = float(said)
        if sample.match == "pope":
            yes = pope_says_yes(answer)
            scores["pope_accuracy"] = float(yes == (sample.answers[0] == "yes"))
            scores["pope_yes_ratio"] = float(yes)
            if sample.task == "vqa":
                scores["score"] = scores["pope_accuracy"]
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

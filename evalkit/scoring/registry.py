"""Every metric evalkit reports, with its direction, unit, description and interval kind (`METRICS`), and which one
judges a suite (`PRIMARY_METRIC`, `primary_metric_for`). Reports, gates and comparisons read it; a new metric is one
entry here and its function in evalkit/scoring/metrics.py."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass


@dataclass(frozen=True)
class MetricInfo:
    name: str
    higher_is_better: bool | None  # None: no direction (a ratio whose ideal is set by the labels)
    unit: str
    description: str
    # How its interval is computed (`estimate_of`): "proportion" (each value 0 or 1: Wilson), "bounded" (a mean of
    # values in [0, 1]: bootstrap, Wilson-width when the values are all equal), "mean" (unbounded: bootstrap).
    interval: str = "bounded"


_P, _B, _M = "proportion", "bounded", "mean"
METRICS: dict[str, MetricInfo] = {
    m.name: m
    for m in (
        MetricInfo("score", True, "fraction", "the question type's own metric: for a standard benchmark its published scorer (anls, vqa_accuracy, relaxed_accuracy, contains_answer, pope_accuracy, mmbench_accuracy), for evalkit's suites the extracted metric (keyword score, anls_extracted, relaxed_accuracy_extracted, exact match or accuracy)"),
        MetricInfo("located_cer", False, "ratio", "CER of what was asked for: the best-matching span (transcription) or the extracted value (short answer); case-insensitive unless the sample says case matters"),
        MetricInfo("located_cer_cs", False, "ratio", "located_cer, case-sensitive"),
        MetricInfo("cer", False, "ratio", "CER of the whole answer after one preamble line is removed (jiwer; can exceed 1)", _M),
        MetricInfo("wer", False, "ratio", "WER of the whole answer after one preamble line is removed (jiwer; can exceed 1)", _M),
        MetricInfo("exact_match", True, "fraction", "the extracted value (or the whole answer) equals an accepted answer, both normalised alike", _P),
        MetricInfo("anls", True, "fraction", "published: DocVQA's ANLS of the raw answer (lmms-eval / VLMEvalKit rule, similarity below 0.5 scores 0)"),
        MetricInfo("anls_extracted", True, "fraction", "ANLS of evalkit's extracted value (or the whole answer), answer and gold normalised alike"),
        MetricInfo("relaxed_accuracy", True, "fraction", "published: ChartQA's relaxed accuracy of the raw answer (float(), '%' divides by 100, 5%; else exact text)", _P),
        MetricInfo("relaxed_accuracy_extracted", True, "fraction", "relaxed accuracy of the number evalkit reads from the answer (5%; '35%' may be 0.35 or 35)", _P),
        MetricInfo("vqa_accuracy", True, "fraction", "published: the official VQA evaluation of the raw answer (its normalisation, min(1, humans agreeing / 3), 10 choose 9)"),
        MetricInfo("vqa_accuracy_extracted", True, "fraction", "VQA accuracy of evalkit's extracted value, answer and human answers normalised alike"),
        MetricInfo("contains_answer", True, "fraction", "published: an accepted answer occurs in the whole answer, lower-cased (OCRBench's rule; lenient)", _P),
        MetricInfo("accuracy", True, "fraction", "multiple choice / yes-no answered correctly, as evalkit parses the answer (unparsed is wrong)", _P),
        MetricInfo("pope_accuracy", True, "fraction", "published: POPE's rule (first sentence; 'no'/'No'/'not' is no, anything else yes)", _P),
        MetricInfo("pope_yes_ratio", None, "fraction", "share of answers POPE's rule reads as yes", _P),
        MetricInfo("pope_f1", True, "fraction", "published: F1 of 'yes' by POPE's rule over the yes/no questions; bootstrap interval"),
        MetricInfo("mmbench_accuracy", True, "fraction", "per row, the option VLMEvalKit's exact matching reads (letters, then option text) is right", _P),
        MetricInfo("circular_accuracy", True, "fraction", "published: MMBench CircularEval, a question right only if every rotation of its options is (VLMEvalKit's matching); over questions", _P),
        MetricInfo("circular_accuracy_extracted", True, "fraction", "CircularEval with evalkit's option parsing; over questions", _P),
        MetricInfo("unparsed", False, "fraction", "share of answers that name no option, yes/no, number or time (counted wrong)", _P),
        MetricInfo("yes_ratio", None, "fraction", "share of parsed yes/no answers that say yes (ideal: the labels' share, 0.5 when balanced)", _P),
        MetricInfo("yes_no_f1", True, "fraction", "F1 of 'yes' over the yes/no questions as evalkit parses them (unparsed: not yes); bootstrap interval"),
        MetricInfo("keyword_recall", True, "fraction", "share of keyword groups named (negation aware; relations within a sentence)"),
        MetricInfo("forbidden_rate", False, "fraction", "share of forbidden (hallucinated) words mentioned, negations excluded"),
    )
}  # fmt: skip

PRIMARY_METRIC: dict[str, str] = {"ocr": "located_cer", "describe": "score", "compare": "score", "vqa": "score"}

# Metrics over groups of rows (the rotations of one MMBench question), not means over samples: the summary computes
# them from samples.jsonl (`circular_outcomes`), each from the per-row metric it requires to be 1 in every row.
CIRCULAR_METRICS: dict[str, str] = {"circular_accuracy": "mmbench_accuracy", "circular_accuracy_extracted": "accuracy"}


def primary_metric_for(task: str, available: Sequence[str] | None = None) -> str | None:
    """A suite's primary metric: the task's (PRIMARY_METRIC), except that a benchmark with rotated copies
    (MMBench's CircularEval) is judged by `circular_accuracy`, its published number."""
    if task == "vqa" and available is not None and "circular_accuracy" in available:
        return "circular_accuracy"
    return PRIMARY_METRIC.get(task)

"""The "Standard benchmarks" section of datasets/README.md: the schemas of evalkit.data.benchmark_schemas, each with a worked
example made by the adapter itself from a row of the benchmark's layout and scored live by evalkit.scoring.metrics."""

from __future__ import annotations

import json
from pathlib import Path

from evalkit.data.benchmark_schemas import SCHEMAS, row_fields
from evalkit.data.suites import Sample, question_text
from evalkit.scoring.metrics import score_sample

STOP = ["stop"] * 7 + ["stop sign"] * 3

# schema -> (a row as the benchmark stores it, images left out, [(answer, what it shows)])
EXAMPLES = {
    "ocrbench": ({"question": "what is written in the image?", "answer": ["CENTRE"], "dataset": "IIIT5K",
                  "question_type": "Regular Text Recognition"}, [
        ("The word is Centre.", "contained in the reply, case ignored"),
        ("Centre, Center or Central", "a list of guesses wins OCRBench's rule; exact match of the value does not"),
        ("CENTER", "a different word"),
    ]),
    "textvqa": ({"question": "What does the sign say?", "answers": STOP, "ocr_tokens": ["STOP"]}, [
        ("Stop.", "7 of 10 humans said it: full credit"),
        ("stop sign", "3 of 10: 0.9 (each human left out in turn: min(1, others agreeing / 3))"),
        ("The answer is stop sign", "the published evaluation reads the raw reply: 0; evalkit's extracted value: 0.9"),
        ("yield", "no human said it"),
    ]),
    "docvqa": ({"questionId": "1", "question": "What is the title of this book?", "answers": ["ALONE"],
                "docId": 7}, [
        ("Alone", "case does not matter"),
        ("The title is 'Alone'.", "published ANLS reads the whole reply; evalkit's extracted value is right"),
        ("ALONF", "one misread letter: partial credit"),
        ("A Novel", "similarity below 0.5: nothing"),
    ]),
    "chartqa": ({"question": "How many units did the East region sell in 2024?", "answer": "170",
                 "type": "human_test"}, [
        ("168", "within 5%"), ("About 168 units.", "published: not a number (float()); extracted: 168, within 5%"),
        ("160", "6% off"),
    ]),
    "pope": ({"question": "Is there a dog in the image?", "answer": "no", "image_source": "COCO_val2014_0001",
              "category": "adversarial"}, [
        ("No, there is no dog.", "correct"), ("Yes.", "wrong, and counts towards yes_ratio"),
        ("I cannot tell.", "neither word: evalkit's reading is unparsed, POPE's rule reads it as yes"),
    ]),
    "mcq": ({"question": "What animal is shown?", "hint": "A farm photo.", "A": "cat", "B": "dog", "C": "cow",
             "answer": "C", "category": "animals"}, [
        ("C", "the option letter"), ("It is a cow.", "the one option it names"), ("B", "a wrong option"),
        ("The answer is C, not A.", "two letters: VLMEvalKit's matching reads no option, evalkit the stated one"),
    ]),
}  # fmt: skip


def _signature(schema) -> str:
    if not schema.signatures:
        return "its name only"
    return " or ".join("+".join(f"`{c}`" for c in sorted(sig)) for sig in schema.signatures)


def _example(name: str) -> list[str]:
    schema = SCHEMAS[name]
    row, answers = EXAMPLES[name]
    fields = row_fields(schema, row, [*row, "image"])
    sample = Sample(
        id="example", suite=name, task="vqa", images=(Path("example.png"),), question=fields.question,
        type=fields.type, answers=fields.answers, choices=fields.choices, match=fields.match, tags=fields.tags,
    )  # fmt: skip
    label: dict = {"type": fields.type, "answers": list(fields.answers)}
    if fields.choices:
        label["choices"] = list(fields.choices)
    if fields.type == "short_answer":
        label["match"] = fields.match
    lines = [f"Example ({schema.benchmark}). The model reads:", "", "```", question_text(sample), "```", ""]
    lines += [
        f"Labels: `{json.dumps(label, ensure_ascii=False)}`",
        "",
        "| answer | what it shows | scores |",
        "|---|---|---|",
    ]
    for answer, note in answers:
        scores = ", ".join(f"{k} {v:.2f}" for k, v in score_sample(sample, answer).items())
        lines.append(f"| `{answer}` | {note} | {scores} |")
    return lines


def benchmark_section() -> list[str]:
    out = ["## Standard benchmarks (`hf:` and `tsv:`)", "", *INTRO.strip().splitlines(), ""]
    out += ["| schema | benchmark | recognised by the columns | question type | `score` is |", "|---|---|---|---|---|"]
    for s in SCHEMAS.values():
        out.append(f"| `{s.name}` | {s.benchmark} | {_signature(s)} | {s.qtype} | `{s.metric}` |")
    out += ["", *METRICS_TEXT.strip().splitlines(), ""]
    for name in SCHEMAS:
        out += [*_example(name), ""]
    return out


INTRO = """
Besides the suites above, a run can read a standard benchmark from a downloaded copy: `suites=[hf:DIR:SPLIT]`
(Hugging Face `datasets`: a `save_to_disk` directory, Hub-layout parquet / arrow shards, or a repo id in the local
cache; never downloaded) or `suites=[tsv:FILE]` (VLMEvalKit's TSV with base64 images). The main README shows the
commands. The adapter (`evalkit/data/benchmark_schemas.py`) is chosen by the columns; where benchmarks share one layout (all
VLMEvalKit TSVs: `index`, `image`, `question`, `answer`, `category`), by the file or directory name (`OCRBench.tsv`,
`TextVQA_VAL.tsv`, `DocVQA_VAL.tsv`, `ChartQA_TEST.tsv`, `POPE.tsv`, `MMBench_DEV_EN.tsv`); `:schema=NAME` in the
spec overrides both. Columns that fit no schema are refused with the columns found and the schemas known. Each
benchmark becomes a suite of task `vqa` (one question about its image) whose primary metric `score` is the
benchmark's published scorer applied to the raw reply; a split whose answers are withheld (DocVQA's and TextVQA's test splits) cannot be scored and is
refused. Per-category scores come from the tags (`category`, ChartQA's `subset`).
"""

METRICS_TEXT = """
Every question gets its type's answer instruction (above). `score` is the benchmark's published scorer applied to
the raw reply exactly as its reference implementation does: the number to compare with leaderboards. Beside it,
evalkit's extracted number scores the reply's value (a lead-in, markdown and a preamble removed) with the same
metric, named `<metric>_extracted` (or `exact_match` / `accuracy`). docs/scoring.md names the reference of each
rule and every deliberate departure.

- `contains_answer` (OCRBench, match `contains`): 1 when an accepted answer, lower-cased and with newlines as
  spaces, occurs in the lower-cased reply; for its "Handwritten Mathematical Expression Recognition" category
  (match `contains_formula`) spaces are removed and case is kept. OCRBench's published rule, and lenient: a reply
  listing several guesses can win it, so `exact_match` of the extracted value is reported beside it.
- `vqa_accuracy` (TextVQA, match `vqa`): the official VQA evaluation: the reply's punctuation, case, number words
  and articles normalised, the human answers' punctuation only and only when they disagree; then for each of the
  10 human answers left out, min(1, the other humans who gave the reply / 3), averaged. `vqa_accuracy_extracted`
  normalises the extracted value and the human answers alike.
- `anls` (DocVQA and InfographicVQA, match `anls`): 1 - edit distance / longer length against the closest answer,
  0 below similarity 0.5 (0.5 itself kept), on the stripped, lower-cased reply. `anls_extracted` beside it.
- `relaxed_accuracy` (ChartQA, match `number`): the reply read by float(), a trailing "%" dividing by 100, within
  5% of a non-zero numeric answer; anything else compared as lower-cased text. `relaxed_accuracy_extracted` reads
  the reply's number ("$1,000", "five", "35%" as 0.35 or 35).
- POPE (match `pope`): `pope_accuracy` and `pope_f1` by POPE's rule (the first sentence; "no", "No" or "not" is
  no, anything else yes), beside evalkit's `accuracy`, `unparsed`, `yes_ratio` and `yes_no_f1`.
- Multiple choice (MMBench, match `mmbench`): `mmbench_accuracy` per row by VLMEvalKit's exact matching (a lone
  option letter, else the one option text contained in the reply), beside evalkit's `accuracy`. Rows whose
  `index` differ by multiples of 1,000,000 are rotations of one question (VLMEvalKit's TSVs and the lmms-lab hub
  copies): `circular_accuracy` (CircularEval, right only if every rotation is, over questions) is then the
  primary metric, with `circular_accuracy_extracted` beside it. Options from columns `A`-`H` (a hub copy's "nan"
  is no option), a `hint` shown before the question, the L2 category as tag `l2_category`.
"""

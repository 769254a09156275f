"""datasets/README.md: the suites at a glance, what each question type and score means, the difficulty rule and
the manifest format. The table and the worked examples are computed from the written suites with evalkit's own
scorer, so the page cannot drift from the data or the metrics (`--check` compares it byte for byte).
"""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path

from evalkit.data.suites import INSTRUCTIONS, QUESTION_TYPES, Suite, load_suite, question_text
from evalkit.scoring.metrics import METRICS, PRIMARY_METRIC, score_sample

from .benchmarks_doc import benchmark_section
from .spec import DEMANDS, LEVELS

SUMMARY = {
    "describe": "photos, clip-art, charts and drawings: descriptions, chart values, counts, clock times, objects",
    "ocr": "rendered documents (clean and degraded) and real text: full transcriptions and one-field questions",
    "compare": "two images: what changed, in which direction, and whether anything changed at all",
}

# (suite, sample id, [(answer, what it shows)]): one worked example per question type, scored live.
TABLE_MD = (
    "**Quarterly Sales (units)**\n\n| Region | Q1 | Q2 | Q3 | Q4 |\n|---|---|---|---|---|\n"
    "| North | 120 | 135 | 150 | 160 |\n| South | 98 | 102 | 110 | 125 |\n| East | 143 | 139 | 151 | 170 |\n"
    "| West | 87 | 95 | 101 | 99 |"
)
TABLE_LOWER = "Here is the text:\n" + "\n".join(
    ["quarterly sales (units)", "region q1 q2 q3 q4", "north 120 135 150 160", "south 98 102 110 125",
     "east 143 139 151 170", "west 87 95 101 99"]
)  # fmt: skip
EXAMPLES = {
    "transcription": ("ocr", "table_sales", [
        (TABLE_MD, "the exact text as a markdown table: formatting costs nothing"),
        (TABLE_LOWER, "a preamble line and lower case: only the case-sensitive metric counts the case"),
        (TABLE_LOWER.replace("151", "157").replace("99\n", "90\n"), "two misread digits"),
        ("Here is the text:\nQuarterly Sales (units)\nRegion Q1 Q2 Q3 Q4", "only the first two lines"),
    ]),
    "short_answer": ("ocr", "cover_alone_title", [
        ("The title is 'Alone'.", "the value is extracted from the sentence; case and quotes do not matter"),
        ("The book is 'A Novel' by Morgan Maxwell, about being alone", "a wrong title that mentions the word"),
        ("ALONF", "one misread letter: partial ANLS credit, one character error"),
    ]),
    "short_answer (number)": ("describe", "chart_region_sales_east_2024", [
        ("About 168 units.", "within 5% of 170: relaxed accuracy counts it, exact match does not"),
        ("160", "6% off"),
    ]),
    "short_answer (time)": ("describe", "clock_three_time", [
        ("15:00", "the same time on a 12-hour dial"), ("It shows 3:45.", "a different time"),
    ]),
    "multiple_choice": ("describe", "photo_chelsea_animal", [
        ("A", "the option letter"), ("B. dog", "a letter wins over the text"),
        ("It is a cat.", "the one option it names"), ("It could be a cat or a fox.", "two options: unparsed, wrong"),
    ]),
    "yes_no": ("describe", "photo_astronaut_no_dog", [
        ("No, there is no dog.", "correct"), ("Yes.", "wrong; counts towards yes_ratio"),
        ("I cannot tell.", "neither: unparsed, wrong"),
    ]),
    "free_form": ("compare", "shape_removed", [
        ("The blue square was removed.", "object and change in one sentence"),
        ("A blue square was added.", "the change reversed"),
        ("The square moved; nothing was removed.", "the change is negated"),
        ("The star was removed.", "another object removed: the relation needs the square"),
    ]),
}  # fmt: skip


def _table(suites: dict[str, Suite]) -> list[str]:
    rows = ["| suite (task) | samples | question types | difficulty: easy / medium / hard | primary metric |",
            "|---|---|---|---|---|"]  # fmt: skip
    for name, suite in suites.items():
        types = Counter(s.type for s in suite.samples)
        levels = Counter(s.tags.get("difficulty") for s in suite.samples)
        primary = PRIMARY_METRIC[suite.task]
        arrow = "higher" if METRICS[primary].higher_is_better else "lower"
        rows.append(
            f"| [`{name}`]({name}/README.md) ({suite.task}) | {len(suite.samples)} | "
            + ", ".join(f"{t} {types[t]}" for t in QUESTION_TYPES if types[t])
            + f" | {' / '.join(str(levels[lv]) for lv in LEVELS)} | `{primary}` ({arrow} is better) |"
        )
    return rows + ["", *[f"- `{name}`: {SUMMARY.get(name, '')}" for name in suites]]


def _fmt(scores: dict[str, float]) -> str:
    return ", ".join(f"{k} {v:.2f}" for k, v in scores.items())


def _examples(suites: dict[str, Suite]) -> dict[str, list[str]]:
    out: dict[str, list[str]] = {}
    for label, (suite, sid, answers) in EXAMPLES.items():
        s = next(x for x in suites[suite].samples if x.id == sid)
        labels = {k: v for k, v in (("reference", s.reference), ("answers", list(s.answers) or None),
                                    ("match", s.match if s.type == "short_answer" else None)) if v}  # fmt: skip
        if s.keywords:
            labels["keywords"] = [g.to_json() if hasattr(g, "to_json") else list(g) for g in s.keywords]
        lines = [f"Example (`{suite}/{sid}`). The model reads:", "", "```", question_text(s), "```", "",
                 f"Labels: `{json.dumps(labels, ensure_ascii=False)}`", ""]  # fmt: skip
        lines += ["| answer | what it shows | scores |", "|---|---|---|"]
        for answer, note in answers:
            shown = answer if len(answer) < 70 else answer[:67] + "…"
            shown = shown.replace("\n", "⏎").replace("|", "\\|")
            lines.append(f"| `{shown}` | {note} | {_fmt(score_sample(s, answer))} |")
        out[label] = lines
    return out


def index_readme(root: Path, names: list[str]) -> str:
    suites = {name: load_suite(root / name) for name in names}
    ex = _examples(suites)
    out = ["# Evaluation suites", "", *_table(suites), ""]
    out += TEXT_INTRO.strip().splitlines() + [""]
    out += ["## Question types, their metrics, and what a score means", ""]
    for qtype, text in TYPE_TEXT.items():
        out += [f"### `{qtype}`", "", *text.strip().splitlines(), ""]
        instruction = INSTRUCTIONS.get(qtype)
        if instruction:
            out += [f"The harness appends: _{instruction}_", ""]
        for label in [k for k in ex if k.split(" ")[0] == qtype]:
            out += ex[label] + [""]
    out += [
        "## Difficulty",
        "",
        *DIFFICULTY_TEXT.strip().splitlines(),
        "",
        "| demand | level | meaning |",
        "|---|---|---|",
    ]
    out += [f"| `{key}` | {level} | {meaning} |" for key, (level, meaning) in DEMANDS.items()]
    out += ["", *benchmark_section(), *FORMAT_TEXT.strip().splitlines()]
    return "\n".join(out) + "\n"


TEXT_INTRO = """
Everything under `describe/`, `ocr/` and `compare/`, and this page, is generated by `python scripts/make_suites.py`
and checked byte for byte by `python scripts/make_suites.py --check` (and by `tests/test_suites.py`). Change the
script, not the files, and bump its `VERSION` when images or labels change. The scores below were computed by
`evalkit.scoring.metrics` when this page was generated; `evalkit/scoring/metrics.py` defines every metric.

Every report breaks scores down by the tags `type` (question type, added by the harness) and `difficulty`, besides
each suite's own tags. Each sample's generation budget (`max_new_tokens`) is ceil(1.3 x the token count of its
reference) + 16: the reference transcription, the longest accepted answer, the longest option, or for a
description the keyword groups (and at least 64 tokens). `runtime.max_new_tokens=N` overrides it for every
sample; an answer that reaches its budget is flagged `truncated` in the record and counted in the report.
"""

TYPE_TEXT = {
    "transcription": """
OCR. The reference is the exact text. Answers lose their markdown (table pipes and rules, bold and italics,
bullets, headings, code fences) and both sides get Unicode NFKC plus quotes, dashes and the ellipsis unified, and
whitespace collapsed. `located_cer` (primary, lower is better, 0 = perfect, 1 = nothing of the reference found)
is the edit distance between the reference and the best-matching span of the answer over the reference length:
a polite preamble costs nothing, every missing, wrong or extra character inside the text does. It ignores case
unless the sample is `case_sensitive` (code); `located_cer_cs` always counts case. `cer` / `wer` score the whole
answer after one preamble line is removed: the exact text and nothing else (they exceed 1 for a chatty answer).
""",
    "short_answer": """
One value: a title, a total, a count, a chart value, a time. The answer's value is extracted first (markdown,
a preamble line, a lead-in such as "The title is" and the sentence after the first are removed); the value and
the whole answer are both compared with each accepted answer, the gold answers normalised by the same function,
so a right answer given verbatim always scores full. `exact_match` is 1 when one equals an accepted answer (case,
quotes and brackets around it, final punctuation, a leading article and number words do not matter).
`match: anls` (text read from the image) adds `anls_extracted`, DocVQA's similarity (1 - edit distance / longer
length, 0 below 0.5): partial credit for a near-miss reading, none for a different answer. `match: number` adds
`relaxed_accuracy_extracted`, ChartQA's 5% tolerance, for values estimated from a chart. Beside each, `anls` and
`relaxed_accuracy` are the published scorers applied to the raw answer (docs/scoring.md). `match: time` compares
clock times on a 12-hour dial. An answer with no value (or two numbers or times) is `unparsed`, and wrong. In the
OCR suite `located_cer` is the character error rate of the extracted value (so a field must be read, not merely
mentioned); elsewhere `score` is anls_extracted, relaxed_accuracy_extracted or exact match.
""",
    "multiple_choice": """
The options are appended as lines `A. ...`, `B. ...`. The answer is parsed as an option letter ("B", "(B)",
"B. cat", "Answer: B"), else as the one option whose text it names; "A cat" is not option A unless option A is
"cat". `accuracy` is 1 for the right option; an answer that names no option or several is `unparsed` and wrong.
Chance is 1 / number of options.
""",
    "yes_no": """
Object probes (POPE style: for each image an object that is there and one that is not, so the suite is balanced)
and "is there any visible difference" for image pairs. The answer's first word, or its only "yes"/"no", decides.
`accuracy` (chance 0.5), `unparsed`, `yes_ratio` (share of yes answers: 0.5 is unbiased, higher means the model
says yes to everything) and `yes_no_f1` (F1 of "yes" over the suite or tag; unparsed counts as not-yes).
""",
    "free_form": """
Descriptions and "what changed?". Keyword groups: a group counts when one alternative is named as whole words
(plurals tolerated) outside a negated phrase ("there is no dog" names no dog); a relation group needs all its
roles in one sentence, and `order` roles in that order ("from blue to orange"). `keyword_recall` is the share of
groups named; `forbidden_rate` the share of forbidden words (hallucinations, and for photo edits the other kinds
of edit) named outside a negation; `score` = keyword_recall x named / (named + forbidden words named), recall
times the precision of the answer's claims, so an answer that merely lists every possibility does not win.
Keyword scores are approximate: a correct answer phrased against the order ("orange, where it was blue") is
missed, which is why the exact question types exist.
""",
}

DIFFICULTY_TEXT = """
Each sample lists what it demands of the model (its demands are in the suite's README) and its `difficulty` tag is
the hardest level among them: easy < medium < hard.
"""

FORMAT_TEXT = """
## The format (for your own suites)

A suite is a directory with `suite.json`, `manifest.jsonl` and the images. Point the harness at it by path, or
set `EVALKIT_DATASETS` to a folder of suites and name them.

`suite.json`:

```json
{"name": "my-ocr", "task": "ocr", "version": "1", "description": "Invoices from our scanner"}
```

`task` is one of `describe`, `ocr`, `compare`, `vqa` (questions with checkable answers about one image or more,
as the standard benchmarks above; primary metric `score`). `manifest.jsonl` holds one JSON object per line:

| field | type | question types | meaning |
|---|---|---|---|
| `id` | string | all | unique within the suite |
| `type` | string | all | `transcription`, `short_answer` (ocr); `free_form`, `short_answer`, `multiple_choice`, `yes_no` (describe, compare); `short_answer`, `multiple_choice`, `yes_no` (vqa); default `transcription` (ocr), `short_answer` (vqa) or `free_form` |
| `images` | list of strings | all | paths relative to the manifest; `compare` needs exactly 2 |
| `question` | string | all | plain text; the harness adds image tags, the chat format, the options and the answer instruction |
| `reference` | string | transcription (required) | the exact text, in reading order |
| `case_sensitive` | bool | transcription, short_answer (ocr) | default `false` |
| `answers` | list of strings | short_answer, multiple_choice, yes_no (required) | accepted answers; one option letter; `["yes"]` or `["no"]` |
| `match` | string | short_answer (pope: yes_no, mmbench: multiple_choice) | `exact` (default), `anls`, `number`, `time`, `vqa`, `contains`, `contains_formula`, `pope`, `mmbench` (the benchmark metrics above; docs/scoring.md) |
| `choices` | list of strings | multiple_choice (required) | 2 to 8 option texts, lettered A, B, ... |
| `keywords` | list of groups | free_form (required) | a group is a list of alternatives, or a relation `{"role": [...], ..., "order": [...]}` |
| `forbidden` | list of strings | free_form | words whose mention (outside a negation) is a hallucination |
| `tags` | object of strings | all | free labels (category, difficulty...) used to break down reports; `type` is reserved |

Loading validates the whole suite before any model runs and stops at the first problem with
`file:line: reason`: invalid JSON, unknown or misplaced field, wrong type, missing or empty required field,
duplicate id, missing image (or a directory, pipe or device where an image should be), unreadable or truncated
image, and:

- **Image paths stay inside the suite directory**: absolute paths, `..` and symlinks that lead out of it are
  refused (the files would be read, hashed and embedded in reports).
- **At most 100,000,000 pixels per image** (e.g. 10,000 x 10,000), checked on the header before anything is
  decoded, so a decompression bomb is one line, not a crash.
- **Questions and options are plain text**: special-token syntax such as `<|image_1|>`, `<|image|>`, `<|end|>`,
  `<|user|>`, `<s>` or `</s>` is refused in the question and in every choice (and, for `hf:` / `tsv:` benchmarks,
  in the hint); the harness writes the image tags and the chat format itself.
- **Suite names are unique in a run**: the same suite listed twice, or two directories whose `suite.json` give
  the same `name`, are refused (samples are keyed by suite name and id).

How images are read: 8-bit images as PIL decodes them (transparency composited over white); **16-bit greyscale**
(`I;16` PNG) scaled to 8 bits by keeping the high byte, so the text of a 16-bit scan survives (PIL's own
conversion would clip it to white); 32-bit float images are refused. The **EXIF orientation tag is ignored**, as
the published Phi-3-vision processor ignores it: the model sees the pixels as stored, not as a photo viewer turns
them. Loading logs a warning, with file and line, for every image whose orientation tag is not "normal"; rotate
such images (e.g. `PIL.ImageOps.exif_transpose`) if the model should see them upright.

The suite's content hash (recorded with every run) is sha256 over `manifest.jsonl`, `suite.json` and the referenced images in sorted path order, so any change to a
label or an image changes it; README edits do not.
"""

"""One object per sample through the evaluation loop (as lm-evaluation-harness's `Instance`).

An `Item` is made once, when the run is planned: the sample, the chat prompt the model reads, and the token budget
its answer gets. Everything downstream (sharding, bucketing, checking, preprocessing, generating, scoring) takes
items, so a prompt or a budget is never rebuilt; and an item turns into its `Prediction` in one place
(`Item.prediction` / `Item.failure`), where what the sample is (id, suite, images, labels) is copied from the sample
and the outcome (an answer with its scores, tokens and timings, or an error) from the loop.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from evalkit.config.settings import RuntimeConfig
from evalkit.data.samples import Sample, question_text, token_budget
from evalkit.phi3v.processing import Phi3VProcessor, build_prompt
from evalkit.records import Prediction


@dataclass(frozen=True)
class Item:
    sample: Sample
    prompt: str  # the question with its options and instruction, after the image tags, in the chat format
    budget: int  # max_new_tokens of this sample's answer

    @property
    def id(self) -> str:
        return self.sample.id

    @property
    def suite(self) -> str:
        return self.sample.suite

    def prediction(self, **outcome) -> Prediction:
        """This item's Prediction with `outcome`: answer, answer_token_ids, scores, timings_ms, tokens, ..."""
        sample = self.sample
        return Prediction(
            sample_id=sample.id, suite=sample.suite, task=sample.task, tags={**sample.tags, "type": sample.type},
            images=[str(p) for p in sample.images], prompt=self.prompt, labels=labels(sample),
            max_new_tokens=self.budget, **outcome,
        )  # fmt: skip

    def failure(self, error: BaseException) -> Prediction:
        """A failed prediction: no answer, the error's type and message."""
        return self.prediction(
            answer=None, answer_token_ids=[], scores={}, timings_ms={}, tokens={}, decode_tokens_per_s=None,
            error=f"{type(error).__name__}: {error}",
        )  # fmt: skip


def make_items(processor: Phi3VProcessor, samples: Sequence[Sample], runtime: RuntimeConfig) -> list[Item]:
    """Each sample's prompt and budget: runtime.max_new_tokens when set (one budget for every sample), else the
    sample's own from its labels, counted with this model's tokenizer (evalkit.data.samples.token_budget)."""

    def count(text: str) -> int:
        return len(processor.tokenizer(text, add_special_tokens=False)["input_ids"])

    return [
        Item(
            sample=s,
            prompt=build_prompt(question_text(s), len(s.images)),
            budget=runtime.max_new_tokens if runtime.max_new_tokens is not None else token_budget(s, count),
        )
        for s in samples
    ]


def labels(sample: Sample) -> dict:
    """What a prediction records of the sample's labels (reports and gates read them, never the suite)."""
    out: dict = {"type": sample.type}
    if sample.reference is not None:
        out["reference"] = sample.reference
    if sample.answers:
        out["answers"] = list(sample.answers)
    if sample.choices:
        out["choices"] = list(sample.choices)
    if sample.type == "short_answer" or sample.match != "exact":
        out["match"] = sample.match
    if sample.group:
        out["group"] = sample.group  # CircularEval: the summary scores the group from samples.jsonl alone
    if sample.keywords:
        out["keywords"] = [g.to_json() if hasattr(g, "to_json") else list(g) for g in sample.keywords]
    if sample.forbidden:
        out["forbidden"] = list(sample.forbidden)
    return out

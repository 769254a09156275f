"""Feeding the model: batches planned by prompt length, and a background stage that prepares the next batch.

`plan_batches` groups the items of a suite into batches; with bucketing, items of similar prompt length go
together (estimated from the image headers and the prompt, without decoding pixels), so left-padding wastes little.
Callers keep answers in manifest order whatever the batch order.

`prepare` does a request's work before generate(): decode the images, HD transform, tokenize. A sample whose
images cannot be decoded fails alone. `Prefetcher` runs `prepare` in a thread, a couple of batches ahead, so in
throughput mode the model never waits for preprocessing (PIL, the tokenizer and torch release the GIL for most of it).
"""

from __future__ import annotations

import queue
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field

import torch
from PIL import Image

from evalkit.errors import ConfigError, EvalkitError
from evalkit.phi3v.images import hd_size, load_image, tokens_per_image
from evalkit.phi3v.processing import Phi3VProcessor
from evalkit.run.items import Item


@dataclass
class Prepared:
    """A batch after image decoding, the HD transform and tokenization."""

    items: list[Item]  # the items whose images decoded, in batch order
    inputs: dict[str, torch.Tensor] | None  # CPU tensors (pinned when `pin`); None when every item failed
    failures: list[tuple[Item, EvalkitError]] = field(default_factory=list)
    preprocess_ms: float = 0.0  # wall time of prepare(), measured in whichever thread ran it


def check_items(
    processor: Phi3VProcessor, items: Sequence[Item]
) -> tuple[list[Item], list[list[Image.Image]], list[tuple[Item, EvalkitError]]]:
    """Each item alone: its images decoded and its prompt checked against them (tags, special tokens, sizes),
    without building tensors. Returns (items that passed, their images, [(item, error)] for the others), so
    that one bad sample never fails the batch it is in."""
    ok, images, failures = [], [], []
    for item in items:
        try:
            decoded = [load_image(path) for path in item.sample.images]
            processor.validate(item.prompt, decoded)
        except EvalkitError as exc:
            failures.append((item, exc))
            continue
        images.append(decoded)
        ok.append(item)
    return ok, images, failures


def prepare(processor: Phi3VProcessor, items: Sequence[Item], *, pin: bool = False) -> Prepared:
    """Check, decode, transform and tokenize a batch once. Errors of the processor itself (not of one item)
    raise."""
    start = time.perf_counter()
    ok, images, failures = check_items(processor, items)
    inputs = processor([item.prompt for item in ok], images) if ok else None
    if inputs is not None and pin:
        inputs = {k: v.pin_memory() for k, v in inputs.items()}  # lets the copy to the GPU run asynchronously
    return Prepared(ok, inputs, failures, (time.perf_counter() - start) * 1000.0)


def estimate_prompt_tokens(processor: Phi3VProcessor, item: Item) -> int:
    """Prompt length in tokens from the image headers (no pixel decode); an unreadable image counts 0."""
    counts = []
    for path in item.sample.images:
        try:
            with Image.open(path) as img:
                width, height = img.size
            _, _, pad_w, pad_h = hd_size(width, height, processor.num_crops)
            counts.append(tokens_per_image(pad_h, pad_w, processor.tokens_per_crop))
        except (OSError, ValueError, EvalkitError, Image.DecompressionBombError):
            counts.append(0)  # it fails when decoded; where it sits in the batch order does not matter
    try:
        return len(processor.encode_prompt(item.prompt, counts))
    except EvalkitError:
        return sum(counts)


def check_context(processor: Phi3VProcessor, context: int | None, items: Sequence[Item], fixed: bool) -> None:
    """Refuse (ConfigError, one line naming the sample) an item whose prompt and answer budget together exceed the
    model's context (`context`: max_position_embeddings): the model was never trained on positions past it, so the
    answer would be silently wrong (or cut short). `fixed`: the budget is runtime.max_new_tokens, not the sample's
    own. Checked after loading, before anything is generated or recorded."""
    if not isinstance(context, int):
        return
    per_image = (processor.num_crops + 1) * (processor.tokens_per_crop + 12) + 1  # rows * cols <= num_crops
    for item in items:
        # A cheap upper bound first (a token per UTF-8 byte, twice over; every image at its most crops): the exact
        # count opens each image and tokenizes, so it is spent only on an item that might not fit.
        bound = 2 * len(item.prompt.encode("utf-8")) + 16 + per_image * len(item.sample.images)
        if bound + item.budget <= context:
            continue
        prompt = estimate_prompt_tokens(processor, item)
        if prompt + item.budget > context:
            given = "runtime.max_new_tokens" if fixed else "its budget"
            raise ConfigError(
                f"sample {item.suite}/{item.id}: its prompt of {prompt:,} tokens and {given} of"
                f" {item.budget:,} new tokens exceed the model's context of {context:,} tokens"
                " (max_position_embeddings); lower runtime.max_new_tokens or runtime.num_crops"
            )


def plan_batches(items: Sequence, size: int, lengths: Sequence[int] | None = None) -> list[list]:
    """Consecutive batches of `size`; with `lengths` (one per item), sorted by length first (stable)."""
    order = list(range(len(items)))
    if lengths is not None:
        if len(lengths) != len(items):
            raise ValueError(f"{len(lengths)} lengths for {len(items)} items")
        order.sort(key=lambda i: lengths[i])
    return [[items[i] for i in order[k : k + size]] for k in range(0, len(order), size)]


_DONE = object()


class Prefetcher:
    """Iterate `(batch, Prepared or the exception prepare raised)`, prepared `depth` batches ahead in a thread."""

    def __init__(self, batches: Sequence[list[Item]], prepare_fn: Callable[[list[Item]], Prepared], depth: int = 2):
        self._batches = list(batches)
        self._prepare = prepare_fn
        self._queue: queue.Queue = queue.Queue(maxsize=max(1, depth))
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._work, name="evalkit-prefetch", daemon=True)

    def _put(self, item) -> bool:
        while not self._stop.is_set():
            try:
                self._queue.put(item, timeout=0.1)
                return True
            except queue.Full:
                continue
        return False

    def _work(self) -> None:
        for batch in self._batches:
            if self._stop.is_set():
                return
            try:
                item = (batch, self._prepare(batch))
            except Exception as exc:  # handed to the consumer, which fails this batch and goes on
                item = (batch, exc)
            if not self._put(item):
                return
        self._put(_DONE)

    def __iter__(self) -> Iterator[tuple[list[Item], Prepared | Exception]]:
        self._thread.start()
        try:
            while True:
                item = self._queue.get()
                if item is _DONE:
                    return
                yield item
        finally:
            self.close()

    def close(self) -> None:
        self._stop.set()
        while True:  # unblock a producer waiting on a full queue
            try:
                self._queue.get_nowait()
            except queue.Empty:
                break
        if self._thread.is_alive():
            self._thread.join(timeout=30)

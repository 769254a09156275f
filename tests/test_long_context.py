"""Greedy decoding across `original_max_position_embeddings` (4096 tokens) follows the published Phi-3-vision rule.

The published implementation keeps its KV cache when a generation crosses 4096 tokens; every forward chooses the
rope factors from its own largest position: `max(position_ids) + 1 > original_max_position_embeddings` selects the
long factors, otherwise the short ones. Tokens written at positions >= 4096 are therefore rotated with the long
factors while the keys already in the cache keep their short-factor rotation. The maximum is taken over the whole
`position_ids` tensor, so in a left-padded batch the longest row decides for every row: all rows switch at the step
where the longest one reaches position 4096, shorter rows included (their own positions are still below 4096).

The reference below writes that rule out by hand (embed, forward with explicit position ids and a cache, argmax,
append; rotary angles computed here from config.json, not by transformers) and `generate()` must give the same tokens.
It runs at real sequence length with the tiny widths (hidden 64, 2 layers), which takes a few seconds.
"""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image
from torch import nn
from transformers import DynamicCache

from evalkit.phi3v import Phi3VProcessor, build_prompt, load_model
from evalkit.phi3v.decode import GreedyDecoder

NEW_TOKENS = 24
LONGEST = 4090  # prompt tokens of the longest row: a few under 4096, so the 24 new tokens cross it


class PublishedRope(nn.Module):
    """The published `su` rotary embedding, from config.json: factor set chosen per forward from max(position_ids)."""

    def __init__(self, config: dict):
        super().__init__()
        rope = config["rope_scaling"]
        self.short = torch.tensor(rope["short_factor"], dtype=torch.float32)
        self.long = torch.tensor(rope["long_factor"], dtype=torch.float32)
        self.original = config["original_max_position_embeddings"]
        self.dim = config["hidden_size"] // config["num_attention_heads"]
        self.base = config["rope_theta"]
        scale = config["max_position_embeddings"] / self.original
        self.scaling = math.sqrt(1 + math.log(scale) / math.log(self.original)) if scale > 1 else 1.0
        self.used: list[str] = []  # which factor set each forward used

    def forward(self, x: torch.Tensor, position_ids: torch.Tensor):
        long = int(position_ids.max()) + 1 > self.original
        self.used.append("long" if long else "short")
        factors = self.long if long else self.short
        inv_freq = 1.0 / (factors * self.base ** (torch.arange(0, self.dim, 2).float() / self.dim))
        angles = position_ids[..., None].float() * inv_freq
        angles = torch.cat([angles, angles], dim=-1)
        return (angles.cos() * self.scaling).to(x.dtype), (angles.sin() * self.scaling).to(x.dtype)


def _hand_greedy(model, inputs: dict, steps: int, *, recompute_at_crossing: bool = False) -> list[list[int]]:
    """Greedy decoding written out step by step with the published rope.

    With `recompute_at_crossing`, the cache is instead dropped and the whole sequence re-run the first time it passes
    4096 tokens (transformers' Phi3ForCausalLM behaviour): the rule this test must tell apart from the published one.
    """
    ids, mask = inputs["input_ids"], inputs["attention_mask"]
    images = {k: inputs[k] for k in ("pixel_values", "image_sizes") if k in inputs}
    position_ids = (mask.cumsum(-1) - 1).masked_fill(mask == 0, 1)  # the published code's position ids
    cache = DynamicCache(config=model.config)
    out = model(
        inputs_embeds=model.embed_inputs(ids, **images),
        attention_mask=mask,
        position_ids=position_ids,
        cache=cache,
        use_cache=True,
        logits_to_keep=1,
    )
    generated = []
    recomputed = False
    for _ in range(steps):
        token = out.logits[:, -1].argmax(-1, keepdim=True)
        generated.append(token)
        ids = torch.cat([ids, token], dim=1)
        mask = torch.cat([mask, torch.ones_like(token)], dim=1)
        if recompute_at_crossing and not recomputed and ids.shape[1] > model.config.original_max_position_embeddings:
            recomputed, cache = True, DynamicCache(config=model.config)
            full = (mask.cumsum(-1) - 1).masked_fill(mask == 0, 1)
            out = model(
                inputs_embeds=model.embed_inputs(ids, **images),
                attention_mask=mask,
                position_ids=full,
                cache=cache,
                use_cache=True,
                logits_to_keep=1,
            )
            position_ids = full[:, -1:]
            continue
        position_ids = position_ids[:, -1:] + 1
        out = model(
            input_ids=token,
            attention_mask=mask,
            position_ids=position_ids,
            cache=cache,
            use_cache=True,
            logits_to_keep=1,
        )
    return torch.cat(generated, dim=1).tolist()


def _image(seed: int) -> Image.Image:
    rng = np.random.default_rng(seed)
    pixels = rng.integers(0, 256, (21, 21, 3), dtype=np.uint8)  # coarse blocks, so features vary across crops
    return Image.fromarray(pixels).resize((672, 672), Image.Resampling.NEAREST)


def _long_inputs(processor: Phi3VProcessor, lengths: list[int]) -> dict:
    """Left-padded rows of exactly `lengths` tokens: one image each, padded out with fixed pseudo-random text ids."""
    rows, pixel_values, image_sizes = [], [], []
    rng = np.random.default_rng(0)
    for i, length in enumerate(lengths):
        x = processor(build_prompt("Describe this image.", 1), [_image(i)])
        ids = x["input_ids"][0].tolist()
        filler = rng.integers(100, 32000, length - len(ids)).tolist()
        rows.append(ids[:-6] + filler + ids[-6:])  # inside the question, before "<|end|>\n<|assistant|>\n"
        pixel_values.append(x["pixel_values"])
        image_sizes.append(x["image_sizes"])
    batch = processor.left_pad(rows)
    return {**batch, "pixel_values": torch.cat(pixel_values), "image_sizes": torch.cat(image_sizes)}


BATCHES = {"batch1": [LONGEST], "left-padded-batch2": [LONGEST, LONGEST - 90]}


@pytest.fixture(scope="module")
def published(tiny_checkpoint: Path) -> dict:
    """Per batch shape: the inputs, the published rule's tokens (by hand, float32), and the factor sets used."""
    processor = Phi3VProcessor.from_pretrained(tiny_checkpoint, num_crops=1)
    model = load_model(tiny_checkpoint, attn_implementation="sdpa")  # the rule is in the rope and the cache
    rope = PublishedRope(json.loads((tiny_checkpoint / "config.json").read_text()))
    model.model.rotary_emb = rope
    cases = {}
    with torch.inference_mode():
        for name, lengths in BATCHES.items():
            inputs = _long_inputs(processor, lengths)
            rope.used.clear()
            cases[name] = (inputs, _hand_greedy(model, inputs, NEW_TOKENS), list(rope.used))
        # The rule must be visible in the tokens: re-running the cache with long factors answers differently.
        cases["recomputed"] = _hand_greedy(model, cases["batch1"][0], NEW_TOKENS, recompute_at_crossing=True)
    return cases


def test_reference_crosses_4096_and_tells_the_rules_apart(published):
    for name in BATCHES:
        used = published[name][2]
        # Short factors up to position 4095, long ones from 4096 on, for every row of the batch.
        assert used[0] == "short" and used.count("long") == NEW_TOKENS - (4096 - LONGEST), name
    assert published["recomputed"] != published["batch1"][1]


@pytest.mark.parametrize("attn", ["eager", "sdpa"])
@pytest.mark.parametrize("batch", list(BATCHES))
def test_generation_across_4096_tokens_follows_the_published_rule(tiny_checkpoint, published, attn, batch):
    inputs, reference, _ = published[batch]
    model = load_model(tiny_checkpoint, attn_implementation=attn)
    with torch.inference_mode():
        out = model.generate(**inputs, max_new_tokens=NEW_TOKENS, min_new_tokens=NEW_TOKENS)
    assert out[:, inputs["input_ids"].shape[1] :].tolist() == reference


@pytest.mark.parametrize("batch", list(BATCHES))
def test_decode_loop_across_4096_tokens_follows_the_published_rule(tiny_checkpoint, published, batch):
    """evalkit's own decode loop (static cache, longrope factor chosen on the device) gives the same tokens."""
    inputs, reference, _ = published[batch]
    model = load_model(tiny_checkpoint, attn_implementation="sdpa")
    out = GreedyDecoder(model).generate(**inputs, max_new_tokens=NEW_TOKENS, stop_token_ids=[])
    assert out.new_tokens.tolist() == reference


@pytest.mark.slow
def test_compiled_decode_step_across_4096_tokens_follows_the_published_rule(tiny_checkpoint, published):
    """The compiled step picks the rope factors on the device (no host read of the positions): same tokens."""
    inputs, reference, _ = published["left-padded-batch2"]
    model = load_model(tiny_checkpoint, attn_implementation="sdpa", masked=True)
    decoder = GreedyDecoder(model, graph=True)
    out = decoder.generate(**inputs, max_new_tokens=NEW_TOKENS, stop_token_ids=[])
    assert out.graph and out.new_tokens.tolist() == reference
    assert decoder.stats()["graph_breaks"] == 0

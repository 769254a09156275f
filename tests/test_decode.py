"""evalkit's decode loop (evalkit/phi3v/decode.py) against transformers' generate() on the tiny model, float32 CPU.

Exact token equality at batch 1 and on a left-padded batch of 4 (crossing position 4096 is in test_long_context.py),
the stop rule with the host checking only every few steps, the device-side longrope choice, cache reuse across
requests, and (slow) a decode step that compiles whole with no graph break.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch
from PIL import Image

from evalkit.phi3v import Phi3VProcessor, build_prompt, load_model
from evalkit.phi3v.decode import CAPACITY_STEP, DeviceRope, GreedyDecoder, capacity_for, graph_unsupported_reason

NEW = 12


def _image(seed: int, size: tuple[int, int]) -> Image.Image:
    pixels = np.random.default_rng(seed).integers(0, 256, (*size, 3), dtype=np.uint8)
    return Image.fromarray(pixels)


@pytest.fixture(scope="module")
def processor(tiny_checkpoint):
    return Phi3VProcessor.from_pretrained(tiny_checkpoint, num_crops=1)


def _batch(processor, n: int) -> dict:
    """n prompts of different lengths (left-padded by the processor), one image each, of different sizes."""
    prompts = [build_prompt("Describe this image" + " in detail" * (3 * i), 1) for i in range(n)]
    return processor(prompts, [[_image(i, (40 + 30 * i, 60 + 20 * i))] for i in range(n)])


def _generate(model, inputs: dict, **kwargs) -> list[list[int]]:
    with torch.inference_mode():
        out = model.generate(**inputs, max_new_tokens=NEW, **kwargs)
    return out[:, inputs["input_ids"].shape[1] :].tolist()


@pytest.mark.parametrize("attn", ["eager", "sdpa"])
@pytest.mark.parametrize("n", [1, 4])
def test_tokens_equal_generate(tiny_checkpoint, processor, attn, n):
    model = load_model(tiny_checkpoint, attn_implementation=attn)
    inputs = _batch(processor, n)
    if n > 1:
        assert (inputs["attention_mask"] == 0).any(), "the batch must be left-padded"
    decoder = GreedyDecoder(model)
    out = decoder.generate(**inputs, max_new_tokens=NEW, stop_token_ids=[])
    assert out.new_tokens.tolist() == _generate(model, inputs, min_new_tokens=NEW)
    assert out.timing.steps == NEW and out.timing.prefill_ms > 0 and out.timing.decode_ms > 0
    # With the model's own stops (generation_config) the output is cut where generate() cuts it.
    assert decoder.generate(**inputs, max_new_tokens=NEW).new_tokens.tolist() == _generate(model, inputs)


def test_stops_checked_every_few_steps_give_generate_tokens(tiny_model, processor):
    """Rows that stop at different steps: the finished row gets padding, the output ends where the last row stopped,
    also when the host asks only every 4 steps (the steps run past it are counted, not returned)."""
    inputs = _batch(processor, 2)
    free = GreedyDecoder(tiny_model).generate(**inputs, max_new_tokens=NEW, stop_token_ids=[]).new_tokens
    stop = int(free[0, 2])  # row 0 stops at its third token, row 1 later (or never): they finish apart
    assert stop not in free[1, :3].tolist() and stop not in free[0, :2].tolist()
    pad = tiny_model.generation_config.pad_token_id
    expected = _generate(tiny_model, inputs, eos_token_id=[stop], pad_token_id=pad)
    for every in (1, 4):
        decoder = GreedyDecoder(tiny_model, finish_check_every=every)
        out = decoder.generate(**inputs, max_new_tokens=NEW, stop_token_ids=[stop], pad_token_id=pad)
        assert out.new_tokens.tolist() == expected, every
        assert out.timing.steps >= len(expected[0])
        assert out.timing.steps - len(expected[0]) < every


def test_device_rope_matches_transformers_on_both_sides_of_4096(tiny_model):
    rotary = tiny_model.model.rotary_emb
    rope = DeviceRope(rotary)
    x = torch.zeros(1, dtype=torch.float32)
    for positions in (torch.arange(4000, 4096)[None], torch.arange(4000, 4100)[None], torch.tensor([[5], [4096]])):
        cos, sin = rope(x, positions)
        ref_cos, ref_sin = rotary(x, positions)
        assert torch.equal(cos, ref_cos) and torch.equal(sin, ref_sin), positions.max()
    # The factor sets differ, and the batch's largest position picks one for every row (the published rule).
    alone = rope(x, torch.tensor([[4095]]))[0]
    beside_a_longer_row = rope(x, torch.tensor([[4095], [4096]]))[0][:1]
    assert not torch.equal(alone, beside_a_longer_row)


def test_cache_is_allocated_once_per_bucket_and_reused(tiny_model, processor):
    decoder = GreedyDecoder(tiny_model)
    one, four = _batch(processor, 1), _batch(processor, 4)
    first = decoder.generate(**one, max_new_tokens=NEW, stop_token_ids=[]).new_tokens
    again = decoder.generate(**one, max_new_tokens=NEW, stop_token_ids=[]).new_tokens
    assert decoder.allocations == 1 and torch.equal(first, again)  # a reused cache keeps nothing of the last request
    decoder.generate(**four, max_new_tokens=NEW, stop_token_ids=[])
    decoder.generate(**four, max_new_tokens=NEW - 4, stop_token_ids=[])
    assert decoder.allocations == 2
    assert capacity_for(1) == CAPACITY_STEP and capacity_for(CAPACITY_STEP + 1) == 2 * CAPACITY_STEP


def test_compiled_step_refuses_host_built_masks():
    assert graph_unsupported_reason("sdpa") is None and graph_unsupported_reason("sdpa_math") is None
    assert "flex_attention" in graph_unsupported_reason("flex_attention")


@pytest.mark.slow
def test_decode_step_compiles_whole_and_answers_as_eager(tiny_model, processor):
    """fullgraph=True: any graph break would raise; the dynamo counters must also show none. Two requests of one
    bucket build one graph (the second replays it)."""
    from torch._dynamo.utils import counters

    torch._dynamo.reset()
    counters.clear()
    inputs = _batch(processor, 1)
    eager = GreedyDecoder(tiny_model).generate(**inputs, max_new_tokens=6, stop_token_ids=[]).new_tokens
    decoder = GreedyDecoder(tiny_model, graph=True)
    for _ in range(2):
        out = decoder.generate(**inputs, max_new_tokens=6, stop_token_ids=[])
        assert out.graph and torch.equal(out.new_tokens, eager)
    stats = decoder.stats()
    assert stats["graphs"] == 1 and stats["recompiles"] == 0 and stats["graph_breaks"] == 0
    assert sum(counters["graph_break"].values()) == 0


def test_generate_command_prints_the_decode_loop_answer(tiny_checkpoint, tiny_model, processor, tmp_path, capsys):
    from evalkit.cli import generate

    path = tmp_path / "a.png"
    _image(7, (50, 80)).save(path)
    args = ["--model", str(tiny_checkpoint), "--image", str(path), "--prompt", "Describe it.", "--num-crops", "1"]
    assert generate.main([*args, "--max-new-tokens", str(NEW), "--device", "cpu"]) == 0
    inputs = processor(build_prompt("Describe it.", 1), [Image.open(path)])
    expected = processor.decode(_generate(tiny_model, inputs)[0])
    assert capsys.readouterr().out == expected + "\n"
    assert generate.main([*args, "--compile", "--attn", "flex_attention", "--device", "cpu"]) == 3
    assert capsys.readouterr().err.strip().count("\n") == 0


def test_a_small_batch_padded_to_the_fixed_size_answers_as_alone(tiny_model, processor):
    """Throughput mode's fixed batch shape: filler rows change no real row's tokens, hold no loop, are not returned."""
    decoder = GreedyDecoder(tiny_model)
    inputs = _batch(processor, 2)
    alone = decoder.generate(**inputs, max_new_tokens=NEW, stop_token_ids=[]).new_tokens
    padded = decoder.generate(**inputs, max_new_tokens=NEW, stop_token_ids=[], pad_batch_to=4)
    assert torch.equal(padded.new_tokens, alone) and decoder.pool.keys() >= {(4, CAPACITY_STEP)}
    stop = int(alone[0, 1])  # row 0 (also the first prompt alone) stops at its second token
    assert stop != int(alone[0, 0])
    stopped = decoder.generate(**_batch(processor, 1), max_new_tokens=NEW, stop_token_ids=[stop], pad_batch_to=4)
    assert stopped.timing.steps == 2 and stopped.new_tokens.tolist() == [alone[0, :2].tolist()]

"""evalkit's own greedy decode loop: a prefill, then decode steps that run on the device against a static KV cache.

Why not transformers' `generate()`: it reads a flag from the device after every step ("are all rows finished?"),
which on a GPU makes each step wait for the previous one, and its static cache is rebuilt per call. Here:

- the KV cache is a set of buffers of fixed shape [batch, kv heads, capacity, head dim], allocated once per
  (batch size, capacity bucket) and reused by every later request of that shape (`GreedyDecoder.pool`);
- a decode step (embed the last token, rotary angles, mask, the decoder layers, final norm, lm_head, argmax, and
  end-of-sequence masking) reads and writes only device tensors, so it can be compiled whole
  (`torch.compile(fullgraph=True)`; on CUDA with `mode="reduce-overhead"`, i.e. replayed as a CUDA graph);
- the host asks whether every row has finished only every `finish_check_every` steps (1 on the CPU, where the
  answer is already computed when asked, 8 on CUDA): a batch may run up to that many steps past its last stop
  token; those steps produce padding, which is cut off and counted in `steps` (the timing says what ran);
- the rotary factor set follows the published Phi-3-vision rule, chosen on the device per forward:
  `max(position_ids) + 1 > original_max_position_embeddings` selects the long factors for the whole batch
  (tests/test_long_context.py pins the rule; `torch.where`, no host read of the positions);
- eager steps read only the filled part of the cache (the host knows its length without asking the device);
  compiled steps read the whole capacity (a fixed shape, so one graph serves every step) and the mask hides what is
  not filled yet; left-padded rows are masked per row by the batch's padding mask.

The tokens equal `generate()`'s greedy tokens: the same decoder layers, attention implementation and mask builder
(transformers' `create_causal_mask`, handed a small cache object that reports the filled length), the same position
ids (each left-padded row counting from its first real token) and the same stop rule (a finished row gets the pad
token). tests/test_decode.py checks it at batch 1, a left-padded batch of 4 and across position 4096.
"""

from __future__ import annotations

import inspect
import weakref
from dataclasses import dataclass

import torch
from transformers.masking_utils import create_causal_mask
from transformers.modeling_rope_utils import ROPE_INIT_FUNCTIONS

from evalkit.errors import ConfigError, UnsupportedSettingError
from evalkit.phi3v.timing import GenerationTiming, Mark, synchronize

# Capacity buckets: prompt + new tokens rounded up to a multiple of this, so prompts of similar length share one
# cache allocation and one compiled graph.
CAPACITY_STEP = 512
# Attention implementations whose decode step compiles whole: their masks are plain tensors built on the device.
# flex_attention builds a BlockMask and the flash-attn packages unpad on the host (both break a graph).
GRAPH_ATTENTION = ("eager", "sdpa", "sdpa_only_fa2", "sdpa_only_efficient", "sdpa_only_math", "sdpa_only_cudnn")
MAX_POOLED = 4  # cache allocations kept per decoder (least recently used dropped first)


def graph_unsupported_reason(attn: str) -> str | None:
    """Why the compiled decode step cannot run with evalkit attention setting `attn`, or None."""
    from evalkit.phi3v.attention import implementation

    if implementation(attn) in GRAPH_ATTENTION:
        return None
    return f"the compiled decode step runs with eager, sdpa and sdpa_* attention; {attn} builds its mask on the host"


def capacity_for(tokens: int) -> int:
    return -(-tokens // CAPACITY_STEP) * CAPACITY_STEP


class DeviceRope(torch.nn.Module):
    """Rotary cos/sin of the language model, with longrope's factor set chosen on the device.

    Same arithmetic as transformers' rotary embedding (so the same bits), but no buffer is rewritten and no value
    is read on the host: `torch.where(max(position_ids) + 1 > original, long, short)`.
    """

    def __init__(self, rotary: torch.nn.Module):
        super().__init__()
        config = rotary.config
        self.scaling = float(rotary.attention_scaling)
        short = rotary.original_inv_freq.detach().clone().float()
        rope = getattr(config, "rope_parameters", None) or getattr(config, "rope_scaling", None) or {}
        self.original = None
        long = short
        if rope.get("rope_type") == "longrope":
            self.original = int(rope.get("original_max_position_embeddings") or config.original_max_position_embeddings)
            long, _ = ROPE_INIT_FUNCTIONS["longrope"](config, short.device, seq_len=self.original + 1)
        self.register_buffer("short", short, persistent=False)
        self.register_buffer("long", long.float().to(short.device), persistent=False)

    def forward(self, x: torch.Tensor, position_ids: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        inv_freq = self.short
        if self.original is not None:
            inv_freq = torch.where(position_ids.max() + 1 > self.original, self.long, self.short)
        freqs = position_ids[..., None].float() * inv_freq.to(device=x.device, dtype=torch.float)
        emb = torch.cat((freqs, freqs), dim=-1)
        return (emb.cos() * self.scaling).to(x.dtype), (emb.sin() * self.scaling).to(x.dtype)


class StaticKV:
    """The KV cache of one (batch size, capacity) bucket, in the shape transformers' attention layers call.

    Layers call `update(keys, values, layer_idx, ...)`: the new keys and values are written at `write_index` and
    the attended part comes back: the filled columns (`filled`, a host int) when eager, the whole capacity when
    compiled. `create_causal_mask` sizes the mask from `get_mask_sizes` / `get_query_offset`.
    """

    def __init__(self, config, batch: int, capacity: int, dtype: torch.dtype, device: torch.device):
        heads = config.num_key_value_heads or config.num_attention_heads
        head_dim = getattr(config, "head_dim", None) or config.hidden_size // config.num_attention_heads
        shape = (batch, heads, capacity, head_dim)
        self.keys = [torch.zeros(shape, dtype=dtype, device=device) for _ in range(config.num_hidden_layers)]
        self.values = [torch.zeros(shape, dtype=dtype, device=device) for _ in range(config.num_hidden_layers)]
        self.batch, self.capacity = batch, capacity
        self.write_index = torch.zeros((), dtype=torch.long, device=device)  # first column the next forward writes
        self.padding = torch.ones(batch, capacity, dtype=torch.bool, device=device)  # False: a left-pad column
        self.filled = 0  # columns written so far (host-side; eager reads only these)
        self.is_compileable = False  # True while a compiled step runs: read the whole capacity, offsets as tensors
        self.query_length = 0

    @property
    def nbytes(self) -> int:
        return sum(t.numel() * t.element_size() for t in (*self.keys, *self.values))

    def tensors(self) -> list[torch.Tensor]:
        return [*self.keys, *self.values, self.write_index, self.padding]

    def read_length(self) -> int:
        return self.capacity if self.is_compileable else self.filled + self.query_length

    # --- the interface transformers' layers and mask builder use -------------------------------------------------
    def update(self, key_states, value_states, layer_idx, *args, **kwargs):
        columns = torch.arange(key_states.shape[-2], device=key_states.device) + self.write_index
        self.keys[layer_idx].index_copy_(2, columns, key_states)
        self.values[layer_idx].index_copy_(2, columns, value_states)
        n = self.read_length()
        return self.keys[layer_idx][:, :, :n], self.values[layer_idx][:, :, :n]

    def get_query_offset(self, layer_idx: int = 0):
        return self.write_index if self.is_compileable else self.filled

    def get_mask_sizes(self, query_length, layer_idx: int = 0) -> tuple[int, int]:
        return self.read_length(), 0

    def get_seq_length(self, layer_idx: int = 0):
        return self.write_index if self.is_compileable else self.filled


@dataclass
class DecodeOutput:
    new_tokens: torch.Tensor  # [batch, generated] on the device: cut where every row had stopped (or at the budget)
    timing: GenerationTiming
    graph: bool  # the decode steps ran compiled
    kv_columns: float | None = None  # KV columns each decode step read per row (mean): capacity when compiled


class _Bucket:
    """A cache plus the per-request state a decode step reads and writes in place."""

    def __init__(self, model, batch: int, capacity: int, device: torch.device):
        dtype = model.model.embed_tokens.weight.dtype
        self.cache = StaticKV(model.config, batch, capacity, dtype, device)
        self.token = torch.zeros(batch, 1, dtype=torch.long, device=device)
        self.positions = torch.zeros(batch, 1, dtype=torch.long, device=device)
        self.finished = torch.zeros(batch, dtype=torch.bool, device=device)
        # Sized by the capacity (no request generates more), so budgets that differ between requests share a shape.
        self.out = torch.zeros(batch, capacity, dtype=torch.long, device=device)
        self.out_index = torch.zeros((), dtype=torch.long, device=device)

    def tensors(self) -> list[torch.Tensor]:
        return [*self.cache.tensors(), self.token, self.positions, self.finished, self.out, self.out_index]


class GreedyDecoder:
    """Greedy decoding of a loaded Phi3VForCausalLM with pooled static caches; `graph=True` compiles the step."""

    def __init__(self, model, *, graph: bool = False, finish_check_every: int | None = None):
        impl = model.config._attn_implementation
        if graph and impl not in GRAPH_ATTENTION:
            raise UnsupportedSettingError(
                f"runtime.compile: the compiled decode step runs with eager, sdpa and sdpa_* attention; {impl} "
                "builds its mask on the host"
            )
        self.model = model
        self.device = model.model.embed_tokens.weight.device
        self.graph = graph
        if finish_check_every is None:
            finish_check_every = 8 if self.device.type == "cuda" else 1
        if finish_check_every < 1:
            raise ConfigError(f"finish_check_every must be at least 1, got {finish_check_every}")
        self.finish_check_every = finish_check_every
        self.rope = DeviceRope(model.model.rotary_emb).to(self.device)
        # transformers 5.x renamed some arguments (past_key_values -> cache, input_embeds -> inputs_embeds) and dropped
        # cache_position; follow whichever this version takes.
        params = inspect.signature(model.model.layers[0].forward).parameters
        self._cache_kw = "cache" if "cache" in params else "past_key_values"
        mask_params = inspect.signature(create_causal_mask).parameters
        self._mask_cache_kw = "cache" if "cache" in mask_params else "past_key_values"
        self._mask_embeds_kw = "inputs_embeds" if "inputs_embeds" in mask_params else "input_embeds"
        self._cache_position = "cache_position" in mask_params or "cache_position" in params
        self.pool: dict[tuple[int, int], _Bucket] = {}
        self.allocations = 0  # caches allocated (a test counts them: requests of one bucket share one)
        self.requests = 0
        self.graphs = 0  # graphs torch.compile built while this decoder's steps ran (the first, then recompiles)
        self.graph_breaks = 0
        self._step = self._decode_step
        if graph:
            # Every (batch, capacity) bucket and attention setting is one graph of the same step function; dynamo's
            # default of 8 per function would silently fall back to eager steps in a long sweep.
            torch._dynamo.config.recompile_limit = max(torch._dynamo.config.recompile_limit, 64)
            mode = "reduce-overhead" if self.device.type == "cuda" else None
            self._step = torch.compile(self._decode_step, fullgraph=True, mode=mode)

    # --- model pieces ----------------------------------------------------------------------------------------------
    def _forward(self, embeds: torch.Tensor, positions: torch.Tensor, cache: StaticKV) -> torch.Tensor:
        """Decoder layers over `embeds` at `positions`, writing the cache; logits of the last position [B, V]."""
        lm = self.model.model
        cache.query_length = embeds.shape[1]
        cos_sin = self.rope(embeds, positions)
        padding = cache.padding[:, : cache.read_length()]
        extra = {}
        if self._cache_position:  # older transformers: where this forward's tokens go in the cache
            extra["cache_position"] = torch.arange(embeds.shape[1], device=embeds.device) + cache.get_query_offset()
        mask = create_causal_mask(
            config=self.model.config, attention_mask=padding, position_ids=positions,
            **{self._mask_embeds_kw: embeds, self._mask_cache_kw: cache}, **extra,
        )  # fmt: skip
        hidden = embeds
        for layer in lm.layers:
            hidden = layer(
                hidden, attention_mask=mask, position_ids=positions, use_cache=True, position_embeddings=cos_sin,
                **{self._cache_kw: cache}, **extra,
            )  # fmt: skip
            if isinstance(hidden, tuple):
                hidden = hidden[0]
        # One position per sequence goes through the norm and lm_head, as generate() does (logits_to_keep=1).
        return self.model.lm_head(lm.norm(hidden[:, -1:]))[:, -1]

    def _decode_step(self, b: _Bucket, stops: torch.Tensor, pad: torch.Tensor) -> None:
        """One token for every row, entirely on the device: nothing is read back or returned."""
        embeds = self.model.model.embed_tokens(b.token)
        logits = self._forward(embeds, b.positions, b.cache)
        nxt = logits.float().argmax(-1)
        nxt = torch.where(b.finished, pad, nxt)
        b.out.index_copy_(1, b.out_index.reshape(1), nxt[:, None])
        b.finished.logical_or_(torch.isin(nxt, stops))
        b.token.copy_(nxt[:, None])
        b.positions.add_(1)
        b.cache.write_index.add_(1)
        b.out_index.add_(1)

    # --- buckets ---------------------------------------------------------------------------------------------------
    def bucket(self, batch: int, needed: int) -> _Bucket:
        """The cache of (batch, capacity bucket of `needed` columns): reused, or allocated once."""
        capacity = capacity_for(needed)
        key = (batch, capacity)
        found = self.pool.pop(key, None)
        if found is None:
            while len(self.pool) >= MAX_POOLED:
                self.pool.pop(next(iter(self.pool)))
            found = _Bucket(self.model, batch, capacity, self.device)
            self.allocations += 1
            if self.graph:
                for t in found.tensors():  # replayed graphs read and write these in place: fixed addresses
                    torch._dynamo.mark_static_address(t)
        self.pool[key] = found  # most recently used last
        return found

    # --- one request -----------------------------------------------------------------------------------------------
    @torch.inference_mode()
    def generate(
        self,
        input_ids: torch.Tensor,
        attention_mask: torch.Tensor | None = None,
        pixel_values: torch.Tensor | None = None,
        image_sizes: torch.Tensor | None = None,
        *,
        max_new_tokens: int,
        stop_token_ids: list[int] | None = None,
        pad_token_id: int | None = None,
        pad_batch_to: int | None = None,
    ) -> DecodeOutput:
        """Greedy tokens for a (left-padded) batch. `stop_token_ids=None`: the model's generation config's stops;
        `[]`: never stop before `max_new_tokens`. `pad_batch_to`: run a smaller batch at this fixed batch size (filler
        rows of one pad token, finished from the start, dropped from the output), so every batch of a throughput run
        has one shape: one cache and one compiled graph per length bucket."""
        if max_new_tokens < 1:
            raise ConfigError(f"max_new_tokens must be at least 1, got {max_new_tokens}")
        gen = self.model.generation_config
        if stop_token_ids is None:
            eos = gen.eos_token_id
            stop_token_ids = [] if eos is None else ([eos] if isinstance(eos, int) else list(eos))
        pad_token_id = pad_token_id if pad_token_id is not None else gen.pad_token_id
        if pad_token_id is None:
            pad_token_id = stop_token_ids[0] if stop_token_ids else 0
        device = self.device
        input_ids = input_ids.to(device)
        batch, width = input_ids.shape
        if attention_mask is None:
            attention_mask = torch.ones_like(input_ids)
        attention_mask = attention_mask.to(device)
        real = batch
        if pad_batch_to is not None and pad_batch_to > batch:
            filler = torch.full((pad_batch_to - batch, width), pad_token_id, dtype=input_ids.dtype, device=device)
            filler_mask = torch.zeros_like(filler, dtype=attention_mask.dtype)
            filler_mask[:, -1] = 1  # one real token each: no row is entirely masked
            input_ids = torch.cat([input_ids, filler])
            attention_mask = torch.cat([attention_mask, filler_mask])
            batch = pad_batch_to
        b = self.bucket(batch, width + max_new_tokens - 1)
        cache = b.cache
        stops = torch.tensor(stop_token_ids, dtype=torch.long, device=device)
        pad = torch.tensor(pad_token_id, dtype=torch.long, device=device)

        start = Mark(device)
        # Prefill (never compiled: its shape is the prompt's). Position ids count from each row's first real token.
        cache.is_compileable = False
        cache.filled = 0
        cache.write_index.zero_()
        cache.padding.fill_(True)
        cache.padding[:, :width].copy_(attention_mask.bool())
        positions = (attention_mask.long().cumsum(-1) - 1).masked_fill(attention_mask == 0, 1)
        images = {} if pixel_values is None else {"pixel_values": pixel_values.to(device), "image_sizes": image_sizes}
        embeds = self.model.embed_inputs(input_ids, **images)
        first = self._forward(embeds, positions, cache).float().argmax(-1)
        cache.filled = width
        cache.write_index.fill_(width)
        b.out.zero_()
        b.out[:, 0].copy_(first)
        b.finished.copy_(torch.isin(first, stops))
        b.finished[real:] = True  # filler rows never hold the loop
        b.token.copy_(first[:, None])
        b.positions.copy_(positions[:, -1:] + 1)
        b.out_index.fill_(1)
        prefilled = Mark(device)

        steps = 1
        cache.is_compileable = self.graph
        compiled_before = dynamo_counts()
        while steps < max_new_tokens:
            # The one host read of the loop: right after the prefill, then every `finish_check_every` steps.
            if (steps - 1) % self.finish_check_every == 0 and bool(b.finished.all()):
                break
            if self.graph and device.type == "cuda":
                torch.compiler.cudagraph_mark_step_begin()
            self._step(b, stops, pad)
            steps += 1
            cache.filled += 1
        end = Mark(device)
        synchronize(device)
        cache.is_compileable = False
        compiled_after = dynamo_counts()
        self.graphs += compiled_after[0] - compiled_before[0]
        self.graph_breaks += compiled_after[1] - compiled_before[1]
        self.requests += 1
        timing = GenerationTiming(prefill_ms=start.ms_until(prefilled), decode_ms=prefilled.ms_until(end), steps=steps)
        # What the decode steps read per row: the whole capacity (compiled), or the padded width filled so far.
        columns = None if steps < 2 else float(cache.capacity if self.graph else width + steps / 2)
        return DecodeOutput(_cut_at_finish(b.out[:real, :steps], stops), timing, self.graph, columns)

    def stats(self, since: dict | None = None) -> dict:
        """What run.json records of the decode loop (performance.decode); counts since `since` (an earlier
        stats()) when given, so a run on a model that served earlier runs counts only its own."""
        counts = ("cache_allocations", "requests", "graphs", "graph_breaks")
        out = {
            "loop": "compiled" if self.graph else "eager",
            "cuda_graphs": self.graph and self.device.type == "cuda",
            "finish_check_every": self.finish_check_every,
            "capacity_step": CAPACITY_STEP,
            "cache_allocations": self.allocations,
            "requests": self.requests,
            "graphs": self.graphs,
            "graph_breaks": self.graph_breaks,
        }
        for key in counts:
            out[key] -= (since or {}).get(key, 0)
        # Every graph after the decoder's first is a recompile (a new batch/capacity bucket, or a guard that failed).
        out["recompiles"] = self.graphs - max(1, (since or {}).get("graphs", 0)) if self.graphs else 0
        out["recompiles"] = max(0, out["recompiles"])
        return out


def dynamo_counts() -> tuple[int, int]:
    """(graphs built, graph breaks) by torch.compile in this process so far."""
    import sys

    if "torch._dynamo" not in sys.modules:
        return 0, 0
    from torch._dynamo.utils import counters

    return int(counters["stats"]["unique_graphs"]), int(sum(counters["graph_break"].values()))


def _cut_at_finish(tokens: torch.Tensor, stops: torch.Tensor) -> torch.Tensor:
    """Columns up to the one where the last row stopped (what generate() returns); steps the host ran past it (it
    checks every few steps) only produced padding."""
    stopped = torch.isin(tokens, stops).cumsum(1) > 0
    done = stopped.all(0).nonzero()
    return tokens if len(done) == 0 else tokens[:, : int(done[0]) + 1]


_decoders: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()


def decoder_for(model, *, graph: bool = False) -> GreedyDecoder:
    """The model's decoder (one per model and mode, so caches and compiled graphs are reused across requests)."""
    per_model = _decoders.setdefault(model, {})
    if graph not in per_model:
        per_model[graph] = GreedyDecoder(model, graph=graph)
    return per_model[graph]


def forget_decoders(model) -> None:
    """Drop the model's decoders (their caches and compiled steps), e.g. after its attention implementation changed."""
    _decoders.pop(model, None)

"""Phi-3-vision on transformers' native `Phi3ForCausalLM` and `CLIPVisionModel`.

The language model is a plain Phi-3; the only addition is `model.vision_embed_tokens`, which turns the processor's
crops into embeddings that replace the image placeholder positions of the text embeddings:

    crops -> CLIP (hidden_states[-2], CLS dropped) -> 2x2 patch merge (24x24 -> 12x12 tokens of 4*width)
          -> sub-crop grid with `sub_GN` after every row, `glb_GN`, global view with `sub_GN` rows
          -> Linear-GELU-Linear projector -> language-model width

Module names follow the published checkpoints key for key, so weights load by name without renaming.
"""

from __future__ import annotations

import torch
from torch import nn
from transformers import CLIPVisionConfig, CLIPVisionModel, GenerationMixin, Phi3Config, Phi3ForCausalLM

from evalkit.errors import InputError
from evalkit.phi3v.config import ImageEmbeddingConfig

CROP_SIZE = 336
# The published `<|image|>` id; the loader replaces it with the id found in the checkpoint's tokenizer.json.
DEFAULT_IMAGE_TOKEN_ID = 32044


class CLIPTower(nn.Module):
    """Holds the CLIP vision model under `vision_model`, as the published key names expect."""

    def __init__(self, config: CLIPVisionConfig, feature_layer: int = -2):
        super().__init__()
        self.vision_model = CLIPVisionModel(config)
        self.feature_layer = feature_layer

    def forward(self, pixel_values: torch.Tensor) -> torch.Tensor:
        """Patch features [n_crops, 576, width] from hidden state `feature_layer`, CLS token dropped."""
        vm = self.vision_model
        hidden = vm.pre_layrnorm(vm.embeddings(pixel_values))
        # hidden_states[k] is the input of layer k, so hidden_states[-2] is the output of all layers but the last:
        # running only those gives the same tensor without computing a layer whose output is discarded.
        n_layers = len(vm.encoder.layers) + 1 + self.feature_layer
        for layer in vm.encoder.layers[:n_layers]:
            hidden = layer(hidden, None)
            if isinstance(hidden, tuple):
                hidden = hidden[0]
        return hidden[:, 1:]


def _merge_2x2(features: torch.Tensor, rows: int, cols: int) -> torch.Tensor:
    """[rows*cols crops, 576, C] -> [rows*12, cols*12, 4C]: each 2x2 patch block becomes one token."""
    n, patches, width = features.shape
    side = int(round(patches**0.5))
    half = side // 2
    merged = features.reshape(n, half, 2, half, 2, width).permute(0, 1, 3, 2, 4, 5).reshape(n, half, half, 4 * width)
    # Crops are stored row by row; lay them out as one (rows*12) x (cols*12) grid.
    return (
        merged.reshape(rows, cols, half, half, 4 * width)
        .permute(0, 2, 1, 3, 4)
        .reshape(rows * half, cols * half, 4 * width)
    )


class Phi3VImageEmbedding(nn.Module):
    def __init__(self, vision: CLIPVisionConfig, embedding: ImageEmbeddingConfig, hidden_size: int):
        super().__init__()
        dim = embedding.image_dim_out * 4
        self.img_processor = CLIPTower(vision, embedding.vision_feature_layer)
        self.glb_GN = nn.Parameter(torch.zeros(1, 1, dim))
        self.sub_GN = nn.Parameter(torch.zeros(1, 1, 1, dim))
        self.img_projection = nn.Sequential(nn.Linear(dim, hidden_size), nn.GELU(), nn.Linear(hidden_size, hidden_size))
        self.order = embedding.hd_transform_order

    def _with_row_separators(self, grid: torch.Tensor) -> torch.Tensor:
        rows = grid.shape[0]
        separator = self.sub_GN.reshape(1, 1, -1).expand(rows, 1, -1).to(grid.dtype)
        return torch.cat([grid, separator], dim=1).reshape(-1, grid.shape[-1])

    def forward(self, pixel_values: torch.Tensor, image_sizes: torch.Tensor) -> torch.Tensor:
        """[n_images, max_crops, 3, 336, 336] + padded (h, w) per image -> [sum of image tokens, hidden]."""
        grids = [(int(h) // CROP_SIZE, int(w) // CROP_SIZE) for h, w in image_sizes.tolist()]
        counts = [1 + rows * cols for rows, cols in grids]
        if max(counts) > pixel_values.shape[1]:
            raise InputError(
                f"image_sizes need {max(counts)} crops but pixel_values holds {pixel_values.shape[1]} per image"
            )
        # Zero-padded crops carry no information; only the real ones go through CLIP.
        crops = torch.cat([pixel_values[i, :n] for i, n in enumerate(counts)])
        tower_dtype = self.img_processor.vision_model.embeddings.patch_embedding.weight.dtype
        features = self.img_processor(crops.to(tower_dtype))
        pieces = []
        for (rows, cols), chunk in zip(grids, torch.split(features, counts), strict=True):
            global_view = self._with_row_separators(_merge_2x2(chunk[:1], 1, 1))
            sub_grid = self._with_row_separators(_merge_2x2(chunk[1:], rows, cols))
            separator = self.glb_GN.reshape(1, -1).to(features.dtype)
            if self.order == "sub_glb":
                pieces += [sub_grid, separator, global_view]
            else:
                pieces += [global_view, separator, sub_grid]
        return self.img_projection(torch.cat(pieces))


class Phi3VForCausalLM(Phi3ForCausalLM):
    """A native Phi-3 language model whose prompt embeddings carry CLIP image features at the image positions.

    Image positions are the tokens equal to `image_token_id` (`<|image|>`) or negative (the published processor's
    `-k` marking), so inputs from either processor work. Load it with `evalkit.phi3v.load_model` (evalkit.phi3v.loading).
    """

    def __init__(self, config: Phi3Config, vision_config: CLIPVisionConfig, embedding: ImageEmbeddingConfig):
        super().__init__(config)
        self.model.vision_embed_tokens = Phi3VImageEmbedding(vision_config, embedding, config.hidden_size)
        self.image_token_id = DEFAULT_IMAGE_TOKEN_ID
        self.source = None  # filled by the loader: where the weights came from (a ModelSource)
        self.decoding: dict = {}  # filled by the loader: the decoding configuration generate() uses, for records

    @classmethod
    def from_pretrained(cls, *args, **kwargs):
        # transformers' own loader would read the published checkpoint without evalkit's key mapping and checks.
        raise TypeError(
            "Phi3VForCausalLM is loaded with evalkit.phi3v.load_model(path_or_repo_id, revision=..., dtype=..., "
            "attn_implementation=..., device=...), which maps the published key names and checks the checkpoint"
        )

    def image_positions(self, input_ids: torch.Tensor) -> torch.Tensor:
        return (input_ids < 0) | (input_ids == self.image_token_id)

    def embed_inputs(self, input_ids: torch.Tensor, pixel_values=None, image_sizes=None) -> torch.Tensor:
        if pixel_values is None and input_ids.shape[-1] == 1:
            # A decode step: the tokens the model just generated, never image positions. A generated `<|image|>` is
            # embedded as that token, as the published model does (its image positions are negative ids only), and
            # no count is read on the host, which would wait for the GPU at every step.
            return self.model.embed_tokens(input_ids)
        is_image = self.image_positions(input_ids)
        embeds = self.model.embed_tokens(input_ids.masked_fill(is_image, 0))
        if pixel_values is None:
            # A prompt with image positions and no images (or a whole sequence run again without them). Compiled
            # code (runtime.compile) skips the check: reading the count on the host breaks the graph.
            if not torch.compiler.is_compiling() and bool(is_image.any()):
                raise InputError(f"input_ids hold {int(is_image.sum())} image positions but no pixel_values were given")
            return embeds
        n_positions = int(is_image.sum())
        if image_sizes is None:
            raise InputError("pixel_values given without image_sizes")
        features = self.model.vision_embed_tokens(pixel_values.to(embeds.device), image_sizes)
        if features.shape[0] != n_positions:
            raise InputError(
                f"input_ids hold {n_positions} image positions but the images give {features.shape[0]} tokens"
                " (were the inputs made with another num_crops?)"
            )
        return embeds.masked_scatter(is_image.unsqueeze(-1), features.to(embeds.dtype))

    def prepare_inputs_for_generation(self, input_ids, cache=None, attention_mask=None, inputs_embeds=None, **kwargs):
        """Keep the KV cache across `original_max_position_embeddings` (4096), as the published Phi-3-vision does.

        transformers' Phi3ForCausalLM drops the cache the first time the sequence passes that length and re-runs the
        whole sequence with the long rope factors; by then the image tensors are gone (generate() passes them on the
        prefill step only), so every generation crossing 4096 tokens failed. The published Phi-3-vision-128k-instruct
        code keeps the cache instead: each forward picks its rope factors from its own largest position
        (`max(position_ids) + 1 > original_max_position_embeddings` -> long factors, over the whole batch), so tokens
        at positions >= 4096 are rotated with the long factors while cached keys keep their short-factor rotation.
        transformers' longrope rotary embedding applies exactly that rule per forward (`dynamic_rope_update`), so the
        generic GenerationMixin preparation, without Phi3's cache reset, gives the published behaviour.
        (Copies of the later Phi-3.5-vision remote code carry Phi-3-mini's cache reset instead; see README.)
        """
        return GenerationMixin.prepare_inputs_for_generation(
            self, input_ids, cache=cache, attention_mask=attention_mask, inputs_embeds=inputs_embeds, **kwargs
        )

    def forward(
        self, input_ids=None, pixel_values=None, image_sizes=None, inputs_embeds=None, position_ids=None, **kwargs
    ):
        # generate() passes pixel_values on the prefill step only; decode steps carry plain text tokens.
        # `position_ids` is named here because generate() derives it from the attention mask (each left-padded row
        # counting from its first real token, as the published code does) only when forward() lists it; otherwise
        # every row would count from the batch's first column, and past 4096 tokens, where cached keys and new
        # queries are rotated with different rope factors, absolute positions change the result.
        if inputs_embeds is None and input_ids is not None:
            inputs_embeds = self.embed_inputs(input_ids, pixel_values, image_sizes)
        return super().forward(inputs_embeds=inputs_embeds, position_ids=position_ids, **kwargs)

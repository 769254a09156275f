"""Phi-3-vision processor: chat prompt building, image tags -> placeholder tokens, batching.

Reproduces the published `processing_phi3_v.py` token for token: the prompt is split on its
`<|image_N|>` tags, every text chunk is tokenized on its own (each gets its own BOS `<s>`, as the
published processor does), and image N's tag is replaced by `num_img_tokens[N-1]` copies of the
`<|image|>` placeholder (the published code writes -N there; the model only needs the positions).
Image preprocessing lives in `images.py`.
"""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import torch
from PIL import Image

from evalkit.errors import CheckpointError, InputError
from evalkit.phi3v.hub import PROCESSOR_PATTERNS, resolve_model
from evalkit.phi3v.images import (
    CLIP_MEAN,
    CLIP_STD,
    ImageInputs,
    ImageSource,
    hd_size,
    hd_transform,
    load_image,
    preprocess_images,
    tokens_per_image,
)

__all__ = [
    "IMAGE_TAG_PATTERN",
    "ImageInputs",
    "Phi3VProcessor",
    "build_prompt",
    "check_image_tags",
    "hd_transform",
    "load_image",
    "tokens_per_image",
]

IMAGE_TAG_PATTERN = re.compile(r"<\|image_(\d+)\|>")


def build_prompt(question: str, n_images: int) -> str:
    """The Phi-3-vision chat prompt: one user turn with the image tags first, then the question."""
    if n_images < 0:
        raise InputError(f"n_images must be >= 0, got {n_images}")
    tags = "".join(f"<|image_{i}|>\n" for i in range(1, n_images + 1))
    return f"<|user|>\n{tags}{question}<|end|>\n<|assistant|>\n"


def check_image_tags(prompt: str, n_images: int) -> None:
    """Require tags <|image_1|> .. <|image_n|>, in order, each once, with n == the number of images.

    The published processor accepts repeated and out-of-order tags; evalkit is stricter so that a
    mislabelled suite fails loudly instead of silently attaching images to the wrong place.
    """
    numbers = [int(m.group(1)) for m in IMAGE_TAG_PATTERN.finditer(prompt)]
    if numbers != list(range(1, len(numbers) + 1)):
        found = ", ".join(f"<|image_{n}|>" for n in numbers)
        raise InputError(f"prompt has tags {found} but tags must be numbered 1..{len(numbers)} in order, each once")
    if len(numbers) != n_images:
        raise InputError(f"prompt references {len(numbers)} image(s) but {n_images} were given")


def _read_json(path: Path) -> dict[str, Any]:
    if not path.is_file():
        raise CheckpointError(f"missing {path.name} in {path.parent}")
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise CheckpointError(f"{path}: not valid JSON ({exc})") from exc
    if not isinstance(data, dict):
        raise CheckpointError(f"{path}: expected a JSON object, got {type(data).__name__}")
    return data


def _load_tokenizer(directory: Path):
    """Load tokenizer.json exactly as published.

    Why PreTrainedTokenizerFast and not AutoTokenizer / LlamaTokenizer: tokenizer_config.json names
    `LlamaTokenizer` with `legacy: false`, and in transformers 5 LlamaTokenizer rebuilds the
    normalizer / pre-tokenizer from those flags (Metaspace, prefix space on the first piece only).
    That drops the "▁" (29871) the published tokenizer.json puts after special tokens, e.g.
    "<|user|>\\n" becomes [1, 32010, 13] instead of the reference [1, 32010, 29871, 13].
    PreTrainedTokenizerFast uses tokenizer.json's own pipeline unchanged (what transformers 4's
    LlamaTokenizerFast did when the reference was produced) and reads special tokens from
    tokenizer_config.json. AutoTokenizer would also read config.json (model_type phi3_v with
    auto_map) and prompt for trust_remote_code.
    """
    from transformers import PreTrainedTokenizerFast

    tokenizer_file = directory / "tokenizer.json"
    if not tokenizer_file.is_file():
        raise CheckpointError(f"missing tokenizer.json in {directory}")
    _read_json(directory / "tokenizer_config.json")  # missing / broken -> CheckpointError naming it
    try:
        return PreTrainedTokenizerFast.from_pretrained(str(directory), local_files_only=True)
    except Exception as exc:  # tokenizers raises plain Exception subclasses for a broken file
        raise CheckpointError(f"{tokenizer_file}: cannot load tokenizer ({exc})") from exc


def _as_list(images: Any) -> list[ImageSource]:
    """None -> [], one image -> [image], a sequence of images -> a list."""
    if images is None:
        return []
    if isinstance(images, str | Path | Image.Image):
        return [images]
    return list(images)


class Phi3VProcessor:
    """Prompt + images -> input_ids, attention_mask, pixel_values, image_sizes for Phi3VForCausalLM."""

    IMAGE_TOKEN = "<|image|>"
    STOP_TOKENS = ("<|end|>", "<|endoftext|>")

    def __init__(
        self,
        tokenizer,
        num_crops: int = 16,
        image_mean: Sequence[float] = CLIP_MEAN,
        image_std: Sequence[float] = CLIP_STD,
        tokens_per_crop: int = 144,
    ) -> None:
        if not isinstance(num_crops, int) or isinstance(num_crops, bool) or num_crops < 1:
            raise InputError(f"num_crops must be an integer >= 1, got {num_crops!r}")
        self.tokenizer = tokenizer
        self.num_crops = num_crops
        self.image_mean = tuple(float(x) for x in image_mean)
        self.image_std = tuple(float(x) for x in image_std)
        self.tokens_per_crop = tokens_per_crop
        self.image_token_id = self._token_id(self.IMAGE_TOKEN)
        self.stop_token_ids = [self._token_id(t) for t in self.STOP_TOKENS]
        self.bos_token_id = tokenizer.bos_token_id
        if self.bos_token_id is None:
            raise CheckpointError("tokenizer has no bos_token")
        # The published tokenizer pads with <|endoftext|>; fall back to it if a config omits pad_token.
        pad = tokenizer.pad_token_id
        self.pad_token_id = pad if pad is not None else self._token_id("<|endoftext|>")

    def _token_id(self, token: str) -> int:
        tid = self.tokenizer.convert_tokens_to_ids(token)
        if tid is None or (tid == self.tokenizer.unk_token_id and token != self.tokenizer.unk_token):
            raise CheckpointError(f"tokenizer has no {token} token")
        return int(tid)

    @classmethod
    def from_pretrained(
        cls, path_or_repo_id: str | Path, revision: str | None = None, *, num_crops: int | None = None
    ) -> Phi3VProcessor:
        """Load from a checkpoint directory, or a Hub repo id + revision, resolved like the model
        (`evalkit.phi3v.hub.resolve_model`: the HF cache first, offline with HF_HUB_OFFLINE=1).

        Reads tokenizer.json, tokenizer_config.json and preprocessor_config.json. num_crops overrides
        preprocessor_config.json (the published default is 16; 4 is the recommended setting for
        multi-image prompts).
        """
        directory = resolve_model(path_or_repo_id, revision, patterns=PROCESSOR_PATTERNS).path
        pre_file = directory / "preprocessor_config.json"
        pre = _read_json(pre_file)
        if num_crops is None:
            num_crops = pre.get("num_crops", 16)
            if not isinstance(num_crops, int) or num_crops < 1:
                raise CheckpointError(f"{pre_file}: num_crops must be an integer >= 1, got {num_crops!r}")
        elif not isinstance(num_crops, int) or isinstance(num_crops, bool) or num_crops < 1:
            raise InputError(f"num_crops must be an integer >= 1, got {num_crops!r}")
        mean = pre.get("image_mean", list(CLIP_MEAN))
        std = pre.get("image_std", list(CLIP_STD))
        for name, value in (("image_mean", mean), ("image_std", std)):
            if not (isinstance(value, list) and len(value) == 3 and all(isinstance(v, int | float) for v in value)):
                raise CheckpointError(f"{pre_file}: {name} must be a list of 3 numbers, got {value!r}")
        if any(s == 0 for s in std):
            raise CheckpointError(f"{pre_file}: image_std has a zero entry")
        per_crop = pre.get("num_img_tokens", 144)
        if not isinstance(per_crop, int) or per_crop < 1:
            raise CheckpointError(f"{pre_file}: num_img_tokens must be an integer >= 1, got {per_crop!r}")
        return cls(_load_tokenizer(directory), num_crops, mean, std, per_crop)

    # -- images ---------------------------------------------------------------------------------

    def preprocess_images(self, images: Sequence[ImageSource]) -> ImageInputs:
        """Paths or PIL images -> ImageInputs (float32 pixel values, padded sizes, token counts)."""
        return preprocess_images(images, self.num_crops, self.image_mean, self.image_std, self.tokens_per_crop)

    # -- text -----------------------------------------------------------------------------------

    def _encode_chunk(self, chunk: str) -> list[int]:
        ids = self.tokenizer(chunk)["input_ids"]
        if self.image_token_id in ids:
            raise InputError(
                f"prompt contains the raw placeholder {self.IMAGE_TOKEN}; refer to images with <|image_1|>, <|image_2|>, ..."
            )
        return list(ids)

    def encode_prompt(self, prompt: str, num_img_tokens: Sequence[int]) -> list[int]:
        """Token ids for one prompt whose tag k stands for an image taking num_img_tokens[k-1] tokens."""
        if not isinstance(prompt, str):
            raise InputError(f"prompt must be a string, got {type(prompt).__name__}")
        check_image_tags(prompt, len(num_img_tokens))
        chunks = IMAGE_TAG_PATTERN.split(prompt)[::2]  # split() also returns the captured numbers
        ids = self._encode_chunk(chunks[0])
        for count, chunk in zip(num_img_tokens, chunks[1:], strict=True):
            ids.extend([self.image_token_id] * count)
            ids.extend(self._encode_chunk(chunk))
        return ids

    # -- both -----------------------------------------------------------------------------------

    def validate(self, prompt: str, images: Sequence[ImageSource]) -> None:
        """Raise the InputError that calling the processor on this prompt and its images would raise, without
        building tensors: images are decoded and sized, not transformed. Lets a caller check samples one by one
        before batching them, so that one bad sample cannot fail the others."""
        if not isinstance(prompt, str):
            raise InputError(f"prompt must be a string, got {type(prompt).__name__}")
        images = _as_list(images)
        check_image_tags(prompt, len(images))
        counts = []
        for source in images:
            image = load_image(source)
            _, _, pad_w, pad_h = hd_size(image.width, image.height, self.num_crops)
            counts.append(tokens_per_image(pad_h, pad_w, self.tokens_per_crop))
        self.encode_prompt(prompt, counts)

    def __call__(
        self,
        text: str | list[str],
        images: Sequence[ImageSource] | Sequence[Sequence[ImageSource]] | ImageSource | None = None,
    ) -> dict[str, torch.Tensor]:
        """Single prompt with a list of images (or None), or a batch: list of prompts + list of image lists.

        Batches are LEFT-padded with pad_token_id (attention_mask 0 there) so that generation continues
        every row from its last position. pixel_values / image_sizes hold the images of all prompts in
        order and are absent when no prompt has images.
        """
        if isinstance(text, str):
            prompts, per_prompt = [text], [_as_list(images)]
        else:
            prompts = list(text)
            if not prompts:
                raise InputError("empty batch: no prompts given")
            if images is None:
                per_prompt = [[] for _ in prompts]
            else:
                if isinstance(images, str | Path | Image.Image):
                    raise InputError("for a batch of prompts, images must be a list of image lists (one per prompt)")
                per_prompt = [_as_list(imgs) for imgs in images]
                if len(per_prompt) != len(prompts):
                    raise InputError(f"batch has {len(prompts)} prompt(s) but {len(per_prompt)} image list(s)")

        rows: list[list[int]] = []
        all_images = []
        for prompt, imgs in zip(prompts, per_prompt, strict=True):
            # Check the tags before decoding any image, so a bad prompt fails fast and clearly.
            if isinstance(prompt, str):
                check_image_tags(prompt, len(imgs))
            if imgs:
                inputs = self.preprocess_images(imgs)
                all_images.append(inputs)
                rows.append(self.encode_prompt(prompt, inputs.num_img_tokens))
            else:
                rows.append(self.encode_prompt(prompt, []))

        out = self.left_pad(rows)
        if all_images:
            out["pixel_values"] = torch.cat([x.pixel_values for x in all_images])
            out["image_sizes"] = torch.cat([x.image_sizes for x in all_images])
        return out

    def left_pad(self, rows: Sequence[Sequence[int]]) -> dict[str, torch.Tensor]:
        """Token id rows as one batch, LEFT-padded with pad_token_id: input_ids and attention_mask (0 on padding)."""
        width = max(len(r) for r in rows)
        input_ids = torch.full((len(rows), width), self.pad_token_id, dtype=torch.int64)
        attention_mask = torch.zeros((len(rows), width), dtype=torch.int64)
        for i, row in enumerate(rows):
            input_ids[i, width - len(row) :] = torch.tensor(row, dtype=torch.int64)
            attention_mask[i, width - len(row) :] = 1
        return {"input_ids": input_ids, "attention_mask": attention_mask}

    def decode(self, token_ids: Sequence[int] | torch.Tensor, skip_special_tokens: bool = True) -> str:
        """Token ids (list or 1-D tensor) -> text."""
        if isinstance(token_ids, torch.Tensor):
            token_ids = token_ids.reshape(-1).tolist()
        return self.tokenizer.decode(list(token_ids), skip_special_tokens=skip_special_tokens)

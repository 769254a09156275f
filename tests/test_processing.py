"""Phi-3-vision processor: conformance with the reference fixture, HD transform, tokenization, errors."""

from __future__ import annotations

import io
import json
import shutil
from pathlib import Path

import numpy as np
import pytest
import torch
from conftest import find_reference_dir, make_hub_cache
from PIL import Image, ImageDraw

from evalkit.errors import CheckpointError, InputError
from evalkit.phi3v.images import MAX_IMAGE_PIXELS, hd_size, image_to_crops, preprocess_images
from evalkit.phi3v.processing import (
    Phi3VProcessor,
    build_prompt,
    hd_transform,
    load_image,
    tokens_per_image,
)

IMAGE_TOKEN_ID = 32044  # <|image|> in the published tokenizer


def _reference_case_names() -> list[str]:
    # Collected at import time so each case is its own test; the fixture skips when absent.
    directory, _ = find_reference_dir()
    if directory is None:
        return ["fixture-absent"]
    return [c["name"] for c in json.loads((directory / "cases.json").read_text(encoding="utf-8"))]


@pytest.fixture(scope="module")
def processor(reference_checkpoint: Path) -> Phi3VProcessor:
    return Phi3VProcessor.from_pretrained(reference_checkpoint, num_crops=4)


def _rng_image(width: int, height: int, seed: int = 0, mode: str = "RGB") -> Image.Image:
    rng = np.random.default_rng(seed)
    channels = {"RGB": 3, "RGBA": 4}[mode]
    return Image.fromarray(rng.integers(0, 256, (height, width, channels), dtype=np.uint8), mode)


# -- conformance with the published processor ------------------------------------------------------


@pytest.mark.parametrize("name", _reference_case_names())
def test_reference_case(name, reference_dir, reference_cases, reference_checkpoint):
    case = next(c for c in reference_cases if c["name"] == name)
    ref = np.load(reference_dir / f"{name}.npz")
    proc = Phi3VProcessor.from_pretrained(reference_checkpoint, num_crops=case["num_crops"])
    images = [reference_dir / "images" / f for f in case["images"]]
    out = proc(case["prompt"], images)

    ref_ids = torch.from_numpy(ref["input_ids"])
    ids = out["input_ids"][0]
    assert out["input_ids"].shape == (1, case["n_tokens"])
    assert out["attention_mask"].all()
    # The reference writes -k at image k's positions; we write <|image|>. Same positions, same counts.
    assert torch.equal(ids, torch.where(ref_ids < 0, IMAGE_TOKEN_ID, ref_ids))
    for k, count in enumerate(case["image_tokens"], start=1):
        assert int((ref_ids == -k).sum()) == count
    if not case["images"]:
        assert "pixel_values" not in out and "image_sizes" not in out
        return
    assert out["pixel_values"].dtype == torch.float32
    assert out["pixel_values"].shape == ref["pixel_values"].shape
    diff = (out["pixel_values"] - torch.from_numpy(ref["pixel_values"].astype(np.float32))).abs().max()
    assert diff <= 2e-3
    assert out["image_sizes"].dtype == torch.int64
    assert out["image_sizes"].tolist() == ref["image_sizes"].tolist()


def test_build_prompt_matches_reference_prompts(reference_cases):
    for case in reference_cases:
        question = case["prompt"].split("<|user|>\n")[1].split("<|end|>")[0]
        question = question.replace("<|image_1|>\n", "").replace("<|image_2|>\n", "")
        assert build_prompt(question, len(case["images"])) == case["prompt"]


def test_build_prompt_layout():
    assert build_prompt("Q?", 0) == "<|user|>\nQ?<|end|>\n<|assistant|>\n"
    assert build_prompt("Q?", 2) == "<|user|>\n<|image_1|>\n<|image_2|>\nQ?<|end|>\n<|assistant|>\n"


def test_tokenizer_keeps_tokenizer_json_pipeline(processor, reference_checkpoint):
    """transformers 5's LlamaTokenizer would drop the '▁' after special tokens; we must not."""
    from tokenizers import Tokenizer

    raw = Tokenizer.from_file(str(reference_checkpoint / "tokenizer.json"))
    for text in [
        "<|user|>\n",
        "\nDescribe.<|end|>\n<|assistant|>\n",
        "\n",
        " lead",
        "a  b",
        "é 中文 🙂",
        "",
        "x<|end|> y",
    ]:
        assert processor.tokenizer(text)["input_ids"] == raw.encode(text).ids, text
    assert processor.tokenizer("<|user|>\n")["input_ids"] == [1, 32010, 29871, 13]


def test_processor_special_ids(processor, reference_checkpoint):
    tok = processor.tokenizer
    assert processor.image_token_id == tok.convert_tokens_to_ids("<|image|>") == IMAGE_TOKEN_ID
    assert processor.stop_token_ids == [
        tok.convert_tokens_to_ids("<|end|>"),
        tok.convert_tokens_to_ids("<|endoftext|>"),
    ]
    assert processor.stop_token_ids == [32007, 32000]
    assert (processor.pad_token_id, processor.bos_token_id) == (32000, 1)
    assert processor.num_crops == 4
    assert Phi3VProcessor.from_pretrained(reference_checkpoint).num_crops == 16  # preprocessor_config default
    assert processor.image_mean == pytest.approx((0.48145466, 0.4578275, 0.40821073))


def test_decode(processor):
    ids = processor.tokenizer("Name three colours.")["input_ids"]
    assert processor.decode(ids) == "Name three colours."
    assert processor.decode(torch.tensor(ids)) == "Name three colours."
    assert processor.decode(ids, skip_special_tokens=False).startswith("<s>")


# -- HD transform -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("height", "width", "expected"),
    [(336, 336, 313), (672, 672, 757), (1344, 1344, 2509), (336, 1008, 601), (1008, 336, 625), (336, 5376, 2473)],
)
def test_tokens_per_image(height, width, expected):
    assert tokens_per_image(height, width) == expected


def test_tokens_per_image_custom_crop_tokens():
    assert tokens_per_image(672, 336, tokens_per_crop=10) == 3 * 10 + 1 + 3 * 12


@pytest.mark.parametrize(
    ("size", "num_crops", "resized", "padded"),
    [
        ((600, 400), 16, (1344, 896), (1344, 1008)),  # landscape
        ((600, 400), 4, (672, 448), (672, 672)),
        ((400, 600), 16, (896, 1344), (1008, 1344)),  # portrait: transposed, padded left/right
        ((3, 7), 4, (288, 672), (336, 672)),
        ((512, 512), 16, (1344, 1344), (1344, 1344)),  # square
        ((512, 512), 4, (672, 672), (672, 672)),
        ((512, 512), 1, (336, 336), (336, 336)),
        ((2000, 100), 16, (5376, 268), (5376, 336)),  # very wide: 16 crops in one row
        ((2000, 100), 4, (1344, 67), (1344, 336)),
        ((5, 3), 16, (1680, 1008), (1680, 1008)),  # tiny: 15 crops, the float ratio lands exactly
        ((5, 3), 4, (672, 403), (672, 672)),
        ((5, 3), 1, (336, 201), (336, 336)),
        ((3, 5), 16, (1008, 1680), (1008, 1680)),
    ],
)
def test_hd_transform_sizes(size, num_crops, resized, padded):
    assert hd_size(*size, num_crops) == (*resized, *padded)
    out = hd_transform(Image.new("RGB", size, (10, 20, 30)), num_crops)
    assert out.size == padded
    w, h = padded
    assert (w // 336) * (h // 336) <= num_crops


def test_hd_transform_pads_with_white_centered():
    red = (200, 0, 0)
    land = np.asarray(hd_transform(Image.new("RGB", (600, 400), red), 16))  # 1344x896 -> pad 112: 56 top
    assert (land[:56] == 255).all() and (land[952:] == 255).all()
    assert (land[56:952] == red).all()
    port = np.asarray(hd_transform(Image.new("RGB", (400, 600), red), 16))  # transposed: padding left/right
    assert port.shape == (1344, 1008, 3)
    assert (port[:, :56] == 255).all() and (port[:, 952:] == 255).all()
    assert (port[:, 56:952] == red).all()
    odd = np.asarray(hd_transform(Image.new("RGB", (5, 3), red), 4))  # 672x403 -> pad 269: 134 top, 135 bottom
    assert (odd[:134] == 255).all() and (odd[134:537] == red).all() and (odd[537:] == 255).all()


def test_crops_are_row_by_row_and_zero_padded():
    # Four quadrants of distinct colours -> 2x2 crops at num_crops 4 in reading order.
    colours = [(255, 0, 0), (0, 255, 0), (0, 0, 255), (255, 255, 0)]
    img = Image.new("RGB", (672, 672))
    for i, c in enumerate(colours):
        img.paste(Image.new("RGB", (336, 336), c), ((i % 2) * 336, (i // 2) * 336))
    crops = image_to_crops(img, num_crops=6)
    assert crops.shape == (7, 3, 336, 336)
    mean = torch.tensor((0.48145466, 0.4578275, 0.40821073)).view(3, 1)
    std = torch.tensor((0.26862954, 0.26130258, 0.27577711)).view(3, 1)
    for i, c in enumerate(colours, start=1):
        expected = (torch.tensor(c, dtype=torch.float32).view(3, 1) / 255 - mean) / std
        assert torch.allclose(crops[i].reshape(3, -1), expected.expand(3, 336 * 336), atol=1e-6)
    assert (crops[5:] == 0).all()
    assert crops[0].abs().sum() > 0  # global view


# -- colour modes ---------------------------------------------------------------------------------------


def test_grayscale_palette_cmyk_to_rgb():
    gray = load_image(Image.new("L", (4, 4), 77))
    assert gray.mode == "RGB" and gray.getpixel((0, 0)) == (77, 77, 77)
    pal = Image.new("P", (4, 4), 1)
    pal.putpalette([0, 0, 0, 12, 34, 56] + [0] * 762)
    assert load_image(pal).getpixel((2, 2)) == (12, 34, 56)
    cmyk = load_image(Image.new("CMYK", (4, 4), (0, 0, 0, 0)))
    assert cmyk.mode == "RGB" and cmyk.getpixel((0, 0)) == (255, 255, 255)
    # Grayscale goes through the whole pipeline: three identical channels before normalisation.
    inputs = preprocess_images([Image.new("L", (40, 30), 128)], num_crops=4)
    assert inputs.pixel_values.shape == (1, 5, 3, 336, 336)


def test_alpha_is_composited_over_white():
    rgba = Image.new("RGBA", (2, 1), (0, 0, 0, 0))
    rgba.putpixel((1, 0), (10, 20, 30, 255))
    out = load_image(rgba)
    assert out.getpixel((0, 0)) == (255, 255, 255) and out.getpixel((1, 0)) == (10, 20, 30)
    half = load_image(Image.new("RGBA", (1, 1), (0, 0, 0, 128)))
    assert half.getpixel((0, 0)) == (127, 127, 127)
    assert load_image(Image.new("LA", (1, 1), (0, 0))).getpixel((0, 0)) == (255, 255, 255)
    pal = Image.new("P", (1, 1), 0)
    pal.putpalette([0, 0, 0] * 256)
    pal.info["transparency"] = 0
    assert load_image(pal).getpixel((0, 0)) == (255, 255, 255)


def _mode_samples() -> dict[str, Image.Image]:
    base = _rng_image(7, 5, 9, mode="RGBA")
    pal_t = base.convert("RGB").quantize(8)
    pal_t.info["transparency"] = 3
    rgb_t = base.convert("RGB")
    rgb_t.info["transparency"] = rgb_t.getpixel((0, 0))
    return {
        "RGBA": base,
        "LA": base.convert("LA"),
        "L": base.convert("L"),
        "1": base.convert("1"),
        "P": base.convert("RGB").quantize(8),
        "P+transparency": pal_t,
        "RGB+transparency": rgb_t,
        "CMYK": base.convert("CMYK"),
        # 16-bit greyscale is not here: transformers clips it at 255 (white), evalkit scales it (see below).
    }


@pytest.mark.parametrize("mode", list(_mode_samples()))
def test_to_rgb_matches_transformers_convert_to_rgb(mode):
    from transformers.image_transforms import convert_to_rgb

    img = _mode_samples()[mode]
    expected = convert_to_rgb(img.copy(), return_numpy=True)
    assert np.array_equal(np.asarray(load_image(img)), expected)


def test_load_image_from_file(tmp_path):
    path = tmp_path / "img.png"
    _rng_image(30, 20, mode="RGBA").save(path)
    img = load_image(path)
    assert img.mode == "RGB" and img.size == (30, 20)
    assert load_image(str(path)).size == (30, 20)


# -- prompts and batches ----------------------------------------------------------------------------


def _tok(processor, text):
    return processor.tokenizer(text)["input_ids"]


def test_three_images(processor):
    images = [_rng_image(60, 40, 1), _rng_image(30, 90, 2), _rng_image(50, 50, 3)]
    prompt = build_prompt("Compare.", 3)
    out = processor(prompt, images)
    counts = [tokens_per_image(h, w) for h, w in out["image_sizes"].tolist()]
    assert out["image_sizes"].tolist() == [[672, 672], [1008, 336], [672, 672]]
    assert out["pixel_values"].shape == (3, 5, 3, 336, 336)
    img = [[IMAGE_TOKEN_ID] * n for n in counts]
    nl = _tok(processor, "\n")
    expected = _tok(processor, "<|user|>\n") + img[0] + nl + img[1] + nl + img[2]
    expected += _tok(processor, "\nCompare.<|end|>\n<|assistant|>\n")
    assert out["input_ids"][0].tolist() == expected


def test_text_before_and_around_tags(processor):
    img = _rng_image(40, 40)
    n = tokens_per_image(672, 672)
    out = processor("Look at this: <|image_1|> what is it?", [img])["input_ids"][0].tolist()
    assert out == _tok(processor, "Look at this: ") + [IMAGE_TOKEN_ID] * n + _tok(processor, " what is it?")
    # A prompt that starts or ends with a tag keeps the empty chunk's BOS, as published.
    out = processor("<|image_1|>", [img])["input_ids"][0].tolist()
    assert out == [1] + [IMAGE_TOKEN_ID] * n + [1]


def test_batch_is_left_padded_and_rows_match_single(processor):
    img_a, img_b, img_c = _rng_image(40, 30, 4), _rng_image(30, 40, 5), _rng_image(20, 20, 6)
    prompts = [build_prompt("What is shown?", 1), build_prompt("Compare these two, in detail please.", 2)]
    batch = processor(prompts, [[img_a], [img_b, img_c]])
    singles = [processor(prompts[0], [img_a]), processor(prompts[1], [img_b, img_c])]
    width = batch["input_ids"].shape[1]
    assert width == max(s["input_ids"].shape[1] for s in singles)
    for row, single in enumerate(singles):
        ids = single["input_ids"][0]
        pad = width - len(ids)
        assert torch.equal(batch["input_ids"][row, pad:], ids)
        assert (batch["input_ids"][row, :pad] == processor.pad_token_id).all()
        assert batch["attention_mask"][row, :pad].sum() == 0 and batch["attention_mask"][row, pad:].all()
    assert any(width - s["input_ids"].shape[1] > 0 for s in singles)  # some row really was padded
    assert torch.equal(batch["pixel_values"], torch.cat([s["pixel_values"] for s in singles]))
    assert torch.equal(batch["image_sizes"], torch.cat([s["image_sizes"] for s in singles]))


def test_batch_text_only_and_mixed(processor):
    out = processor(["Hi", "A longer question here"])
    assert "pixel_values" not in out and out["input_ids"].shape[0] == 2
    assert out["attention_mask"][0].sum() == len(_tok(processor, "Hi"))
    mixed = processor(["Hi", build_prompt("Q", 1)], [[], [_rng_image(10, 10)]])
    assert mixed["pixel_values"].shape[0] == 1


# -- bad input --------------------------------------------------------------------------------------------


def _truncated(tmp_path: Path, fmt: str) -> Path:
    buf = io.BytesIO()
    _rng_image(64, 64).save(buf, format=fmt)
    path = tmp_path / f"cut.{fmt.lower()}"
    path.write_bytes(buf.getvalue()[: len(buf.getvalue()) // 2])
    return path


def test_unreadable_file(tmp_path):
    path = tmp_path / "noise.png"
    path.write_bytes(np.random.default_rng(0).integers(0, 256, 500, dtype=np.uint8).tobytes())
    with pytest.raises(InputError, match="noise.png"):
        load_image(path)


@pytest.mark.parametrize("fmt", ["PNG", "JPEG"])
def test_truncated_file(tmp_path, fmt):
    path = _truncated(tmp_path, fmt)
    with pytest.raises(InputError, match=rf"{path.name}.*(truncated|corrupt)"):
        load_image(path)


def test_missing_file(tmp_path, processor):
    with pytest.raises(InputError, match="not found.*nope.jpg"):
        load_image(tmp_path / "nope.jpg")
    with pytest.raises(InputError, match="nope.jpg"):
        processor(build_prompt("Q", 1), [tmp_path / "nope.jpg"])


def test_zero_size_image():
    with pytest.raises(InputError, match="zero size"):
        load_image(Image.new("RGB", (0, 0)))
    with pytest.raises(InputError, match="zero size"):
        hd_transform(Image.new("RGB", (0, 5)), 4)


def test_too_elongated_image():
    with pytest.raises(InputError, match="elongated"):
        hd_transform(Image.new("RGB", (10000, 1)), 16)


@pytest.mark.parametrize(
    ("prompt", "n_images", "message"),
    [
        (
            "<|image_2|> <|image_1|> Q",
            2,
            r"tags <\|image_2\|>, <\|image_1\|> but tags must be numbered 1\.\.2 in order",
        ),
        ("<|image_1|> <|image_3|> Q", 2, r"numbered 1\.\.2 in order"),  # gap
        ("<|image_1|> <|image_1|> Q", 2, r"numbered 1\.\.2 in order"),  # repeated
        ("<|image_1|> Q", 2, r"references 1 image\(s\) but 2 were given"),
        ("<|image_1|> <|image_2|> Q", 1, r"references 2 image\(s\) but 1 were given"),
        ("Q", 1, r"references 0 image\(s\) but 1 were given"),
        ("<|image_1|> Q", 0, r"references 1 image\(s\) but 0 were given"),
        ("<|image|> Q", 0, r"raw placeholder"),
    ],
)
def test_bad_prompts(processor, prompt, n_images, message):
    images = [_rng_image(8, 8, i) for i in range(n_images)]
    with pytest.raises(InputError, match=message):
        processor(prompt, images)


def test_batch_image_lists_must_match_prompts(processor):
    with pytest.raises(InputError, match="2 prompt.*1 image list"):
        processor(["a", "b"], [[]])


def test_num_crops_must_be_positive(reference_checkpoint):
    with pytest.raises(InputError, match="num_crops"):
        Phi3VProcessor.from_pretrained(reference_checkpoint, num_crops=0)
    with pytest.raises(InputError, match="num_crops"):
        hd_transform(Image.new("RGB", (10, 10)), 0)
    with pytest.raises(InputError, match="num_crops"):
        preprocess_images([Image.new("RGB", (10, 10))], 0)


def test_checkpoint_files_missing_or_broken(tmp_path, reference_checkpoint):
    names = ["tokenizer.json", "tokenizer_config.json", "special_tokens_map.json", "preprocessor_config.json"]
    for name in names:
        shutil.copy(reference_checkpoint / name, tmp_path / name)
    (tmp_path / "preprocessor_config.json").write_text("{not json")
    with pytest.raises(CheckpointError, match="preprocessor_config.json"):
        Phi3VProcessor.from_pretrained(tmp_path)
    (tmp_path / "preprocessor_config.json").unlink()
    with pytest.raises(CheckpointError, match="missing preprocessor_config.json"):
        Phi3VProcessor.from_pretrained(tmp_path)
    shutil.copy(reference_checkpoint / "preprocessor_config.json", tmp_path / "preprocessor_config.json")
    (tmp_path / "tokenizer.json").write_text('{"version": "1.0"}')
    with pytest.raises(CheckpointError, match="tokenizer.json"):
        Phi3VProcessor.from_pretrained(tmp_path)
    (tmp_path / "tokenizer.json").unlink()
    with pytest.raises(CheckpointError, match="missing tokenizer.json"):
        Phi3VProcessor.from_pretrained(tmp_path)
    with pytest.raises(CheckpointError, match="no such checkpoint directory"):
        Phi3VProcessor.from_pretrained(tmp_path / "absent")


# -- images at the edges: 16 bits, the pixel limit, things that are not image files -------------------


def _text_page() -> np.ndarray:
    page = Image.new("L", (200, 60), 230)
    ImageDraw.Draw(page).text((10, 20), "INVOICE 42", fill=20)
    return np.asarray(page)


def test_16_bit_greyscale_png_keeps_its_text(tmp_path, processor):
    """PIL's convert("RGB") clips 16-bit values at 255 (a white page); evalkit keeps the high byte."""
    page = _text_page()
    low_byte = np.random.default_rng(0).integers(0, 256, page.shape, dtype=np.uint16)
    Image.fromarray((page.astype(np.uint16) << 8) | low_byte).save(tmp_path / "scan16.png")
    Image.fromarray(page).save(tmp_path / "scan8.png")
    assert Image.open(tmp_path / "scan16.png").mode == "I;16"
    loaded = np.asarray(load_image(tmp_path / "scan16.png"))
    assert loaded.shape == (60, 200, 3) and (loaded == page[..., None]).all()  # the text is there, pixel for pixel
    assert (loaded < 100).sum() > 100 and loaded.max() == 230  # dark strokes on the light page
    prompt = build_prompt("Read the text.", 1)
    a, b = processor(prompt, [tmp_path / "scan16.png"]), processor(prompt, [tmp_path / "scan8.png"])
    assert torch.equal(a["pixel_values"], b["pixel_values"])


def test_32_bit_images_scale_by_range_or_are_refused():
    eight_bit = np.arange(0, 250, 10, dtype=np.int32).reshape(5, 5)
    assert (np.asarray(load_image(Image.fromarray(eight_bit, "I")))[..., 0] == eight_bit).all()
    sixteen = eight_bit * 256 + 255
    assert (np.asarray(load_image(Image.fromarray(sixteen, "I")))[..., 0] == eight_bit).all()
    with pytest.raises(InputError, match=r"values 0\.\.70000, outside 16 bits"):
        load_image(Image.fromarray(np.array([[0, 70000]], dtype=np.int32), "I"))
    with pytest.raises(InputError, match="floating-point images"):
        load_image(Image.fromarray(np.zeros((4, 4), dtype=np.float32), "F"))


@pytest.mark.parametrize("size", [(11_000, 10_000), (20_000, 10_000)], ids=["over-limit", "PIL-bomb"])
def test_image_file_above_the_pixel_limit_is_refused_before_decoding(tmp_path, size):
    from test_suite_validation import bomb_png

    path = bomb_png(tmp_path / "bomb.png", *size)
    with pytest.raises(InputError) as err:
        load_image(path)
    message = str(err.value)
    assert message.startswith(f"image file {path} ") and f"limit of {MAX_IMAGE_PIXELS:,}" in message
    assert "\n" not in message


def test_directories_and_pipes_are_not_called_missing(tmp_path):
    (tmp_path / "folder.png").mkdir()
    with pytest.raises(InputError, match=r"folder\.png is a directory, not an image file"):
        load_image(tmp_path / "folder.png")
    import os

    os.mkfifo(tmp_path / "pipe.png")
    with pytest.raises(InputError, match=r"pipe\.png is not a regular file"):
        load_image(tmp_path / "pipe.png")
    with pytest.raises(InputError, match="image file not found"):
        load_image(tmp_path / "absent.png")


def test_processor_from_repo_id_and_revision_like_the_model(tmp_path, monkeypatch, reference_checkpoint):
    """Phi3VProcessor.from_pretrained takes what Phi3VForCausalLM.from_pretrained takes: a repo id and revision,
    resolved through the HF cache (offline here)."""
    repo_id, commit = "microsoft/Phi-3-vision-128k-instruct", "89abcdef0123456789abcdef0123456789abcdef"
    cache = make_hub_cache(tmp_path, reference_checkpoint, repo_id, commit)
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setattr("huggingface_hub.constants.HF_HUB_CACHE", str(cache))  # the env var is read at import
    local = Phi3VProcessor.from_pretrained(reference_checkpoint, num_crops=4)
    prompt = build_prompt("Describe.", 1)
    image = _rng_image(50, 40, 3)
    for revision in (None, "main", commit):
        hub = Phi3VProcessor.from_pretrained(repo_id, revision, num_crops=4)
        assert hub.num_crops == 4 and hub.image_token_id == local.image_token_id
        a, b = hub(prompt, [image]), local(prompt, [image])
        assert torch.equal(a["input_ids"], b["input_ids"]) and torch.equal(a["pixel_values"], b["pixel_values"])
    assert Phi3VProcessor.from_pretrained(repo_id).num_crops == 16  # preprocessor_config.json's default
    with pytest.raises(CheckpointError, match="not in the Hub cache and HF_HUB_OFFLINE is set"):
        Phi3VProcessor.from_pretrained(repo_id, "0000000000000000000000000000000000000000")
    with pytest.raises(CheckpointError, match="a revision .* only applies to Hub repo ids"):
        Phi3VProcessor.from_pretrained(reference_checkpoint, "main")

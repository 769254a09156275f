"""Phi-3-vision image preprocessing: loading, RGB conversion, the HD transform and crop tensors.

Everything here reproduces the published `image_processing_phi3_v.py` step for step (it is what the
model was trained with), written with PIL + torch only so that torchvision is not a dependency:
  HD transform (resize + white padding, PIL) -> ToTensor -> CLIP normalise -> bicubic global view
  -> 336 px crops row by row -> zero-pad to num_crops + 1.
"""

from __future__ import annotations

import contextlib
import math
import re
import warnings
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import IO

import numpy as np
import torch
from PIL import Image, UnidentifiedImageError

from evalkit.errors import InputError

CROP_SIZE = 336  # CLIP ViT-L/14-336 input size; every crop and the global view are this square
CLIP_MEAN = (0.48145466, 0.4578275, 0.40821073)
CLIP_STD = (0.26862954, 0.26130258, 0.27577711)

ImageSource = str | Path | Image.Image

# Image files with more pixels than this are refused before they are decoded: a decompression bomb, or far more
# pixels than the HD transform can use (16 crops of 336 px are 1.8 M pixels). PIL's own warning at 89 M pixels and
# error at 179 M are replaced by this one documented limit.
MAX_IMAGE_PIXELS = 100_000_000


@dataclass
class ImageInputs:
    """Model-ready image tensors for a list of images (in prompt order)."""

    pixel_values: torch.Tensor  # float32 [n_images, num_crops + 1, 3, 336, 336]: global view, crops, zero pad
    image_sizes: torch.Tensor  # int64 [n_images, 2]: padded (height, width) after the HD transform
    num_img_tokens: list[int]  # placeholder tokens each image takes in the prompt


def _high_bit_depth_to_l(image: Image.Image) -> Image.Image:
    """16-bit greyscale (PIL modes I;16*, or I) -> 8-bit L, keeping the high byte.

    PIL's convert() clips such values at 255, so a 16-bit scan turns white. Keeping the high byte (v >> 8) is what
    PIL itself does when it reads a 16-bit RGB PNG, so the same picture gives the same pixels whether it was saved
    as 16-bit grey or 16-bit colour: the 8-bit image a viewer shows. A mode I image whose values all fit in 0..255
    is taken as 8-bit; values outside 0..65535 have no known bit depth and are refused.
    """
    values = np.asarray(image).astype(np.int64)
    low, high = int(values.min()), int(values.max())
    if image.mode == "I" and high <= 255 and low >= 0:
        return Image.fromarray(values.astype(np.uint8), "L")
    if low < 0 or high > 65535:
        raise InputError(
            f"image of mode {image.mode!r} has values {low}..{high}, outside 16 bits; save it with 8 or 16 bits"
        )
    return Image.fromarray((values >> 8).astype(np.uint8), "L")


def to_rgb(image: Image.Image) -> Image.Image:
    """Return an RGB copy; images with an alpha band or a transparency key are composited over white.

    This is transformers' `convert_to_rgb` (transformers 5; the published image processor calls it
    with do_convert_rgb=True before its own `convert("RGB")`), so transparent pixels become white
    rather than whatever colour they store. Grayscale, palette and CMYK go through PIL's convert;
    16-bit greyscale is first scaled to 8 bits (`_high_bit_depth_to_l`); 32-bit float images are refused.
    EXIF orientation is ignored, as the published processor ignores it.
    """
    if image.width == 0 or image.height == 0:
        raise InputError(f"image has zero size ({image.width}x{image.height})")
    if image.mode.startswith("I;16") or image.mode == "I":
        image = _high_bit_depth_to_l(image)
    elif image.mode == "F":
        raise InputError("32-bit floating-point images (PIL mode F) are not supported; save it with 8 or 16 bits")
    try:
        if "A" in image.getbands() or image.info.get("transparency") is not None:
            rgba = image.convert("RGBA")
            white = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
            return Image.alpha_composite(white, rgba).convert("RGB")
        return image.convert("RGB")
    except (ValueError, OSError) as exc:
        raise InputError(f"cannot convert image of mode {image.mode!r} to RGB: {exc}") from exc


def file_problem(path: Path) -> str | None:
    """Why `path` cannot be an image file (not found, a directory, a device...), or None for a regular file."""
    if path.is_file():
        return None
    if path.is_dir():
        return "is a directory, not an image file"
    if path.exists():
        return "is not a regular file (a device, pipe or socket)"
    return "not found"


def check_pixel_limit(width: int, height: int, name: str) -> None:
    if width * height > MAX_IMAGE_PIXELS:
        raise InputError(
            f"{name} is {width}x{height} = {width * height:,} pixels, above evalkit's limit of {MAX_IMAGE_PIXELS:,};"
            " downscale it"
        )


@contextlib.contextmanager
def open_image(fp: str | Path | IO[bytes], name: str) -> Iterator[Image.Image]:
    """`Image.open` (header only, nothing decoded yet) with evalkit's pixel limit; `name` is used in messages.

    PIL's decompression-bomb warning is silenced (the limit above is stricter) and its error, raised for images
    beyond twice its own threshold, becomes the same one-line InputError.
    """
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", Image.DecompressionBombWarning)
        try:
            image = Image.open(fp)
        except Image.DecompressionBombError as exc:
            count = re.search(r"\((\d+) pixels\)", str(exc))
            size = f"{int(count.group(1)):,} pixels, " if count else ""
            raise InputError(f"{name} is too large ({size}above evalkit's limit of {MAX_IMAGE_PIXELS:,})") from None
    with image:
        check_pixel_limit(image.width, image.height, name)
        yield image


def load_image(source: ImageSource) -> Image.Image:
    """Open (if a path) and fully decode an image, returning it in RGB.

    `img.load()` forces the whole decode here, so a truncated or corrupt file fails now with an
    InputError naming the file instead of later inside the model call. Files above MAX_IMAGE_PIXELS
    are refused before decoding.
    """
    if isinstance(source, Image.Image):
        return to_rgb(source)
    if not isinstance(source, str | Path):
        raise InputError(f"image must be a path or a PIL image, got {type(source).__name__}")
    path = Path(source)
    problem = file_problem(path)
    if problem == "not found":
        raise InputError(f"image file not found: {path}")
    if problem:
        raise InputError(f"image file {path} {problem}")
    try:
        with open_image(path, f"image file {path}") as img:
            img.load()
            return to_rgb(img)
    except InputError as exc:
        if str(path) in str(exc):
            raise
        raise InputError(f"image file {path}: {exc}") from exc
    except UnidentifiedImageError:
        raise InputError(f"image file {path} is not a readable image") from None
    except (OSError, ValueError, SyntaxError) as exc:
        # PIL reports truncated data as OSError("image file is truncated ...") and some corrupt
        # headers as SyntaxError/ValueError.
        raise InputError(f"image file {path} is corrupt or truncated: {exc}") from exc


def hd_scale(width: int, height: int, num_crops: int) -> int:
    """Largest integer s with s * ceil(s / ratio) <= num_crops, for landscape (width >= height) sizes.

    The same loop as the published code, so float edge cases round identically.
    """
    ratio = width / height
    scale = 1
    while scale * math.ceil(scale / ratio) <= num_crops:
        scale += 1
    return scale - 1


def hd_size(width: int, height: int, num_crops: int) -> tuple[int, int, int, int]:
    """(resized_w, resized_h, padded_w, padded_h) of the HD transform, in the image's own orientation."""
    if num_crops < 1:
        raise InputError(f"num_crops must be >= 1, got {num_crops}")
    if width < 1 or height < 1:
        raise InputError(f"image has zero size ({width}x{height})")
    transposed = width < height
    if transposed:
        width, height = height, width
    ratio = width / height
    new_w = int(hd_scale(width, height, num_crops) * CROP_SIZE)
    new_h = int(new_w / ratio)  # same float expression as the published code (not new_w * h // w)
    if new_h < 1:
        raise InputError(
            f"image of size {width}x{height} is too elongated: it would be resized to {new_w}x{new_h} "
            f"(the published processor fails on it too)"
        )
    pad_h = math.ceil(new_h / CROP_SIZE) * CROP_SIZE
    if transposed:
        return new_h, new_w, pad_h, new_w
    return new_w, new_h, new_w, pad_h


def hd_transform(image: Image.Image, num_crops: int) -> Image.Image:
    """Resize to fill whole 336 px crops (at most num_crops) and pad the short side with white.

    Portrait images are transposed first and transposed back at the end, exactly as published;
    the padding is split top/bottom (left/right for portrait), the extra pixel going to the bottom.
    """
    if image.mode != "RGB":
        image = to_rgb(image)
    transposed = image.width < image.height
    img = image.transpose(Image.Transpose.TRANSPOSE) if transposed else image
    new_w, new_h, _, pad_h = hd_size(img.width, img.height, num_crops)
    # torchvision's resize of a PIL image is exactly this call (bilinear, PIL's own antialiasing);
    # PIL returns a copy when the size is unchanged, as torchvision returns the image itself.
    img = img.resize((new_w, new_h), Image.Resampling.BILINEAR)
    top = int((pad_h - new_h) / 2)
    if pad_h != new_h:
        canvas = Image.new("RGB", (new_w, pad_h), (255, 255, 255))
        canvas.paste(img, (0, top))
        img = canvas
    if transposed:
        img = img.transpose(Image.Transpose.TRANSPOSE)
    return img


def tokens_per_image(height: int, width: int, tokens_per_crop: int = 144) -> int:
    """Placeholder tokens for an HD-transformed image of padded size (height, width).

    One global view + one per crop (tokens_per_crop each), one separator between global and crops,
    and a newline embedding per row of 12 tokens (per crop row plus the global row).
    """
    rows, cols = height // CROP_SIZE, width // CROP_SIZE
    return (rows * cols + 1) * tokens_per_crop + 1 + (rows + 1) * 12


def normalise(image: Image.Image, mean: Sequence[float], std: Sequence[float]) -> torch.Tensor:
    """ToTensor (/255, CHW float32) then (x - mean) / std, in torchvision's order of operations."""
    arr = np.asarray(image, dtype=np.uint8)
    t = torch.from_numpy(arr.copy()).permute(2, 0, 1).to(torch.float32).div_(255.0)
    m = torch.tensor(mean, dtype=torch.float32).view(3, 1, 1)
    s = torch.tensor(std, dtype=torch.float32).view(3, 1, 1)
    return t.sub_(m).div_(s)


def image_to_crops(
    image: Image.Image, num_crops: int, mean: Sequence[float] = CLIP_MEAN, std: Sequence[float] = CLIP_STD
) -> torch.Tensor:
    """One RGB image -> float32 [num_crops + 1, 3, 336, 336]: bicubic global view, crops row by row, zeros."""
    hd = normalise(hd_transform(image, num_crops), mean, std)
    _, h, w = hd.shape
    # The published code interpolates without antialias and with align_corners=False.
    global_view = torch.nn.functional.interpolate(hd.unsqueeze(0), size=(CROP_SIZE, CROP_SIZE), mode="bicubic")
    rows, cols = h // CROP_SIZE, w // CROP_SIZE
    crops = hd.reshape(3, rows, CROP_SIZE, cols, CROP_SIZE).permute(1, 3, 0, 2, 4).reshape(-1, 3, CROP_SIZE, CROP_SIZE)
    out = torch.zeros(num_crops + 1, 3, CROP_SIZE, CROP_SIZE, dtype=torch.float32)
    out[0] = global_view[0]
    out[1 : 1 + crops.shape[0]] = crops
    return out


def preprocess_images(
    images: Sequence[ImageSource],
    num_crops: int,
    mean: Sequence[float] = CLIP_MEAN,
    std: Sequence[float] = CLIP_STD,
    tokens_per_crop: int = 144,
) -> ImageInputs:
    """Load (if paths) and transform a list of images into stacked model inputs."""
    if num_crops < 1:
        raise InputError(f"num_crops must be >= 1, got {num_crops}")
    if not images:
        raise InputError("preprocess_images needs at least one image")
    pixel_values, sizes, counts = [], [], []
    for source in images:
        img = load_image(source)
        crops = image_to_crops(img, num_crops, mean, std)
        _, _, pad_w, pad_h = hd_size(img.width, img.height, num_crops)
        pixel_values.append(crops)
        sizes.append([pad_h, pad_w])
        counts.append(tokens_per_image(pad_h, pad_w, tokens_per_crop))
    return ImageInputs(
        pixel_values=torch.stack(pixel_values),
        image_sizes=torch.tensor(sizes, dtype=torch.int64),
        num_img_tokens=counts,
    )

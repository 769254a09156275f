"""Shared pixel-level helpers: deterministic encoding, fonts, text layout, photo loading and charts.

Byte-for-byte reproducibility rests on this module: fonts come from matplotlib's own package (never the system),
text layout avoids optional libraries, PNG/JPEG are written without metadata, and charts go through the Agg
canvas straight to pixels.
"""

from __future__ import annotations

import io
from collections.abc import Callable
from functools import cache
from pathlib import Path

import matplotlib
import numpy as np
from PIL import Image, ImageDraw, ImageFont

matplotlib.use("Agg")
from matplotlib.backends.backend_agg import FigureCanvasAgg  # noqa: E402
from matplotlib.figure import Figure  # noqa: E402

FONT_DIR = Path(matplotlib.get_data_path()) / "fonts" / "ttf"


def png(img: Image.Image) -> bytes:
    buf = io.BytesIO()
    img.save(buf, format="PNG", compress_level=9)  # no pnginfo: no timestamps or software tags
    return buf.getvalue()


def jpeg(img: Image.Image, quality: int = 85) -> bytes:
    buf = io.BytesIO()
    img.save(buf, format="JPEG", quality=quality, optimize=True)
    return buf.getvalue()


@cache
def font(name: str, size: int) -> ImageFont.FreeTypeFont:
    # BASIC layout: no dependency on whether libraqm happens to be installed.
    return ImageFont.truetype(str(FONT_DIR / f"{name}.ttf"), size, layout_engine=ImageFont.Layout.BASIC)


def text_width(text: str, fnt: ImageFont.FreeTypeFont) -> int:
    return int(fnt.getlength(text))


def wrap(text: str, fnt: ImageFont.FreeTypeFont, width: int) -> list[str]:
    lines: list[str] = []
    for word in text.split():
        if lines and text_width(lines[-1] + " " + word, fnt) <= width:
            lines[-1] += " " + word
        else:
            lines.append(word)
    return lines


def page(lines: list[tuple[str, str, int]], *, width: int = 640, margin: int = 32, gap: float = 1.35,
         bg="white", fg="black") -> Image.Image:  # fmt: skip
    """A document: lines of (text, font name, size). A '\t' splits a line into left and right-aligned parts."""
    height = margin * 2 + sum(int(size * gap) for _, _, size in lines)
    img = Image.new("RGB", (width, height), bg)
    draw = ImageDraw.Draw(img)
    y = margin
    for text, name, size in lines:
        fnt = font(name, size)
        left, _, right = text.partition("\t")
        draw.text((margin, y), left, font=fnt, fill=fg)
        if right:
            draw.text((width - margin - text_width(right, fnt), y), right, font=fnt, fill=fg)
        y += int(size * gap)
    return img


def load_photo(package: str, name: str, max_side: int = 768) -> Image.Image:
    """A photo shipped inside scikit-image or matplotlib, flattened to RGB/L and downscaled to `max_side`."""
    if package == "skimage":
        import skimage  # lazily: a dev extra, and rendered-only images must build without it

        path = Path(skimage.__file__).parent / "data" / name
    else:
        path = Path(matplotlib.get_data_path()) / "sample_data" / name
    img = Image.open(path)
    img.load()
    if img.mode in ("RGBA", "LA", "P"):
        # Composite on white rather than dropping alpha, so transparent areas do not turn black.
        img = img.convert("RGBA")
        flat = Image.new("RGB", img.size, "white")
        flat.paste(img, mask=img.getchannel("A"))
        img = flat
    elif img.mode not in ("RGB", "L"):
        img = img.convert("RGB")
    if max(img.size) > max_side:
        scale = max_side / max(img.size)
        img = img.resize((round(img.width * scale), round(img.height * scale)), Image.Resampling.LANCZOS)
    return img


def chart(draw_fn: Callable, size=(6.4, 4.2), dpi: int = 100) -> Image.Image:
    """Render a matplotlib figure through the Agg canvas straight to pixels (no file metadata)."""
    with matplotlib.rc_context({"font.family": "DejaVu Sans", "font.size": 11, "axes.titlesize": 14}):
        fig = Figure(figsize=size, dpi=dpi)
        canvas = FigureCanvasAgg(fig)
        draw_fn(fig)
        fig.tight_layout()
        canvas.draw()
        arr = np.asarray(canvas.buffer_rgba())
    return Image.fromarray(arr[..., :3].copy())

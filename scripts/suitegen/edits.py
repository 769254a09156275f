"""Image edits for the compare suite: the second image of a pair is the first with exactly one change (or, for a
no-change control, a change no eye can see: re-encoding, a 1-pixel shift, a slight brightness step).
"""

from __future__ import annotations

import numpy as np
from PIL import Image, ImageDraw

from .documents import SANS_B, sign
from .render import font
from .scenes import RED, scene

SIGN_COLOURS = ((30, 30, 30), (255, 80, 60))  # background, lettering: the same for OPEN and CLOSED


def open_closed(word: str) -> Image.Image:
    # Only the word differs: same colours, size and layout for OPEN and CLOSED.
    img, _ = sign([(word, 72)], *SIGN_COLOURS)
    return img


def price_tag(price: str) -> Image.Image:
    img = Image.new("RGB", (420, 260), (250, 248, 240))
    d = ImageDraw.Draw(img)
    d.rounded_rectangle((30, 30, 390, 230), radius=20, fill=(255, 230, 120), outline=(120, 90, 20), width=4)
    d.text((210, 85), "Fresh Strawberries", font=font(SANS_B, 26), fill=(60, 40, 10), anchor="mm")
    d.text((210, 160), price, font=font(SANS_B, 64), fill=(180, 20, 20), anchor="mm")
    return img


def balls(n: int) -> Image.Image:
    xs = np.linspace(80, 432, n)
    return scene([("circle", float(x), 192.0, 34, RED) for x in xs])


def remove_coin(img: Image.Image, cx: int = 213, cy: int = 193, r: int = 34) -> Image.Image:
    """Paint out one coin: harmonic fill (repeated neighbour averaging) from the background ring around it."""
    arr = np.asarray(img, dtype=np.float64).copy()
    win = arr[cy - r - 2 : cy + r + 3, cx - r - 2 : cx + r + 3]  # a view: edits land in arr
    yy, xx = np.mgrid[: win.shape[0], : win.shape[1]]
    dist = np.sqrt((yy - r - 2) ** 2 + (xx - r - 2) ** 2)
    mask = dist <= r
    win[mask] = win[(dist > r) & (dist <= r + 2)].mean()
    for _ in range(3000):
        avg = (np.roll(win, 1, 0) + np.roll(win, -1, 0) + np.roll(win, 1, 1) + np.roll(win, -1, 1)) / 4
        win[mask] = avg[mask]
    win[mask] += np.random.default_rng(5).normal(0, 2.0, size=int(mask.sum()))
    return Image.fromarray(np.clip(np.rint(arr), 0, 255).astype(np.uint8))


def caption(img: Image.Image, text: str) -> Image.Image:
    img = img.convert("RGB").copy()
    d = ImageDraw.Draw(img)
    d.rectangle((0, img.height - 70, img.width, img.height), fill=(20, 20, 20))
    d.text((img.width / 2, img.height - 35), text, font=font(SANS_B, 40), fill="white", anchor="mm")
    return img


def sticker(img: Image.Image) -> Image.Image:
    img = img.convert("RGB").copy()
    ImageDraw.Draw(img).ellipse((380, 60, 460, 140), fill=(220, 30, 30))
    return img


def tint(img: Image.Image, rgb: tuple[float, float, float]) -> Image.Image:
    arr = np.asarray(img.convert("RGB"), dtype=np.float64) * np.array(rgb)
    return Image.fromarray(np.clip(np.rint(arr), 0, 255).astype(np.uint8))


def crop_zoom(img: Image.Image) -> Image.Image:
    w, h = img.size
    return img.crop((w // 4, h // 4, w * 3 // 4, h * 3 // 4)).resize((w, h), Image.Resampling.LANCZOS)


def darker(img: Image.Image) -> Image.Image:
    return Image.fromarray((np.asarray(img, dtype=np.float64) * 0.45).round().astype(np.uint8))


def shift(img: Image.Image, dx: int, dy: int) -> Image.Image:
    """Move the picture by (dx, dy) pixels, repeating the edge rows/columns into the gap (same size)."""
    arr = np.asarray(img.convert("RGB"))
    arr = np.roll(arr, (dy, dx), axis=(0, 1))
    if dy > 0:
        arr[:dy] = arr[dy]
    if dx > 0:
        arr[:, :dx] = arr[:, dx : dx + 1]
    return Image.fromarray(arr)


def brighten(img: Image.Image, factor: float) -> Image.Image:
    arr = np.asarray(img.convert("RGB"), dtype=np.float64) * factor
    return Image.fromarray(np.clip(np.rint(arr), 0, 255).astype(np.uint8))

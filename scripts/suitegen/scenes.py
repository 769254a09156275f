"""Simple scenes drawn with PIL: coloured shapes, a landscape, a stop sign, a clock face and a flowchart.

Used by the describe suite (as single images) and the compare suite (as before/after pairs that differ only in
one stated edit).
"""

from __future__ import annotations

import numpy as np
from PIL import Image, ImageDraw

from .render import font

SS = 2  # draw at 2x and downscale: anti-aliased edges without depending on PIL's AA support


def _star(cx: float, cy: float, r: float) -> list[tuple[float, float]]:
    pts = []
    for k in range(10):
        rad = r if k % 2 == 0 else r * 0.42
        ang = -np.pi / 2 + k * np.pi / 5
        pts.append((cx + rad * np.cos(ang), cy + rad * np.sin(ang)))
    return pts


def shape(draw: ImageDraw.ImageDraw, kind: str, cx: float, cy: float, r: float, color) -> None:
    cx, cy, r = cx * SS, cy * SS, r * SS
    if kind == "circle":
        draw.ellipse((cx - r, cy - r, cx + r, cy + r), fill=color)
    elif kind == "square":
        draw.rectangle((cx - r, cy - r, cx + r, cy + r), fill=color)
    elif kind == "triangle":
        draw.polygon([(cx, cy - r), (cx + r * 1.1, cy + r * 0.9), (cx - r * 1.1, cy + r * 0.9)], fill=color)
    elif kind == "star":
        draw.polygon(_star(cx, cy, r * 1.15), fill=color)
    elif kind == "arrow":  # pointing right
        draw.polygon([(cx - r * 1.6, cy - r * 0.35), (cx + r * 0.3, cy - r * 0.35), (cx + r * 0.3, cy - r * 0.8),
                      (cx + r * 1.6, cy), (cx + r * 0.3, cy + r * 0.8), (cx + r * 0.3, cy + r * 0.35),
                      (cx - r * 1.6, cy + r * 0.35)], fill=color)  # fmt: skip
    else:
        raise ValueError(kind)


def scene(objects: list[tuple], size=(512, 384), bg=(245, 240, 225)) -> Image.Image:
    """objects: (kind, cx, cy, r, colour) drawn in order."""
    img = Image.new("RGB", (size[0] * SS, size[1] * SS), bg)
    draw = ImageDraw.Draw(img)
    for kind, cx, cy, r, color in objects:
        shape(draw, kind, cx, cy, r, color)
    return img.resize(size, Image.Resampling.LANCZOS)


RED, BLUE, GREEN, YELLOW, ORANGE = (214, 40, 40), (40, 90, 200), (40, 150, 60), (240, 200, 30), (245, 140, 20)
BASE = [("circle", 110, 230, 55, RED), ("square", 256, 230, 50, BLUE), ("triangle", 400, 235, 55, GREEN)]


def landscape(canopy, *, sun: bool = True, house: bool = False) -> Image.Image:
    w, h = 512, 384
    img = Image.new("RGB", (w * SS, h * SS), (170, 210, 240))
    d = ImageDraw.Draw(img)
    s = SS
    d.rectangle((0, 290 * s, w * s, h * s), fill=(110, 170, 80))
    if sun:
        d.ellipse((400 * s, 30 * s, 470 * s, 100 * s), fill=(250, 210, 40))
    d.rectangle((130 * s, 200 * s, 155 * s, 310 * s), fill=(110, 70, 40))
    for cx, cy, r in ((142, 170, 60), (105, 200, 42), (180, 200, 42)):
        d.ellipse(((cx - r) * s, (cy - r) * s, (cx + r) * s, (cy + r) * s), fill=canopy)
    if house:
        d.rectangle((270 * s, 200 * s, 400 * s, 310 * s), fill=(225, 200, 160))
        d.polygon([(255 * s, 200 * s), (335 * s, 130 * s), (415 * s, 200 * s)], fill=(170, 50, 40))
        d.rectangle((318 * s, 250 * s, 352 * s, 310 * s), fill=(100, 60, 30))
        d.rectangle((285 * s, 225 * s, 310 * s, 250 * s), fill=(190, 225, 245))
    return img.resize((w, h), Image.Resampling.LANCZOS)


def stop_sign() -> Image.Image:
    w = 400
    img = Image.new("RGB", (w * SS, w * SS), (200, 225, 240))
    d = ImageDraw.Draw(img)
    c, r = w * SS / 2, w * SS * 0.42
    octagon = [(c + r * np.cos(np.pi / 8 + k * np.pi / 4), c + r * np.sin(np.pi / 8 + k * np.pi / 4)) for k in range(8)]
    d.polygon(octagon, fill="white")
    inner = [(c + 0.92 * (x - c), c + 0.92 * (y - c)) for x, y in octagon]
    d.polygon(inner, fill=(200, 20, 30))
    fnt = font("DejaVuSans-Bold", 92 * SS)
    d.text((c, c), "STOP", font=fnt, fill="white", anchor="mm")
    return img.resize((w, w), Image.Resampling.LANCZOS)


def clock_face(hour: int, minute: int) -> Image.Image:
    w = 400
    img = Image.new("RGB", (w * SS, w * SS), "white")
    d = ImageDraw.Draw(img)
    c, r = w * SS / 2, w * SS * 0.45
    d.ellipse((c - r, c - r, c + r, c + r), fill=(250, 250, 245), outline="black", width=8 * SS)
    fnt = font("DejaVuSans-Bold", 34 * SS)
    for k in range(12):
        a = np.pi / 2 - k * np.pi / 6
        d.text((c + 0.78 * r * np.cos(a), c - 0.78 * r * np.sin(a)), str(k or 12), font=fnt, fill="black", anchor="mm")
    for frac, length, width in (((hour % 12 + minute / 60) / 12, 0.5, 14), (minute / 60, 0.72, 8)):
        a = np.pi / 2 - frac * 2 * np.pi
        d.line((c, c, c + length * r * np.cos(a), c - length * r * np.sin(a)), fill="black", width=width * SS)
    d.ellipse((c - 12 * SS, c - 12 * SS, c + 12 * SS, c + 12 * SS), fill="black")
    return img.resize((w, w), Image.Resampling.LANCZOS)


def flowchart(steps: list[str]) -> Image.Image:
    w, box_h, gap = 420, 56, 34
    h = len(steps) * box_h + (len(steps) - 1) * gap + 60
    img = Image.new("RGB", (w, h), "white")
    d = ImageDraw.Draw(img)
    fnt = font("DejaVuSans-Bold", 22)
    y = 30
    for i, step in enumerate(steps):
        d.rounded_rectangle((70, y, w - 70, y + box_h), radius=12, fill=(220, 235, 250), outline=(30, 70, 140), width=3)
        d.text((w / 2, y + box_h / 2), step, font=fnt, fill=(20, 30, 60), anchor="mm")
        if i < len(steps) - 1:
            d.line((w / 2, y + box_h, w / 2, y + box_h + gap - 8), fill=(30, 70, 140), width=3)
            d.polygon([(w / 2 - 8, y + box_h + gap - 12), (w / 2 + 8, y + box_h + gap - 12), (w / 2, y + box_h + gap)],
                      fill=(30, 70, 140))  # fmt: skip
        y += box_h + gap
    return img

"""Document renderers for the OCR suite: each returns (image, reference text) from the same strings.

Taking the reference from the very strings that are drawn is what makes the OCR ground truth exact. The compare
suite reuses `sign` for its OPEN/CLOSED pair.
"""

from __future__ import annotations

from PIL import Image, ImageDraw

from .render import font, page, wrap

# DejaVu faces shipped with matplotlib (file names without .ttf under render.FONT_DIR)
SERIF, SERIF_B, SANS, SANS_B, SANS_I, MONO, MONO_B = ("DejaVuSerif", "DejaVuSerif-Bold", "DejaVuSans",
                                                      "DejaVuSans-Bold", "DejaVuSans-Oblique", "DejaVuSansMono",
                                                      "DejaVuSansMono-Bold")  # fmt: skip


def book_cover(title: str, author: str, tagline: str, bg, fg, title_font: str) -> tuple[Image.Image, str]:
    w, h = 400, 600
    img = Image.new("RGB", (w, h), bg)
    d = ImageDraw.Draw(img)
    d.rectangle((18, 18, w - 18, h - 18), outline=fg, width=3)
    d.ellipse((w / 2 - 70, 300, w / 2 + 70, 440), outline=fg, width=4)
    fnt = font(title_font, 46)
    lines = wrap(title, fnt, w - 80)
    y = 70
    for line in lines:
        d.text((w / 2, y), line, font=fnt, fill=fg, anchor="mt")
        y += 58
    parts = lines[:]
    if tagline:
        d.text((w / 2, y + 12), tagline, font=font(SANS_I, 18), fill=fg, anchor="mt")
        parts.append(tagline)
    d.text((w / 2, h - 80), author, font=font(SANS, 28), fill=fg, anchor="mt")
    return img, "\n".join(parts + [author])


def table(title: str, rows: list[list[str]], widths: list[int]) -> tuple[Image.Image, str]:
    row_h, margin = 40, 24
    w = sum(widths) + 2 * margin
    h = margin * 2 + 44 + row_h * len(rows)
    img = Image.new("RGB", (w, h), "white")
    d = ImageDraw.Draw(img)
    d.text((margin, margin), title, font=font(SANS_B, 22), fill="black")
    top = margin + 44
    for r, row in enumerate(rows):
        y = top + r * row_h
        if r == 0:
            d.rectangle((margin, y, w - margin, y + row_h), fill=(225, 230, 240))
        x = margin
        for c, cell in enumerate(row):
            d.rectangle((x, y, x + widths[c], y + row_h), outline=(90, 90, 90), width=1)
            d.text((x + 10, y + row_h / 2), cell, font=font(SANS_B if r == 0 else SANS, 18), fill="black", anchor="lm")
            x += widths[c]
    return img, "\n".join([title] + [" ".join(row) for row in rows])


def sign(lines: list[tuple[str, int]], bg, fg, *, arrow: bool = False) -> tuple[Image.Image, str]:
    w = 520
    h = 60 + sum(int(size * 1.3) for _, size in lines)
    img = Image.new("RGB", (w, h), bg)
    d = ImageDraw.Draw(img)
    d.rounded_rectangle((8, 8, w - 8, h - 8), radius=16, outline=fg, width=5)
    y = 30
    for text, size in lines:
        d.text((w / 2 - (40 if arrow else 0), y), text, font=font(SANS_B, size), fill=fg, anchor="mt")
        y += int(size * 1.3)
    if arrow:
        d.polygon([(w - 150, h / 2 - 14), (w - 90, h / 2 - 14), (w - 90, h / 2 - 34), (w - 50, h / 2),
                   (w - 90, h / 2 + 34), (w - 90, h / 2 + 14), (w - 150, h / 2 + 14)], fill=fg)  # fmt: skip
    return img, "\n".join(t for t, _ in lines)


def doc(lines, **kw) -> tuple[Image.Image, str]:
    return page(lines, **kw), "\n".join(t.replace("\t", " ") for t, _, _ in lines)


def code_doc(code: list[str], size: int = 18, bg=(245, 245, 245), fg="black") -> tuple[Image.Image, str]:
    return page([(line, MONO, size) for line in code], width=560, bg=bg, fg=fg), "\n".join(code)


def para_doc(fnt_name: str, size: int, width: int, text: str) -> tuple[Image.Image, str]:
    lines = wrap(text, font(fnt_name, size), width - 64)
    return page([(line, fnt_name, size) for line in lines], width=width), text

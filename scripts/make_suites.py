"""Regenerate the committed evaluation suites under datasets/ deterministically.

    python scripts/make_suites.py              # rewrite datasets/{describe,ocr,compare}
    python scripts/make_suites.py --out DIR    # write them under DIR instead
    python scripts/make_suites.py --check      # regenerate into a temp dir, compare byte for byte

Everything is rendered here from fixed inputs: photos shipped inside scikit-image and matplotlib,
fonts from matplotlib's own package (DejaVu; never system fonts), fixed seeds for noise, matplotlib
with the Agg canvas for charts, and PIL writing PNG/JPEG without metadata, so the same package versions
give the same bytes. The samples are defined by `describe_suite`, `ocr_suite` and `compare_suite` below;
the READMEs (every image's source and licence) are generated from the same definitions.
"""

from __future__ import annotations

import argparse
import filecmp
import io
import json
import sys
import tempfile
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path

import matplotlib
import numpy as np
from PIL import Image, ImageDraw, ImageFilter, ImageFont

matplotlib.use("Agg")
from matplotlib.backends.backend_agg import FigureCanvasAgg  # noqa: E402
from matplotlib.figure import Figure  # noqa: E402

REPO = Path(__file__).resolve().parents[1]
FONT_DIR = Path(matplotlib.get_data_path()) / "fonts" / "ttf"
VERSION = "1.0.0"

RENDERED = "rendered by scripts/make_suites.py"
RENDERED_LICENCE = (
    "MIT (part of evalkit); text set in DejaVu fonts (Bitstream Vera / DejaVu licence, shipped in matplotlib)"
)


@dataclass(frozen=True)
class Img:
    """One image file of a suite: where it goes, how to make its bytes, where it comes from."""

    rel: str
    make: Callable[[], bytes] = field(compare=False)
    source: str
    licence: str


@dataclass
class Entry:
    sample: dict
    images: list[Img]


# ---------------------------------------------------------------- encoding and drawing helpers


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
    if package == "skimage":
        import skimage

        path = Path(skimage.__file__).parent / "data" / name
    else:
        path = Path(matplotlib.get_data_path()) / "sample_data" / name
    img = Image.open(path)
    img.load()
    if img.mode in ("RGBA", "LA", "P"):
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


# ---------------------------------------------------------------- degradations (fixed parameters/seeds)


def rotate(img: Image.Image, degrees: float) -> Image.Image:
    # expand=True so no corner of the text is cut off
    return img.rotate(degrees, resample=Image.Resampling.BICUBIC, expand=True, fillcolor="white")


def blur(img: Image.Image, radius: float = 1.3) -> Image.Image:
    return img.filter(ImageFilter.GaussianBlur(radius))


def noise(img: Image.Image, sigma: float, seed: int) -> Image.Image:
    arr = np.asarray(img, dtype=np.float64)
    arr = arr + np.random.default_rng(seed).normal(0.0, sigma, size=arr.shape)
    return Image.fromarray(np.clip(np.rint(arr), 0, 255).astype(np.uint8))


def low_contrast(img: Image.Image, lo: int = 140, hi: int = 205) -> Image.Image:
    arr = np.asarray(img.convert("L"), dtype=np.float64)
    return Image.fromarray(np.rint(lo + arr / 255.0 * (hi - lo)).astype(np.uint8))


def perspective(img: Image.Image, pad: float = 0.12) -> Image.Image:
    """Tilt the page as if photographed at an angle; padding first so the text stays inside the frame."""
    w, h = img.size
    px, py = int(w * pad), int(h * pad)
    big = Image.new("RGB", (w + 2 * px, h + 2 * py), "white")
    big.paste(img.convert("RGB"), (px, py))
    W, H = big.size
    src = [(0, 0), (W, 0), (W, H), (0, H)]
    dst = [(0.10 * W, 0.06 * H), (0.97 * W, 0.0), (0.90 * W, H), (0.0, 0.93 * H)]
    rows, rhs = [], []
    for (x, y), (u, v) in zip(dst, src, strict=True):
        rows += [[x, y, 1, 0, 0, 0, -u * x, -u * y], [0, 0, 0, x, y, 1, -v * x, -v * y]]
        rhs += [u, v]
    coeffs = [round(c, 9) for c in np.linalg.solve(np.array(rows, float), np.array(rhs, float))]
    return big.transform((W, H), Image.Transform.PERSPECTIVE, coeffs, Image.Resampling.BICUBIC, fillcolor="white")


# ---------------------------------------------------------------- suites


def write_suite(name: str, out: Path) -> None:
    meta, intro, entries = SUITES[name]()
    root = out / name
    (root / "images").mkdir(parents=True, exist_ok=True)
    images: dict[str, Img] = {}
    for entry in entries:
        for img in entry.images:
            images.setdefault(img.rel, img)
    for rel, img in sorted(images.items()):
        (root / rel).write_bytes(img.make())
    (root / "suite.json").write_text(json.dumps({"name": name, **meta}, indent=2) + "\n", encoding="utf-8")
    lines = [json.dumps(e.sample, ensure_ascii=False) for e in entries]
    (root / "manifest.jsonl").write_text("\n".join(lines) + "\n", encoding="utf-8")
    (root / "README.md").write_text(readme(name, meta, intro, entries, images), encoding="utf-8")


def readme(name: str, meta: dict, intro: str, entries: list[Entry], images: dict[str, Img]) -> str:
    out = [f"# Suite `{name}` (version {meta['version']})", "", meta["description"], "", intro.strip(), ""]
    out += [
        "## Regenerating",
        "",
        "Every file here (this README included) is written by `python scripts/make_suites.py`;",
        "`python scripts/make_suites.py --check` regenerates into a temporary directory and fails unless every",
        "byte matches. Edit the script, never the files. Bump `VERSION` in the script when labels or images change.",
        "",
        f"## Images ({len(images)} files, {len(entries)} samples)",
        "",
        "| file | source | licence |",
        "|---|---|---|",
    ]
    out += [f"| `{rel}` | {img.source} | {img.licence} |" for rel, img in sorted(images.items())]
    return "\n".join(out) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", type=Path, default=REPO / "datasets", help="directory to write the suites under")
    parser.add_argument("--check", action="store_true", help="regenerate into a temp dir and compare with --out")
    parser.add_argument("--suite", action="append", choices=sorted(SUITES), help="only these suites")
    args = parser.parse_args(argv)
    names = args.suite or sorted(SUITES)
    if not args.check:
        for name in names:
            write_suite(name, args.out)
            print(f"wrote {args.out / name}")
        return 0
    bad = 0
    with tempfile.TemporaryDirectory() as tmp:
        for name in names:
            write_suite(name, Path(tmp))
            fresh, committed = Path(tmp) / name, args.out / name
            a = {p.relative_to(fresh).as_posix() for p in fresh.rglob("*") if p.is_file()}
            b = {p.relative_to(committed).as_posix() for p in committed.rglob("*") if p.is_file()}
            for rel in sorted(a | b):
                if rel not in b:
                    print(f"{name}/{rel}: missing from {committed}")
                elif rel not in a:
                    print(f"{name}/{rel}: not produced by the script")
                elif not filecmp.cmp(fresh / rel, committed / rel, shallow=False):
                    print(f"{name}/{rel}: bytes differ")
                else:
                    continue
                bad += 1
    print("suites match" if not bad else f"{bad} file(s) differ")
    return 1 if bad else 0


def render_image(suite: str, rel: str) -> bytes:
    """Bytes of one image of a suite, as the script would write it (used by the regeneration test)."""
    _, _, entries = SUITES[suite]()
    for entry in entries:
        for img in entry.images:
            if img.rel == rel:
                return img.make()
    raise KeyError(f"{suite} has no image {rel}")


# ---------------------------------------------------------------- shared rendered scenes

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
    for frac, length, width in (((hour % 12 + minute / 60) / 12, 0.5, 14), (minute / 60, 0.62, 8)):
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


# ---------------------------------------------------------------- charts (matplotlib Agg)

DC_YEARS = ["FY2020", "FY2021", "FY2022", "FY2023", "FY2024"]
DC_REVENUE = [3.2, 4.1, 5.6, 8.9, 14.7]


def dc_revenue_chart(revenue: list[float] = DC_REVENUE) -> Image.Image:
    def draw(fig):
        ax = fig.add_subplot()
        bars = ax.bar(DC_YEARS, revenue, color="#2b6cb0")
        ax.bar_label(bars, labels=[f"${v:.1f}B" for v in revenue], padding=3)
        ax.set_title("Northwind Systems: Data Center Revenue by Fiscal Year")
        ax.set_xlabel("Fiscal year")
        ax.set_ylabel("Revenue (billion USD)")
        ax.set_ylim(0, max(revenue) * 1.18)

    return chart(draw)


def line_temp_chart(fig):
    months = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"]
    temps = [1.5, 1.8, 3.9, 7.2, 11.4, 14.3, 16.0, 15.8, 12.6, 8.9, 4.7, 2.3]
    ax = fig.add_subplot()
    ax.plot(months, temps, marker="o", color="#c53030")
    ax.set_title("Average Monthly Temperature")
    ax.set_ylabel("Temperature (°C)")
    ax.grid(alpha=0.3)


def pie_chart(fig):
    ax = fig.add_subplot()
    ax.pie([35, 25, 20, 12, 8], labels=["Apple", "Banana", "Orange", "Grape", "Other"], autopct="%d%%",
           colors=["#e53e3e", "#ecc94b", "#ed8936", "#805ad5", "#a0aec0"], startangle=90)  # fmt: skip
    ax.set_title("Favourite Fruit (survey of 200 people)")


def scatter_chart(fig):
    rng = np.random.default_rng(7)
    height = rng.normal(170, 9, 60)
    weight = 0.9 * (height - 170) + 70 + rng.normal(0, 6, 60)
    ax = fig.add_subplot()
    ax.scatter(height, weight, color="#2f855a")
    ax.set_title("Height vs Weight of 60 Adults")
    ax.set_xlabel("Height (cm)")
    ax.set_ylabel("Weight (kg)")


def grouped_bar_chart(fig):
    regions = ["North", "South", "East", "West"]
    x = np.arange(4)
    ax = fig.add_subplot()
    ax.bar(x - 0.2, [120, 98, 143, 87], 0.4, label="2023", color="#718096")
    ax.bar(x + 0.2, [160, 125, 170, 99], 0.4, label="2024", color="#dd6b20")
    ax.set_xticks(x, regions)
    ax.set_title("Sales by Region, 2023 vs 2024")
    ax.set_ylabel("Units sold")
    ax.legend()


def hbar_chart(fig):
    langs = ["Python", "JavaScript", "SQL", "Java", "Rust"]
    share = [49, 41, 35, 27, 12]
    ax = fig.add_subplot()
    ax.barh(langs[::-1], share[::-1], color="#6b46c1")
    ax.set_title("Most Used Programming Languages")
    ax.set_xlabel("Share of respondents (%)")


def two_line_chart(fig):
    months = ["Jan", "Feb", "Mar", "Apr", "May", "Jun"]
    ax = fig.add_subplot()
    ax.plot(months, [52, 50, 47, 45, 41, 38], marker="s", label="Desktop", color="#2c5282")
    ax.plot(months, [30, 34, 39, 46, 53, 61], marker="o", label="Mobile", color="#d69e2e")
    ax.set_title("Website Visitors: Desktop vs Mobile")
    ax.set_ylabel("Visitors (thousands)")
    ax.legend()


def histogram_chart(fig):
    scores = np.random.default_rng(11).normal(68, 12, 300).clip(0, 100)
    ax = fig.add_subplot()
    ax.hist(scores, bins=15, color="#319795", edgecolor="white")
    ax.set_title("Distribution of Exam Scores")
    ax.set_xlabel("Score")
    ax.set_ylabel("Number of students")


def venn_chart(fig):
    from matplotlib.patches import Circle

    ax = fig.add_subplot()
    ax.add_patch(Circle((0.38, 0.5), 0.3, color="#3182ce", alpha=0.45))
    ax.add_patch(Circle((0.62, 0.5), 0.3, color="#e53e3e", alpha=0.45))
    ax.text(0.22, 0.5, "Python", ha="center", va="center", fontsize=15)
    ax.text(0.78, 0.5, "Statistics", ha="center", va="center", fontsize=15)
    ax.text(0.5, 0.5, "Data\nScience", ha="center", va="center", fontsize=13, weight="bold")
    ax.set_xlim(0, 1)
    ax.set_ylim(0.1, 0.9)
    ax.set_aspect("equal")
    ax.axis("off")


# ---------------------------------------------------------------- describe

PHOTO_SOURCES = {
    "astronaut.png": ("NASA portrait of astronaut Eileen Collins (scikit-image `astronaut.png`)", "public domain"),
    "coffee.png": ("Rachel Michetti, Pikolo Espresso Bar (scikit-image `coffee.png`)", "CC0"),
    "chelsea.png": ("Stefan van der Walt, Chelsea the cat (scikit-image `chelsea.png`)", "CC0"),
    "rocket.jpg": ("SpaceX, DSCOVR on Falcon 9 (scikit-image `rocket.jpg`)", "public domain (released by SpaceX)"),
    "hubble_deep_field.jpg": ("NASA Hubble eXtreme Deep Field (scikit-image)", "public domain (NASA)"),
    "coins.png": (
        "Brooklyn Museum collection, Greek coins (scikit-image `coins.png`)",
        "no known copyright restrictions",
    ),
    "camera.png": ("Lav Varshney, cameraman (scikit-image `camera.png`)", "CC0"),
    "horse.png": ("Andreas Preuss (marauder), openclipart (scikit-image `horse.png`)", "CC0"),
    "grace_hopper.jpg": (
        "US Navy portrait of Grace Hopper (matplotlib sample data)",
        "public domain (US Navy work; matplotlib states no licence for the file)",
    ),  # fmt: skip
    "moon.png": ("scikit-image `moon.png`", "no licence stated; shipped in scikit-image (BSD-3-Clause)"),
    "retina.jpg": ("Mikael Häggström, Wikimedia Commons (scikit-image `retina.jpg`)", "CC0"),
    "ihc.png": ("CMMI, immunohistochemistry slide (scikit-image `ihc.png`)", "no known copyright restrictions"),
    "brick.png": ("CC0Textures Bricks25 (scikit-image `brick.png`)", "CC0"),
    "grass.png": ("CC0Textures (scikit-image `grass.png`)", "CC0"),
    "gravel.png": ("CC0Textures Gravel04 (scikit-image `gravel.png`)", "CC0"),
    "motorcycle_left.png": (
        "Middlebury 2014 stereo benchmark, Scharstein et al. (scikit-image)",
        "no licence stated; shipped in scikit-image (BSD-3-Clause)",
    ),  # fmt: skip
    "motorcycle_right.png": (
        "Middlebury 2014 stereo benchmark, Scharstein et al. (scikit-image)",
        "no licence stated; shipped in scikit-image (BSD-3-Clause)",
    ),  # fmt: skip
    "clock_motion.png": ("Stefan van der Walt, motion-blurred clock (scikit-image)", "public domain"),
    "color.png": (
        "scikit-image `color.png` (colour wheel)",
        "no licence stated; shipped in scikit-image (BSD-3-Clause)",
    ),
    "Minduka_Present_Blue_Pack.png": (
        "matplotlib sample data `Minduka_Present_Blue_Pack.png`",
        "no licence stated; shipped in matplotlib (matplotlib licence)",
    ),  # fmt: skip
    "page.png": (
        "scikit-image `page.png` (scanned book page)",
        "no licence stated; shipped in scikit-image (BSD-3-Clause)",
    ),
    "logo2.png": ("matplotlib logo (matplotlib sample data `logo2.png`)", "matplotlib licence"),
}
MPL_FILES = {"grace_hopper.jpg", "Minduka_Present_Blue_Pack.png", "logo2.png"}


def photo(name: str) -> Image.Image:
    return load_photo("matplotlib" if name in MPL_FILES else "skimage", name)


def photo_img(rel: str, name: str, edit: Callable[[Image.Image], Image.Image] | None = None,
              note: str = "", fmt: str = "jpeg") -> Img:  # fmt: skip
    src, lic = PHOTO_SOURCES[name]

    def make() -> bytes:
        img = photo(name)
        img = edit(img) if edit else img
        return jpeg(img) if fmt == "jpeg" else png(img)

    return Img(rel, make, src + (f"; {note}" if note else "") + "; downscaled to max side 768", lic)


def rendered(rel: str, make_img: Callable[[], Image.Image], what: str) -> Img:
    return Img(rel, lambda: png(make_img()), f"{RENDERED}: {what}", RENDERED_LICENCE)


DESCRIBE_QUESTIONS = ["Describe this image.", "What do you see in this picture?", "Describe this image in detail.",
                      "What is shown in this photo?"]  # fmt: skip

# (image file, keyword groups, forbidden words)
DESCRIBE_PHOTOS = [
    ("astronaut.png", [["astronaut"], ["woman", "female", "lady"], ["flag", "american flag", "stars and stripes"],
                       ["spacesuit", "space suit", "suit", "uniform"]], ["man", "moon", "beard"]),
    ("coffee.png", [["coffee", "espresso", "cappuccino", "latte"], ["cup", "mug"], ["saucer", "plate"],
                    ["spoon", "teaspoon"]], ["cake", "croissant", "laptop"]),
    ("chelsea.png", [["cat", "kitten", "feline", "kitty"], ["tabby", "ginger", "orange", "brown"],
                     ["eye", "whisker"]], ["dog", "puppy", "collar"]),
    ("rocket.jpg", [["rocket", "falcon 9", "launch vehicle", "spacecraft"], ["night", "dark", "evening", "dusk"],
                    ["tower", "launch pad", "launchpad", "pad", "light"]], ["airplane", "moon", "astronaut"]),
    ("hubble_deep_field.jpg", [["galaxy", "galaxies", "star"], ["space", "universe", "cosmos", "deep field", "sky"]],
     ["moon", "planet", "earth"]),
    ("coins.png", [["coin", "money", "currency"], ["black and white", "grayscale", "greyscale", "monochrome", "gray",
                                                   "grey"]], ["banknote", "dollar", "euro"]),
    ("camera.png", [["man", "person", "photographer", "cameraman"], ["camera", "video camera", "movie camera"],
                    ["tripod"], ["black and white", "grayscale", "greyscale", "monochrome", "gray", "grey"]],
     ["woman", "dog", "hat"]),
    ("horse.png", [["horse", "pony", "stallion", "mare"], ["silhouette", "black", "shadow"]],
     ["rider", "saddle", "cow"]),
    ("grace_hopper.jpg", [["woman", "lady", "female"], ["uniform", "navy", "naval", "military", "officer"],
                          ["glasses", "spectacles", "eyeglasses"], ["flag", "american flag"]], ["man", "beard"]),
    ("moon.png", [["moon", "lunar"], ["crater", "surface"]], ["earth", "astronaut"]),
    ("retina.jpg", [["retina", "fundus", "eye"], ["blood vessel", "vessel", "vein", "artery", "arteries"]],
     ["planet", "sun", "mars"]),
    ("ihc.png", [["tissue", "cell", "microscopy", "microscope", "histology", "stain", "stained", "slide"],
                 ["brown"], ["blue", "purple"]], ["wood", "food"]),
    ("brick.png", [["brick", "brick wall", "pavement", "paving", "wall"], ["gray", "grey", "grayscale",
                                                                          "black and white"]],
     ["window", "door", "graffiti"]),
    ("grass.png", [["grass", "lawn", "turf", "leaves", "vegetation"]], ["flower", "dog"]),
    ("gravel.png", [["gravel", "pebble", "stone", "rock"]], ["water", "grass"]),
    ("motorcycle_left.png", [["motorcycle", "motorbike", "bike"], ["red"],
                             ["garage", "workshop", "shelf", "shelves", "storage", "boxes"]], ["car", "rider"]),
    ("clock_motion.png", [["clock", "watch"], ["blurry", "blurred", "blur", "motion blur", "out of focus"]],
     ["person", "car"]),
    ("color.png", [["color wheel", "colour wheel", "color circle", "circle", "spectrum", "hue"],
                   ["rainbow", "gradient", "colorful", "colourful", "colors", "colours"]], ["ball", "flower"]),
    ("Minduka_Present_Blue_Pack.png", [["gift", "present", "box", "package"], ["blue"], ["ribbon", "bow"]],
     ["christmas tree", "balloon", "cake"]),
]  # fmt: skip

# (id, image maker, what it is, question, keyword groups, forbidden)
DESCRIBE_RENDERED = [
    ("chart_dc_revenue", dc_revenue_chart, "bar chart of a fictional company's data-centre revenue",
     "What does this chart show, and which fiscal year had the highest revenue?",
     [["bar chart", "bar graph", "bar plot", "column chart", "bars"], ["data center", "data centre", "datacenter"],
      ["revenue"], ["2024", "fy2024", "fy 2024"]], ["pie", "line chart"]),
    ("chart_temperature", lambda: chart(line_temp_chart), "line chart of monthly temperatures", "What does this chart show?",
     [["line chart", "line graph", "line plot", "line"], ["temperature"], ["month", "monthly"]], ["pie", "bar chart"]),
    ("chart_fruit_pie", lambda: chart(pie_chart, size=(6.0, 4.6)), "pie chart of a fruit survey", "Describe this chart.",
     [["pie chart", "pie"], ["fruit"], ["apple"], ["banana"]], ["bar chart", "mango"]),
    ("chart_scatter", lambda: chart(scatter_chart), "scatter plot of height against weight", "What does this chart show?",
     [["scatter plot", "scatter", "scatterplot", "dot", "point"], ["height"], ["weight"]], ["pie", "bar chart"]),
    ("chart_region_sales", lambda: chart(grouped_bar_chart), "grouped bar chart of sales by region",
     "Describe this chart.", [["bar chart", "bar graph", "bar"], ["sales", "units sold"], ["region", "north", "south"]],
     ["pie", "profit"]),
    ("chart_languages", lambda: chart(hbar_chart), "horizontal bar chart of programming languages",
     "What does this chart show?", [["bar chart", "bar graph", "bar"], ["python"], ["programming", "language"]],
     ["pie", "typescript"]),
    ("chart_visitors", lambda: chart(two_line_chart), "line chart of desktop and mobile visitors", "Describe this chart.",
     [["line chart", "line graph", "line"], ["mobile"], ["desktop"], ["visitor", "traffic", "visit"]],
     ["pie", "tablet"]),
    ("chart_exam_hist", lambda: chart(histogram_chart), "histogram of exam scores", "What does this chart show?",
     [["histogram", "bar chart", "distribution", "bars"], ["exam", "score", "test"]], ["pie", "line chart"]),
    ("diagram_venn", lambda: chart(venn_chart, size=(6.0, 4.0)), "Venn diagram", "Describe this diagram.",
     [["venn diagram", "venn", "overlapping circles", "circle"], ["data science"], ["python"], ["statistics"]],
     ["triangle", "mathematics"]),
    ("diagram_flow", lambda: flowchart(["Collect data", "Clean data", "Train model", "Evaluate", "Deploy"]),
     "flowchart of a machine-learning pipeline", "Describe this diagram.",
     [["flowchart", "flow chart", "diagram", "flow diagram", "pipeline", "process", "workflow"], ["train", "training"],
      ["deploy", "deployment"], ["data"]], ["person", "pie chart"]),
    ("shapes", lambda: scene(BASE), "red circle, blue square and green triangle", "Describe this image.",
     [["circle"], ["square"], ["triangle"], ["red"], ["blue"], ["green"]], ["star", "hexagon"]),
    ("stop_sign", stop_sign, "stop sign", "What is shown in this image?",
     [["stop sign", "stop"], ["red"], ["octagon", "octagonal", "eight sided"]], ["yield", "traffic light"]),
    ("clock_three", lambda: clock_face(3, 0), "analogue clock showing three o'clock", "What time does this clock show?",
     [["clock"], ["3 00", "three o clock", "3 o clock", "3", "three"]], ["digital", "alarm"]),
    ("house_tree_sun", lambda: landscape((40, 140, 50), house=True), "house, tree and sun drawing",
     "Describe this image.", [["house", "home", "building", "cottage"], ["tree"], ["sun"]], ["car", "dog", "person"]),
    ("tree_autumn", lambda: landscape((230, 120, 30), sun=False), "tree with orange autumn leaves",
     "Describe this image.", [["tree"], ["orange", "autumn", "fall", "red", "yellow"], ["grass", "field", "lawn",
                                                                                     "meadow", "ground"]],
     ["snow", "house"]),
]  # fmt: skip


def describe_suite():
    entries: list[Entry] = []
    for i, (name, groups, forbidden) in enumerate(DESCRIBE_PHOTOS):
        sid = "photo_" + name.split(".")[0].lower().replace("_present_blue_pack", "_gift")
        rel = f"images/{sid}.jpg"
        sample = {"id": sid, "images": [rel], "question": DESCRIBE_QUESTIONS[i % len(DESCRIBE_QUESTIONS)],
                  "keywords": groups, "forbidden": forbidden, "tags": {"category": "photo"}}  # fmt: skip
        entries.append(Entry(sample, [photo_img(rel, name)]))
    for sid, make_img, what, question, groups, forbidden in DESCRIBE_RENDERED:
        rel = f"images/{sid}.png"
        category = "chart" if sid.startswith(("chart", "diagram")) else "drawing"
        sample = {"id": sid, "images": [rel], "question": question, "keywords": groups, "forbidden": forbidden,
                  "tags": {"category": category}}  # fmt: skip
        entries.append(Entry(sample, [rendered(rel, make_img, what)]))
    meta = {"task": "describe", "version": VERSION,
            "description": "Open-ended descriptions of real photographs and rendered charts/diagrams, scored by "
                           "keyword recall and forbidden (hallucinated) mentions."}  # fmt: skip
    intro = """
Labels: `keywords` is a list of groups; a group counts as mentioned when any of its alternatives appears as a
whole word or phrase (plurals tolerated). Groups name what is clearly visible (objects, colours, chart type,
chart subject). `forbidden` lists plausible hallucinations that are absent from the image (a dog in a cat photo,
"pie" for a bar chart). Labels were written by hand after looking at every image; chart labels follow the data
the script plots. Photos are re-encoded as JPEG (quality 85), downscaled to at most 768 px on the long side.
"""
    return meta, intro, entries


# ---------------------------------------------------------------- ocr

SERIF, SERIF_B, SANS, SANS_B, SANS_I, MONO, MONO_B = ("DejaVuSerif", "DejaVuSerif-Bold", "DejaVuSans",
                                                      "DejaVuSans-Bold", "DejaVuSans-Oblique", "DejaVuSansMono",
                                                      "DejaVuSansMono-Bold")  # fmt: skip

# (id, title, author, tagline or "", background, foreground, title font)
COVERS = [
    ("cover_alone", "ALONE", "Morgan Maxwell", "A NOVEL", (20, 60, 70), (240, 230, 200), SERIF_B),
    ("cover_quiet_harbor", "THE QUIET HARBOR", "Elena Marsh", "", (200, 215, 225), (25, 40, 70), SERIF_B),
    ("cover_midnight", "Midnight Algorithms", "R. K. Patel", "", (15, 15, 35), (120, 220, 255), SANS_B),
    ("cover_salt_iron", "SALT AND IRON", "Jonah Whitfield", "Book One of the Ember Coast", (120, 30, 25),
     (250, 235, 210), SERIF_B),
    ("cover_cartographer", "The Cartographer's Daughter", "Amelia Stone", "", (235, 225, 200), (70, 45, 30), SERIF),
    ("cover_glass_sky", "BENEATH A GLASS SKY", "Theo Lindqvist", "Stories", (60, 40, 110), (255, 220, 120), SANS_B),
]  # fmt: skip


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


RECEIPT_1 = [("GREENLEAF MARKET", SANS_B, 26), ("14 Harbour Street, Leeds", SANS, 16),
             ("Date: 2024-03-15 Time: 10:42", MONO, 16), ("Milk 2L\t1.35", MONO, 18),
             ("Sourdough bread\t2.80", MONO, 18), ("Free-range eggs x6\t2.15", MONO, 18),
             ("Bananas 1.2kg\t1.02", MONO, 18), ("TOTAL\t7.32", MONO_B, 20), ("Paid by card", MONO, 16),
             ("Thank you for shopping!", SANS_I, 16)]  # fmt: skip
RECEIPT_2 = [("CAFE AURORA", SERIF_B, 28), ("Order #2291", MONO, 18), ("Flat white\t3.40", MONO, 18),
             ("Croissant\t2.60", MONO, 18), ("Orange juice\t2.95", MONO, 18), ("Subtotal\t8.95", MONO, 18),
             ("VAT 20%\t1.79", MONO, 18), ("Total\t10.74", MONO_B, 20)]  # fmt: skip
FORM_VISITOR = [("VISITOR REGISTRATION", SANS_B, 24), ("Name: Jane A. Doe", SANS, 20),
                ("Company: Halden Analytics Ltd", SANS, 20), ("Date of visit: 07/11/2024", SANS, 20),
                ("Host: Dr. Omar Reyes", SANS, 20), ("Badge No.: V-3318", SANS, 20)]  # fmt: skip
FORM_SHIPPING = [("SHIP TO", SANS_B, 22), ("Marta Kowalczyk", SERIF, 22), ("22 Linden Avenue, Apt 5B", SERIF, 20),
                 ("Springfield, IL 62704", SERIF, 20), ("Tracking: 1Z 999 AA1 01 2345 6784", MONO, 18),
                 ("Weight: 2.4 kg", MONO, 18)]  # fmt: skip
INVOICE = [("Invoice No. 000417", SANS_B, 24), ("Issued: 15 March 2024", SANS, 20), ("Due: 2024-04-14", SANS, 20),
           ("Amount due: €1,284.50", SANS_B, 22)]  # fmt: skip
CONTACT = [("Phone: +44 20 7946 0958", MONO, 20), ("Fax: +44 20 7946 0959", MONO, 20),
           ("SN: 7QX-4410-BZ9", MONO_B, 20)]  # fmt: skip
MEETING = [("Meeting moved to Thu 09/05 at 14:30, Room 3.12", SERIF, 20)]
CODE_PY = ["def mean(values):", "    total = 0", "    for v in values:", "        total += v",
           "    return total / len(values)"]  # fmt: skip
CODE_SHELL = ["$ pip install evalkit", "$ evalkit suite=ocr model=phi3v", "Loaded 45 samples in 0.3 s"]
PARAGRAPHS = [
    ("para_committee", SERIF, 22, 640, "The committee met on Tuesday to review the annual budget. After a long "
     "discussion, members agreed to fund the new library wing and to postpone the parking expansion until next "
     "spring."),
    ("para_lighthouse", SANS, 16, 560, "The lighthouse on Gull Point was built in 1871 and automated in 1964. "
     "Its lamp can be seen from 22 nautical miles away on a clear night."),
    ("para_quote", SANS_I, 26, 600, "Simple things should be simple, complex things should be possible."),
]  # fmt: skip
TABLE_SALES = [["Region", "Q1", "Q2", "Q3", "Q4"], ["North", "120", "135", "150", "160"],
               ["South", "98", "102", "110", "125"], ["East", "143", "139", "151", "170"],
               ["West", "87", "95", "101", "99"]]  # fmt: skip
TABLE_TRAINS = [["Destination", "Platform", "Departs"], ["Westbridge", "4", "09:15"], ["Kingsport", "2", "09:32"],
                ["Ashford Lake", "7", "09:48"], ["Millbrook", "1", "10:05"]]  # fmt: skip


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


READ_ALL = "Read all the text in this image."
COVER_Q = "What is the title and who is the author of this book?"

# Degraded copies of clean documents: (clean id, degradation, function, output format)
DEGRADED = [
    ("cover_alone", "rotation", lambda im: rotate(im, 7), "png"),
    ("cover_midnight", "blur", lambda im: blur(im, 1.6), "png"),
    ("receipt_greenleaf", "noise", lambda im: noise(im, 28, seed=101), "png"),
    ("receipt_greenleaf", "rotation", lambda im: rotate(im, -4), "png"),
    ("receipt_aurora", "jpeg", None, "jpeg12"),
    ("sign_no_parking", "perspective", perspective, "png"),
    ("sign_platform", "low_contrast", low_contrast, "png"),
    ("form_visitor", "perspective", perspective, "png"),
    ("table_sales", "blur", lambda im: blur(im, 1.2), "png"),
    ("para_committee", "jpeg", None, "jpeg15"),
    ("para_lighthouse", "rotation_noise", lambda im: noise(rotate(im, 3), 18, seed=202), "png"),
    ("code_python", "low_contrast", low_contrast, "png"),
    ("numbers_invoice", "perspective", perspective, "png"),
    ("numbers_contact", "blur_noise", lambda im: noise(blur(im, 1.0), 15, seed=303), "png"),
]


def ocr_clean_docs() -> list[tuple[str, str, Callable[[], tuple[Image.Image, str]], dict]]:
    """(id, category, maker returning (image, reference), extra manifest fields)."""
    docs: list = []
    for cid, title, author, tagline, bg, fg, tf in COVERS:
        docs.append(
            (
                cid,
                "book_cover",
                lambda a=(title, author, tagline, bg, fg, tf): book_cover(*a),
                {"question": COVER_Q, "fields": {"title": title, "author": author}, "case_sensitive": False},
            )
        )
    docs += [
        ("receipt_greenleaf", "receipt", lambda: doc(RECEIPT_1, width=420), {}),
        ("receipt_aurora", "receipt", lambda: doc(RECEIPT_2, width=400),
         {"question": "What is the order number and the total amount on this receipt?",
          "fields": {"order": "2291", "total": "10.74"}}),
        ("sign_no_parking", "sign", lambda: sign([("NO PARKING", 56), ("FIRE LANE", 40)], (200, 20, 30), "white"), {}),
        ("sign_exit", "sign", lambda: sign([("EXIT", 80)], (20, 130, 60), "white", arrow=True), {}),
        ("sign_platform", "sign", lambda: sign([("PLATFORM 4", 48), ("Trains to Westbridge", 28),
                                                ("Departures every 15 min", 22)], (20, 40, 100), (250, 210, 40)), {}),
        ("sign_wet_floor", "sign", lambda: sign([("CAUTION", 60), ("WET FLOOR", 44)], (250, 210, 20), "black"), {}),
        ("form_visitor", "form", lambda: doc(FORM_VISITOR, width=520), {}),
        ("form_visitor_fields", "form", lambda: doc(FORM_VISITOR, width=520),
         {"question": "What is the visitor's name and badge number on this form?",
          "fields": {"name": "Jane A. Doe", "badge": "V-3318"}}),
        ("form_shipping", "form", lambda: doc(FORM_SHIPPING, width=520), {}),
        ("table_sales", "table", lambda: table("Quarterly Sales (units)", TABLE_SALES, [120, 80, 80, 80, 80]), {}),
        ("table_trains", "table", lambda: table("Departures", TABLE_TRAINS, [170, 120, 110]), {}),
        ("code_python", "code", lambda: code_doc(CODE_PY), {}),
        ("code_shell", "code", lambda: code_doc(CODE_SHELL, 16, bg=(30, 30, 30), fg=(120, 230, 120)), {}),
        ("numbers_invoice", "numbers", lambda: doc(INVOICE, width=480), {}),
        ("numbers_contact", "numbers", lambda: doc(CONTACT, width=440), {}),
        ("numbers_meeting", "numbers", lambda: doc(MEETING, width=600), {}),
    ]  # fmt: skip
    docs += [(pid, "paragraph", lambda a=(f, s, w, t): para_doc(*a), {}) for pid, f, s, w, t in PARAGRAPHS]
    return docs


# Real photographed/scanned text, transcribed by hand from the images (see README).
PAGE_HEADING = "Region-based segmentation"
PAGE_PARAGRAPH = ("Let us first determine markers of the coins and the background. These markers are pixels that "
                  "we can label unambiguously as either object or background. Here, the markers are found at the "
                  "two extreme parts of the histogram of grey values:")  # fmt: skip
PAGE_CODE = ">>> markers = np.zeros_like(coins)"
REAL_TEXT = [
    # (id, file, crop box or None, upscale, reference, note)
    ("real_page", "page.png", None, 2, "\n".join([PAGE_HEADING, PAGE_PARAGRAPH, PAGE_CODE]),
     "whole page; the cut-off footer line at the bottom edge is not legible and not in the reference"),
    ("real_page_heading", "page.png", (0, 0, 384, 40), 2, PAGE_HEADING, "crop of the heading"),
    ("real_page_paragraph", "page.png", (0, 38, 384, 140), 2, PAGE_PARAGRAPH, "crop of the paragraph"),
    ("real_page_code", "page.png", (12, 158, 256, 191), 3, PAGE_CODE, "crop of the code line; the cut-off footer fragment at its lower left is illegible and not in the reference"),
    ("real_name_tag", "grace_hopper.jpg", (70, 475, 180, 525), 4, "COMO HOPPER", "crop of the uniform name tag"),
    ("real_logo", "logo2.png", None, 1, "matplotlib", "logo; the 'o' is drawn as a small chart"),
]  # fmt: skip


def real_text_img(rel: str, name: str, box, scale: int, note: str) -> Img:
    def edit(img: Image.Image) -> Image.Image:
        img = img.crop(box) if box else img
        return img.resize((img.width * scale, img.height * scale), Image.Resampling.LANCZOS) if scale > 1 else img

    src, lic = PHOTO_SOURCES[name]
    return Img(rel, lambda: png(edit(photo(name))), f"{src}; {note}; upscaled x{scale}", lic)


def _encode(img: Image.Image, fmt: str) -> bytes:
    return jpeg(img, int(fmt[4:])) if fmt.startswith("jpeg") else png(img)


def ocr_suite():
    entries: list[Entry] = []
    clean = {}
    for did, category, make, extra in ocr_clean_docs():
        clean[did] = (category, make, extra)
        rel = f"images/{did}.png"
        reference = make()[1]
        sample = {"id": did, "images": [rel], "question": extra.get("question", READ_ALL), "reference": reference}
        sample.update({k: v for k, v in extra.items() if k != "question"})
        sample["tags"] = {"category": category, "source": "rendered", "degradation": "none"}
        entries.append(Entry(sample, [rendered(rel, lambda m=make: m()[0], f"{category} document")]))
    for did, kind, fn, fmt in DEGRADED:
        category, make, extra = clean[did]
        sid = f"{did}_{kind}"
        rel = f"images/{sid}.{'jpg' if fmt.startswith('jpeg') else 'png'}"
        sample = {"id": sid, "images": [rel], "question": extra.get("question", READ_ALL), "reference": make()[1]}
        sample.update({k: v for k, v in extra.items() if k != "question"})
        sample["tags"] = {"category": category, "source": "rendered", "degradation": kind}

        def produce(m=make, f=fn, e=fmt) -> bytes:
            img = m()[0]
            return _encode(f(img) if f else img, e)

        entries.append(Entry(sample, [Img(rel, produce, f"{RENDERED}: {category} document, {kind}", RENDERED_LICENCE)]))
    for rid, name, box, scale, reference, note in REAL_TEXT:
        rel = f"images/{rid}.png"
        sample = {"id": rid, "images": [rel], "question": READ_ALL, "reference": reference,
                  "tags": {"category": "real_text", "source": "real", "degradation": "none"}}  # fmt: skip
        entries.append(Entry(sample, [real_text_img(rel, name, box, scale, note)]))
    meta = {"task": "ocr", "version": VERSION,
            "description": "Text reading: rendered documents with exact ground truth (clean and degraded) and "
                           "real scanned/photographed text transcribed by hand."}  # fmt: skip
    intro = """
Labels: `reference` is the exact text in reading order (lines joined by newlines; scoring collapses whitespace,
so line breaks and indentation never count). Where the question asks for parts (book title and author, an order
number and total, a name and badge number) `fields` holds each part; book covers are scored case-insensitively
(`case_sensitive: false`) because cover lettering is stylistic. Rendered documents take their reference from the
very strings the script draws, in DejaVu fonts shipped with matplotlib (serif, sans, mono; bold and oblique;
16-80 px). Degraded versions (tag `degradation`): rotation (canvas expanded, nothing cropped), Gaussian blur,
Gaussian noise (fixed seeds), JPEG quality 12-15, low contrast, perspective tilt (page padded first); each was
checked by eye to stay legible. Real text (tag `source: real`): crops of scikit-image's scanned `page.png`, the
name tag in matplotlib's `grace_hopper.jpg` and matplotlib's logo, transcribed by hand from the enlarged images.
"""
    return meta, intro, entries


# ---------------------------------------------------------------- compare

COMPARE_Q = ["What is different between these two images?", "What changed from the first image to the second?",
             "Compare these two images. What is the difference?"]  # fmt: skip
ADDED = ["added", "new", "appears", "appeared", "additional", "extra", "more", "only in the second"]
REMOVED = ["removed", "missing", "gone", "absent", "disappeared", "no longer", "fewer", "less", "only in the first"]


def open_closed(word: str) -> Image.Image:
    img, _ = sign([(word, 72)], (30, 30, 30), (255, 80, 60) if word == "OPEN" else (200, 200, 200))
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


STAR = ("star", 256, 90, 40, YELLOW)
RENDERED_PAIRS = [
    # (id, before, after, what changed, keyword groups, forbidden)
    ("shape_added", lambda: scene(BASE), lambda: scene(BASE + [STAR]), "a yellow star is added",
     [["star"], ADDED], ["heart", "hexagon"]),
    ("shape_removed", lambda: scene(BASE), lambda: scene([BASE[0], BASE[2]]), "the blue square is removed",
     [["square", "box"], REMOVED], ["star", "heart"]),
    ("shape_colour", lambda: scene(BASE), lambda: scene([BASE[0], ("square", 256, 230, 50, ORANGE), BASE[2]]),
     "the square turns from blue to orange", [["square"], ["orange"], ["blue"]], ["star", "heart"]),
    ("shape_size", lambda: scene(BASE), lambda: scene(BASE[:2] + [("triangle", 400, 225, 85, GREEN)]),
     "the triangle is larger", [["triangle"], ["bigger", "larger", "size", "grown", "enlarged", "smaller"]],
     ["star", "heart"]),
    ("shape_moved", lambda: scene([BASE[0], STAR]), lambda: scene([("circle", 400, 230, 55, RED), STAR]),
     "the red circle moves from left to right", [["circle"], ["moved", "position", "shifted", "right", "left"]],
     ["square", "triangle"]),
    ("shape_swapped", lambda: scene(BASE),
     lambda: scene([("triangle", 110, 235, 55, GREEN), BASE[1], ("circle", 400, 230, 55, RED)]),
     "the circle and the triangle swap places",
     [["swapped", "switched", "exchanged", "positions", "position", "places", "reversed", "order"]], ["star"]),
    ("ball_count", lambda: balls(3), lambda: balls(5), "three balls become five",
     [["3", "three"], ["5", "five"]], ["square", "triangle"]),
    ("arrow_direction", lambda: scene([("arrow", 256, 192, 80, BLUE)]),
     lambda: scene([("arrow", 256, 192, 80, BLUE)]).transpose(Image.Transpose.FLIP_LEFT_RIGHT),
     "the arrow points right, then left",
     [["arrow"], ["left", "right", "direction", "opposite", "mirrored", "flipped", "reversed"]], ["star", "up"]),
    ("sign_text", lambda: open_closed("OPEN"), lambda: open_closed("CLOSED"), "the sign changes from OPEN to CLOSED",
     [["open"], ["closed"]], ["sale", "exit"]),
    ("price_text", lambda: price_tag("$4.99"), lambda: price_tag("$5.49"), "the price changes from $4.99 to $5.49",
     [["4.99"], ["5.49"]], ["discount", "apples"]),
    ("chart_value", lambda: dc_revenue_chart(), lambda: dc_revenue_chart([3.2, 4.1, 5.6, 11.3, 14.7]),
     "the FY2023 bar rises from $8.9B to $11.3B", [["2023", "fy2023", "fy 2023"], ["bar", "value", "revenue",
                                                                                   "height", "taller", "higher"]],
     ["pie", "line chart"]),
    ("season", lambda: landscape((40, 140, 50)), lambda: landscape((230, 120, 30)),
     "the tree's leaves turn from green to orange (autumn)",
     [["tree", "leaves", "foliage", "leaf"], ["orange", "autumn", "fall", "red", "yellow", "brown"]],
     ["snow", "house"]),
    ("identical", lambda: scene(BASE), lambda: scene(BASE), "nothing: the images are identical",
     [["identical", "same", "no difference", "no differences", "nothing"]], ["star", "heart"]),
]  # fmt: skip

PHOTO_PAIRS = [
    # (id, photo, edit of the second image (None: the real second photo), what changed, keyword groups, forbidden)
    ("photo_mirrored", "chelsea.png", lambda im: im.transpose(Image.Transpose.FLIP_LEFT_RIGHT),
     "mirrored left to right", [["mirrored", "flipped", "mirror", "reversed", "flip"]], ["dog", "collar"]),
    ("photo_grayscale", "chelsea.png", lambda im: im.convert("L"), "colour removed (grayscale)",
     [["black and white", "grayscale", "greyscale", "monochrome", "gray", "grey", "colorless", "desaturated"]],
     ["dog", "collar"]),
    ("photo_cropped", "coffee.png", crop_zoom, "the centre is cropped and enlarged",
     [["cropped", "crop", "zoomed", "zoom", "closer", "enlarged", "close up", "magnified"]], ["tea", "cake"]),
    ("photo_tint", "coffee.png", lambda im: tint(im, (0.6, 0.85, 1.5)), "a cool blue colour cast",
     [["blue", "bluish", "cooler", "cool", "tint", "color", "colour", "hue"]], ["tea", "cake"]),
    ("photo_darker", "astronaut.png", darker, "much darker (brightness reduced)",
     [["darker", "brighter", "brightness", "dark", "bright", "lighter", "dimmer", "exposure"]], ["moon", "beard"]),
    ("photo_caption", "astronaut.png", lambda im: caption(im, "MISSION LOG"), "a caption 'MISSION LOG' is added",
     [["text", "caption", "words", "writing", "label", "title", "banner"], ["mission"]], ["moon", "beard"]),
    ("photo_blurred", "rocket.jpg", lambda im: blur(im, 3.0), "blurred",
     [["blurry", "blurred", "blur", "out of focus", "sharper", "sharp", "focus", "fuzzy"]], ["flame", "smoke"]),
    ("photo_coin_removed", "coins.png", remove_coin, "one coin (third row, fourth from left) is removed",
     [["coin"], REMOVED], ["banknote", "dollar"]),
    ("photo_upside_down", "horse.png", lambda im: im.transpose(Image.Transpose.ROTATE_180),
     "rotated 180 degrees (upside down)", [["upside down", "flipped", "rotated", "inverted", "vertically", "180"]],
     ["rider", "saddle"]),
    ("photo_sticker", "camera.png", sticker, "a red dot is added in the sky",
     [["red"], ["circle", "dot", "ball", "spot", "sticker", "balloon", "sun"]], ["dog", "woman"]),
    ("photo_stereo_pair", "motorcycle_left.png", None,
     "real stereo pair: the same scene from a horizontally shifted viewpoint",
     [["viewpoint", "angle", "perspective", "shifted", "shift", "camera", "position", "moved", "slightly", "offset",
       "stereo", "left", "right"]], ["rider", "car"]),
]  # fmt: skip


def compare_suite():
    entries: list[Entry] = []
    for i, (pid, before, after, what, groups, forbidden) in enumerate(RENDERED_PAIRS):
        imgs = [rendered(f"images/{pid}_a.png", before, f"scene for '{what}' (first)"),
                rendered(f"images/{pid}_b.png", after, f"scene for '{what}' (second)")]  # fmt: skip
        sample = {"id": pid, "images": [im.rel for im in imgs], "question": COMPARE_Q[i % len(COMPARE_Q)],
                  "keywords": groups, "forbidden": forbidden,
                  "tags": {"category": "rendered", "change": what}}  # fmt: skip
        entries.append(Entry(sample, imgs))
    for i, (pid, name, edit, what, groups, forbidden) in enumerate(PHOTO_PAIRS):
        stem = name.split(".")[0]
        first = photo_img(f"images/{stem}.jpg", name)
        if edit is None:
            second = photo_img(f"images/{name.replace('left', 'right').split('.')[0]}.jpg",
                               name.replace("left", "right"))  # fmt: skip
            category = "real_pair"
        else:
            second = photo_img(f"images/{pid}_b.jpg", name, edit, note=f"edited: {what}")
            category = "photo_edit"
        sample = {"id": pid, "images": [first.rel, second.rel], "question": COMPARE_Q[i % len(COMPARE_Q)],
                  "keywords": groups, "forbidden": forbidden, "tags": {"category": category, "change": what}}  # fmt: skip
        entries.append(Entry(sample, [first, second]))
    meta = {"task": "compare", "version": VERSION,
            "description": "Two images per sample: controlled edits with a known difference on rendered scenes and "
                           "real photos, one unedited control pair, and a real stereo pair."}  # fmt: skip
    intro = """
Labels: `keywords` groups name the difference (the object and the kind of change; alternatives cover common
phrasings), `forbidden` lists objects absent from both images that a hallucinating answer might bring in. The
tag `change` states the true difference. Rendered pairs differ only in the stated edit (same renderer, same
seed); photo edits are applied by the script to the first photo (mirror, grayscale, crop-and-zoom, colour cast,
darkening, caption, blur, a coin painted out by harmonic fill, rotation by 180 degrees, a red dot). The real pair
is scikit-image's rectified Middlebury stereo pair of a motorcycle (left and right camera), whose only
difference is the horizontal viewpoint shift. `identical` is a control: both images are the same.
"""
    return meta, intro, entries


SUITES = {"describe": describe_suite, "ocr": ocr_suite, "compare": compare_suite}

if __name__ == "__main__":
    sys.exit(main())

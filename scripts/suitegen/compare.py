"""The `compare` suite: pairs of images with one known difference (or none, as a control).

Rendered pairs differ only in the stated edit; photo pairs apply one edit to a shipped photo; one real stereo
pair differs only in viewpoint.
"""

from __future__ import annotations

import numpy as np
from PIL import Image, ImageDraw

from .charts import dc_revenue_chart
from .degrade import blur
from .documents import SANS_B, sign
from .render import font
from .scenes import BASE, BLUE, GREEN, ORANGE, RED, YELLOW, landscape, scene
from .sources import photo_img, rendered
from .spec import VERSION, Entry, SuiteSpec

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


def compare_suite() -> SuiteSpec:
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
    return SuiteSpec(meta, intro, entries)

"""The `compare` suite: pairs of images with one known difference, or none (no-change controls).

Rendered pairs differ only in the stated edit; photo pairs apply one edit to a shipped photo; one real stereo
pair differs only in viewpoint. Each pair is asked about in free form ("What changed?", keywords that name the
object and the direction of the change in one sentence) and, for most pairs, with a question whose answer is
one option, word or yes/no: which image has more, what colour it is now, is there any visible difference.
"""

from __future__ import annotations

from PIL import Image

from .charts import dc_revenue_chart
from .degrade import blur
from .edits import (
    balls,
    brighten,
    caption,
    crop_zoom,
    darker,
    open_closed,
    price_tag,
    remove_coin,
    shift,
    sticker,
    tint,
)
from .render import jpeg
from .scenes import BASE, BLUE, GREEN, ORANGE, RED, YELLOW, landscape, scene
from .sources import photo_img, rendered
from .spec import (
    FIRST_SECOND,
    RENDERED,
    RENDERED_LICENCE,
    SECOND_FIRST,
    VERSION,
    Entry,
    Img,
    SuiteSpec,
    free_form,
    multiple_choice,
    relation,
    sample,
    short_answer,
    yes_no,
)

COMPARE_Q = ["What is different between these two images?", "What changed from the first image to the second?",
             "Compare these two images. What is the difference?"]  # fmt: skip
ADDED = ["added", "new", "appears", "appeared", "additional", "extra", "more", "only in the second"]
REMOVED = ["removed", "missing", "gone", "absent", "disappeared", "no longer", "fewer", "less", "only in the first"]
# A photo edit is one kind of change; naming another kind is describing a change that is not there. The words are
# the specific ones (no "text", "tint" or "flipped", which answers use loosely).
EDITS = {
    "mirrored": ["mirrored", "mirror image"], "grayscale": ["grayscale", "greyscale", "black and white"],
    "cropped": ["cropped", "zoomed"], "tint": ["color cast", "colour cast", "bluish"], "darker": ["darker", "darkened"],
    "caption": ["caption"], "blurred": ["blurred", "blurry"], "rotated": ["upside down"], "sticker": ["sticker", "red dot"],
}  # fmt: skip
# Pairs whose difference is small or global enough to be hard to see (the rest are "visible_change").
SUBTLE = {"photo_coin_removed", "photo_stereo_pair", "identical"}


def _not(*allowed: str) -> list[str]:
    """Forbidden words for a photo edit: the words of every other kind of edit (`allowed` kinds excepted)."""
    return [w for kind, words in EDITS.items() if kind not in allowed for w in words]


STAR = ("star", 256, 90, 40, YELLOW)
RENDERED_PAIRS = [
    # (id, before, after, what changed, keyword groups, forbidden)
    ("shape_added", lambda: scene(BASE), lambda: scene(BASE + [STAR]), "a yellow star is added",
     [relation(object=["star"], change=ADDED)], ["heart", "hexagon"]),
    ("shape_removed", lambda: scene(BASE), lambda: scene([BASE[0], BASE[2]]), "the blue square is removed",
     [relation(object=["square", "box"], change=REMOVED)], ["star", "heart"]),
    ("shape_colour", lambda: scene(BASE), lambda: scene([BASE[0], ("square", 256, 230, 50, ORANGE), BASE[2]]),
     "the square turns from blue to orange",
     [relation(("before", "after"), object=["square"], before=["blue"], after=["orange"])], ["star", "heart"]),
    ("shape_size", lambda: scene(BASE), lambda: scene(BASE[:2] + [("triangle", 400, 235, 80, GREEN)]),
     "the triangle is larger (same centre)",
     [relation(object=["triangle"], change=["bigger", "larger", "enlarged", "grown", "grew", "increased"])],
     ["star", "heart"]),
    ("shape_moved", lambda: scene([BASE[0], STAR]), lambda: scene([("circle", 400, 230, 55, RED), STAR]),
     "the red circle moves from left to right",
     [relation(("before", "after"), object=["circle"], before=["left"], after=["right"])], ["square", "triangle"]),
    ("shape_swapped", lambda: scene(BASE),
     lambda: scene([("triangle", 110, 235, 55, GREEN), BASE[1], ("circle", 400, 230, 55, RED)]),
     "the circle and the triangle swap places",
     [relation(first=["circle"], second=["triangle"],
               change=["swapped", "switched", "exchanged", "swap", "switch", "places", "positions", "reversed"])],
     ["star"]),
    ("ball_count", lambda: balls(3), lambda: balls(5), "three red circles become five",
     [relation(("before", "after"), before=["3", "three"], after=["5", "five"])], ["square", "triangle"]),
    ("arrow_direction", lambda: scene([("arrow", 256, 192, 80, BLUE)]),
     lambda: scene([("arrow", 256, 192, 80, BLUE)]).transpose(Image.Transpose.FLIP_LEFT_RIGHT),
     "the arrow points right, then left",
     [relation(("before", "after"), object=["arrow"], before=["right"], after=["left"])], ["star", "upward"]),
    ("sign_text", lambda: open_closed("OPEN"), lambda: open_closed("CLOSED"), "the sign changes from OPEN to CLOSED",
     [relation(("before", "after"), before=["open"], after=["closed"])], ["sale", "exit"]),
    ("price_text", lambda: price_tag("$4.99"), lambda: price_tag("$5.49"), "the price changes from $4.99 to $5.49",
     [relation(("before", "after"), before=["4.99"], after=["5.49"])], ["discount", "apple"]),
    ("chart_value", lambda: dc_revenue_chart(), lambda: dc_revenue_chart([3.2, 4.1, 5.6, 11.3, 14.7]),
     "the FY2023 bar rises from $8.9B to $11.3B",
     [relation(year=["2023", "fy2023", "fy 2023"],
               change=["increased", "increase", "higher", "taller", "rose", "risen", "grew", "grown", "larger",
                       "bigger", "up"])], ["pie", "line chart"]),
    ("season", lambda: landscape((40, 140, 50)), lambda: landscape((230, 120, 30)),
     "the tree's leaves turn from green to orange (autumn)",
     [["tree", "leaves", "foliage", "leaf"],
      relation(("before", "after"), before=["green", "summer"], after=["orange", "autumn", "fall", "red", "yellow",
                                                                      "brown"])], ["snow", "house"]),
    ("identical", lambda: scene(BASE), lambda: scene(BASE), "nothing: the images are identical",
     [["identical", "same", "no difference", "no differences", "no visible difference", "no visible differences",
       "nothing", "no change", "no changes", "indistinguishable", "not different"]],
     ["star", "heart", "added", "removed", "larger", "smaller", "moved", "missing"]),
]  # fmt: skip

PHOTO_PAIRS = [
    # (id, photo, edit of the second image (None: the real second photo), what changed, keyword groups, forbidden)
    ("photo_mirrored", "chelsea.png", lambda im: im.transpose(Image.Transpose.FLIP_LEFT_RIGHT),
     "mirrored left to right", [["mirrored", "flipped", "mirror", "reversed", "flip", "horizontally"]],
     ["dog", "collar", *_not("mirrored")]),
    ("photo_grayscale", "chelsea.png", lambda im: im.convert("L"), "colour removed (grayscale)",
     [["black and white", "grayscale", "greyscale", "monochrome", "gray", "grey", "colorless", "desaturated",
       "no color", "no colour"]], ["dog", "collar", *_not("grayscale", "darker")]),
    ("photo_cropped", "coffee.png", crop_zoom, "the centre is cropped and enlarged",
     [["cropped", "crop", "zoomed", "zoom", "closer", "enlarged", "close up", "magnified"]],
     ["tea", "cake", *_not("cropped")]),
    ("photo_tint", "coffee.png", lambda im: tint(im, (0.6, 0.85, 1.5)), "a cool blue colour cast",
     [["blue", "bluish", "cooler", "tint", "tinted", "color cast", "colour cast"]], ["tea", "cake", *_not("tint", "darker")]),
    ("photo_darker", "astronaut.png", darker, "much darker (brightness reduced)",
     [["darker", "dimmer", "darkened", "less bright", "dim", "underexposed"]], ["moon", "beard", *_not("darker")]),
    ("photo_caption", "astronaut.png", lambda im: caption(im, "MISSION LOG"), "a caption 'MISSION LOG' is added",
     [["text", "caption", "words", "writing", "label", "title", "banner"], ["mission"]],
     ["moon", "beard", *_not("caption")]),
    ("photo_blurred", "rocket.jpg", lambda im: blur(im, 3.0), "blurred",
     [["blurry", "blurred", "blur", "out of focus", "fuzzy", "less sharp", "less detailed"]],
     ["flame", "smoke", *_not("blurred")]),
    ("photo_coin_removed", "coins.png", remove_coin, "one coin (third row, fourth from left) is removed",
     [relation(object=["coin"], change=REMOVED)], ["banknote", "dollar", *_not()]),
    ("photo_upside_down", "horse.png", lambda im: im.transpose(Image.Transpose.ROTATE_180),
     "rotated 180 degrees (upside down)", [["upside down", "rotated", "inverted", "180", "flipped", "vertically"]],
     ["rider", "saddle", *_not("rotated", "mirrored")]),
    ("photo_sticker", "camera.png", sticker, "a red dot is added in the sky",
     [relation(object=["circle", "dot", "ball", "spot", "sticker", "balloon", "sun", "disc"], change=ADDED),
      ["red"]], ["dog", "woman", *_not("sticker")]),
    ("photo_stereo_pair", "motorcycle_left.png", None,
     "real stereo pair: the same scene from a horizontally shifted viewpoint",
     [["viewpoint", "angle", "perspective", "shifted", "shift", "offset", "stereo", "point of view",
       "camera position", "vantage"]], ["rider", "car", *_not("cropped")]),
]  # fmt: skip

# No-change controls: (id, first image, second image, what differs invisibly)
CONTROLS = [
    ("control_reencoded", lambda: photo_img("images/chelsea.jpg", "chelsea.png"),
     lambda: photo_img("images/control_reencoded_b.jpg", "chelsea.png", note="re-encoded at JPEG quality 70",
                       quality=70), "the same photo re-encoded (JPEG quality 85 vs 70)"),
    ("control_shift", lambda: photo_img("images/coffee.jpg", "coffee.png"),
     lambda: photo_img("images/control_shift_b.jpg", "coffee.png", lambda im: shift(im, 1, 0),
                       note="shifted 1 px to the right"), "the same photo shifted by one pixel"),
    ("control_brightness", lambda: photo_img("images/astronaut.jpg", "astronaut.png"),
     lambda: photo_img("images/control_brightness_b.jpg", "astronaut.png", lambda im: brighten(im, 1.03),
                       note="brightness x1.03"), "the same photo 3% brighter"),
    ("control_format", lambda: rendered("images/control_format_a.png", lambda: scene(BASE), "shapes scene (PNG)"),
     lambda: Img("images/control_format_b.jpg", lambda: jpeg(scene(BASE), 90),
                 f"{RENDERED}: shapes scene (JPEG quality 90)", RENDERED_LICENCE), "PNG vs JPEG of one scene"),
    ("control_landscape_shift", lambda: rendered("images/control_landscape_a.png", lambda: landscape((40, 140, 50)),
                                                 "landscape"),
     lambda: rendered("images/control_landscape_b.png", lambda: shift(landscape((40, 140, 50)), 0, 1),
                      "landscape shifted 1 px down"), "a drawing shifted by one pixel"),
]  # fmt: skip

ANY_DIFFERENCE = "Is there any visible difference between these two images?"
# Exact questions about the pairs above: (pair id, question id, body, demands)
EXACT = [
    ("ball_count", "more", multiple_choice("Which image has more red circles?", FIRST_SECOND, 1), ("visible_change",)),
    ("shape_size", "larger", multiple_choice("In which image is the triangle larger?", SECOND_FIRST, 0),
     ("visible_change",)),
    ("shape_colour", "second", multiple_choice("What colour is the square in the second image?",
                                               ["orange", "blue", "green", "red"], 0), ("visible_change",)),
    ("shape_removed", "which", multiple_choice("Which shape is in the first image but not in the second?",
                                               ["circle", "triangle", "square", "star"], 2), ("visible_change",)),
    ("arrow_direction", "second", multiple_choice("Which way does the arrow point in the second image?",
                                                  ["up", "down", "right", "left"], 3), ("visible_change",)),
    ("shape_moved", "side", multiple_choice("On which side of the second image is the red circle?",
                                            ["the left side", "the right side"], 1), ("visible_change",)),
    ("sign_text", "second", short_answer("What word is on the sign in the second image?", ["CLOSED"]),
     ("visible_change",)),
    ("price_text", "second", short_answer("What is the price in the second image?", ["$5.49", "5.49"]),
     ("visible_change",)),
    ("chart_value", "which", multiple_choice("Which fiscal year's bar differs between the two charts?",
                                             ["FY2020", "FY2021", "FY2022", "FY2023", "FY2024"], 3),
     ("visible_change",)),
    ("season", "second", multiple_choice("What colour are the tree's leaves in the second image?",
                                         ["green", "orange", "blue", "purple"], 1), ("visible_change",)),
    ("photo_darker", "which", multiple_choice("Which image is darker?", SECOND_FIRST, 0), ("visible_change",)),
    ("photo_blurred", "which", multiple_choice("Which image is blurrier?", FIRST_SECOND, 1), ("visible_change",)),
    ("photo_grayscale", "which", multiple_choice("Which image is in colour?", FIRST_SECOND, 0), ("visible_change",)),
    ("photo_upside_down", "which", multiple_choice("In which image is the horse upside down?", SECOND_FIRST, 0),
     ("visible_change",)),
    ("photo_coin_removed", "which", multiple_choice("Which image shows more coins?", SECOND_FIRST, 1),
     ("subtle_change",)),
    ("photo_caption", "text", short_answer("What text appears in the second image?", ["MISSION LOG"], "anls"),
     ("visible_change",)),
    ("photo_sticker", "colour", multiple_choice("What colour is the dot that appears in the second image?",
                                                ["blue", "green", "red", "yellow"], 2), ("visible_change",)),
    # any visible difference: six pairs with one, six no-change controls (balanced yes/no)
    *[(pid, "any", yes_no(ANY_DIFFERENCE, True), ("visible_change",))
      for pid in ("shape_removed", "ball_count", "shape_colour", "photo_caption", "photo_mirrored", "photo_darker")],
    ("identical", "any", yes_no(ANY_DIFFERENCE, False), ("subtle_change",)),
    *[(cid, "any", yes_no(ANY_DIFFERENCE, False), ("subtle_change",)) for cid, *_ in CONTROLS],
]  # fmt: skip


def _pairs() -> dict[str, tuple[list[Img], str, str]]:
    """Every pair by id: (first and second image, category tag, what changed)."""
    out: dict[str, tuple[list[Img], str, str]] = {}
    for pid, before, after, what, *_ in RENDERED_PAIRS:
        out[pid] = ([rendered(f"images/{pid}_a.png", before, f"scene for '{what}' (first)"),
                     rendered(f"images/{pid}_b.png", after, f"scene for '{what}' (second)")], "rendered", what)  # fmt: skip
    for pid, name, edit, what, *_ in PHOTO_PAIRS:
        first = photo_img(f"images/{name.split('.')[0]}.jpg", name)
        if edit is None:
            other = name.replace("left", "right")
            out[pid] = ([first, photo_img(f"images/{other.split('.')[0]}.jpg", other)], "real_pair", what)
        else:
            out[pid] = (
                [first, photo_img(f"images/{pid}_b.jpg", name, edit, note=f"edited: {what}")],
                "photo_edit",
                what,
            )
    for cid, first, second, what in CONTROLS:
        out[cid] = ([first(), second()], "control", what)
    return out


def compare_suite() -> SuiteSpec:
    pairs = _pairs()
    entries: list[Entry] = []
    for i, (pid, *_, groups, forbidden) in enumerate(RENDERED_PAIRS + PHOTO_PAIRS):
        images, category, what = pairs[pid]
        demands = ("description", "subtle_change" if pid in SUBTLE else "visible_change")
        body = free_form(COMPARE_Q[i % len(COMPARE_Q)], groups, forbidden)
        entries.append(sample(pid, images, body, demands, category=category, change=what))
    for pid, qid, body, demands in EXACT:
        images, category, what = pairs[pid]
        entries.append(sample(f"{pid}_{qid}", images, body, demands, category=category, change=what))
    meta = {"task": "compare", "version": VERSION,
            "description": "Two images per sample: controlled edits with a known difference on rendered scenes and "
                           "real photos, no-change controls, and a real stereo pair; free-form and exact questions."}  # fmt: skip
    intro = """
Labels: the tag `change` states the true difference. Free-form answers (`type: free_form`) are scored by keyword
groups; where the direction of a change matters the group is a relation: the object and its change must be named
in one sentence (`{"object": ["square"], "change": ["removed", ...]}`), and a before/after pair must appear in that
order ("from blue to orange"), so "a square was added" or the change reversed does not count. `forbidden` lists
objects absent from both images and, for photo edits, the words of the other kinds of edit, so an answer listing
every possible change is penalised. Exact questions ask which image has more, is larger, darker or in colour, what
an object looks like in the second image, and whether there is any visible difference at all: six pairs with a
difference and six no-change controls (an identical pair, a re-encoded photo, a photo shifted by one pixel, a 3%
brighter photo, a PNG/JPEG pair, a drawing shifted by one pixel), whose correct answer is "no".

Rendered pairs differ only in the stated edit (same renderer, same seed); photo edits are applied by the script to
the first photo (mirror, grayscale, crop-and-zoom, colour cast, darkening, caption, blur, a coin painted out by
harmonic fill, rotation by 180 degrees, a red dot). The real pair is scikit-image's rectified Middlebury stereo pair
of a motorcycle (left and right camera), whose only difference is the horizontal viewpoint shift.
"""
    return SuiteSpec(meta, intro, entries)

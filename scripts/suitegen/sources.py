"""Where images come from: photos shipped in scikit-image/matplotlib (with attribution) and rendered images.

Every `Img` carries its source and licence; the suite READMEs list them from here, so attribution cannot drift
from what is actually written.
"""

from __future__ import annotations

from collections.abc import Callable

from PIL import Image

from .render import jpeg, load_photo, png
from .spec import RENDERED, RENDERED_LICENCE, Img

# file name -> (source, licence) as printed in the READMEs
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
    # The package is implied by the file name: matplotlib ships only these three of the photos used here.
    return load_photo("matplotlib" if name in MPL_FILES else "skimage", name)


def photo_img(rel: str, name: str, edit: Callable[[Image.Image], Image.Image] | None = None,
              note: str = "", fmt: str = "jpeg", quality: int = 85) -> Img:  # fmt: skip
    """A shipped photo, optionally edited. Bytes are made lazily, so building a suite's samples (or one image
    for a test) does not decode every photo."""
    src, lic = PHOTO_SOURCES[name]

    def make() -> bytes:
        img = photo(name)
        img = edit(img) if edit else img
        return jpeg(img, quality) if fmt == "jpeg" else png(img)

    return Img(rel, make, src + (f"; {note}" if note else "") + "; downscaled to max side 768", lic)


def rendered(rel: str, make_img: Callable[[], Image.Image], what: str) -> Img:
    """An image drawn by this generator, saved as PNG (lossless, so the pixels the labels describe are kept)."""
    return Img(rel, lambda: png(make_img()), f"{RENDERED}: {what}", RENDERED_LICENCE)

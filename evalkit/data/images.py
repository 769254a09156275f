"""The image check every suite loader applies before a model runs (suite directories and hf:/tsv: benchmarks)."""

from __future__ import annotations

import io

from PIL import Image

from evalkit.phi3v.images import open_image

_EXIF_ORIENTATION = 0x0112


def check_image(data: bytes, name: str) -> int | None:
    """Catch unreadable, truncated or oversized files up front, cheaply; return the EXIF orientation, if any.

    The pixel limit is checked on the header, before any decoding. PNG: verify() checks every chunk's CRC
    without decoding pixels. Other formats (JPEG) are decoded in draft mode (1/8 scale), which still reads
    the whole compressed stream, so truncation is caught.
    """
    with open_image(io.BytesIO(data), name) as im:
        if im.format == "PNG":
            exif = Image.Exif()
            exif.load(im.info.get("exif", b""))  # an eXIf chunk seen while opening; verify() must come first
            im.verify()
        else:
            exif = im.getexif()
            im.draft(im.mode, (max(1, im.width // 8), max(1, im.height // 8)))
            im.load()
    return exif.get(_EXIF_ORIENTATION)

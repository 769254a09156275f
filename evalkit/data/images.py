"""The image check every suite loader applies before a model runs (suite directories and hf:/tsv: benchmarks)."""

from __future__ import annotations

import io

from evalkit.phi3v.images import open_image

_EXIF_ORIENTATION = 0x0112


def check_image(data: bytes, name: str) -> int | None:
    """Catch unreadable, truncated, corrupt or oversized files up front; return the EXIF orientation, if any.

    The pixel limit is checked on the header, before any decoding. A PNG's chunk checksums are verified (`verify()`,
    which decodes nothing), then every image is decoded in full (`load()`): compressed data that is corrupt behind
    valid checksums, or a truncated JPEG, fails validation (exit 2) instead of its sample at run time.
    """
    with open_image(io.BytesIO(data), name) as im:
        if im.format == "PNG":
            im.verify()  # an image is unusable after verify(): decode a fresh one below
    with open_image(io.BytesIO(data), name) as im:
        im.load()
        exif = im.getexif()
    return exif.get(_EXIF_ORIENTATION)

"""Degradations applied to clean documents (OCR) and photos (compare).

Parameters and noise seeds are fixed by the callers, so every degraded image is reproducible byte for byte.
"""

from __future__ import annotations

import numpy as np
from PIL import Image, ImageFilter


def rotate(img: Image.Image, degrees: float) -> Image.Image:
    # expand=True so no corner of the text is cut off
    return img.rotate(degrees, resample=Image.Resampling.BICUBIC, expand=True, fillcolor="white")


def blur(img: Image.Image, radius: float = 1.3) -> Image.Image:
    return img.filter(ImageFilter.GaussianBlur(radius))


def noise(img: Image.Image, sigma: float, seed: int) -> Image.Image:
    # A fresh generator per call: the result depends only on (image, sigma, seed), not on call order.
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
    # Solve for the 8 coefficients mapping output pixels back to input pixels (what PIL's PERSPECTIVE expects).
    rows, rhs = [], []
    for (x, y), (u, v) in zip(dst, src, strict=True):
        rows += [[x, y, 1, 0, 0, 0, -u * x, -u * y], [0, 0, 0, x, y, 1, -v * x, -v * y]]
        rhs += [u, v]
    # Rounded so last-bit differences between LAPACK builds cannot change the sampled pixels.
    coeffs = [round(c, 9) for c in np.linalg.solve(np.array(rows, float), np.array(rhs, float))]
    return big.transform((W, H), Image.Transform.PERSPECTIVE, coeffs, Image.Resampling.BICUBIC, fillcolor="white")

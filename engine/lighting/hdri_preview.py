"""A small display-referred preview of a lat-long HDRI, for host UIs that cannot read EXR.

The Nuke panel draws the stage lights over this picture. The mapping is unchanged (row 0 looks
up +Y, u = 0.5 + atan2(z, x) / 2 pi, see ``engine.lighting.sphere``); only the size and the tone
change: the image is box-filtered to ``width`` x ``width / 2``, scaled so its mean luminance sits
at 0.18, compressed with Reinhard's x / (1 + x) and sRGB-encoded.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from engine.io.colour import REC709_LUMA, srgb_encode
from engine.io.exr import write_image
from engine.lighting.hdri import load_hdri


def preview_pixels(radiance: np.ndarray, width: int) -> np.ndarray:
    """(width / 2, width, 3) display values in [0, 1] for an (H, 2H, 3) lat-long HDRI."""
    height = radiance.shape[0]
    factor = max(1, (2 * height) // max(int(width), 2))
    rows, cols = height // factor, (2 * height) // factor
    blocks = radiance[: rows * factor, : cols * factor].reshape(rows, factor, cols, factor, 3)
    small = blocks.mean(axis=(1, 3))
    mean_luma = float((small @ REC709_LUMA).mean())
    exposed = small * (0.18 / mean_luma if mean_luma > 0 else 1.0)
    tone = exposed / (1.0 + exposed)
    return srgb_encode(tone)


def write_hdri_preview(hdri: str | Path, out: str | Path, width: int = 512) -> Path:
    """Write the preview of ``hdri`` to ``out`` (8-bit, format by suffix, e.g. .png), atomically."""
    write_image(out, np.clip(preview_pixels(load_hdri(hdri), width), 0.0, 1.0), "uint8")
    return Path(out)

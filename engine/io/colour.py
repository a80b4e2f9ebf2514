"""The sRGB transfer curve (IEC 61966-2-1), both ways, on float arrays in [0, 1], and Rec. 709 luminance."""

from __future__ import annotations

import numpy as np

REC709_LUMA = np.array([0.2126, 0.7152, 0.0722])  # linear RGB -> luminance (Rec. 709 / sRGB primaries)


def srgb_encode(linear: np.ndarray) -> np.ndarray:
    """Scene-linear values -> sRGB-encoded values; input clipped to [0, 1] first."""
    x = np.clip(np.asarray(linear, dtype=np.float32), 0.0, 1.0)
    return np.where(x <= 0.0031308, 12.92 * x, 1.055 * np.power(np.maximum(x, 0.0031308), 1.0 / 2.4) - 0.055)


def srgb_decode(encoded: np.ndarray) -> np.ndarray:
    """sRGB-encoded values in [0, 1] -> scene-linear values."""
    x = np.asarray(encoded, dtype=np.float32)
    return np.where(x <= 0.04045, x / 12.92, np.power((np.maximum(x, 0.04045) + 0.055) / 1.055, 2.4))

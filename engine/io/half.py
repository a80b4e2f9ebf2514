"""float16 to float32 at memory speed, without torch.

numpy 1.26 converts half floats element by element (about 8x slower than the SIMD conversion torch or
OpenCV use), which would make a weighted sum over a cached float16 stack conversion-bound. OpenCV's
``convertFp16`` (F16C instructions) converts a 150-light 4096-pixel tile in about 0.3 ms on one core and
releases the GIL, so worker threads convert in parallel; importing OpenCV costs about 0.1 s where torch
costs over 1 s, which is what a one-off ``relume relight`` waits for.
"""

from __future__ import annotations

import cv2
import numpy as np


def half_to_float(half: np.ndarray, out: np.ndarray | None = None) -> np.ndarray:
    """``half`` (float16, C-contiguous, any shape) as float32, written into ``out`` (same shape) when given."""
    if half.dtype != np.float16:
        raise TypeError(f"expected float16, got {half.dtype}")
    shape = half.shape
    columns = shape[-1] if half.ndim > 1 else half.size
    source = np.ascontiguousarray(half).view(np.int16).reshape(-1, columns)
    if out is None:
        return cv2.convertFp16(source).reshape(shape)
    if out.shape != shape or out.dtype != np.float32 or not out.flags.c_contiguous:
        raise ValueError(f"out must be a C-contiguous float32 array of shape {shape}")
    cv2.convertFp16(source, out.reshape(-1, columns))
    return out

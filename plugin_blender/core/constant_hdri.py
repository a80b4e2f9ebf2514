"""A uniform world colour as a lat-long image the engine can read: a 2x1 Portable Float Map.

PFM is the simplest lossless float format OpenImageIO reads: a text header, then little-endian
float32 RGB rows (bottom row first). The add-on writes it with the standard library, so the
colour reaches the engine exactly (Blender's own image saving would colour-manage it).
"""

from __future__ import annotations

import hashlib
import os
import struct
from collections.abc import Sequence

from ..relume_host.atomic import write_bytes_atomic

WIDTH, HEIGHT = 2, 1  # 2:1 lat-long; the engine resamples it for integration


def constant_hdri_path(color: Sequence[float], folder: str) -> str:
    """Where the constant lat-long image of linear RGB ``color`` goes in ``folder`` (one file per colour)."""
    key = hashlib.sha1(struct.pack("<3f", *[float(c) for c in color[:3]])).hexdigest()[:12]
    return os.path.join(folder, f"relume_uniform_{key}.pfm")


def write_constant_hdri(color: Sequence[float], path: str) -> None:
    """Write the constant image of ``color`` at ``path`` (atomically; kept when it is already there)."""
    if os.path.isfile(path):
        return
    rgb = [float(c) for c in color[:3]]
    data = f"PF\n{WIDTH} {HEIGHT}\n-1.0\n".encode("ascii") + struct.pack("<3f", *rgb) * (WIDTH * HEIGHT)
    write_bytes_atomic(path, data)

"""Relighting from the tiled cache: one read of the stack, three small products per tile.

A background thread reads tile t+1 (plain ``readinto``, no page-fault storm of a memory map)
while the calling thread converts tile t from float16 and multiplies it by the weights, so the
cost approaches the time to read the cached bytes once.
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import torch

from engine.stage.cache import FrameLayout


def _data_offset(path: Path) -> int:
    with open(path, "rb") as handle:
        version = np.lib.format.read_magic(handle)
        np.lib.format._read_array_header(handle, version)  # noqa: SLF001 - documented header layout
        return handle.tell()


def weighted_tile_sum(path: Path, layout: FrameLayout, weights: np.ndarray) -> np.ndarray:
    """sum_r weights[r, c] * stack[:, c, r, :] over a tiled float16 stack file.

    weights: (rows, 3), rows = the stack's row count (stage lights, or low-rank components).
    Returns the (H, W, 3) float32 image.
    """
    rows = weights.shape[0]
    tile_shape = (3, rows, layout.tile_pixels)
    buffers = [np.empty(tile_shape, dtype=np.float16) for _ in range(2)]
    work = torch.empty(tile_shape, dtype=torch.float32)
    weights_t = torch.from_numpy(np.ascontiguousarray(weights.T[:, None, :], dtype=np.float32))  # (3, 1, rows)
    result = torch.empty((layout.tile_count, 3, 1, layout.tile_pixels), dtype=torch.float32)
    with open(path, "rb", buffering=0) as handle, ThreadPoolExecutor(max_workers=1) as reader:
        handle.seek(_data_offset(path))

        def read(buffer: np.ndarray) -> np.ndarray:
            view = memoryview(buffer).cast("B")
            filled = 0
            while filled < len(view):
                count = handle.readinto(view[filled:])
                if not count:
                    raise EOFError(f"{path}: cache file is truncated")
                filled += count
            return buffer

        pending = reader.submit(read, buffers[0])
        for tile in range(layout.tile_count):
            current = pending.result()
            if tile + 1 < layout.tile_count:
                pending = reader.submit(read, buffers[(tile + 1) % 2])
            work.copy_(torch.from_numpy(current))
            torch.bmm(weights_t, work, out=result[tile])
    return layout.untile(result[:, :, 0, :].numpy())

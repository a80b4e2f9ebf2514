"""Relighting from the tiled cache: one read of the stack, three small products per tile.

Workers (one per torch thread) take tiles in turn from a shared counter; each reads its tile
with ``pread`` into its own buffer (no page-fault storm of a memory map), converts it from
float16 and multiplies it by the weights while it is still in the core's cache. Every worker
runs torch single-threaded: nesting torch's OpenMP team inside concurrent readers
oversubscribes the cores (measured 8x slower on a loaded 2-core machine), and tiles are
independent, so the parallelism belongs at tile level. The cost then approaches the time
to read the cached bytes once.
"""

from __future__ import annotations

import itertools
import os
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


def _read_exactly(fd: int, view: memoryview, position: int, path: Path) -> None:
    """Fill ``view`` from byte ``position`` of the open file ``fd``."""
    filled = 0
    while filled < len(view):
        count = os.preadv(fd, [view[filled:]], position + filled)
        if not count:
            raise EOFError(f"{path}: cache file is truncated")
        filled += count


def weighted_tile_sum(path: Path, layout: FrameLayout, weights: np.ndarray) -> np.ndarray:
    """sum_r weights[r, c] * stack[:, c, r, :] over a tiled float16 stack file.

    weights: (rows, 3), rows = the stack's row count (stage lights, or low-rank components).
    Returns the (H, W, 3) float32 image. Uses ``torch.get_num_threads()`` worker threads, each
    with single-threaded torch (the process's torch thread count is restored afterwards);
    memory: the (H, W, 3) result plus one float16 and one float32 tile per worker.
    """
    rows = weights.shape[0]
    tile_shape = (3, rows, layout.tile_pixels)
    tile_bytes = 3 * rows * layout.tile_pixels * 2
    offset = _data_offset(path)
    weights_t = torch.from_numpy(np.ascontiguousarray(weights.T[:, None, :], dtype=np.float32))  # (3, 1, rows)
    result = torch.empty((layout.tile_count, 3, 1, layout.tile_pixels), dtype=torch.float32)
    next_tile = itertools.count()  # shared; next() on it is atomic under the GIL
    threads = torch.get_num_threads()

    def work(fd: int) -> None:
        torch.set_num_threads(1)
        buffer = np.empty(tile_shape, dtype=np.float16)
        view = memoryview(buffer).cast("B")
        source = torch.from_numpy(buffer)
        converted = torch.empty(tile_shape, dtype=torch.float32)
        while (tile := next(next_tile)) < layout.tile_count:
            _read_exactly(fd, view, offset + tile * tile_bytes, path)
            converted.copy_(source)
            torch.bmm(weights_t, converted, out=result[tile])

    workers = max(1, min(threads, layout.tile_count))
    fd = os.open(path, os.O_RDONLY)
    try:
        with ThreadPoolExecutor(max_workers=workers) as pool:
            for done in [pool.submit(work, fd) for _ in range(workers)]:
                done.result()
    finally:
        os.close(fd)
        torch.set_num_threads(threads)
    return layout.untile(result[:, :, 0, :].numpy())

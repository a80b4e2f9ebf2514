"""Relighting from the tiled cache: one read of the stack, three small products per tile.

Workers (one per core this process may use) take windows of consecutive tiles in turn from a shared
counter. Each maps its window of the file (``mmap``; the mapping is private, so the page
cache's pages are read in place, never copied into a buffer), converts one tile at a time
from float16 (:func:`engine.io.half.half_to_float`) and multiplies it by the weights (numpy's
``einsum``: a single-threaded C loop, where a BLAS product would start its own thread pool inside each
worker and oversubscribe the cores, measured 1.3-1.5x slower), and writes the tile's pixels straight
into the image; both release the GIL. Mapping a
bounded window, not the whole file, keeps resident memory small for 4K plates and lets the kernel
read ahead (``MADV_WILLNEED``) while the previous window is computed. No torch: a one-off
``relume relight`` does not pay its import (over 1 s).

Measured on 2 cores, 150 lights at 1024x1024 (``benchmarks/relight.py``): the mapped
windows cost ~30% less CPU than ``pread`` into a buffer (no copy out of the page cache),
and the relight takes 1.8-2.5x the time of reading the cached bytes once: per tile the hash, the
conversion and the product cost 0.27, 0.45 and 0.25 ms of one core, so two cores are compute-bound.
"""

from __future__ import annotations

import itertools
import mmap
import os
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np

from engine.cores import usable_cores
from engine.io.half import half_to_float
from engine.stage.cache import CacheDamaged, FrameLayout, checksum, stack_data_offset

WINDOW_BYTES = 64 << 20  # file bytes one worker maps at a time


def weighted_tile_sum(path: Path, layout: FrameLayout, weights: np.ndarray, tiles_xxh3: Sequence[int],
                      rank: int | None = None) -> np.ndarray:
    """sum_r weights[r, c] * stack[:, c, r, :] over a tiled float16 stack file.

    weights: (rows, 3), rows = the stack's row count (stage lights, or ``rank`` low-rank components).
    Each tile's bytes are checked against ``tiles_xxh3`` as they are read (XXH3, at about 30 GB/s); a mismatch, a bad header or a wrong file size
    raises :class:`CacheDamaged`. Returns the (H, W, 3) float32 image. Uses one worker thread per core this
    process may run on. Memory: the result, one float32 tile per worker and the mapped windows (file pages).
    """
    rows, pixels = weights.shape[0], layout.tile_pixels
    tile_shape = (3, rows, pixels)
    tile_bytes = 3 * rows * pixels * 2
    offset = stack_data_offset(path, layout, rank)
    if len(tiles_xxh3) != 3 * layout.tile_count:
        raise CacheDamaged(path, f"{len(tiles_xxh3)} checksums for {layout.tile_count} tiles of 3 channels")
    workers = max(1, min(usable_cores(), layout.tile_count))
    # windows of up to WINDOW_BYTES, at least 4 per worker so that the workers finish together
    window_tiles = max(1, min(WINDOW_BYTES // tile_bytes, -(-layout.tile_count // (4 * workers))))
    window_count = -(-layout.tile_count // window_tiles)
    weights_c = np.ascontiguousarray(weights.T[:, None, :], dtype=np.float32)  # (3, 1, rows)
    image = np.empty((layout.tile_count * pixels, 3), dtype=np.float32)  # row-major pixels, padded
    next_window = itertools.count()  # shared; next() on it is atomic under the GIL

    def map_window(fd: int, first: int, count: int) -> np.ndarray:
        """Tiles first..first+count-1 as a (count, 3, rows, pixels) float16 view of the file."""
        start = offset + first * tile_bytes
        aligned = start - start % mmap.ALLOCATIONGRANULARITY
        window = mmap.mmap(fd, start - aligned + count * tile_bytes, flags=mmap.MAP_PRIVATE,
                           prot=mmap.PROT_READ | mmap.PROT_WRITE, offset=aligned)  # private: writable view, never written
        window.madvise(mmap.MADV_WILLNEED)
        tiles = np.frombuffer(window, np.float16, count * tile_bytes // 2, start - aligned)
        return tiles.reshape(count, *tile_shape)  # unmapped when the view is freed

    def work(fd: int) -> None:
        converted = np.empty(tile_shape, dtype=np.float32)
        product = np.empty((3, 1, pixels), dtype=np.float32)
        while (window := next(next_window)) < window_count:
            first = window * window_tiles
            tiles = map_window(fd, first, min(window_tiles, layout.tile_count - first))
            for index, tile in enumerate(tiles, start=first):
                for channel in range(3):        # one channel (L2-sized) at a time: hashed, then converted from cache
                    if checksum(tile[channel]) != tiles_xxh3[3 * index + channel]:
                        raise CacheDamaged(path, f"tile {index} does not match its checksum")
                    half_to_float(tile[channel], converted[channel])
                np.einsum("cxl,clp->cxp", weights_c, converted, out=product)
                image[index * pixels:(index + 1) * pixels] = product[:, 0, :].T  # untiled while in cache
            del tiles, tile

    fd = os.open(path, os.O_RDONLY)
    try:
        with ThreadPoolExecutor(max_workers=workers) as pool:
            for done in [pool.submit(work, fd) for _ in range(workers)]:
                done.result()
    finally:
        os.close(fd)
    return image[: layout.height * layout.width].reshape(layout.height, layout.width, 3)

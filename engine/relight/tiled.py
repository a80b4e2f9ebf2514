"""Relighting from the tiled cache: one read of the stack, one weighted sum per tile.

Workers (one per core this process may use) take runs of consecutive tiles in turn from a shared
counter. Each reads its run tile by tile into one reused tile buffer (its own file handle, so the
kernel reads ahead along the run), checks the tile's three channels against their checksums while
they are in cache, and sums the tile into the image:

* ``"c"``: the optional C extension (:file:`_tile_kernel.c`) converts each float16 value in a register
  and accumulates it with a fused multiply-add, reading the tile once; it releases the GIL.
* ``"numpy"``: where the extension was not built or the CPU lacks AVX2/FMA/F16C: the tile converted to a
  float32 copy (:func:`engine.io.half.half_to_float`), then numpy's ``einsum`` (a single-threaded C loop,
  where a BLAS product would start its own thread pool inside each worker; both release the GIL).

No torch: a one-off ``relume relight`` does not pay its import (over 1 s). Memory: the image, one tile
buffer per worker (3.7 MB at 150 lights), and for numpy one float32 copy of a tile per worker.

Measured on 2 cores, 150 lights at 1024x1024 (``benchmarks/relight.py``, AMD EPYC family 26): ``"c"``
runs at about the speed of reading the cached bytes once; ``"numpy"`` takes about twice as long,
compute-bound on the float32 copy it writes and reads back.
"""

from __future__ import annotations

import io
import itertools
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Literal

import numpy as np

from engine.cores import usable_cores
from engine.io.half import half_to_float
from engine.stage.cache import CacheDamaged, FrameLayout, checksum, stack_data_offset

try:
    from engine.relight._tile_kernel import weighted_sum as _compiled_weighted_sum
except ImportError:        # not built here (no C compiler, not x86-64), or the CPU lacks AVX2/FMA/F16C
    _compiled_weighted_sum = None

Kernel = Literal["c", "numpy"]
DEFAULT_KERNEL: Kernel = "c" if _compiled_weighted_sum else "numpy"
RUN_BYTES = 64 << 20  # file bytes one worker reads in a row before taking the next run

TileSum = Callable[[np.ndarray, np.ndarray, np.ndarray], None]
"""(tile (3, rows, pixels) float16, weights (3, rows) float32, out (pixels, 3) float32) -> None."""


def numpy_tile_sum(rows: int, pixels: int) -> TileSum:
    """The numpy kernel for tiles of ``rows`` x ``pixels``, with its own float32 buffers (one per worker)."""
    converted = np.empty((3, rows, pixels), dtype=np.float32)
    product = np.empty((3, 1, pixels), dtype=np.float32)

    def tile_sum(tile: np.ndarray, weights: np.ndarray, out: np.ndarray) -> None:
        for channel in range(3):
            half_to_float(tile[channel], converted[channel])
        np.einsum("cxl,clp->cxp", weights[:, None, :], converted, out=product)
        out[:] = product[:, 0, :].T
    return tile_sum


def read_fully(handle: io.RawIOBase, buffer: memoryview) -> int:
    """Fill ``buffer`` from the raw file ``handle`` (a read may return less than asked); returns the bytes read,
    fewer only at the end of the file."""
    done = 0
    while done < len(buffer) and (count := handle.readinto(buffer[done:])):
        done += count
    return done


def weighted_tile_sum(path: Path, layout: FrameLayout, weights: np.ndarray, tiles_xxh3: Sequence[int],
                      rank: int | None = None, kernel: Kernel = DEFAULT_KERNEL) -> np.ndarray:
    """sum_r weights[r, c] * stack[:, c, r, :] over a tiled float16 stack file.

    weights: (rows, 3), rows = the stack's row count (stage lights, or ``rank`` low-rank components).
    Each tile's bytes are checked against ``tiles_xxh3`` (XXH3 of each channel) before they are used; a
    mismatch, a bad header or a wrong file size raises :class:`CacheDamaged`. Returns the (H, W, 3) float32
    image. ``kernel``: see the module's docstring (``"c"`` is an error where it is not available).
    """
    if kernel == "c" and _compiled_weighted_sum is None:
        raise ValueError("the C tile kernel is not available here (not built, or the CPU lacks AVX2/FMA/F16C)")
    rows, pixels = weights.shape[0], layout.tile_pixels
    tile_shape = (3, rows, pixels)
    tile_bytes = 3 * rows * pixels * 2
    offset = stack_data_offset(path, layout, rank)
    if len(tiles_xxh3) != 3 * layout.tile_count:
        raise CacheDamaged(path, f"{len(tiles_xxh3)} checksums for {layout.tile_count} tiles of 3 channels")
    workers = max(1, min(usable_cores(), layout.tile_count))
    # runs of up to RUN_BYTES, at least 4 per worker so that the workers finish together
    run_tiles = max(1, min(RUN_BYTES // tile_bytes, -(-layout.tile_count // (4 * workers))))
    run_count = -(-layout.tile_count // run_tiles)
    weights_c = np.ascontiguousarray(weights.T, dtype=np.float32)  # (3, rows)
    image = np.empty((layout.tile_count * pixels, 3), dtype=np.float32)  # row-major pixels, padded
    next_run = itertools.count()  # shared; next() on it is atomic under the GIL

    def work() -> None:
        tile_sum = _compiled_weighted_sum if kernel == "c" else numpy_tile_sum(rows, pixels)
        tile = np.empty(tile_shape, dtype=np.float16)
        tile_buffer = memoryview(tile).cast("B")
        with open(path, "rb", buffering=0) as handle:
            while (run := next(next_run)) < run_count:
                first = run * run_tiles
                handle.seek(offset + first * tile_bytes)
                for index in range(first, min(first + run_tiles, layout.tile_count)):
                    if read_fully(handle, tile_buffer) != tile_bytes:
                        raise CacheDamaged(path, f"tile {index} is cut short")
                    for channel in range(3):
                        if checksum(tile[channel]) != tiles_xxh3[3 * index + channel]:
                            raise CacheDamaged(path, f"tile {index} does not match its checksum")
                    tile_sum(tile, weights_c, image[index * pixels:(index + 1) * pixels])

    with ThreadPoolExecutor(max_workers=workers) as pool:
        for done in [pool.submit(work) for _ in range(workers)]:
            done.result()
    return image[: layout.height * layout.width].reshape(layout.height, layout.width, 3)

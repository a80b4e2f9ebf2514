"""Low-rank form of a cached OLAT stack: K light-basis images instead of L light images.

Every channel's stack S_c (L x pixels) is approximated as U B_c with one shared orthonormal
light basis U (L x K): the leading eigenvectors of G = sum_c S_c S_c^T, accumulated tile by
tile. The relative error ||S - U U^T S|| / ||S|| follows from the discarded eigenvalues.
"""

from __future__ import annotations

import math
from collections.abc import Iterator

import numpy as np

from engine.errors import InputError
from engine.io.half import half_to_float
from engine.relight.tiled import weighted_tile_sum
from engine.stage.cache import CacheDamaged, FrameCache, checksum, load_checked, open_stack_writer, save_array

HALF_SAFE = 16384.0      # stored coefficients stay below this (half float's largest is 65504)


def _iter_tiles(cache: FrameCache) -> Iterator[np.ndarray]:
    """The cached stack tile by tile as float32 (3, L, TILE_PIXELS) arrays, each block checked against
    its hash (CacheDamaged on a mismatch: a low-rank form is never built from damaged data)."""
    expected = cache.tile_checksums()
    stack = np.load(cache.stack_path, mmap_mode="r")
    for tile in range(stack.shape[0]):
        block = np.asarray(stack[tile])
        if any(checksum(block[channel]) != expected[3 * tile + channel] for channel in range(3)):
            raise CacheDamaged(cache.stack_path, f"tile {tile} does not match its checksum")
        yield half_to_float(block)  # (3, L, P)


def build_lowrank(cache: FrameCache, rank: int) -> float:
    """Write the rank-``rank`` form of a cached frame; returns its relative Frobenius error."""
    layout = cache.layout()
    if not 1 <= rank <= layout.light_count:
        raise InputError("rank", f"must be between 1 and the capture's {layout.light_count} lights, got {rank}")
    gram = np.zeros((layout.light_count, layout.light_count), dtype=np.float64)
    peak = 0.0                          # largest |s_p| over pixels and channels: bounds every |coefficient|
    for tile in _iter_tiles(cache):
        gram += np.matmul(tile, tile.transpose(0, 2, 1)).sum(axis=0)     # sum_c S_c S_c^T of the tile
        peak = max(peak, float(np.square(tile, dtype=np.float64).sum(axis=1).max()) ** 0.5)
    eigenvalues, eigenvectors = np.linalg.eigh(gram)
    order = np.argsort(eigenvalues)[::-1]
    eigenvalues = np.clip(eigenvalues[order], 0.0, None)
    basis = eigenvectors[:, order[:rank]].astype(np.float32)  # (L, K)
    # the coefficients are stored as half floats: a power-of-two scale (exact) keeps them under HALF_SAFE,
    # and the stored basis carries its inverse, so basis^T w times the coefficients is unchanged
    scale = 2.0 ** -max(0, math.ceil(math.log2(peak / HALF_SAFE))) if peak > 0 else 1.0
    coefficients_path, basis_path = cache.lowrank_paths(rank)
    with open_stack_writer(coefficients_path, layout, rank) as writer:
        for index, tile in enumerate(_iter_tiles(cache)):
            writer.write_tile(index, scale * (basis.T @ tile))  # (3, K, P)
        tiles_xxh3 = writer.tile_hashes()
    basis_xxh3 = save_array(basis_path, basis / scale)
    error = float(np.sqrt(eigenvalues[rank:].sum() / eigenvalues.sum()))
    meta = cache.read_meta() or {}
    meta.setdefault("lowrank", {})[str(rank)] = {"relative_error": error, "basis_xxh3": basis_xxh3,
                                                 "tiles_xxh3": tiles_xxh3}
    cache.write_meta(meta)
    return error


def relight_lowrank(cache: FrameCache, rank: int, weights: np.ndarray) -> np.ndarray:
    """(H, W, 3) relit image from the rank-``rank`` form: weights projected on the basis. Raises
    :class:`CacheDamaged` when the form's files do not match their checksums."""
    coefficients_path, basis_path = cache.lowrank_paths(rank)
    entry = (cache.read_meta() or {}).get("lowrank", {}).get(str(rank), {})
    basis = load_checked(basis_path, entry.get("basis_xxh3"))  # (L, K)
    return weighted_tile_sum(coefficients_path, cache.layout(), basis.T @ weights, cache.tile_checksums(rank), rank)

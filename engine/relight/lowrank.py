"""Low-rank form of a cached OLAT stack: K light-basis images instead of L light images.

Every channel's stack S_c (L x pixels) is approximated as U B_c with one shared orthonormal
light basis U (L x K): the leading eigenvectors of G = sum_c S_c S_c^T, accumulated tile by
tile. The relative error ||S - U U^T S|| / ||S|| follows from the discarded eigenvalues.
"""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np
import torch

from engine.errors import InputError
from engine.stage.cache import CacheDamaged, FrameCache, checksum, load_checked, open_stack_writer, save_array
from engine.relight.tiled import weighted_tile_sum


def _iter_tiles(cache: FrameCache) -> Iterator[torch.Tensor]:
    """The cached stack tile by tile as float32 (3, L, TILE_PIXELS) tensors, each block checked against
    its hash (CacheDamaged on a mismatch: a low-rank form is never built from damaged data)."""
    expected = cache.tile_checksums()
    stack = np.load(cache.stack_path, mmap_mode="r")
    for tile in range(stack.shape[0]):
        block = np.asarray(stack[tile])
        if any(checksum(block[channel]) != expected[3 * tile + channel] for channel in range(3)):
            raise CacheDamaged(cache.stack_path, f"tile {tile} does not match its checksum")
        yield torch.from_numpy(block.astype(np.float32))  # (3, L, P)


def build_lowrank(cache: FrameCache, rank: int) -> float:
    """Write the rank-``rank`` form of a cached frame; returns its relative Frobenius error."""
    layout = cache.layout()
    if not 1 <= rank <= layout.light_count:
        raise InputError("--rank", f"must be between 1 and the capture's {layout.light_count} lights, got {rank}")
    gram = torch.zeros((layout.light_count, layout.light_count), dtype=torch.float64)
    for tile in _iter_tiles(cache):
        gram += torch.einsum("clp,ckp->lk", tile, tile).double()
    eigenvalues, eigenvectors = torch.linalg.eigh(gram)
    order = torch.argsort(eigenvalues, descending=True)
    eigenvalues = eigenvalues[order].clamp(min=0.0)
    basis = eigenvectors[:, order[:rank]].float()  # (L, K)
    coefficients_path, basis_path = cache.lowrank_paths(rank)
    with open_stack_writer(coefficients_path, layout, rank) as writer:
        for index, tile in enumerate(_iter_tiles(cache)):
            writer.write_tile(index, (basis.T @ tile).numpy())  # (3, K, P)
        tiles_xxh3 = writer.tile_hashes()
    basis_xxh3 = save_array(basis_path, basis.numpy())
    error = float(torch.sqrt(eigenvalues[rank:].sum() / eigenvalues.sum()))
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

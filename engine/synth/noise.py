"""Deterministic value noise in 2-D or 3-D, for procedural textures (pure torch).

Lattice values come from a table of 2^18 uniform random numbers drawn from the seed (NumPy's
PCG64, the same on every machine); a lattice point's value is the table entry at its
coordinates modulo the table's side (512 cells in 2-D, 64 in 3-D, far more than any texture here
repeats over). Between lattice points the values are blended with a smoothstep, so the noise is
continuous with features about one lattice cell wide.
"""

from __future__ import annotations

import itertools
from functools import lru_cache

import numpy as np
import torch

_TABLE_BITS = 18
_SIDE = {2: 1 << (_TABLE_BITS // 2), 3: 1 << (_TABLE_BITS // 3)}


@lru_cache(maxsize=16)
def _table(seed: int) -> torch.Tensor:
    values = np.random.default_rng([seed, 0x7AB1E]).uniform(-1.0, 1.0, 1 << _TABLE_BITS)
    return torch.from_numpy(values.astype(np.float32))


def value_noise(points: torch.Tensor, seed: int = 0) -> torch.Tensor:
    """Noise (N,) in [-1, 1] at points (N, D), D = 2 or 3, with one feature per unit of distance."""
    if points.dim() != 2 or points.shape[1] not in (2, 3):
        raise ValueError(f"value_noise expects (N, 2|3) points, got {tuple(points.shape)}")
    dims = points.shape[1]
    side = _SIDE[dims]
    base = torch.floor(points)
    frac = (points - base).to(torch.float32)
    smooth = frac * frac * (3.0 - 2.0 * frac)
    weights = (1.0 - smooth, smooth)  # per axis: weight of the lower and the upper corner
    low = torch.remainder(base.to(torch.int64), side)
    cells = (low, torch.remainder(low + 1, side))  # per axis: table coordinate of each corner
    table = _table(seed)
    total = torch.zeros(points.shape[0])
    for offset in itertools.product((0, 1), repeat=dims):
        weight = weights[offset[0]][:, 0]
        index = cells[offset[0]][:, 0]
        for axis in range(1, dims):
            weight = weight * weights[offset[axis]][:, axis]
            index = index * side + cells[offset[axis]][:, axis]
        total += weight * table[index]
    return total


def fbm(points: torch.Tensor, frequency: float, octaves: int = 3, seed: int = 0) -> torch.Tensor:
    """Fractal sum of ``octaves`` noise layers (N,), roughly in [-1, 1]; ``frequency`` is the
    first layer's features per unit of the points' coordinates, each next layer doubles it."""
    total = torch.zeros(points.shape[0])
    amplitude, norm = 1.0, 0.0
    for octave in range(octaves):
        total += amplitude * value_noise(points * (frequency * 2.0**octave), seed + 7919 * octave)
        norm += amplitude
        amplitude *= 0.5
    return total / norm

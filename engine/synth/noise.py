"""Deterministic value noise in 2-D or 3-D, for procedural textures (pure torch).

The lattice values come from an integer hash of the cell corner and a seed, so the same
points and seed give the same noise on any machine; between corners the values are blended
with a smoothstep, so the noise is continuous with features about one lattice cell wide.
"""

from __future__ import annotations

import itertools

import torch

_PRIMES = (73856093, 19349663, 83492791)
_MASK = (1 << 31) - 1


def _lattice(corner: torch.Tensor, seed: int) -> torch.Tensor:
    """Pseudo-random value in [-1, 1] per integer lattice point (N, D) long."""
    h = torch.full(corner.shape[:1], (seed * 2654435761) & _MASK, dtype=torch.int64)
    for axis in range(corner.shape[1]):
        h = h ^ (corner[:, axis] * _PRIMES[axis])
    h = h & _MASK
    h = ((h ^ (h >> 13)) * 1274126177) & _MASK  # avalanche so neighbouring cells decorrelate
    h = h ^ (h >> 16)
    return (h & 0xFFFF).to(torch.float32) / 32767.5 - 1.0


def value_noise(points: torch.Tensor, seed: int = 0) -> torch.Tensor:
    """Noise (N,) in [-1, 1] at points (N, D), D = 2 or 3, with one feature per unit of distance."""
    if points.dim() != 2 or points.shape[1] not in (2, 3):
        raise ValueError(f"value_noise expects (N, 2|3) points, got {tuple(points.shape)}")
    points = points.to(torch.float64)
    base = torch.floor(points)
    frac = (points - base).to(torch.float32)
    smooth = frac * frac * (3.0 - 2.0 * frac)
    base = base.to(torch.int64)
    total = torch.zeros(points.shape[0])
    for offset in itertools.product((0, 1), repeat=points.shape[1]):
        shift = torch.tensor(offset, dtype=torch.int64)
        weight = torch.prod(torch.where(shift.bool(), smooth, 1.0 - smooth), dim=1)
        total += weight * _lattice(base + shift, seed)
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

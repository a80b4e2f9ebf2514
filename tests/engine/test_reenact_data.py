"""The reenactment's light basis (:func:`engine.reenact.data.light_basis`) on light transport of known rank:
the basis spans it, is ordered by energy, adds lights up, and its unit and coefficient statistics are the
samples' own."""

from __future__ import annotations

import numpy as np
import pytest

from engine.errors import InputError
from engine.reenact.data import light_basis

FRAMES, LIGHTS, SIZE = 3, 12, 16


def _stacks(rank: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """OLAT stacks (T, L, 3, H, W) float16 whose light transport is ``rank`` positive light patterns (L, rank)
    times positive per-pixel, per-channel amounts, strongest first; an alpha covering a wide rectangle."""
    rng = np.random.default_rng(seed)
    patterns = rng.uniform(0.0, 1.0, (LIGHTS, rank))
    strength = 4.0 ** -np.arange(rank)                                  # energy falls off pattern by pattern
    amounts = rng.uniform(0.2, 1.0, (FRAMES, rank, 3, SIZE, SIZE)) * strength[None, :, None, None, None]
    stacks = np.einsum("lk,tkchw->tlchw", patterns, amounts) * 0.05
    alpha = np.zeros((FRAMES, SIZE, SIZE), np.float32)
    alpha[:, 3:9, 1:15] = 1.0                                           # wide, not square: rows are not columns
    return stacks.astype(np.float16), alpha, patterns


def test_basis_spans_the_light_transport_and_adds_lights_up() -> None:
    stacks, alpha, patterns = _stacks(rank=3)
    basis = light_basis(stacks, alpha, rank=3)
    vectors = basis.vectors.astype(np.float64)
    assert vectors.shape == (LIGHTS, 3) and np.allclose(vectors.T @ vectors, np.eye(3), atol=1e-5)
    # every light pattern lies in the basis' span, so any covered pixel's OLAT stack is decoded exactly
    assert np.abs(patterns - vectors @ (vectors.T @ patterns)).max() < 1e-3 * np.abs(patterns).max()
    assert (vectors.sum(axis=0) > 0).all()                           # signs chosen so the lights add up
    covered = alpha > 0.5
    samples = stacks.astype(np.float64).transpose(0, 3, 4, 1, 2)[covered]   # (N, L, 3)
    assert basis.unit == pytest.approx(samples.mean(), rel=1e-6)
    coefficients = np.einsum("lk,nlc->nck", vectors, samples / basis.unit).reshape(len(samples), -1)
    assert np.allclose(basis.coefficient_mean, coefficients.mean(0), atol=1e-4)
    assert np.allclose(basis.coefficient_scale, coefficients.std(0), rtol=1e-3)


def test_a_smaller_rank_keeps_the_strongest_patterns() -> None:
    """Rank 1 of rank-3 transport: the first eigenvector, closest to the strongest pattern; the
    reconstruction error of the covered samples falls as the rank grows to 3."""
    stacks, alpha, patterns = _stacks(rank=3, seed=1)
    samples = stacks.astype(np.float64).transpose(0, 3, 4, 1, 2)[alpha > 0.5].transpose(0, 2, 1).reshape(-1, LIGHTS)
    errors = []
    for rank in (1, 2, 3):
        vectors = light_basis(stacks, alpha, rank=rank).vectors.astype(np.float64)
        errors.append(float(np.square(samples - samples @ vectors @ vectors.T).mean()))
    assert errors[0] > errors[1] > errors[2] and errors[2] < 1e-4 * errors[0]     # float16 rounding is what is left
    first = light_basis(stacks, alpha, rank=1).vectors[:, 0]
    cosines = np.abs(patterns.T @ first) / np.linalg.norm(patterns, axis=0)
    assert int(np.argmax(cosines)) == 0


def test_refusals() -> None:
    stacks, alpha, _ = _stacks(rank=2)
    with pytest.raises(InputError, match="13 is more than the capture's 12 stage lights"):
        light_basis(stacks, alpha, rank=13)
    with pytest.raises(InputError, match="black where the matte covers the face"):
        light_basis(np.zeros_like(stacks), alpha, rank=2)

"""The alignment behind the tracker's vertex error (:func:`engine.track.evaluate.umeyama`): the one similarity per
sequence that takes away what a single camera cannot see (a larger face further away). The accuracy figures
themselves are checked on the synthetic stage's truth in ``test_track.py``, where no test can make a fitted face
of another size, so the scale and the rotation's sign are pinned here."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.spatial.transform import Rotation

from engine.track.evaluate import umeyama


def _points(seed: int, count: int = 200) -> np.ndarray:
    """(count, 3) points spread like a face, in metres, about 1 m in front of the camera."""
    rng = np.random.default_rng(seed)
    return rng.normal(scale=(0.07, 0.09, 0.05), size=(count, 3)) + (0.0, 0.0, -1.0)


def test_recovers_a_known_similarity() -> None:
    source = _points(0)
    rotation = Rotation.from_rotvec([0.2, -0.4, 0.1]).as_matrix()
    target = 1.3 * source @ rotation.T + (0.01, -0.02, 0.3)
    scale, fitted_rotation, shift = umeyama(source, target)
    assert scale == pytest.approx(1.3, rel=1e-9)
    assert np.allclose(fitted_rotation, rotation, atol=1e-9)
    assert np.allclose(scale * source @ fitted_rotation.T + shift, target, atol=1e-12)


def _best_scale(source: np.ndarray, target: np.ndarray, scale: float, rotation: np.ndarray) -> bool:
    """Whether ``scale`` is the least-squares one for ``rotation``: 1 % more or less in either direction costs
    more (the shift is each side's centroid)."""

    def cost(s: float) -> float:
        moved = s * source @ rotation.T
        return float((((moved - moved.mean(0)) - (target - target.mean(0))) ** 2).sum())

    return cost(scale) < cost(scale * 1.01) and cost(scale) < cost(scale * 0.99)


def test_scale_is_the_least_squares_one_under_noise() -> None:
    """With noise on the target the scale is the least-squares optimum, not the ratio of the two spreads (which
    noise inflates)."""
    source = _points(1)
    target = 0.8 * source + np.random.default_rng(2).normal(scale=0.01, size=source.shape)
    scale, rotation, _ = umeyama(source, target)
    assert _best_scale(source, target, scale, rotation)
    spread_ratio = np.sqrt(((target - target.mean(0)) ** 2).sum() / ((source - source.mean(0)) ** 2).sum())
    assert scale < spread_ratio - 0.005


def test_a_mirrored_target_still_gets_a_proper_rotation() -> None:
    """A fitted face is never a mirror image of the truth: the alignment keeps det R = +1 even where a reflection
    would fit better, so a mirrored fit keeps its error instead of being aligned away, and the scale is the best
    one for that rotation (the reflected direction's singular value counts against it)."""
    source = _points(3)
    mirrored = source * (-1.0, 1.0, 1.0)
    scale, rotation, shift = umeyama(source, mirrored)
    assert np.linalg.det(rotation) == pytest.approx(1.0, abs=1e-9)
    assert _best_scale(source, mirrored, scale, rotation)
    assert np.abs(scale * source @ rotation.T + shift - mirrored).max() > 0.01

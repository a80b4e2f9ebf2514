"""Angles between unit vectors, for the tests' direction and normal checks."""

from __future__ import annotations

import numpy as np


def angles_deg(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Angles in degrees between unit vectors ``a`` and ``b`` (..., 3), broadcast against each other."""
    return np.degrees(np.arccos(np.clip((a * b).sum(-1), -1.0, 1.0)))

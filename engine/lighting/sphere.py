"""Directions on the unit sphere: lat-long mapping, rotations, sampling of cones and discs.

All directions are unit vectors in the engine frame (Y up, right-handed, subject looking +Z).
"""

from __future__ import annotations

import numpy as np

GOLDEN_ANGLE = np.pi * (3.0 - np.sqrt(5.0))


def rotation_y(degrees: float) -> np.ndarray:
    """Right-handed rotation about +Y by ``degrees`` (3x3)."""
    t = np.deg2rad(degrees)
    c, s = np.cos(t), np.sin(t)
    return np.array([[c, 0.0, s], [0.0, 1.0, 0.0], [-s, 0.0, c]])


def latlong_to_directions(u: np.ndarray, v: np.ndarray) -> np.ndarray:
    """Directions for lat-long texture coordinates, u, v in [0, 1], v = 0 at the top row.

    This is Blender's Environment Texture mapping written in the engine frame: with
    (x, y, z)_engine = (x_b, z_b, -y_b), Blender's u = 0.5 - atan2(y_b, x_b) / (2 pi) becomes
    u = 0.5 + atan2(z, x) / (2 pi), and the top row looks along +Y (Blender's +Z).
    """
    u, v = np.broadcast_arrays(np.asarray(u, dtype=np.float64), np.asarray(v, dtype=np.float64))
    phi = (u - 0.5) * 2.0 * np.pi  # atan2(z, x)
    theta = v * np.pi  # polar angle from +Y
    sin_theta = np.sin(theta)
    return np.stack([sin_theta * np.cos(phi), np.cos(theta), sin_theta * np.sin(phi)], axis=-1)


def directions_to_latlong(directions: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Inverse of :func:`latlong_to_directions`: (u, v) in [0, 1] for unit directions."""
    d = np.asarray(directions)
    u = 0.5 + np.arctan2(d[..., 2], d[..., 0]) / (2.0 * np.pi)
    v = np.arccos(np.clip(d[..., 1], -1.0, 1.0)) / np.pi
    return u, v


def latlong_solid_angles(height: int, width: int) -> np.ndarray:
    """Exact solid angle (sr) of each row's pixels in a (height, width) lat-long image, shape (height,).

    Sums to 4 pi over the whole image.
    """
    edges = np.cos(np.linspace(0.0, np.pi, height + 1))
    return (edges[:-1] - edges[1:]) * (2.0 * np.pi / width)


def fibonacci_sphere(count: int) -> np.ndarray:
    """``count`` nearly uniform unit directions over the whole sphere, (count, 3)."""
    index = np.arange(count) + 0.5
    y = 1.0 - 2.0 * index / count
    radius = np.sqrt(np.clip(1.0 - y * y, 0.0, None))
    angle = GOLDEN_ANGLE * index
    return np.stack([radius * np.cos(angle), y, radius * np.sin(angle)], axis=1)


def orthonormal_basis(axis: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Two unit vectors (tangent, bitangent) completing ``axis`` to a right-handed basis."""
    axis = np.asarray(axis, dtype=np.float64)
    helper = np.array([0.0, 1.0, 0.0]) if abs(axis[1]) < 0.9 else np.array([1.0, 0.0, 0.0])
    tangent = np.cross(helper, axis)
    tangent /= np.linalg.norm(tangent)
    return tangent, np.cross(axis, tangent)


def cone_directions(axis: np.ndarray, half_angle: float, count: int) -> np.ndarray:
    """``count`` directions spread evenly by solid angle inside a cone (half angle in radians)."""
    tangent, bitangent = orthonormal_basis(axis)
    index = np.arange(count) + 0.5
    cos_t = 1.0 - (index / count) * (1.0 - np.cos(half_angle))
    sin_t = np.sqrt(np.clip(1.0 - cos_t**2, 0.0, None))
    angle = GOLDEN_ANGLE * index
    return (cos_t[:, None] * axis + sin_t[:, None] * (np.cos(angle)[:, None] * tangent
                                                       + np.sin(angle)[:, None] * bitangent))


def disc_points(count: int) -> np.ndarray:
    """``count`` points spread evenly over the unit disc, (count, 2)."""
    index = np.arange(count) + 0.5
    radius = np.sqrt(index / count)
    angle = GOLDEN_ANGLE * index
    return np.stack([radius * np.cos(angle), radius * np.sin(angle)], axis=1)

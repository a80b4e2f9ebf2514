"""Lat-long mapping and rotation conventions, and the spread of a soft light's samples, checked against
formulas written here from the spec.

Spec: engine frame Y up; (x, y, z)_engine = (x_b, z_b, -y_b); Blender's Environment Texture reads
u = 0.5 - atan2(y_b, x_b) / (2 pi), and the image's top row looks along Blender's +Z (engine +Y).
An environment light with rotate_deg T has radiance S * L0(R_y(T) d) from engine direction d,
R_y right-handed about +Y.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from engine.io.exr import write_image
from engine.lighting.lights import EnvironmentLight
from engine.lighting.sphere import (
    cone_directions,
    directions_to_latlong,
    disc_points,
    fibonacci_sphere,
    latlong_solid_angles,
    latlong_to_directions,
    rotation_y,
)
from engine.lighting.weights import stage_weights
from support.angles import angles_deg

HDRI_HEIGHT = 32


def random_directions(count: int, seed: int = 0) -> np.ndarray:
    vectors = np.random.default_rng(seed).normal(size=(count, 3))
    return vectors / np.linalg.norm(vectors, axis=1, keepdims=True)


def to_blender(d: np.ndarray) -> np.ndarray:
    """Engine -> Blender frame: inverse of (x, y, z)_e = (x_b, z_b, -y_b)."""
    return np.stack([d[..., 0], -d[..., 2], d[..., 1]], axis=-1)


def blender_pixel_direction(row: int, column: int, height: int, width: int) -> np.ndarray:
    """Engine direction of a lat-long pixel's centre, from Blender's equirectangular formulas."""
    u, v_top = (column + 0.5) / width, (row + 0.5) / height
    phi = (0.5 - u) * 2 * np.pi  # atan2(y_b, x_b)
    theta = v_top * np.pi  # angle from Blender +Z (the top row)
    x_b, y_b, z_b = np.sin(theta) * np.cos(phi), np.sin(theta) * np.sin(phi), np.cos(theta)
    return np.array([x_b, z_b, -y_b])


def axis_rotation(axis: np.ndarray, degrees: float) -> np.ndarray:
    """Right-handed rotation by Rodrigues' formula (independent of the engine's matrices)."""
    k = np.asarray(axis, dtype=np.float64) / np.linalg.norm(axis)
    cross = np.array([[0, -k[2], k[1]], [k[2], 0, -k[0]], [-k[1], k[0], 0]])
    t = np.deg2rad(degrees)
    return np.eye(3) + np.sin(t) * cross + (1 - np.cos(t)) * cross @ cross


def one_pixel_hdri(path: Path, row: int, column: int, value: float = 1000.0) -> Path:
    radiance = np.zeros((HDRI_HEIGHT, 2 * HDRI_HEIGHT, 3), dtype=np.float32)
    radiance[row, column] = value
    write_image(path, radiance, "float")
    return path


def test_top_row_looks_up_and_bottom_row_down() -> None:
    u = np.linspace(0, 1, 9)
    np.testing.assert_allclose(latlong_to_directions(u, 0.0), np.tile([0.0, 1.0, 0.0], (9, 1)), atol=1e-12)
    np.testing.assert_allclose(latlong_to_directions(u, 1.0), np.tile([0.0, -1.0, 0.0], (9, 1)), atol=1e-12)
    # Image centre looks along +X (Blender +X); u = 0.75 along engine +Z (Blender -Y).
    np.testing.assert_allclose(latlong_to_directions(0.5, 0.5), [1.0, 0.0, 0.0], atol=1e-12)
    np.testing.assert_allclose(latlong_to_directions(0.75, 0.5), [0.0, 0.0, 1.0], atol=1e-12)


def test_uv_equals_blender_environment_texture_for_random_directions() -> None:
    d = random_directions(2000)
    u, v = directions_to_latlong(d)
    b = to_blender(d)
    u_blender = 0.5 - np.arctan2(b[:, 1], b[:, 0]) / (2 * np.pi)
    v_top_blender = np.arccos(b[:, 2]) / np.pi
    wrapped = (u - u_blender + 0.5) % 1.0 - 0.5  # u is periodic
    np.testing.assert_allclose(wrapped, 0.0, atol=1e-12)
    np.testing.assert_allclose(v, v_top_blender, atol=1e-12)
    assert np.all((u >= 0) & (u <= 1) & (v >= 0) & (v <= 1))


def test_latlong_roundtrip_and_pixel_centres() -> None:
    d = random_directions(500, seed=1)
    np.testing.assert_allclose(latlong_to_directions(*directions_to_latlong(d)), d, atol=1e-12)
    for row, column in [(0, 0), (5, 17), (31, 63), (16, 40)]:
        u, v = (column + 0.5) / 64, (row + 0.5) / 32
        np.testing.assert_allclose(latlong_to_directions(u, v), blender_pixel_direction(row, column, 32, 64),
                                   atol=1e-12)


@pytest.mark.parametrize("height", [1, 7, 32, 513])
def test_solid_angles_sum_to_4pi_and_match_the_sine_integral(height: int) -> None:
    rows = latlong_solid_angles(height, 2 * height)
    assert rows.shape == (height,)
    assert np.all(rows > 0)
    np.testing.assert_allclose(rows.sum() * 2 * height, 4 * np.pi, rtol=1e-12)
    np.testing.assert_allclose(rows, rows[::-1], rtol=1e-9)  # symmetric about the horizon
    # brute force: integrate sin(theta) dtheta dphi over each row with a fine midpoint rule
    fine = 200
    theta = (np.arange(height * fine) + 0.5) * np.pi / (height * fine)
    brute = (np.sin(theta) * np.pi / (height * fine)).reshape(height, fine).sum(axis=1) * (np.pi / height)
    np.testing.assert_allclose(rows, brute, rtol=1e-4)


def test_rotation_y_is_right_handed_about_plus_y() -> None:
    for degrees in (0.0, 37.0, 90.0, -120.0, 400.0):
        np.testing.assert_allclose(rotation_y(degrees), axis_rotation([0, 1, 0], degrees), atol=1e-12)
    # right-handed about +Y: +Z turns towards +X
    np.testing.assert_allclose(rotation_y(90.0) @ [0, 0, 1], [1, 0, 0], atol=1e-12)


OCTAHEDRON = np.array([[1, 0, 0], [-1, 0, 0], [0, 1, 0], [0, -1, 0], [0, 0, 1], [0, 0, -1]], dtype=np.float64)


@pytest.mark.parametrize(("rotate_deg", "expected"), [(0.0, 0), (90.0, 4), (-90.0, 5), (180.0, 1)])
def test_rotation_sense_on_an_octahedron_stage(tmp_path: Path, rotate_deg: float, expected: int) -> None:
    """A bright pixel just above +X; radiance from d is L0(R_y(T) d), so it lights from R_y(T)^T (+X):
    T = 90 -> +Z, T = -90 -> -Z (the opposite convention would swap these)."""
    hdri = one_pixel_hdri(tmp_path / "dot.exr", HDRI_HEIGHT // 2 - 1, HDRI_HEIGHT)
    weights = stage_weights([EnvironmentLight(hdri, rotate_deg)], OCTAHEDRON, np.ones((6, 3)), "voronoi")
    assert int(np.argmax(weights[:, 0])) == expected
    assert weights[expected, 0] == pytest.approx(weights[:, 0].sum())


@pytest.mark.parametrize("rotate_deg", [37.0, 90.0, -120.0, 200.0])
@pytest.mark.parametrize("method", ["voronoi", "barycentric"])
def test_rotated_bright_pixel_lands_on_stage_light_nearest_rotated_direction(
        tmp_path: Path, rotate_deg: float, method: str) -> None:
    stage = fibonacci_sphere(40)
    rotation = axis_rotation([0, 1, 0], rotate_deg)
    target_light = 11
    # the HDRI pixel whose direction p satisfies R^T p ~ stage[target_light]
    wanted = rotation @ stage[target_light]
    u, v = directions_to_latlong(wanted)
    row, column = int(v * HDRI_HEIGHT), int(u * 2 * HDRI_HEIGHT) % (2 * HDRI_HEIGHT)
    p = blender_pixel_direction(row, column, HDRI_HEIGHT, 2 * HDRI_HEIGHT)
    expected = int(np.argmax(stage @ (rotation.T @ p)))
    wrong_sense = int(np.argmax(stage @ (rotation @ p)))
    assert expected == target_light and wrong_sense != expected  # the test can tell the senses apart

    value, strength = 1000.0, 0.5
    hdri = one_pixel_hdri(tmp_path / "dot.exr", row, column, value)
    light = EnvironmentLight(hdri, rotate_deg, strength)
    weights = stage_weights([light], stage, np.ones((40, 3)), method)
    pixel_energy = value * strength * latlong_solid_angles(HDRI_HEIGHT, 2 * HDRI_HEIGHT)[row]
    np.testing.assert_allclose(weights.sum(axis=0), pixel_energy, rtol=1e-9)
    assert int(np.argmax(weights[:, 1])) == expected
    if method == "voronoi":
        assert weights[expected, 1] == pytest.approx(pixel_energy, rel=1e-9)
    assert weights[wrong_sense, 1] < 0.05 * pixel_energy


def test_cone_and_disc_samples_are_even_by_area() -> None:
    """A soft light's samples: directions in a cone spread evenly by solid angle (the share within 30 degrees of a
    60-degree cone's axis is (1 - cos 30) / (1 - cos 60) = 0.268, not the half an even spread in angle gives), and
    points on a disc evenly by area (a quarter within half the radius)."""
    axis = np.array([0.0, 0.6, 0.8])
    directions = cone_directions(axis, np.radians(60.0), 2000)
    np.testing.assert_allclose(np.linalg.norm(directions, axis=1), 1.0, atol=1e-12)
    angles = angles_deg(directions, axis)
    assert angles.max() <= 60.0
    assert np.mean(angles < 30.0) == pytest.approx((1 - np.cos(np.radians(30))) / (1 - np.cos(np.radians(60))), abs=0.005)
    points = disc_points(2000)
    radius = np.linalg.norm(points, axis=1)
    assert radius.max() <= 1.0 and np.mean(radius < 0.5) == pytest.approx(0.25, abs=0.005)

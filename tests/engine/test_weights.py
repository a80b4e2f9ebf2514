"""Stage-light weights: energy conservation, interpolation between stage lights, light types.

The energy a weighting hands out is sum_l weights[l] * rgb[l] (rgb = irradiance of stage light l),
so every check below is on that product.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import numpy as np
import pytest
from scipy.spatial import ConvexHull

import engine.lighting.weights as weights_module
from engine.demo_scene import procedural_sky
from engine.io.exr import write_image
from engine.lighting.hdri import environment_samples, latlong_irradiance
from engine.lighting.lights import AreaLight, EnvironmentLight, PointLight, SpotLight, SunLight, spot_mask
from engine.lighting.sphere import fibonacci_sphere, rotation_y
from engine.lighting.weights import METHODS, stage_weights

LIGHTS = 40
STAGE = fibonacci_sphere(LIGHTS)
STAGE_RGB = 0.5 + np.random.default_rng(7).random((LIGHTS, 3))  # uneven stage lights
E = np.array([2.0, 3.0, 5.0])  # sun irradiance, W/m^2


def delivered(lights: list, method: str = "barycentric", stage: np.ndarray = STAGE, rgb: np.ndarray = STAGE_RGB,
              exposure_ev: float = 0.0) -> np.ndarray:
    """Irradiance (L, 3) the weights ask of each stage light."""
    return stage_weights(lights, stage, rgb, method, exposure_ev) * rgb


def sun(direction: np.ndarray, rgb: np.ndarray = E, angle_deg: float = 0.0) -> SunLight:
    direction = np.asarray(direction, dtype=np.float64)
    return SunLight(direction / np.linalg.norm(direction), np.asarray(rgb, dtype=np.float64), angle_deg)


def random_directions(count: int, seed: int) -> np.ndarray:
    vectors = np.random.default_rng(seed).normal(size=(count, 3))
    return vectors / np.linalg.norm(vectors, axis=1, keepdims=True)


@pytest.mark.parametrize("method", METHODS)
def test_uniform_hdri_delivers_4pi_times_radiance(tmp_path: Path, method: str) -> None:
    c = np.array([0.2, 0.5, 1.0])
    hdri = tmp_path / "uniform.exr"
    write_image(hdri, np.broadcast_to(c, (16, 32, 3)), "float")
    share = delivered([EnvironmentLight(hdri, rotate_deg=23.0)], method)
    np.testing.assert_allclose(share.sum(axis=0), 4 * np.pi * c, rtol=1e-6)
    # each stage light gets about its share of the sphere (near-uniform stage)
    np.testing.assert_allclose(share[:, 0] / c[0], 4 * np.pi / LIGHTS, rtol=0.35)
    strong = delivered([EnvironmentLight(hdri, rotate_deg=23.0, strength=3.0)], method)
    np.testing.assert_allclose(strong, 3 * share, rtol=1e-9)


@pytest.mark.parametrize("method", METHODS)
def test_sun_energy_is_conserved_in_any_direction(method: str) -> None:
    for direction in random_directions(50, seed=3):
        share = delivered([sun(direction)], method)
        assert np.all(share >= 0)
        np.testing.assert_allclose(share.sum(axis=0), E, rtol=1e-9)


def test_soft_sun_keeps_its_energy() -> None:
    share = delivered([sun([0.3, 0.8, 0.2], angle_deg=20.0)])
    np.testing.assert_allclose(share.sum(axis=0), E, rtol=1e-9)


@pytest.mark.parametrize("method", METHODS)
def test_sun_on_a_stage_light_puts_all_weight_on_it(method: str) -> None:
    for index in (0, 7, 21, LIGHTS - 1):
        share = delivered([sun(STAGE[index])], method)
        np.testing.assert_allclose(share[index], E, rtol=1e-9)
        np.testing.assert_allclose(np.delete(share, index, axis=0), 0.0, atol=1e-9)


def test_sun_between_lights_is_shared_by_the_triangle_corners() -> None:
    hull = ConvexHull(STAGE)
    rng = np.random.default_rng(5)
    for facet in hull.simplices[::7]:
        corners = STAGE[facet]
        bary = rng.dirichlet([2.0, 2.0, 2.0])
        point = bary @ corners  # on the triangle, strictly inside
        share = delivered([sun(point)])
        weights = share / E
        others = np.delete(weights, facet, axis=0)
        np.testing.assert_allclose(others, 0.0, atol=1e-12)
        assert np.all(weights[facet] > 0)
        np.testing.assert_allclose(weights[facet].sum(axis=0), 1.0, rtol=1e-12)
        # central projection keeps barycentric coordinates of the point on the flat triangle
        np.testing.assert_allclose(weights[facet, 0], bary, atol=1e-9)


def test_barycentric_weights_move_continuously_voronoi_jumps() -> None:
    a, b = STAGE[5], STAGE[30]  # far apart: the path crosses several triangles
    angle = np.arccos(np.dot(a, b))
    axis = np.cross(a, b) / np.linalg.norm(np.cross(a, b))
    steps = np.linspace(0, angle, 1500)
    path = [a * np.cos(t) + np.cross(axis, a) * np.sin(t) for t in steps]  # great circle a -> b
    step_deg = np.rad2deg(steps[1] - steps[0])
    for method, limit in (("barycentric", 0.02), ("voronoi", None)):
        weights = np.array([delivered([sun(d)], method)[:, 0] / E[0] for d in path])
        np.testing.assert_allclose(weights.sum(axis=1), 1.0, rtol=1e-9)
        jump = np.abs(np.diff(weights, axis=0)).max()
        if limit is not None:
            assert jump < limit, f"{method}: weights jump by {jump} for a {step_deg:.3f} degree move"
        else:
            assert jump == pytest.approx(1.0)  # snaps from one light to the next
    np.testing.assert_allclose(weights[0, 5], 1.0)
    np.testing.assert_allclose(weights[-1, 30], 1.0)


def test_dome_without_lights_below_hands_light_from_below_to_the_rim() -> None:
    full = fibonacci_sphere(120)
    dome = full[full[:, 1] > 0.15]  # no stage light below 8.6 degrees elevation
    rgb = np.ones((len(dome), 3))
    lowest = dome[:, 1] < np.sort(dome[:, 1])[len(dome) // 3]  # the lowest third of the dome
    for direction in [[0, -1, 0], [0.3, -0.9, 0.1], [1, -0.05, 0], [-0.2, -0.3, -0.9]]:
        share = delivered([sun(direction)], stage=dome, rgb=rgb)
        assert np.all(share >= 0)
        np.testing.assert_allclose(share.sum(axis=0), E, rtol=1e-9)
        assert share[~lowest].sum() == pytest.approx(0.0, abs=1e-12), "light from below went to high lights"
    # a sun just below the rim, under a rim light, lands mostly on that light
    rim = int(np.argmin(dome[:, 1]))
    below = dome[rim] * [1, 0, 1] - np.array([0, 0.1, 0])
    share = delivered([sun(below)], stage=dome, rgb=rgb)
    assert int(np.argmax(share[:, 0])) == rim
    # crossing the rim is continuous
    heights = np.linspace(dome[rim, 1] + 0.05, -0.2, 400)
    horizontal = dome[rim] * [1, 0, 1]
    weights = np.array([delivered([sun(horizontal + [0, h, 0])], stage=dome, rgb=rgb)[:, 0] / E[0] for h in heights])
    assert np.abs(np.diff(weights, axis=0)).max() < 0.05


def test_dome_conserves_a_uniform_environment(tmp_path: Path) -> None:
    full = fibonacci_sphere(120)
    dome = full[full[:, 1] > 0.15]
    hdri = tmp_path / "grey.exr"
    write_image(hdri, np.ones((16, 32, 3)), "float")
    share = delivered([EnvironmentLight(hdri)], stage=dome, rgb=np.ones((len(dome), 3)))
    np.testing.assert_allclose(share.sum(axis=0), 4 * np.pi, rtol=1e-6)
    assert np.all(share >= 0)


def test_voronoi_equals_nearest_stage_light() -> None:
    for direction in random_directions(200, seed=11):
        share = delivered([sun(direction)], "voronoi")
        nearest = int(np.argmax(STAGE @ direction))
        np.testing.assert_allclose(share[nearest], E, rtol=1e-12)
        assert np.count_nonzero(share[:, 0]) == 1


def test_lights_add_up_and_exposure_scales_by_stops() -> None:
    one, two = sun([1, 1, 0]), sun([-0.2, 0.1, 1], rgb=[1.0, 0.5, 0.25])
    both = stage_weights([one, two], STAGE, STAGE_RGB)
    np.testing.assert_allclose(both, stage_weights([one], STAGE, STAGE_RGB) + stage_weights([two], STAGE, STAGE_RGB),
                               rtol=1e-12)
    for ev in (1.0, -2.0, 0.5):
        np.testing.assert_allclose(stage_weights([one, two], STAGE, STAGE_RGB, exposure_ev=ev), both * 2.0**ev,
                                   rtol=1e-12)


@pytest.mark.parametrize("radius", [0.0, 0.05])
def test_point_light_falls_off_with_the_square_of_distance(radius: float) -> None:
    intensity = np.array([4.0, 8.0, 12.0])  # W/sr
    for distance in (1.0, 2.0, 5.0):
        share = delivered([PointLight(STAGE[9] * distance, intensity, radius)])
        np.testing.assert_allclose(share.sum(axis=0), intensity / distance**2, rtol=1e-9)
        if radius == 0.0:
            np.testing.assert_allclose(share[9], intensity / distance**2, rtol=1e-9)


def cycles_spot(cos_angle: float, cone_deg: float, blend: float) -> float:
    """Cycles' spot cone: smoothstep((cos - cos_half) / ((1 - cos_half) * blend)), 0 outside."""
    cos_half = np.cos(np.deg2rad(cone_deg / 2))
    if cos_angle <= cos_half:
        return 0.0
    if blend == 0:
        return 1.0
    t = np.clip((cos_angle - cos_half) / ((1 - cos_half) * blend), 0.0, 1.0)
    return float(t * t * (3 - 2 * t))


def test_spot_mask_inside_outside_and_blend() -> None:
    cone, blend = 40.0, 0.2
    assert spot_mask(np.cos(np.deg2rad(25.0)), cone, blend) == 0.0  # outside the 20 degree half angle
    assert spot_mask(np.cos(np.deg2rad(5.0)), cone, blend) == 1.0  # inside, past the blend zone
    assert spot_mask(1.0, cone, 0.0) == 1.0 and spot_mask(np.cos(np.deg2rad(21.0)), cone, 0.0) == 0.0
    cos_half = np.cos(np.deg2rad(20.0))
    middle = cos_half + 0.5 * (1 - cos_half) * blend
    assert spot_mask(middle, cone, blend) == pytest.approx(0.5)
    angles = np.linspace(0.0, 30.0, 301)
    values = [spot_mask(np.cos(np.deg2rad(a)), cone, blend) for a in angles]
    np.testing.assert_allclose(values, [cycles_spot(np.cos(np.deg2rad(a)), cone, blend) for a in angles], atol=1e-12)
    assert np.all(np.diff(values) <= 1e-15)  # falls off monotonically away from the axis
    assert 0 < values[190] < 1  # 19 degrees lies in the blend zone


def test_spot_light_on_axis_off_axis_and_outside() -> None:
    intensity, distance = np.array([9.0, 9.0, 9.0]), 3.0
    position = STAGE[14] * distance
    aim = -STAGE[14]
    helper = np.cross(aim, [0.0, 1.0, 0.0])
    helper /= np.linalg.norm(helper)

    def tilted(degrees: float) -> np.ndarray:
        t = np.deg2rad(degrees)
        return aim * np.cos(t) + helper * np.sin(t)

    on_axis = delivered([SpotLight(position, aim, intensity, cone_deg=40.0, blend=0.2)])
    np.testing.assert_allclose(on_axis[14], intensity / distance**2, rtol=1e-9)
    outside = delivered([SpotLight(position, tilted(25.0), intensity, cone_deg=40.0, blend=0.2)])
    np.testing.assert_allclose(outside, 0.0, atol=1e-15)
    edge = delivered([SpotLight(position, tilted(19.0), intensity, cone_deg=40.0, blend=0.2)])
    expected = cycles_spot(np.cos(np.deg2rad(19.0)), 40.0, 0.2) * intensity / distance**2
    np.testing.assert_allclose(edge.sum(axis=0), expected, rtol=1e-9)


@pytest.mark.parametrize(("shape", "size", "area"), [("rectangle", (0.1, 0.1), 0.01), ("rectangle", (0.2, 0.05), 0.01),
                                                    ("ellipse", (0.1, 0.1), np.pi * 0.0025)])
def test_small_distant_area_light_matches_L_A_cos_over_r2(shape: str, size: tuple, area: float) -> None:
    radiance, distance = np.array([50.0, 100.0, 150.0]), 5.0
    direction = STAGE[17]
    for tilt in (0.0, 60.0):
        normal = rotation_y(tilt) @ -direction  # faces the origin, turned by ``tilt`` about +Y
        cos_emit = float(np.dot(normal, -direction))
        light = AreaLight(direction * distance, normal, np.array([0.0, 1.0, 0.0]), size, radiance, shape)
        share = delivered([light])
        np.testing.assert_allclose(share.sum(axis=0), radiance * area * cos_emit / distance**2, rtol=2e-3)
        assert share[17, 0] > 0.95 * share[:, 0].sum()  # the light is small: barely spreads
    facing_away = AreaLight(direction * distance, direction, np.array([0.0, 1.0, 0.0]), size, radiance, shape)
    np.testing.assert_allclose(delivered([facing_away]), 0.0, atol=1e-15)


def test_environment_integral_is_kept_per_hdri_rotation_and_stage(tmp_path: Path,
                                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    hdri = tmp_path / "sky.exr"
    write_image(hdri, procedural_sky(64), "float")
    stage, rgb = fibonacci_sphere(40), np.ones((40, 3))
    lights = [EnvironmentLight(hdri, 30.0, 2.0), SunLight(np.array([0.0, 1.0, 0.0]), np.ones(3))]
    cache = tmp_path / "cache"
    fresh = stage_weights(lights, stage, rgb)                                    # no cache folder
    weights_module._ENVIRONMENTS.clear()
    np.testing.assert_array_equal(stage_weights(lights, stage, rgb, cache=cache), fresh)
    assert len(list((cache / "environment").glob("*.npy"))) == 1

    def refuse(*args, **kwargs):
        raise AssertionError("the HDRI was integrated again")

    monkeypatch.setattr(weights_module, "integrate_environment", refuse)
    weights_module._ENVIRONMENTS.clear()                                         # a new process: from disk
    np.testing.assert_array_equal(stage_weights(lights, stage, rgb, cache=cache), fresh)
    np.testing.assert_array_equal(stage_weights(lights, stage, rgb), fresh)      # and from memory
    monkeypatch.undo()
    stored = next((cache / "environment").glob("*.npy"))              # damaged bytes are not trusted
    data = bytearray(stored.read_bytes())
    data[-5] ^= 0x7C
    stored.write_bytes(bytes(data))
    weights_module._ENVIRONMENTS.clear()
    np.testing.assert_array_equal(stage_weights(lights, stage, rgb, cache=cache), fresh)
    rotated = [EnvironmentLight(hdri, 31.0, 2.0)]                               # another rotation: its own entry
    assert not np.allclose(stage_weights(rotated, stage, rgb, cache=cache), stage_weights(lights[:1], stage, rgb))
    write_image(hdri, 2.0 * procedural_sky(64), "float")                         # the HDRI is edited
    os.utime(hdri, ns=(1, 1))
    np.testing.assert_allclose(stage_weights(lights[:1], stage, rgb, cache=cache),
                               2.0 * (fresh - stage_weights(lights[1:], stage, rgb)), rtol=1e-9)


def test_environments_in_memory_are_least_recently_used_first(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setattr(weights_module, "ENVIRONMENTS_IN_MEMORY", 3)
    monkeypatch.setattr(weights_module, "_ENVIRONMENTS", {})
    hdri = tmp_path / "sky.exr"
    write_image(hdri, np.ones((8, 16, 3), np.float32), "float")
    stage = fibonacci_sphere(12)
    integrated = []
    integrate = weights_module.integrate_environment
    monkeypatch.setattr(weights_module, "integrate_environment",
                        lambda *a, **k: integrated.append(a[1]) or integrate(*a, **k))
    for rotation in (0, 10, 20, 0, 30, 0, 20):       # 30 pushes out 10, the least recently used; 20 stays
        weights_module.environment_received(hdri, rotation, stage, "barycentric")
    assert integrated == [0, 10, 20, 30]


def test_a_live_edit_that_leaves_the_world_alone_does_not_integrate_it_again(tmp_path: Path,
                                                                              monkeypatch: pytest.MonkeyPatch) -> None:
    """Live relighting under an HDRI world: an edit of the other lights, the world's strength or the exposure
    reuses the HDRI's integral, and the weights equal those made with nothing kept, bit for bit; a new rotation
    is integrated once."""

    hdri = tmp_path / "sky.exr"
    write_image(hdri, procedural_sky(64), "float")
    stage, rgb = fibonacci_sphere(40), STAGE_RGB
    integrate, integrated = weights_module.integrate_environment, []
    monkeypatch.setattr(weights_module, "_ENVIRONMENTS", {})
    monkeypatch.setattr(weights_module, "integrate_environment", lambda *args: integrated.append(args) or integrate(*args))
    edits = [(30.0, 1.0, 5.0, 0.0), (30.0, 1.0, 7.0, 0.0), (30.0, 0.5, 7.0, 0.0), (30.0, 0.5, 9.0, 1.5),
             (45.0, 0.5, 9.0, 1.5), (45.0, 0.5, 3.0, 1.5)]   # HDRI rotation and strength, point intensity, exposure
    kept_integrations = []
    for rotate_deg, strength, intensity, exposure_ev in edits:
        lights = [EnvironmentLight(hdri, rotate_deg, strength), PointLight(np.array([1.0, 2.0, 2.0]), np.full(3, intensity))]
        before = len(integrated)
        kept = stage_weights(lights, stage, rgb, exposure_ev=exposure_ev)
        kept_integrations.append(len(integrated) - before)
        with monkeypatch.context() as nothing_kept:
            nothing_kept.setattr(weights_module, "_ENVIRONMENTS", {})
            np.testing.assert_array_equal(kept, stage_weights(lights, stage, rgb, exposure_ev=exposure_ev))
    assert kept_integrations == [1, 0, 0, 0, 1, 0]


@pytest.mark.parametrize("replace", ["in place", "by rename"])
def test_an_hdri_rewritten_with_its_old_size_and_time_is_integrated_again(tmp_path: Path, replace: str) -> None:
    """A new version of an HDRI copied over the old one keeping its size and modification time (``cp -p`` writes
    in place, ``rsync -t`` renames a new file over it) is never answered from what was kept of the old one."""

    hdri, new = tmp_path / "sky.pfm", tmp_path / "new.pfm"          # PFM: the same size for any pixels
    write_image(hdri, procedural_sky(32), "float")
    write_image(new, 2.0 * procedural_sky(32)[:, ::-1], "float")
    old = hdri.stat()
    os.utime(new, ns=(old.st_atime_ns, old.st_mtime_ns))
    old_integral = weights_module.environment_received(hdri, 20.0, STAGE, "barycentric")
    if replace == "in place":
        shutil.copy2(new, hdri)
    else:
        shutil.copy2(new, tmp_path / "incoming.pfm")
        os.replace(tmp_path / "incoming.pfm", hdri)
    now = hdri.stat()
    assert (now.st_size, now.st_mtime_ns) == (old.st_size, old.st_mtime_ns)
    new_integral = weights_module.environment_received(new, 20.0, STAGE, "barycentric")
    assert not np.allclose(new_integral, old_integral)
    np.testing.assert_array_equal(weights_module.environment_received(hdri, 20.0, STAGE, "barycentric"), new_integral)


class _Radiance:
    """An in-memory HDRI with the one method integrate_environment reads."""

    def __init__(self, radiance: np.ndarray) -> None:
        self._radiance = radiance

    def irradiance(self) -> np.ndarray:
        return latlong_irradiance(self._radiance)


@pytest.mark.parametrize("method, tolerance", [("barycentric", 2e-4), ("voronoi", 1e-2)])
def test_rotating_the_columns_matches_rotating_the_directions(method: str, tolerance: float) -> None:
    """integrate_environment turns the image's columns; splatting the turned directions is the reference.
    A whole number of columns (45 degrees of 1024) agrees to rounding, a fraction within ``tolerance`` of the
    total received (l1)."""
    radiance, stage = procedural_sky(512), fibonacci_sphere(150)
    for rotation, bound in ((0.0, 1e-8), (-45.0, 1e-8), (33.3, tolerance), (121.7, tolerance), (359.9, tolerance)):
        exact = weights_module.splat_irradiance(environment_samples(radiance, rotation, 1.0), stage, method)
        turned = weights_module.integrate_environment(_Radiance(radiance), rotation, stage, method)
        assert np.abs(turned - exact).sum() / exact.sum() < bound, (rotation, np.abs(turned - exact).sum() / exact.sum())
        np.testing.assert_allclose(turned.sum(axis=0), exact.sum(axis=0), rtol=1e-6)   # light is kept whole


def test_a_new_rotation_does_not_locate_the_pixels_again(monkeypatch: pytest.MonkeyPatch) -> None:
    weights_module.forget_latlong_locations()
    located = []
    locate = weights_module.locate_on_stage
    monkeypatch.setattr(weights_module, "locate_on_stage", lambda *a, **k: located.append(len(a[0])) or locate(*a, **k))
    radiance, stage = procedural_sky(64), fibonacci_sphere(40)
    for rotation in (0.0, 10.0, 77.7):
        weights_module.integrate_environment(_Radiance(radiance), rotation, stage, "barycentric")
    assert located == [1024 * 512]            # once, for the 1024 x 512 grid the 128 x 64 sky is resampled to

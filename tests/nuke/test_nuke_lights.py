"""Nuke lights -> engine lights file: frames, units, falloff, cones, environments, scene traversal.

The rules are in plugin_nuke/relume_nuke/lights.py's docstring. Conversions are checked against
the engine's own light models (``engine.lighting.lights``): the irradiance the engine computes at
the subject for a converted light must be the irradiance Nuke's light model gives there.
"""

from __future__ import annotations

import math
import sys
from pathlib import Path

import numpy as np
import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))

import fake_nuke  # noqa: E402,F401  (puts the fake nuke module on sys.path)
import nuke  # noqa: E402
from engine.lighting.hdri import environment_samples  # noqa: E402
from engine.lighting.lights import PointLight, SpotLight, SunLight, load_lights  # noqa: E402
from fake_nuke.scenes import aim_rotation, hdri_read, make_light, matrix, nuke_session, sky, yaw  # noqa: E402,F401,F811
from relume_host.lights_file import lights_document  # noqa: E402
from relume_nuke import lights, live  # noqa: E402
from relume_nuke.lights import NukeLight, Placement, convert, spot_cone  # noqa: E402


def entries_of(*nodes, placement: Placement = Placement()) -> tuple:
    scene = nuke.nodes.Scene()
    for index, node in enumerate(nodes):
        scene.setInput(index, node)
    return lights.scene_entries(scene, placement)


def test_directional_light_is_a_sun_from_its_plus_z_axis(nuke_session) -> None:
    toward = np.array([0.2, 0.9, -0.4]) / np.linalg.norm([0.2, 0.9, -0.4])
    sun = make_light("DirectLight", matrix(aim_rotation(toward), (5.0, 5.0, 5.0)), intensity=3.0)
    sun["color"].setValue([1.0, 0.5, 0.25])
    (entry,), warnings = entries_of(sun)
    assert warnings == []
    assert entry["type"] == "sun" and entry["angle_deg"] == 0.0
    np.testing.assert_allclose(entry["direction"], toward, atol=1e-12)  # position is irrelevant
    np.testing.assert_allclose(entry["rgb"], [3.0, 1.5, 0.75])


@pytest.mark.parametrize("falloff", ["No Falloff", "Linear", "Quadratic", "Cubic"])
def test_point_light_irradiance_at_the_subject_equals_nukes(nuke_session, falloff: str) -> None:
    """For every falloff the engine's irradiance at the subject (rgb / d_m^2 along the direction to
    the light) is Nuke's color * intensity * falloff(d); positions are relative to the subject and
    scaled to metres."""
    subject, scale, position = (0.5, 1.0, -0.5), 0.1, (3.5, 5.0, 2.5)  # d = 5 Nuke units = 0.5 m
    point = make_light("Light2", matrix(translation=position), intensity=2.0, falloff_type=falloff)
    (entry,), warnings = entries_of(point, placement=Placement(subject, scale))
    d = math.dist(position, subject)
    nuke_irradiance = 2.0 * d ** -{"No Falloff": 0, "Linear": 1, "Quadratic": 2, "Cubic": 3}[falloff]
    samples = PointLight(np.asarray(entry["position"]), np.asarray(entry["rgb"])).samples()
    np.testing.assert_allclose(samples.irradiance.sum(axis=0), [nuke_irradiance] * 3, rtol=1e-12)
    np.testing.assert_allclose(samples.directions[0], np.subtract(position, subject) / d, atol=1e-12)
    np.testing.assert_allclose(entry["position"], np.subtract(position, subject) * scale)
    assert (warnings == []) == (falloff == "Quadratic")
    if falloff == "Quadratic":  # physical: radiant intensity independent of distance
        np.testing.assert_allclose(entry["rgb"], [2.0 * scale**2] * 3)


def test_spot_light_aims_down_minus_z_and_keeps_its_cone(nuke_session) -> None:
    toward_subject = np.array([0.0, -0.6, -0.8])
    spot = make_light("Spotlight", matrix(aim_rotation(-toward_subject), (0.0, 3.0, 4.0)), intensity=4.0,
                      cone_angle=40.0, falloff_type="Quadratic", cone_falloff=2.0)
    (entry,), warnings = entries_of(spot)
    np.testing.assert_allclose(entry["direction"], toward_subject, atol=1e-12)
    assert entry["cone_deg"] == pytest.approx(40.0) and entry["blend"] == 0.0
    assert any("cone_falloff" in w for w in warnings)
    model = SpotLight(np.asarray(entry["position"]), np.asarray(entry["direction"]), np.asarray(entry["rgb"]),
                      entry["cone_deg"], entry["blend"])
    np.testing.assert_allclose(model.samples().irradiance.sum(axis=0), [4.0 / 25.0] * 3)  # on axis: I / d^2, d = 5
    c, s = math.cos(math.radians(25.0)), math.sin(math.radians(25.0))
    tilt_x = np.array([[1.0, 0.0, 0.0], [0.0, c, -s], [0.0, s, c]])  # about X, perpendicular to the aim
    spot["world_matrix"].setValue(matrix(tilt_x @ aim_rotation(-toward_subject), (0.0, 3.0, 4.0)))
    (aside,), _ = entries_of(spot)  # aimed 25 degrees off: outside the 20-degree half cone
    model = SpotLight(np.asarray(aside["position"]), np.asarray(aside["direction"]), np.asarray(aside["rgb"]),
                      aside["cone_deg"], aside["blend"])
    assert model.samples().irradiance.sum() == 0.0


def test_spot_penumbra_widens_or_softens_the_edge() -> None:
    assert spot_cone(40.0, 0.0) == (40.0, 0.0)
    wide, soft = spot_cone(40.0, 10.0)  # fades outward: outer edge 30 deg, inner 20 deg
    assert wide == pytest.approx(60.0)
    assert soft == pytest.approx((math.cos(math.radians(20)) - math.cos(math.radians(30)))
                                 / (1 - math.cos(math.radians(30))))
    narrow, inner_soft = spot_cone(40.0, -10.0)  # fades inward: outer 20, inner 10
    assert narrow == pytest.approx(40.0) and 0.0 < inner_soft < 1.0
    assert spot_cone(180.0, 30.0)[0] == pytest.approx(180.0)  # the engine's cone stops at a hemisphere


def test_light_node_types_and_disabled_lights(nuke_session) -> None:
    point = make_light("Light2", matrix(translation=(0.0, 0.0, 2.0)))
    direct = make_light("Light2", matrix(aim_rotation([1.0, 0.0, 0.0])), light_type="directional")
    spot = make_light("Light2", matrix(aim_rotation([0.0, 0.0, 1.0]), (0.0, 0.0, 2.0)), light_type="spot")
    off = make_light("DirectLight", matrix(), disable=True)
    entries, _ = entries_of(point, direct, spot, off)
    assert [e["type"] for e in entries] == ["point", "sun", "spot"]


def test_scene_traversal_order_parents_and_non_lights(nuke_session) -> None:
    """Lights are found through nested Scenes in input order, each once; a parent Axis (or a light
    used as a parent) is visited but not collected; other classes are not lights."""
    parent = nuke.nodes.Axis2()
    child = make_light("DirectLight", matrix(aim_rotation([0.0, 1.0, 0.0])), name="Child")
    child.setInput(0, parent)
    lamp = make_light("Light2", matrix(translation=(1.0, 0.0, 0.0)), name="Lamp")
    holder = make_light("Light2", matrix(translation=(0.0, 9.0, 0.0)), name="ParentLight")
    lamp.setInput(0, holder)
    inner = nuke.nodes.Scene()
    inner.setInput(0, lamp)
    inner.setInput(1, child)
    outer = nuke.nodes.Scene()
    outer.setInput(0, inner)
    outer.setInput(1, child)  # connected twice: counted once
    outer.setInput(2, nuke.nodes.Dot())
    found, visited = lights.upstream(outer)
    assert [n.name() for n in found] == ["Lamp", "Child"]
    assert {parent.fullName(), holder.fullName()} <= set(visited)


def test_environment_light_uses_its_map_read_and_yaw(nuke_session, sky: Path) -> None:
    env = make_light("Environment", matrix(yaw(30.0)), intensity=2.0)
    env["color"].setValue([0.5, 1.0, 1.5])
    env.setInput(0, hdri_read(sky))
    (entry,), warnings = entries_of(env)
    assert entry == {"type": "environment", "hdri": str(sky), "rotate_deg": pytest.approx(-120.0),
                     "strength": pytest.approx(2.0)}
    assert any("tint" in w for w in warnings)
    env["world_matrix"].setValue(matrix(aim_rotation([0.0, 0.5, 1.0])))
    _, warnings = entries_of(env)
    assert any("tilt" in w for w in warnings)
    env.setInput(0, None)
    assert entries_of(env) == ([], [f"{env.name()}: Environment map input must be a Read of a lat-long HDRI; skipped"])


def test_environment_convention_puts_nukes_centre_at_minus_z() -> None:
    """The documented assumption, checked through the engine's own HDRI sampling: the centre of a
    lat-long (u = 0.5) lights the subject from -Z for an unrotated Environment light, and from
    R_y(yaw) (-Z) when the light is rotated by ``yaw`` about Y."""
    radiance = np.zeros((64, 128, 3))
    radiance[30:34, 62:66] = 100.0  # a bright patch at the image centre
    for yaw_deg in (0.0, 90.0, -45.0):
        light = NukeLight("Env", "environment", tuple(matrix(yaw(yaw_deg))), hdri="x.exr")
        entry, _ = convert(light, Placement())
        samples = environment_samples(radiance, entry["rotate_deg"], 1.0)
        centroid = samples.irradiance[:, :1].T @ samples.directions
        np.testing.assert_allclose(centroid[0] / np.linalg.norm(centroid), yaw(yaw_deg) @ [0.0, 0.0, -1.0], atol=1e-3)


def test_gizmo_env_input_follows_the_engine_convention(nuke_session, sky: Path) -> None:
    entry, warnings = lights.environment_entry(hdri_read(sky), 30.0, 0.5)
    assert entry == {"type": "environment", "hdri": str(sky), "rotate_deg": 30.0, "strength": 0.5} and not warnings
    assert lights.environment_entry(None, 0.0, 1.0) == (None, [])


def test_written_lights_file_loads_in_the_engine(nuke_session, tmp_path: Path) -> None:
    """The adapter writes relume_host's lights file (no YAML library in Nuke); the engine's YAML loader reads it."""
    sun = make_light("DirectLight", matrix(aim_rotation([0.0, 0.0, 1.0])), intensity=1.5)
    point = make_light("Light2", matrix(translation=(0.0, 2.0, 0.0)), falloff_type="Quadratic")
    entries, _ = entries_of(sun, point)
    path = live.write_lights_file(lights_document(entries), str(tmp_path / "shot.lights.yaml"))
    loaded = load_lights(path)
    assert isinstance(loaded[0], SunLight) and isinstance(loaded[1], PointLight)
    np.testing.assert_allclose(loaded[0].direction, [0.0, 0.0, 1.0], atol=1e-12)
    assert live.write_lights_file(lights_document(entries)) == live.write_lights_file(lights_document(list(entries)))  # content-named, reused


def test_negative_or_degenerate_lights_are_skipped_with_a_reason(nuke_session) -> None:
    dark = make_light("DirectLight", matrix(), intensity=-1.0, name="Dark")
    inside = make_light("Light2", matrix(), name="Inside")  # at the subject's position
    entries, warnings = entries_of(dark, inside)
    assert entries == []
    assert warnings == ["Dark: negative colour or intensity skipped", "Inside: light sits on the subject position; skipped"]

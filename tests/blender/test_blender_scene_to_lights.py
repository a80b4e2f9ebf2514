"""The Blender add-on's host-independent core, without Blender: frames, units, world mapping, problems.

The core is loaded as its own package (``relume_core``) straight from ``plugin_blender/core``, which
also proves it needs neither ``bpy`` nor the engine. The units themselves are measured against
Cycles in test_blender_extension.py.
"""

from __future__ import annotations

import ast
import json
import math
from pathlib import Path

import numpy as np
import pytest
import yaml

from engine.lighting.lights import lights_from_dicts
from relume_host.lights_file import lights_document, lights_text
from support.blender_core import core_module

REPO = Path(__file__).resolve().parents[2]
PLUGIN = REPO / "plugin_blender"


convert = core_module("scene_to_lights")
BlenderLight, BlenderWorld = convert.BlenderLight, convert.BlenderWorld


def matrix(rotation_z_deg: float = 0.0, location=(0.0, 0.0, 0.0), scale=(1.0, 1.0, 1.0), rotation_x_deg: float = 0.0):
    """Blender matrix_world (row-major 4x4) of R_z @ R_x @ S plus translation."""
    cz, sz = math.cos(math.radians(rotation_z_deg)), math.sin(math.radians(rotation_z_deg))
    cx, sx = math.cos(math.radians(rotation_x_deg)), math.sin(math.radians(rotation_x_deg))
    rz = np.array([[cz, -sz, 0], [sz, cz, 0], [0, 0, 1]])
    rx = np.array([[1, 0, 0], [0, cx, -sx], [0, sx, cx]])
    m = np.eye(4)
    m[:3, :3] = rz @ rx @ np.diag(scale)
    m[:3, 3] = location
    return m.tolist()


def aim_matrix(location, target, scale=(1.0, 1.0, 1.0)):
    """A light at ``location`` whose local -Z points at ``target`` (Blender frame)."""
    forward = np.asarray(target, float) - np.asarray(location, float)
    z = -forward / np.linalg.norm(forward)
    helper = np.array([0.0, 0.0, 1.0]) if abs(z[2]) < 0.9 else np.array([1.0, 0.0, 0.0])
    x = np.cross(helper, z)
    x /= np.linalg.norm(x)
    y = np.cross(z, x)
    m = np.eye(4)
    m[:3, :3] = np.stack([x, y, z], axis=1) @ np.diag(scale)
    m[:3, 3] = location
    return m.tolist()


IDENTITY = matrix()


def one(light, subject=IDENTITY):
    return convert.scene_to_lights([light], None, subject).lights[0]


def test_blender_z_up_becomes_engine_y_up():
    sun = one(BlenderLight("key", "SUN", matrix(), energy=3.0))  # shines down: the sun is above
    assert sun["direction"] == [0.0, 1.0, 0.0] and sun["rgb"] == [3.0, 3.0, 3.0]
    point = one(BlenderLight("p", "POINT", matrix(location=(1.0, -2.0, 3.0))))
    assert point["position"] == [1.0, 3.0, 2.0]  # (x_b, z_b, -y_b): in front of the subject is +Z


def test_positions_are_taken_in_the_subjects_frame_without_its_scale():
    subject = matrix(rotation_z_deg=90.0, location=(5.0, 1.0, 2.0), scale=(3.0, 3.0, 3.0))
    # 2 m along the subject's local -Y (its front) and 1 m above it, in world space:
    front = np.array(subject)[:3, :3] @ np.array([0.0, -1.0, 0.0]) / 3.0
    location = np.array([5.0, 1.0, 2.0]) + 2.0 * front + [0.0, 0.0, 1.0]
    point = one(BlenderLight("p", "POINT", matrix(location=tuple(location))), subject)
    np.testing.assert_allclose(point["position"], [0.0, 1.0, 2.0], atol=1e-9)


def test_point_and_spot_intensity_follow_cycles_power_units():
    light = BlenderLight("p", "POINT", matrix(location=(0.0, -3.0, 0.0)), color=(1.0, 0.5, 0.25), energy=100.0,
                         exposure=1.0, radius=0.1)
    point = one(light)
    np.testing.assert_allclose(point["rgb"], np.array([1.0, 0.5, 0.25]) * 200.0 / (4.0 * math.pi), rtol=1e-8)
    assert point["radius"] == 0.1
    unnormalized = one(BlenderLight("p", "POINT", matrix(location=(0.0, -3.0, 0.0)), energy=100.0, radius=0.2,
                                    normalize=False))
    np.testing.assert_allclose(unnormalized["rgb"], [100.0 * 0.04] * 3, rtol=1e-8)
    spot = one(BlenderLight("s", "SPOT", aim_matrix((0.0, -3.0, 3.0), (0.0, 0.0, 0.0)), energy=100.0,
                            spot_size=math.radians(40.0), spot_blend=0.3))
    np.testing.assert_allclose(spot["rgb"], [100.0 / (4.0 * math.pi)] * 3, rtol=1e-8)
    np.testing.assert_allclose(spot["direction"], np.array([0.0, -1.0, -1.0]) / math.sqrt(2.0), atol=1e-9)
    assert spot["cone_deg"] == pytest.approx(40.0) and spot["blend"] == 0.3


def test_area_radiance_includes_object_scale_and_shape():
    location = (0.0, -2.0, 1.0)
    rect = one(BlenderLight("a", "AREA", aim_matrix(location, (0, 0, 0), scale=(2.0, 3.0, 1.0)), energy=50.0,
                            shape="RECTANGLE", size=0.5, size_y=0.25))
    assert rect["size"] == [1.0, 0.75] and rect["shape"] == "rectangle"
    np.testing.assert_allclose(rect["rgb"], [50.0 / (math.pi * 0.75)] * 3, rtol=1e-8)
    np.testing.assert_allclose(rect["direction"], -np.array(rect["position"]) / np.linalg.norm(rect["position"]),
                               atol=1e-9)  # it faces the subject
    disk = one(BlenderLight("d", "AREA", aim_matrix(location, (0, 0, 0)), energy=50.0, shape="DISK", size=0.5))
    assert disk["shape"] == "ellipse" and disk["size"] == [0.5, 0.5]
    np.testing.assert_allclose(disk["rgb"], [50.0 / (math.pi * math.pi * 0.0625)] * 3, rtol=1e-8)
    raw = one(BlenderLight("r", "AREA", aim_matrix(location, (0, 0, 0)), energy=50.0, normalize=False))
    np.testing.assert_allclose(raw["rgb"], [50.0 / math.pi] * 3, rtol=1e-8)


def test_sun_angle_and_unnormalized_sun():
    sun = one(BlenderLight("s", "SUN", matrix(), energy=2.0, angle=math.radians(10.0), normalize=False))
    assert sun["angle_deg"] == pytest.approx(10.0)
    np.testing.assert_allclose(sun["rgb"], [2.0 * 2 * math.pi * (1 - math.cos(math.radians(5.0)))] * 3, rtol=1e-8)


def test_world_rotation_adds_the_subjects_yaw():
    world = BlenderWorld(hdri="/sky.exr", strength=0.5, rotation=(0.0, 0.0, math.radians(30.0)))
    env = convert.scene_to_lights([], world, matrix(rotation_z_deg=15.0, location=(4.0, 4.0, 0.0))).lights[0]
    assert env == {"type": "environment", "hdri": "/sky.exr", "rotate_deg": pytest.approx(45.0), "strength": 0.5}
    texture = BlenderWorld(hdri="/sky.exr", mapping_type="TEXTURE", rotation=(0.0, 0.0, math.radians(30.0)))
    assert convert.scene_to_lights([], texture, IDENTITY).lights[0]["rotate_deg"] == pytest.approx(-30.0)


def test_dark_world_adds_nothing_and_an_empty_scene_is_reported():
    with pytest.raises(convert.UnsupportedScene, match="nothing lights the scene"):
        convert.scene_to_lights([], BlenderWorld(hdri="/sky.exr", strength=0.0), IDENTITY)
    with pytest.raises(convert.UnsupportedScene, match="nothing lights the scene"):
        convert.scene_to_lights([], None, IDENTITY)


def test_every_problem_is_named_at_once():
    lights = [
        BlenderLight("square", "SPOT", aim_matrix((0, -3, 0), (0, 0, 0)), square_spot=True),
        BlenderLight("narrow", "AREA", aim_matrix((0, -3, 0), (0, 0, 0)), spread=math.radians(30.0)),
        BlenderLight("noded", "POINT", matrix(location=(0, -3, 0)), uses_nodes=True),
        BlenderLight("odd", "POINT", matrix(location=(0, -3, 0)), normalize=False, radius=0.0),
    ]
    world = BlenderWorld(hdri="/sky.exr", rotation=(math.radians(10.0), 0.0, 0.0))
    with pytest.raises(convert.UnsupportedScene) as caught:
        convert.scene_to_lights(lights, world, matrix(rotation_x_deg=20.0), emitters=["Neon"])
    text = str(caught.value)
    for expected in ("object 'Neon': emissive materials", "light 'square' (SPOT): square spots",
                     "light 'narrow' (AREA): Spread below 180", "light 'noded' (POINT): light node trees",
                     "light 'odd' (POINT): Normalize is off with radius 0", "world: the Mapping node may rotate about Z",
                     "subject: it is tilted"):
        assert expected in text
    assert len(caught.value.problems) == 7


def test_near_lights_warn_and_a_light_at_the_origin_is_a_problem():
    result = convert.scene_to_lights([BlenderLight("close", "POINT", matrix(location=(0.0, -0.5, 0.0)))], None, IDENTITY)
    assert "0.50 m from the subject" in result.warnings[0]
    with pytest.raises(convert.UnsupportedScene, match="sits at the subject's origin"):
        convert.scene_to_lights([BlenderLight("inside", "POINT", IDENTITY)], None, IDENTITY)


def test_lights_file_round_trips_through_the_engine():
    lights = [
        BlenderLight("s", "SUN", matrix(rotation_x_deg=30.0), energy=1e-5, angle=0.01),
        BlenderLight("p", "POINT", matrix(location=(1.0, -2.0, 1.5)), energy=1e20),
        BlenderLight("a", "AREA", aim_matrix((2.0, -2.0, 1.0), (0, 0, 0)), shape="ELLIPSE", size=0.3, size_y=0.1),
    ]
    world = BlenderWorld(hdri='/odd "name"/sky.exr', rotation=(0.0, 0.0, 1.0))
    entries = convert.scene_to_lights(lights, world, IDENTITY).lights
    text = lights_text(lights_document(entries), "made by a test\nsecond line")
    assert yaml.safe_load(text) == {"lights": entries}
    assert json.loads(json.dumps(entries)) == entries  # what the service receives
    built = lights_from_dicts([e for e in entries if e["type"] != "environment"], "test")
    assert [type(light).__name__ for light in built] == ["SunLight", "PointLight", "AreaLight"]


def _imported_modules(path: Path) -> set[str]:
    tree = ast.parse(path.read_text())
    names = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0:
            names.add(node.module.split(".")[0])
    return names


def test_the_add_on_imports_no_engine_torch_or_pixel_libraries():
    """Nothing beyond what Blender ships; numpy (bundled with Blender) only where the performer rig's mesh,
    shape keys and keys are built, as io_scene_gltf2 builds meshes: never on the relight path (no pixel math)."""
    sources = sorted(PLUGIN.rglob("*.py"))
    assert len(sources) >= 10
    imported = set().union(*(_imported_modules(path) for path in sources))
    assert not imported & {"engine", "torch", "scipy", "OpenImageIO", "cv2", "yaml"}
    with_numpy = sorted(path.relative_to(PLUGIN).as_posix() for path in sources if "numpy" in _imported_modules(path))
    assert with_numpy == ["performer/rig_mesh.py"]
    core = set().union(*(_imported_modules(path) for path in (PLUGIN / "core").rglob("*.py")))
    assert not core & {"bpy", "mathutils", "bpy_extras"}

"""Lights files and stage calibrations written the other ways an artist or a tool may write them."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import yaml

from engine.demo_scene import procedural_sky
from engine.errors import InputError
from engine.io.exr import write_image
from engine.lighting.lights import LIGHT_CLASSES, EnvironmentLight, SunLight, light_from_dict, load_lights
from engine.lighting.sphere import fibonacci_sphere
from engine.lighting.weights import stage_weights
from engine.stage.capture import Capture, write_capture_yaml
from support.sample_lights import LIGHTS


def _write(path: Path, data: object) -> Path:
    path.write_text(yaml.safe_dump(data))
    return path


def test_one_light_mapping_equals_a_list_of_one(tmp_path: Path) -> None:
    sun = {"type": "sun", "direction": [0.2, 0.9, 0.4], "rgb": [2.0, 1.5, 1.0]}
    alone = load_lights(_write(tmp_path / "alone.yaml", sun))
    listed = load_lights(_write(tmp_path / "listed.yaml", {"lights": [sun]}))
    assert isinstance(alone[0], SunLight)
    np.testing.assert_array_equal(alone[0].direction, listed[0].direction)
    np.testing.assert_array_equal(alone[0].rgb, listed[0].rgb)


def test_grey_rgb_number_is_three_equal_channels(tmp_path: Path) -> None:
    lights = load_lights(_write(tmp_path / "grey.yaml", [{"type": "sun", "direction": [0, 1, 0], "rgb": 2.5}]))
    np.testing.assert_array_equal(lights[0].rgb, [2.5, 2.5, 2.5])
    write_capture_yaml(tmp_path / "capture", [1], fibonacci_sphere(6), np.ones((6, 3)))
    calibration = yaml.safe_load((tmp_path / "capture" / "capture.yaml").read_text())
    calibration["lights"][2]["rgb"] = 0.5
    _write(tmp_path / "capture" / "capture.yaml", calibration)
    np.testing.assert_array_equal(Capture.load(tmp_path / "capture").rgb[2], [0.5, 0.5, 0.5])


@pytest.mark.parametrize("where", ["beside_lights_file", "working_folder"])
def test_relative_hdri_found_beside_the_file_then_in_the_working_folder(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, where: str) -> None:
    lights_dir, work_dir = tmp_path / "lights", tmp_path / "work"
    lights_dir.mkdir()
    work_dir.mkdir()
    write_image((lights_dir if where == "beside_lights_file" else work_dir) / "sky.exr", procedural_sky(32), "float")
    monkeypatch.chdir(work_dir)
    lights = load_lights(_write(lights_dir / "env.yaml", [{"type": "environment", "hdri": "sky.exr"}]))
    assert isinstance(lights[0], EnvironmentLight) and lights[0].hdri.is_file()
    weights = stage_weights(lights, fibonacci_sphere(20), np.ones((20, 3)))
    assert weights.sum() > 0




@pytest.mark.parametrize("entry", LIGHTS, ids=[e["type"] for e in LIGHTS])
def test_every_light_type_round_trips_through_its_dict(entry: dict, tmp_path: Path) -> None:
    """One class per type (the registry LIGHT_CLASSES): from_dict(to_dict(light)) is the same light."""
    light = light_from_dict(entry, "test", tmp_path)
    assert type(light) is LIGHT_CLASSES[entry["type"]]
    again = light_from_dict(light.to_dict(), "test", tmp_path)
    assert again.to_dict().keys() == light.to_dict().keys()
    first, second = light.samples(), again.samples()     # a unit direction re-normalised moves by 1 ulp at most
    np.testing.assert_allclose(first.directions, second.directions, rtol=0, atol=1e-15)
    np.testing.assert_allclose(first.irradiance, second.irradiance, rtol=1e-14)


def test_environment_round_trips_and_unknown_types_name_the_known_ones(tmp_path: Path) -> None:
    hdri = tmp_path / "sky.exr"
    write_image(hdri, np.ones((8, 16, 3), np.float32), "float")
    light = light_from_dict({"type": "environment", "hdri": "sky.exr", "rotate_deg": 30}, "test", tmp_path)
    assert light_from_dict(light.to_dict(), "test", tmp_path) == light
    with pytest.raises(InputError, match=r"test \(laser\): unknown light type 'laser' \(known: environment, sun, "
                                         r"point, spot, area\)"):
        light_from_dict({"type": "laser"}, "test", tmp_path)

"""Ground truth: a Suzanne OLAT capture rendered by Cycles, relit by the engine's CLI, against
Cycles rendering the same scene under the same HDRI (rotated too) or sun.

Bounds. The PSNR floor is set by three things: stage sampling (96 lights over the sphere, about
0.13 sr each, so detail in the lighting finer than a stage cell is lost), Monte Carlo noise
(32 samples per OLAT image, 256 for the truth) and alpha edges. With 150 lights and 64 samples
we measured 42-43.5 dB under HDRIs and 39 dB under a 2-degree sun between stage lights; the
bounds below leave about 3-4 dB of margin for the smaller stage used in CI. The wrong rotation
sense scores 18-34 dB, so the HDRI bounds do pin the mapping and rotation conventions.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import yaml

from engine.lighting.sphere import fibonacci_sphere
from engine.lighting.weights import triangulation_for
from engine.stage.capture import Capture, write_capture_yaml
from tests.support.blender_render import blender_hdri, psnr, read_rgba, render

pytestmark = [pytest.mark.blender, pytest.mark.slow]

LIGHT_COUNT = 96
SIZE = 64
HDRI_BOUND_DB = 37.0
SUN_BOUND_DB = 32.0
VORONOI_SLACK_DB = 0.5


def _sun_between_lights(directions: np.ndarray) -> list[float]:
    """A direction at the centre of one of the stage dome's triangles (the hardest place)."""
    triangulation = triangulation_for(directions)
    facet = triangulation.facets[len(triangulation.facets) // 3]
    centre = directions[facet].mean(axis=0)
    return (centre / np.linalg.norm(centre)).tolist()


LIGHTINGS = {
    "forest": [{"type": "environment", "hdri": "forest.exr", "rotate_deg": 0.0, "strength": 1.0}],
    "forest_rotated": [{"type": "environment", "hdri": "forest.exr", "rotate_deg": 75.0, "strength": 1.0}],
    "city_rotated": [{"type": "environment", "hdri": "city.exr", "rotate_deg": 200.0, "strength": 0.7}],
    "sun": [{"type": "sun", "direction": None, "rgb": [3.0, 2.8, 2.5], "angle_deg": 2.0}],
}


@pytest.fixture(scope="module")
def cycles_scene(tmp_path_factory: pytest.TempPathFactory) -> tuple[Capture, dict[str, Path], dict[str, Path]]:
    """(capture, lights files, Cycles truths) rendered once for the module."""
    work = tmp_path_factory.mktemp("cycles")
    directions = fibonacci_sphere(LIGHT_COUNT)
    write_capture_yaml(work / "capture", [1001], directions, np.ones((LIGHT_COUNT, 3)))
    capture = Capture.load(work / "capture")
    olat = [{"out": str(capture.olat_path(i, 1001)), "suns": [{"direction": directions[i].tolist(), "rgb": [1, 1, 1]}]}
            for i in range(LIGHT_COUNT)]
    render({"size": SIZE, "samples": 32, "renders": olat}, work)
    lights_files, truths, truth_renders = {}, {}, []
    for name, lights in LIGHTINGS.items():
        lights = [dict(light) for light in lights]
        for light in lights:
            if light["type"] == "environment":
                light["hdri"] = str(blender_hdri(light["hdri"]))
            else:
                light["direction"] = _sun_between_lights(directions)
        lights_files[name] = work / f"{name}.yaml"
        lights_files[name].write_text(yaml.safe_dump({"lights": lights}))
        truths[name] = work / f"truth_{name}.exr"
        light = lights[0]
        truth_renders.append({"out": str(truths[name]), **(
            {"hdri": light["hdri"], "rotate_deg": light["rotate_deg"], "strength": light["strength"]}
            if light["type"] == "environment" else {"suns": [light]})})
    render({"size": SIZE, "samples": 256, "renders": truth_renders}, work)
    return capture, lights_files, truths


def _relight_cli(capture: Capture, lights_file: Path, out_dir: Path, method: str) -> np.ndarray:
    pattern = out_dir / method / "frame.####.exr"
    subprocess.run([sys.executable, "-m", "engine", "-q", "relight", str(capture.folder), "--lights", str(lights_file),
                    "--out", str(pattern), "--method", method], check=True)
    return read_rgba(out_dir / method / "frame.1001.exr")


@pytest.mark.parametrize("lighting", list(LIGHTINGS))
def test_relit_capture_matches_cycles(cycles_scene, lighting: str, tmp_path: Path) -> None:
    capture, lights_files, truths = cycles_scene
    truth = read_rgba(truths[lighting])
    relit = _relight_cli(capture, lights_files[lighting], tmp_path, "barycentric")
    voronoi = _relight_cli(capture, lights_files[lighting], tmp_path, "voronoi")
    ours, plain = psnr(relit, truth), psnr(voronoi, truth)
    print(f"{lighting}: barycentric {ours:.2f} dB, voronoi {plain:.2f} dB")
    bound = SUN_BOUND_DB if lighting == "sun" else HDRI_BOUND_DB
    assert ours >= bound, f"{lighting}: {ours:.2f} dB < {bound} dB"
    assert ours >= plain - VORONOI_SLACK_DB
    assert np.abs(relit[..., 3] - truth[..., 3]).mean() < 0.01  # alpha carried through


def test_wrong_rotation_sense_is_detected(cycles_scene, tmp_path: Path) -> None:
    """Turning the HDRI the other way must score far lower: the test pins the convention."""
    capture, lights_files, truths = cycles_scene
    lights = yaml.safe_load(lights_files["forest_rotated"].read_text())
    lights["lights"][0]["rotate_deg"] *= -1
    mirrored = tmp_path / "mirrored.yaml"
    mirrored.write_text(yaml.safe_dump(lights))
    truth = read_rgba(truths["forest_rotated"])
    right = psnr(_relight_cli(capture, lights_files["forest_rotated"], tmp_path / "right", "barycentric"), truth)
    wrong = psnr(_relight_cli(capture, mirrored, tmp_path / "wrong", "barycentric"), truth)
    assert right - wrong > 10.0, (right, wrong)

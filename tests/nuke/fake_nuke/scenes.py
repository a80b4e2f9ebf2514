"""Fixtures and builders shared by the tests/nuke/test_nuke_*.py files.

Test modules import the fixtures they use (``from fake_nuke.scenes import nuke_session``);
pytest picks up fixtures imported into a test module.
"""

from __future__ import annotations

import math
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np
import pytest

import fake_nuke
import nuke
from engine.demo import make_sphere_capture
from engine.demo_scene import procedural_sky
from engine.io.exr import read_image, write_image

STAGE_LIGHTS = 40
STAGE_SIZE = 64
FRAME = 1001


@pytest.fixture
def nuke_session(monkeypatch: pytest.MonkeyPatch, tmp_path: Path):
    """A fresh fake Nuke (terminal mode) whose engine is this test run's Python; temp files of the
    adapter (lights files, previews) go under the test's tmp_path."""
    monkeypatch.setenv("RELUME_ENGINE_PYTHON", sys.executable)
    scratch = tmp_path / "scratch"
    scratch.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(scratch))
    fake_nuke.reset()
    yield nuke
    from relume_nuke import live

    live.QUEUE.wait()


@pytest.fixture(scope="module")
def stage_capture(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The demo's spheres as a 40-light, 64 px, one-frame (1001) capture; never modify it."""
    folder = tmp_path_factory.mktemp("stage") / "capture"
    make_sphere_capture(folder, light_count=STAGE_LIGHTS, size=STAGE_SIZE, progress=False)
    return folder


@pytest.fixture(scope="module")
def sky(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A 256 x 128 procedural sky HDRI (EXR, float)."""
    path = tmp_path_factory.mktemp("hdri") / "sky.exr"
    write_image(path, procedural_sky(128), "float")
    return path


def matrix(rotation: np.ndarray = np.eye(3), translation=(0.0, 0.0, 0.0)) -> list:
    """A world_matrix knob value: 16 floats row-major, translation in elements 3, 7, 11."""
    m = np.eye(4)
    m[:3, :3], m[:3, 3] = rotation, translation
    return [float(v) for v in m.reshape(-1)]


def aim_rotation(z_axis) -> np.ndarray:
    """A rotation whose local +Z axis points along ``z_axis`` (Nuke lights shine down local -Z)."""
    z = np.asarray(z_axis, dtype=float) / np.linalg.norm(z_axis)
    helper = np.array([0.0, 1.0, 0.0]) if abs(z[1]) < 0.9 else np.array([1.0, 0.0, 0.0])
    x = np.cross(helper, z)
    x /= np.linalg.norm(x)
    return np.stack([x, np.cross(z, x), z], axis=1)


def yaw(degrees: float) -> np.ndarray:
    """Right-handed rotation about +Y (what an Axis with rotate.y = degrees applies)."""
    c, s = math.cos(math.radians(degrees)), math.sin(math.radians(degrees))
    return np.array([[c, 0.0, s], [0.0, 1.0, 0.0], [-s, 0.0, c]])


def make_light(node_class: str, world: list, **knobs):
    """A fake classic-3D light node with its world_matrix and other knobs set."""
    node = getattr(nuke.nodes, node_class)(**knobs)
    node["world_matrix"].setValue(world)
    return node


def hdri_read(path: Path):
    """A Read of an HDRI file (what an artist connects to the env input or an Environment map)."""
    read = nuke.nodes.Read()
    read["file"].setValue(str(path))
    return read


def relight_node(capture: Path):
    """A Relume_Relight gizmo whose capture the artist chose in its panel (the engine describes it, the
    graph is built)."""
    gizmo = nuke.createNode("Relume_Relight")
    gizmo.showControlPanel()
    nuke.user_changes(gizmo["capture"], str(capture / "capture.yaml"))
    return gizmo


def cli_relight(capture: Path, lights_file: str, out: Path, frames: str = f"{FRAME}-{FRAME}",
                exposure: float = 0.0) -> Path:
    """``python -m engine relight`` in a real child process; returns the output pattern's folder."""
    pattern = out / "cli.####.exr"
    result = subprocess.run([sys.executable, "-m", "engine", "-q", "relight", str(capture), "--lights", lights_file,
                             "--out", str(pattern), "--frames", frames, "--exposure", str(exposure)],
                            capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr
    return out


def rgba(path: Path) -> np.ndarray:
    """An EXR as (H, W, 4) float32 (alpha 1 when the file has none)."""
    image = read_image(path)
    alpha = image.alpha if image.alpha is not None else np.ones(image.shape, np.float32)
    return np.concatenate([image.rgb, alpha[..., None]], axis=2).astype(np.float32)


def assert_half_close(actual: np.ndarray, expected: np.ndarray) -> None:
    """Equal within half-float rounding of the engine's EXR (11-bit mantissa, plus a tiny floor)."""
    tolerance = np.abs(expected) * 2.0 ** -10 + 1e-5
    worst = float(np.max(np.abs(actual - expected) - tolerance))
    assert worst <= 0.0, f"differs by {worst:.3g} beyond half-float tolerance (peak {np.abs(expected).max():.3g})"

"""The light-stage panel, rendered offscreen with PySide6 (Nuke 16's binding); optionally with
PySide2 (Nuke 13-15) when RELUME_PYSIDE2_PYTHON names a Python that has it.

The screenshot test builds a real scene through the fake ``nuke`` (sky HDRI on the env input plus a
warm key light), lets the engine compute the weights and the HDRI preview, and grabs the panel.
With RELUME_UPDATE_DOCS_IMAGES=1 it also refreshes docs/images/nuke_panel.png for the README.
"""

from __future__ import annotations

import json
import math
import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
sys.path.insert(0, str(Path(__file__).resolve().parent))

import fake_nuke  # noqa: E402
import nuke  # noqa: E402
from engine.lighting.sphere import directions_to_latlong, rotation_y  # noqa: E402
from fake_nuke.scenes import (  # noqa: E402,F401,F811
    aim_rotation,
    hdri_read,
    make_light,
    matrix,
    nuke_session,
    relight_node,
    sky,
    stage_capture,
)
from relume_nuke import panel  # noqa: E402
from relume_nuke.qt import QtCore, QtGui, QtWidgets  # noqa: E402

DOCS_IMAGE = fake_nuke.REPO / "docs" / "images" / "nuke_panel.png"
PANEL_SIZE = (640, 760)


@pytest.fixture(scope="module")
def qt_app():
    return QtWidgets.QApplication.instance() or QtWidgets.QApplication([])


def test_panel_geometry_matches_the_engine_mapping() -> None:
    rng = np.random.default_rng(3)
    for direction in rng.normal(size=(20, 3)):
        d = direction / np.linalg.norm(direction)
        for degrees in (0.0, 30.0, -75.0):
            rotated = panel.rotate_y(tuple(d), degrees)
            np.testing.assert_allclose(rotated, rotation_y(degrees) @ d, atol=1e-12)
            u, v = directions_to_latlong(np.asarray(rotated))
            assert panel.latlong_uv(rotated) == pytest.approx((float(u), float(v)), abs=1e-12)


def test_dome_projection_front_and_back(qt_app) -> None:
    dome = panel.DomeView()
    dome.resize(600, 300)
    radius, front, back = dome.radius(), dome.centre(True), dome.centre(False)
    assert dome.project((0.0, 0.0, 1.0)) == front and dome.project((0.0, 0.0, -1.0)) == back
    assert dome.project((1.0, 0.0, 0.0)) == QtCore.QPointF(front.x() + radius, front.y())  # camera's right
    assert dome.project((0.0, 1.0, -0.5)).y() == back.y() - radius  # up is up in both views
    behind_right = dome.project((0.6, 0.0, -0.8))
    assert behind_right.x() == pytest.approx(back.x() - 0.6 * radius)  # seen from behind: mirrored


def grab(widget: QtWidgets.QWidget) -> QtGui.QImage:
    widget.resize(*PANEL_SIZE)
    widget.show()
    QtWidgets.QApplication.processEvents()
    return widget.grab().toImage()


def colour_at(image: QtGui.QImage, x: float, y: float) -> tuple:
    colour = image.pixelColor(int(round(x)), int(round(y)))
    return colour.red(), colour.green(), colour.blue()


def test_panel_screenshot_of_a_lit_gizmo(qt_app, nuke_session, stage_capture: Path, sky: Path, tmp_path: Path) -> None:
    gizmo = relight_node(stage_capture)
    gizmo["rotate"].setValue(40.0)
    key = make_light("DirectLight", matrix(aim_rotation([0.55, 0.45, 0.7])), intensity=1.5)
    key["color"].setValue([1.0, 0.75, 0.45])
    scene = nuke.nodes.Scene()
    scene.setInput(0, key)
    gizmo.setInput(1, scene)
    gizmo.setInput(2, hdri_read(sky))

    main = QtWidgets.QMainWindow()                  # Nuke's main window
    floating = QtWidgets.QWidget()                  # a floating panel, active when the button is pressed
    floating.show()
    window = panel.show_for(gizmo)  # what the "Light-stage preview..." button opens
    assert window.parent() is main
    assert window.loader().env_image is None        # the preview is made on a worker thread...
    panel.wait_for_previews()
    assert fake_nuke.run_main_thread() >= 1         # ...which refreshes the panel in the main thread
    state = window.loader()
    assert state.env_image and Path(state.env_image).is_file() and state.rotate_deg == 40.0
    assert len(state.weights) == 40 and state.peak > 0
    image = grab(window)
    path = tmp_path / "nuke_panel.png"
    assert image.save(str(path))
    if os.environ.get("RELUME_UPDATE_DOCS_IMAGES") == "1":
        DOCS_IMAGE.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(path, DOCS_IMAGE)

    # The most heavily weighted stage light is drawn, in its weight's colour, where the dome view
    # projects it (front hemisphere, z >= 0, seen from the camera).
    brightest = int(np.argmax([max(w) for w in state.weights]))
    point = window.dome.mapTo(window, window.dome.project(state.directions[brightest]).toPoint())
    expected = panel.weight_colour(state.weights[brightest], state.peak)
    assert colour_at(image, point.x(), point.y()) == (expected.red(), expected.green(), expected.blue())
    # The environment view shows the preview image (not a flat placeholder).
    env = window.environment
    top_left = env.mapTo(window, env.rect().topLeft())
    sky_colour, ground_colour = (colour_at(image, top_left.x() + env.width() * 0.1, top_left.y() + env.height() * f)
                                 for f in (0.25, 0.75))
    assert sky_colour[2] > sky_colour[0] + 20 and ground_colour[0] > ground_colour[2]  # blue sky, brown ground

    floating.close()
    floating.deleteLater()
    qt_app.processEvents()
    assert panel.show_for(gizmo) is window and window.isVisible()   # outlives the floating window
    window.deleteLater()                            # Qt deletes the panel (e.g. with Nuke's main window)
    qt_app.sendPostedEvents(None, QtCore.QEvent.Type.DeferredDelete.value)
    reopened = panel.show_for(gizmo)
    assert reopened is not window and reopened.isVisible()
    reopened.close()
    main.close()


def test_a_bad_hdri_is_a_note_in_the_panel_not_a_traceback(qt_app, nuke_session, stage_capture: Path,
                                                          tmp_path: Path) -> None:
    gizmo = relight_node(stage_capture)
    broken = tmp_path / "broken.exr"
    broken.write_bytes(b"not an image")
    read = nuke.nodes.Read()
    read["file"].setValue(str(broken))
    gizmo.setInput(2, read)
    window = panel.show_for(gizmo)
    panel.wait_for_previews()
    fake_nuke.run_main_thread()
    state = window.loader()
    assert state.env_image is None
    assert any("environment preview" in note and "broken.exr" in note for note in state.notes), state.notes
    window.close()


PYSIDE2_SCRIPT = """
import json, os, sys
os.environ["QT_QPA_PLATFORM"] = "offscreen"
sys.path.insert(0, sys.argv[1])
from relume_nuke import panel
from relume_nuke.qt import BINDING, QtWidgets
app = QtWidgets.QApplication([])
state = panel.StageState(**json.loads(sys.argv[2]))
window = panel.RelumePanel(lambda: state)
window.resize(640, 760)
window.show()
app.processEvents()
ok = window.grab().toImage().save(sys.argv[3])
print(BINDING, ok)
"""


@pytest.mark.skipif(not os.environ.get("RELUME_PYSIDE2_PYTHON"), reason="set RELUME_PYSIDE2_PYTHON to a Python with PySide2")
def test_panel_renders_with_pyside2(tmp_path: Path) -> None:
    directions = [[math.cos(a), 0.3, math.sin(a)] for a in np.linspace(0, 2 * math.pi, 12, endpoint=False)]
    state = {"title": "PySide2", "directions": directions, "weights": [[i / 12, 0.5, 0.2] for i in range(12)]}
    out = tmp_path / "pyside2.png"
    result = subprocess.run([os.environ["RELUME_PYSIDE2_PYTHON"], "-c", PYSIDE2_SCRIPT, str(fake_nuke.PLUGIN),
                             json.dumps(state), str(out)], capture_output=True, text=True, timeout=120)
    assert result.returncode == 0 and "Traceback" not in result.stderr, result.stderr  # paintEvent errors only print
    assert result.stdout.split() == ["PySide2", "True"] and out.stat().st_size > 1000

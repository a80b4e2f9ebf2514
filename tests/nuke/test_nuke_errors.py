"""Issue 11.5: a Relume node whose output is wrong is in Nuke's error state (red in the DAG, the message in the
Viewer), and a farm render of it fails instead of writing the plate or an empty image; a warning (a skipped
light, a failed button action) leaves the output alone.

The mechanism (``relume_nuke.state``): an error switches the gizmo's output to an internal Read of a file that
does not exist and names the problem; Nuke's Read with "missing frames" at error (its default) fails the render
and shows the error (Foundry's user guide, "Loading Image Sequences"), and ``nuke.Node.error()`` is "True if
the node or any in its input tree have an error" (Nuke Python API, nuke.Node). The fake interpreter renders a
Read of a missing file as such an error (RenderError); not checked in a real Nuke here.
"""

from __future__ import annotations

import shutil
import sys
from pathlib import Path

import numpy as np
import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))

import fake_nuke  # noqa: E402
import nuke  # noqa: E402
from fake_nuke.interpreter import RenderError, evaluate  # noqa: E402
from fake_nuke.scenes import (  # noqa: E402,F401,F811
    FRAME,
    hdri_read,
    nuke_session,
    relight_node,
    rgba,
    sky,
    stage_capture,
)


def plate_read(path: Path):
    read = nuke.nodes.Read()
    read["file"].setValue(str(path))
    read["first"].setValue(FRAME)
    read["last"].setValue(FRAME)
    return read


def test_a_capture_that_cannot_be_read_is_an_error_until_a_good_one_is_chosen(nuke_session, stage_capture: Path,
                                                                               tmp_path: Path) -> None:
    plate_file = tmp_path / f"plate.{FRAME}.exr"                       # outside the capture (not guessed)
    shutil.copy(stage_capture / "olat" / "L000" / f"frame.{FRAME}.exr", plate_file)
    gizmo = nuke.createNode("Relume_Relight")
    gizmo.showControlPanel()
    gizmo.setInput(0, plate_read(plate_file))
    assert not gizmo.error()                                            # a fresh node passes the plate through
    assert np.array_equal(evaluate(gizmo, FRAME), rgba(plate_file))

    nuke.user_changes(gizmo["capture"], str(tmp_path / "missing" / "capture.yaml"))
    assert gizmo.error()
    with pytest.raises(RenderError, match=r"Relume_Relight1 - .*missing capture\.yaml.*not found"):
        evaluate(gizmo, FRAME)                                          # the render fails and says why

    nuke.user_changes(gizmo["capture"], str(stage_capture / "capture.yaml"))
    assert not gizmo.error() and "no lights connected" in gizmo["status"].value()   # a warning
    assert evaluate(gizmo, FRAME) is not None


def test_warnings_leave_the_output_alone(nuke_session, stage_capture: Path) -> None:
    gizmo = relight_node(stage_capture)
    gizmo.setInput(2, nuke.nodes.Dot())                                 # an env input that is not a Read
    assert "env input must be a Read" in gizmo["status"].value() and "e06c60" in gizmo["status"].value()
    assert not gizmo.error()
    evaluate(gizmo, FRAME)


def test_weights_the_engine_could_not_compute_are_an_error(nuke_session, stage_capture: Path, sky: Path,
                                                           monkeypatch: pytest.MonkeyPatch) -> None:
    gizmo = relight_node(stage_capture)
    gizmo.setInput(2, hdri_read(sky))
    assert not gizmo.error()
    monkeypatch.setenv("RELUME_ENGINE_PYTHON", str(stage_capture / "no-python"))
    gizmo["update_weights"].execute()                                   # "Update now": the engine cannot start
    assert gizmo.error() and "engine Python not found" in gizmo["status"].value()
    monkeypatch.setenv("RELUME_ENGINE_PYTHON", sys.executable)        # the engine nuke_session configures
    gizmo["update_weights"].execute()
    assert not gizmo.error()


def test_a_farm_render_of_a_broken_node_fails(nuke_session, stage_capture: Path, tmp_path: Path) -> None:
    """A script saved with an engine render that is not there, or whose capture is gone on the farm machine:
    the reopened node is in the error state and rendering it fails, where the plate used to come out."""
    gizmo = relight_node(stage_capture)
    gizmo["render_path"].setValue(str(tmp_path / "never" / "relit.####.exr"))
    nuke.user_changes(gizmo["mode"], "engine render")
    assert gizmo.error()
    reopened = fake_nuke.save_and_load(gizmo)
    assert reopened.error() and "no engine render yet" in reopened["status"].value()
    with pytest.raises(RenderError, match="no engine render yet"):
        evaluate(reopened, FRAME)

    moved = tmp_path / "capture"
    shutil.copytree(stage_capture, moved)
    other = relight_node(moved)
    shutil.rmtree(moved)                                                # gone on the farm
    with pytest.raises(RenderError):
        evaluate(fake_nuke.save_and_load(other), FRAME)


def test_the_reenact_node_shows_errors_but_not_failed_buttons(nuke_session, tmp_path: Path) -> None:
    gizmo = nuke.createNode("Relume_Reenact")
    gizmo.showControlPanel()
    gizmo["reenact"].execute()                                          # no model chosen: the button says so
    assert "connect a Read of the source" in gizmo["status"].value() and not gizmo.error()
    from relume_nuke import state

    state.report_problem(gizmo, "capture gone", popup=False)            # what a failed load reports
    assert gizmo.error()
    with pytest.raises(RenderError, match="Relume_Reenact1 - capture gone"):
        evaluate(gizmo, FRAME)

"""The live path of Relume_Relight, through the fake ``nuke`` module and the real engine CLI.

The gizmo is instantiated from gizmos/Relume_Relight.gizmo, its callbacks call the engine in child
processes and write the weights into its knobs, and its static node graph (expressions of those knobs)
is evaluated by a tiny Read/Multiply/Merge-plus/Copy interpreter at the frame asked for; the result must
equal ``python -m engine relight`` with the same lights file within half-float rounding (the engine
writes half EXRs).
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np
import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))

import fake_nuke  # noqa: E402
import nuke  # noqa: E402
from engine.io.exr import write_image  # noqa: E402
from engine.lighting.sphere import fibonacci_sphere  # noqa: E402
from engine.stage.capture import Capture, write_capture_yaml  # noqa: E402
from fake_nuke.interpreter import evaluate  # noqa: E402
from fake_nuke.scenes import (  # noqa: E402,F401,F811
    FRAME,
    STAGE_LIGHTS,
    aim_rotation,
    assert_half_close,
    cli_relight,
    hdri_read,
    make_light,
    matrix,
    nuke_session,
    relight_node,
    rgba,
    sky,
    stage_capture,
    yaw,
)
from relume_nuke import graph, live, state  # noqa: E402


def adapter_lights_file(gizmo) -> tuple:
    """The lights file the adapter sent to the engine for the gizmo's lighting over its frame range."""
    request = live.make_request(gizmo, state.stored_capture(gizmo))
    return live.write_lights_file(live.lights_document(request.entries, request.frame_entries)), request


def scene_of(*lights):
    scene = nuke.nodes.Scene()
    for index, light in enumerate(lights):
        scene.setInput(index, light)
    return scene


def test_live_graph_reproduces_engine_relight(nuke_session, stage_capture: Path, sky: Path, tmp_path: Path) -> None:
    """HDRI (rotated, scaled) + directional + point + spot: every stage light lit, full Merge tree."""
    gizmo = relight_node(stage_capture)
    assert graph.graph_light_count(gizmo) == STAGE_LIGHTS
    gizmo["rotate"].setValue(30.0)
    gizmo["strength"].setValue(0.8)
    gizmo["exposure"].setValue(0.5)
    sun = make_light("DirectLight", matrix(aim_rotation([0.3, 0.8, 0.5])), intensity=2.0)
    sun["color"].setValue([1.0, 0.9, 0.7])
    point = make_light("Light2", matrix(translation=(-2.0, 0.5, 1.5)), intensity=6.0, falloff_type="Quadratic")
    spot = make_light("Spotlight", matrix(aim_rotation([0.0, -0.2, 1.0]), (0.0, -0.4, 2.0)), intensity=5.0,
                      cone_angle=60.0, cone_penumbra_angle=5.0, falloff_type="Quadratic")
    gizmo.setInput(1, scene_of(sun, point, spot))
    gizmo.setInput(2, hdri_read(sky))

    weights = graph.weights_at(gizmo, FRAME)
    assert len(weights) == STAGE_LIGHTS and min(min(w) for w in weights) > 0
    assert graph.active_lights(gizmo, FRAME) == list(range(STAGE_LIGHTS))
    assert "40 stage lights, 40 lit by 4 light(s)" in gizmo["status"].value()
    lights_file, request = adapter_lights_file(gizmo)
    assert [e["type"] for e in request.entries] == ["sun", "point", "spot", "environment"]

    live_image = evaluate(gizmo, FRAME)
    expected = rgba(cli_relight(stage_capture, lights_file, tmp_path / "cli", exposure=0.5) / f"cli.{FRAME}.exr")
    assert live_image.shape == expected.shape == (64, 64, 4)
    assert float(expected[..., :3].max()) > 0.1
    assert_half_close(live_image, expected)


def test_sparse_lights_disable_unlit_reads_and_keep_alpha(nuke_session, stage_capture: Path, tmp_path: Path) -> None:
    """A sun between stage lights lights 3 or 4 of them: only their Reads are enabled (light 0's always,
    for alpha); moving the light re-weights through the global light callback, and no node is created or
    deleted on the way."""
    gizmo = relight_node(stage_capture)
    nodes = {node.name() for node in gizmo.nodes()}
    sun = make_light("DirectLight", matrix(aim_rotation([-0.5, 0.6, -0.6])))
    gizmo.setInput(1, scene_of(sun))
    first = graph.active_lights(gizmo, FRAME)
    assert 3 <= len(first) <= 5 and first[0] == 0

    sun.showControlPanel()                          # the artist rotates the light (its panel open)
    nuke.user_changes(sun["world_matrix"], matrix(aim_rotation([0.7, 0.1, 0.7])))
    second = graph.active_lights(gizmo, FRAME)
    assert second != first
    lights_file, _ = adapter_lights_file(gizmo)
    expected = rgba(cli_relight(stage_capture, lights_file, tmp_path / "cli") / f"cli.{FRAME}.exr")
    image = evaluate(gizmo, FRAME)
    assert_half_close(image, expected)
    assert float(image[..., 3].max()) == 1.0  # alpha from light 0 even though its weight is 0
    assert {node.name() for node in gizmo.nodes()} == nodes


def test_animated_lights_key_the_weights_per_frame(nuke_session, tmp_path: Path) -> None:
    """A sun keyed to swing across the stage over three frames and an environment whose rotation is keyed:
    the weight knobs are keyed per frame, each frame equals ``relume relight`` with the lights file's
    per-frame lights, and the first and last frames equal static relights with those frames' lights."""
    lights, frames = 12, (1001, 1002, 1003)
    folder = tmp_path / "three_frames"
    directions = fibonacci_sphere(lights)
    rng = np.random.default_rng(3)
    write_capture_yaml(folder, frames, directions, 0.5 + rng.random((lights, 3)))
    capture = Capture.load(folder)
    for frame in frames:
        for index in range(lights):
            write_image(capture.olat_path(index, frame), rng.random((10, 14, 4)).astype(np.float32))
    gizmo = relight_node(folder)
    sun = make_light("DirectLight", matrix(aim_rotation(directions[2])), intensity=1.5)
    for frame, direction in zip(frames, (directions[2], (directions[2] + directions[7]) / 2, directions[7])):
        for index, value in enumerate(matrix(aim_rotation(direction))):
            sun["world_matrix"].setValueAt(value, frame, index)
    gizmo.setInput(1, scene_of(sun))

    weight = gizmo[graph.weight_knob(2)]
    assert weight.isAnimated() and [k.x for k in weight.animation(0).keys()] == list(frames)
    assert graph.weights_at(gizmo, 1001) != graph.weights_at(gizmo, 1003)
    assert graph.active_lights(gizmo, 1001) != graph.active_lights(gizmo, 1003)
    assert "animated: 2 frame(s)" in gizmo["status"].value()
    lights_file, request = adapter_lights_file(gizmo)
    assert [frame for frame, _ in request.frame_entries] == [1002, 1003]
    out = cli_relight(folder, lights_file, tmp_path / "cli", "1001-1003")
    for frame in frames:
        assert_half_close(evaluate(gizmo, frame), rgba(out / f"cli.{frame}.exr"))
    last_only = live.write_lights_file({"lights": list(request.frame_entries[-1][1])})
    static = cli_relight(folder, last_only, tmp_path / "static", "1003-1003")
    assert_half_close(evaluate(gizmo, 1003), rgba(static / "cli.1003.exr"))

    sun["disable"].setValue(True)                  # no more animation: constant weights, keys gone
    gizmo["update_weights"].execute()
    assert not weight.isAnimated()


def test_one_update_is_one_undo_step(nuke_session, stage_capture: Path, sky: Path) -> None:
    """New weights for every stage light are one undo step named after Relume; undoing it restores them."""
    gizmo = relight_node(stage_capture)
    gizmo.setInput(2, hdri_read(sky))
    before = graph.weights_at(gizmo, FRAME)
    gizmo.showControlPanel()
    steps = nuke.Undo().undoSize()
    nuke.user_changes(gizmo["strength"], 2.0)
    assert nuke.Undo().undoSize() == steps + 2       # the artist's edit, then the weights
    assert nuke.Undo().undoDescribe(0) == live.UNDO_NAME
    assert graph.weights_at(gizmo, FRAME) != before
    nuke.Undo().undo()
    assert graph.weights_at(gizmo, FRAME) == before


def test_matte_alpha_and_frames(nuke_session, tmp_path: Path) -> None:
    """A capture with a matte (red-only EXRs) and two frames: alpha comes through a Copy of the
    matte's red channel, as the engine does, at every frame."""
    lights, frames = 8, (1001, 1002)
    folder = tmp_path / "matte_capture"
    directions = fibonacci_sphere(lights)
    rng = np.random.default_rng(7)
    write_capture_yaml(folder, frames, directions, 0.5 + rng.random((lights, 3)),
                       matte_pattern="matte/m.{frame:04d}.exr")
    capture = Capture.load(folder)
    for frame in frames:
        for index in range(lights):
            write_image(capture.olat_path(index, frame), rng.random((12, 16, 4)).astype(np.float32))
        write_image(capture.matte_path(frame), rng.random((12, 16, 3)).astype(np.float32))
    gizmo = relight_node(folder)
    gizmo.setInput(1, scene_of(make_light("DirectLight", matrix(aim_rotation(directions[3])), intensity=1.5)))
    assert gizmo["matte_channel"].value() == graph.MATTE_CHANNELS["red"]
    lights_file, _ = adapter_lights_file(gizmo)
    out = cli_relight(folder, lights_file, tmp_path / "cli", "1001-1002")
    for frame in frames:
        assert_half_close(evaluate(gizmo, frame), rgba(out / f"cli.{frame}.exr"))


def test_reopened_script_needs_no_engine_and_no_rebuild(nuke_session, stage_capture: Path, sky: Path,
                                                         monkeypatch: pytest.MonkeyPatch) -> None:
    """Nuke recreates a gizmo's insides from the .gizmo on load and sets the saved knob values: the live
    graph is whole from those alone (keyed weights included), with no engine (a farm node may lack it)."""
    gizmo = relight_node(stage_capture)
    gizmo.setInput(2, hdri_read(sky))
    gizmo["frame_last"].setValue(FRAME + 1)        # the one-frame capture held over two frames
    gizmo["rotate"].setValueAt(0.0, FRAME)
    gizmo["rotate"].setValueAt(90.0, FRAME + 1)
    gizmo["update_weights"].execute()
    assert gizmo[graph.weight_knob(0)].isAnimated()
    before = [evaluate(gizmo, frame) for frame in (FRAME, FRAME + 1)]
    assert not np.array_equal(before[0], before[1])

    monkeypatch.setenv("RELUME_ENGINE_PYTHON", "/nonexistent/python")  # any engine call would now fail
    reopened = fake_nuke.save_and_load(gizmo)
    reopened.setInput(2, hdri_read(sky))
    assert "engine" not in reopened["status"].value()
    assert graph.graph_light_count(reopened) == STAGE_LIGHTS
    for frame, image in zip((FRAME, FRAME + 1), before):
        assert np.array_equal(evaluate(reopened, frame), image)


def test_gui_updates_run_in_a_worker_and_collapse(nuke_session, stage_capture: Path) -> None:
    """In the GUI the engine runs in a worker thread; rapid changes while it runs collapse into one
    more run, and knobs are only written by calls queued for the main thread."""
    gizmo = relight_node(stage_capture)
    unlit = gizmo["weights_json"].value()
    nuke.env["gui"] = True
    sun = make_light("DirectLight", matrix(aim_rotation([0.0, 1.0, 0.2])))
    gizmo.setInput(1, scene_of(sun))
    sun.showControlPanel()
    for angle in (10.0, 20.0, 30.0, 40.0):  # the artist drags the light
        nuke.user_changes(sun["world_matrix"], matrix(yaw(angle) @ aim_rotation([0.0, 0.3, 1.0])))
    assert gizmo["weights_json"].value() == unlit  # nothing written outside the main thread
    live.QUEUE.wait()
    ran = fake_nuke.run_main_thread()
    live.QUEUE.wait()
    ran += fake_nuke.run_main_thread()
    assert 1 <= ran <= 3
    final_key = live.make_request(gizmo, state.stored_capture(gizmo)).key
    assert json.loads(gizmo["weights_json"].value())["key"] == final_key


def test_problems_are_reported_on_the_node(nuke_session, tmp_path: Path, stage_capture: Path) -> None:
    """A bad capture path shows the engine's message (file and problem) in the status knob; an env
    input that is not a Read is ignored with a warning."""
    gizmo = nuke.createNode("Relume_Relight")
    gizmo.showControlPanel()
    nuke.user_changes(gizmo["capture"], str(tmp_path / "missing" / "capture.yaml"))
    status = gizmo["status"].value()
    assert "missing/capture.yaml" in status and "not found" in status and "e06c60" in status
    assert graph.graph_light_count(gizmo) == 0

    nuke.user_changes(gizmo["capture"], str(stage_capture))
    gizmo.setInput(2, nuke.nodes.Dot())
    assert "env input must be a Read" in gizmo["status"].value()
    assert "no lights connected" in gizmo["status"].value()


def test_plate_read_inside_a_capture_fills_in_the_capture(nuke_session, stage_capture: Path) -> None:
    gizmo = nuke.createNode("Relume_Relight")
    plate = nuke.nodes.Read()
    plate["file"].setValue(str(stage_capture / "olat" / "L000" / "frame.####.exr"))
    gizmo.setInput(0, plate)
    assert gizmo["capture"].value() == str(stage_capture / "capture.yaml")
    assert graph.graph_light_count(gizmo) == STAGE_LIGHTS
    assert nuke.toNode(f"{gizmo.name()}.relume_switch")["which"].value() == graph.SHOW_LIVE


def test_the_sum_is_converted_once_from_the_captures_colour_space(nuke_session, stage_capture: Path,
                                                                   tmp_path: Path) -> None:
    """An ACEScg capture: the Reads stay raw, the weighted sum happens in ACEScg (as the engine's), and one
    OCIOColorSpace after it gives the comp's scene_linear; the plate and an output space equal to the
    capture's pass unconverted."""
    import shutil

    from fake_nuke.interpreter import colour_matrix

    capture = Path(shutil.copytree(stage_capture, tmp_path / "acescg"))
    text = (capture / "capture.yaml").read_text()
    (capture / "capture.yaml").write_text(text.replace("colorspace: lin_rec709", "colorspace: ACEScg"))
    gizmo = relight_node(capture)
    gizmo.setInput(1, scene_of(make_light("DirectLight", matrix(aim_rotation([0.3, 0.8, 0.5])), intensity=2.0)))
    with gizmo:
        assert all(read["raw"].value() for read in nuke.allNodes("Read") if read.name().startswith("relume_olat_"))
    lights_file, _ = adapter_lights_file(gizmo)
    engine = rgba(cli_relight(capture, lights_file, tmp_path / "cli") / f"cli.{FRAME}.exr")   # ACEScg values
    converted = engine.copy()
    converted[..., :3] = engine[..., :3] @ colour_matrix("ACEScg", "scene_linear").T.astype(np.float32)
    assert float(np.abs(converted - engine).max()) > 0.01                         # the conversion matters
    # the engine's half-float rounding of each channel goes through a matrix with row sums up to 2.4
    live_image = evaluate(gizmo, FRAME)
    allowed = 2.4 * 2.0 ** -10 * np.abs(engine[..., :3]).max(axis=-1, keepdims=True) + 1e-5
    assert np.all(np.abs(live_image[..., :3] - converted[..., :3]) <= allowed)
    np.testing.assert_array_equal(live_image[..., 3], engine[..., 3])
    nuke.user_changes(gizmo["output_colorspace"], "ACEScg")
    assert_half_close(evaluate(gizmo, FRAME), engine)
    graph.show(gizmo, graph.SHOW_PLATE)
    assert nuke.toNode(f"{gizmo.name()}.relume_colour")["disable"].value()         # the plate is the comp's own

"""The Relume Blender extension in real Blender 5.0 (bpy, headless), against the engine CLI and Cycles.

Each scenario runs in a child process (tests/support/relume_blender.py) with its own Blender user
folder, so the extension is installed the documented way (from the zip of plugin_blender/) and
Blender's global state never leaks between tests. The engine runs as the add-on starts it: from
``config.json`` in a test RELUME_HOME (what install.py writes), as a local HTTP service.

Ground truth: a 48-light OLAT capture of Suzanne rendered with Cycles (tests/support/cycles_scene.py),
relit by the add-on under each light type and a rotated world HDRI, against Cycles rendering the
same scene under those lights.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from engine.demo import preview_png
from engine.io.exr import read_image, write_image
from engine.lighting.hdri import DirectionalSamples
from engine.lighting.lights import load_lights
from engine.lighting.sphere import fibonacci_sphere
from engine.stage.capture import Capture, write_capture_yaml
from support import blender_child
from support.blender_render import blender_hdri, psnr, read_rgba, render
from support.linked_capture import linked_capture

pytestmark = [pytest.mark.blender, pytest.mark.slow]

REPO = Path(__file__).resolve().parents[2]
DRIVER = Path(__file__).parents[1] / "support" / "relume_blender.py"
DOCS_IMAGE = REPO / "docs" / "images" / "blender_relit_plate.png"
SIZE, SAMPLES, STAGE_LIGHTS = 64, 32, 48
FRAME = 1001


def run_child(job: dict, work: Path, env: dict) -> dict:
    return blender_child.run_child(DRIVER, job, work, env)


@pytest.fixture(scope="module")
def blender_env(tmp_path_factory) -> dict:
    return blender_child.blender_env(tmp_path_factory.mktemp("blender_env"))


@pytest.fixture(scope="module")
def extension_zip(tmp_path_factory) -> Path:
    return blender_child.extension_zip(tmp_path_factory.mktemp("dist"))


def test_blender_validates_the_manifest(extension_zip: Path) -> None:
    """Blender's own checker (what `blender --command extension validate` runs, shipped in the bpy wheel)
    accepts the source folder and the zip: e.g. a tagline over 64 characters fails here."""
    import importlib.util

    bpy_folder = Path(importlib.util.find_spec("bpy").submodule_search_locations[0])
    checker = next(bpy_folder.glob("*/scripts/addons_core/bl_pkg/cli/blender_ext.py"))
    for source in (REPO / "plugin_blender", extension_zip):
        done = subprocess.run([sys.executable, str(checker), "validate", str(source)], capture_output=True, text=True,
                              timeout=120)
        assert done.returncode == 0, done.stdout + done.stderr


@pytest.fixture(scope="module")
def capture(tmp_path_factory) -> Capture:
    """Cycles OLAT capture of Suzanne: 48 sun lamps over the whole sphere, irradiance 1 each."""
    folder = tmp_path_factory.mktemp("cycles_capture")
    directions = fibonacci_sphere(STAGE_LIGHTS)
    write_capture_yaml(folder, [FRAME], directions, np.ones((STAGE_LIGHTS, 3)))
    capture = Capture.load(folder)
    renders = [{"out": str(capture.olat_path(i, FRAME)), "suns": [{"direction": d.tolist(), "rgb": [1.0, 1.0, 1.0]}]}
               for i, d in enumerate(directions)]
    render({"size": SIZE, "samples": SAMPLES, "renders": renders}, folder / "render_job")
    return capture


@pytest.fixture(scope="module")
def long_capture(capture, tmp_path_factory) -> Path:
    """Frames 1001-1003, each the Cycles capture's frame (links)."""
    return linked_capture(capture, FRAME, tmp_path_factory.mktemp("long_capture"), [FRAME, FRAME + 1, FRAME + 2]).folder


def light(kind: str, location, target=(0.0, 0.0, 0.0), **props) -> dict:
    """A light spec for the driver (Blender frame: Z up, Suzanne faces -Y, camera at -Y)."""
    return {"kind": kind, "location": list(location), "target": list(target), "props": props}


CASES = [
    {"name": "sun", "lights": [light("SUN", (2.5, -4.0, 3.0), energy=3.0, color=(1.0, 0.9, 0.8), angle=0.05)]},
    {"name": "point", "lights": [light("POINT", (4.0, -7.2, 4.8), energy=3300.0, shadow_soft_size=0.1)]},
    {"name": "spot", "lights": [light("SPOT", (-4.8, -6.4, 4.0), energy=3800.0, spot_size=0.6, spot_blend=0.3,
                                      shadow_soft_size=0.05, color=(0.8, 0.9, 1.0))]},
    {"name": "area", "lights": [light("AREA", (-6.4, -4.8, 1.6), energy=770.0, shape="RECTANGLE", size=1.5,
                                      size_y=0.75)]},
    {"name": "ellipse", "lights": [light("AREA", (4.8, -5.6, -1.6), energy=640.0, shape="ELLIPSE", size=1.0,
                                         size_y=0.5, color=(1.0, 0.7, 0.5))]},
    {"name": "hdri_rig", "world": {"hdri": "forest.exr", "rotate_deg": 30.0, "strength": 1.0},
     "rig": {"yaw_deg": 40.0, "offset": [2.0, 1.0, 0.5]}},
    {"name": "mixed", "world": {"hdri": "studio.exr", "rotate_deg": -60.0, "strength": 0.5},
     "lights": [light("POINT", (-3.2, -6.4, 5.6), energy=2000.0, shadow_soft_size=0.2),
                light("AREA", (6.4, -3.2, 0.0), energy=380.0, shape="SQUARE", size=1.0, exposure=0.5)]},
]
# Relit against Cycles: PSNR (dB) over the whole RGB frame, peak = the truth's maximum. Measured on
# this set-up (Blender 5.0.1, Cycles CPU): sun 40.2, point 35.5, spot 26.2, area 26.6, ellipse 33.0,
# rotated HDRI with a rotated rig 33.4, mixed 30.3. What limits them, largest first:
# - a 48-light stage resolves a sharp light only by blending three stage lights ~30 deg apart, so the
#   hard shadow Suzanne throws on the ball under the left-hand spot and area lights comes out as a
#   soft one (those two cases score lowest; the engine's interpolation, not the light conversion);
# - near lights are seen from the subject's origin while Suzanne and the ball span ~1.5 m at ~8 m
#   (+-10 % falloff across them);
# - 32-sample Cycles noise in the truth and in each OLAT image.
# A wrong unit (a factor pi or 4 in power) costs 10 dB or more; the exact units are checked to 2 %
# by test_light_units_match_cycles. Bounds sit ~2 dB under the measurements.
PSNR_BOUNDS = {"sun": 38.0, "point": 33.0, "spot": 24.0, "area": 24.5, "ellipse": 31.0, "hdri_rig": 31.0, "mixed": 28.0}


@pytest.fixture(scope="module")
def main_result(blender_env, extension_zip, capture, long_capture, tmp_path_factory) -> dict:
    cases = []
    for case in CASES:
        case = dict(case)
        if "world" in case:
            case["world"] = {**case["world"], "hdri": str(blender_hdri(case["world"]["hdri"]))}
        cases.append(case)
    job = {"scenario": "main", "zip": str(extension_zip), "size": SIZE, "samples": SAMPLES,
           "capture": str(capture.folder), "long_capture": str(long_capture), "cases": cases, "plane_case": "mixed"}
    return run_child(job, tmp_path_factory.mktemp("main"), blender_env)


UNIT_LIGHTS = [
    light("SUN", (1.0, -1.0, 3.0), energy=2.0, color=(1.0, 0.5, 0.25)),
    light("SUN", (0.0, 1.0, 3.0), energy=500.0, angle=0.3, normalize=False),
    light("POINT", (0.5, -1.0, 2.5), energy=200.0),
    light("POINT", (0.0, 0.0, 2.0), energy=100.0, shadow_soft_size=0.3, exposure=1.5, use_temperature=True,
          temperature=3200.0),
    light("POINT", (1.0, 0.0, 2.0), energy=100.0, shadow_soft_size=0.2, normalize=False),
    light("SPOT", (0.0, -0.8, 2.0), target=(0.0, 0.0, 0.0), energy=300.0, spot_size=1.0, spot_blend=0.4),
    light("SPOT", (0.0, 0.0, 2.0), target=(0.9, 0.0, 0.0), energy=300.0, spot_size=1.0, spot_blend=0.6),
    light("SPOT", (0.0, 0.0, 2.0), target=(1.05, 0.0, 0.0), energy=300.0, spot_size=1.0, spot_blend=0.6),
    light("AREA", (0.0, 0.0, 1.5), energy=100.0, shape="SQUARE", size=0.4),
    light("AREA", (0.8, 0.3, 1.5), energy=100.0, shape="RECTANGLE", size=0.6, size_y=0.2),
    light("AREA", (-0.5, 0.5, 2.0), energy=100.0, shape="DISK", size=0.5),
    light("AREA", (0.0, -1.0, 2.0), energy=60.0, shape="ELLIPSE", size=0.8, size_y=0.3, normalize=False),
]


UNIT_WORLDS = [
    {"color": [0.2, 0.3, 0.5], "strength": 2.0},
    {"hdri": "forest.exr", "rotate_deg": 75.0, "strength": 0.7},
]


@pytest.fixture(scope="module")
def units_result(blender_env, extension_zip, tmp_path_factory) -> dict:
    worlds = [{**w, "hdri": str(blender_hdri(w["hdri"]))} if "hdri" in w else w for w in UNIT_WORLDS]
    return run_child({"scenario": "units", "zip": str(extension_zip), "lights": UNIT_LIGHTS, "worlds": worlds},
                     tmp_path_factory.mktemp("units"), blender_env)


def test_extension_installs_from_its_zip_and_registers(main_result):
    install = main_result["install"]
    assert install["enabled"] and install["panel"] and install["scene_settings"]
    assert {"relight_plate", "live_relight", "export_lights", "start_engine", "stop_engine"} <= set(install["operators"])
    assert {"engine_python", "engine_repo", "device", "auto_start"} <= set(install["preferences"])
    assert "/extensions/user_default/relume/" in install["module_file"]


def test_light_units_match_cycles(units_result):
    """Every light type's (and the world's) exported entry predicts the irradiance Cycles puts on a
    white plate, within 2 %."""
    up = np.array([0.0, 1.0, 0.0])  # the plate's normal, engine frame
    for entry in units_result["lights"]:
        assert entry["error"] is None, entry
        samples = DirectionalSamples.concatenate([lt.samples() for lt in load_lights(entry["lights_file"])])
        predicted = (samples.irradiance * np.clip(samples.directions @ up, 0.0, None)[:, None]).sum(axis=0)
        measured = read_image(entry["render"]).rgb.reshape(-1, 3).mean(axis=0) * np.pi  # Lambertian: E = pi L
        np.testing.assert_allclose(predicted, measured, rtol=0.02, atol=1e-3, err_msg=json.dumps(entry["spec"]))


def test_a_world_with_use_nodes_off_is_its_plain_colour(units_result):
    """Blender 4.x: with Use Nodes off Cycles renders the world's colour, whatever its node tree holds."""
    assert units_result["use_nodes_false"]["uniform"] == pytest.approx([0.05, 0.1, 0.2])
    assert units_result["use_nodes_true"]["uniform"] is None
    assert units_result["use_nodes_true"]["hdri"].endswith("forest.exr")


def test_each_case_relights_without_error(main_result):
    for name, case in main_result["cases"].items():
        assert case["error"] is None and case["export_error"] is None, (name, case)
        assert case["size"] == [SIZE, SIZE] and case["background"] == ["Relume Plate"]


def test_plate_equals_the_engine_cli_for_the_same_lights_file(main_result, capture, tmp_path):
    """The Image datablock in Blender holds exactly what `relume relight --lights` writes."""
    for name, case in main_result["cases"].items():
        out = tmp_path / name / "cli.####.exr"
        done = subprocess.run([sys.executable, "-m", "engine", "-q", "relight", str(capture.folder), "--lights",
                               case["lights_file"], "--out", str(out), "--frames", str(FRAME)],
                              capture_output=True, text=True)
        assert done.returncode == 0, done.stderr
        cli = read_rgba(tmp_path / name / f"cli.{FRAME}.exr")
        plate = np.load(case["plate_npy"])
        np.testing.assert_allclose(plate, cli, rtol=2.0**-11, atol=1e-7, err_msg=name)


def test_plate_matches_cycles_within_the_stated_psnr(main_result):
    scores = {name: psnr(np.load(case["plate_npy"]), read_rgba(Path(case["truth"])))
              for name, case in main_result["cases"].items()}
    print("PSNR against Cycles:", {k: round(v, 2) for k, v in scores.items()})
    for name, score in scores.items():
        assert score >= PSNR_BOUNDS[name], (name, score)


def test_plate_on_a_plane_fills_the_frame_and_renders_as_the_plate(main_result):
    plane = main_result["plane"]
    assert plane["error"] is None and plane["parent"] == "camera"
    assert not plane["visible_diffuse"] and plane["visible_camera"]
    # the plane's emission lights nothing (camera rays only), so it never blocks the next relight...
    assert plane["relight_with_plane_present"] is None
    # ...until a ray other than the camera's sees it
    assert "object 'Relume Plate': emissive materials" in plane["relight_with_plane_lighting"]
    corners = sorted((round(x, 4), round(y, 4)) for x, y, _ in plane["corners"])
    assert corners == [(0.0, 0.0), (0.0, 1.0), (1.0, 0.0), (1.0, 1.0)]
    assert all(abs(depth - 6.0) < 1e-4 for _, _, depth in plane["corners"])
    rendered = read_rgba(Path(plane["render"]))
    plate = np.load(plane["plate_npy"])
    assert psnr(rendered, plate) > 40.0
    np.testing.assert_allclose(rendered[..., 3], plate[..., 3], atol=2e-3)


def test_the_modal_relight_keeps_the_ui_live_and_makes_the_blocking_plate(main_result):
    """Relight Plate as a click runs it (invoke, then Blender's timer events, played by the child): from a
    stopped engine it returns to the event loop at once, ignores other events, shows progress and makes the
    same plate as the blocking form; no call stalls the UI while the engine starts (seconds) on a worker."""
    modal = main_result["modal"]["plate"]
    assert (modal["invoke"], modal["first"], modal["result"]) == (["RUNNING_MODAL"], ["PASS_THROUGH"], ["FINISHED"])
    assert modal["handlers"] == 1 and main_result["modal"]["engine_was_started"]
    assert modal["longest_call"] < 0.25 < modal["seconds"], modal
    assert modal["progress"][0] == ["begin", 0.0, 1.0] and modal["progress"][-1] == ["end"], modal["progress"]
    assert [level for level, _ in modal["reports"]] == [["INFO"]], modal["reports"]
    np.testing.assert_array_equal(np.load(modal["plate_npy"]), np.load(main_result["cases"]["sun"]["plate_npy"]))


def test_esc_cancels_a_modal_relight_and_keeps_finished_frames(main_result):
    """Esc after the job is in: the operator ends CANCELLED with a warning saying how many frames were kept,
    and only whole frames are on disk."""
    cancel = main_result["modal"]["cancel"]
    assert cancel["escaped"] and cancel["result"] == ["CANCELLED"], cancel
    assert cancel["reports"][-1][0] == ["WARNING"] and "cancelled" in cancel["reports"][-1][1], cancel["reports"]
    kept = int(re.search(r"(\d+) finished frame", cancel["reports"][-1][1]).group(1))
    assert kept < 3 and len([f for f in cancel["files"] if f.endswith(".exr")]) == kept, cancel
    assert not [f for f in cancel["files"] if not f.endswith(".exr")], cancel["files"]     # no temporaries left


def test_frame_range_becomes_an_image_sequence(main_result):
    result = main_result["range"]
    assert result["error"] is None
    assert result["files"] == ["Scene_plate.1001.exr", "Scene_plate.1002.exr", "Scene_plate.1003.exr"]
    assert result["source"] == "SEQUENCE"
    assert (result["frame_start"], result["frame_duration"], result["frame_offset"]) == (1, 3, 1000)
    assert result["file_at_frame_2"].endswith("Scene_plate.1002.exr")


def test_live_relight_follows_edits_without_blocking(main_result):
    live = main_result["live"]
    assert live["start_error"] is None and live["handler_installed"] and live["idle_1"]
    assert live["relights_1"] == 1
    assert live["noticed"] and live["relights_2"] == 2
    assert live["sent_at_first_tick"]  # no debounce: the edit goes to the engine at once
    assert re.fullmatch(r"Live: frame 1001 relit in [0-9.]+ s", live["status_2"]), live["status_2"]
    assert live["max_tick_seconds"] < 0.05  # the HTTP call runs on the worker thread
    assert live["relights_3"] == 2  # an edit that changes no light does not relight
    assert live["toggle_off_error"] is None and live["handler_removed"] and live["status"] == "Live relight off"
    work = Path(main_result["cases"]["sun"]["lights_file"]).parents[1]
    first, second = np.load(work / "live_1.npy"), np.load(work / "live_2.npy")
    np.testing.assert_allclose(second[..., :3], 2.0 * first[..., :3], rtol=2.0**-10, atol=1e-6)  # light doubled


@pytest.fixture(scope="module")
def flat_capture(tmp_path_factory) -> Path:
    """12 stage lights over the sphere, one 16 px grey frame (1001) each: enough for live relight to run."""
    folder = tmp_path_factory.mktemp("flat_capture")
    directions = fibonacci_sphere(12)
    write_capture_yaml(folder, [FRAME], directions, np.ones((12, 3)))
    capture = Capture.load(folder)
    for index in range(capture.light_count):
        capture.olat_path(index, FRAME).parent.mkdir(parents=True, exist_ok=True)
        write_image(capture.olat_path(index, FRAME), np.full((16, 16, 4), 0.5, np.float32))
    return folder


def test_opening_a_file_stops_live_relight_and_says_so(blender_env, extension_zip, flat_capture, tmp_path):
    """Loading a file drops every handler and timer not marked persistent, so live relight stops then (the
    opened file has its own capture, subject and lights) instead of its button still saying Stop with nothing
    running; started again in the opened file it relights that file only (the relight in flight at the load
    is dropped), and File > New stops it the same way."""
    result = run_child({"scenario": "file_load", "zip": str(extension_zip), "capture": str(flat_capture)}, tmp_path,
                       blender_env)
    running = {"active": True, "handler": True, "timer": True}
    stopped = {"active": False, "handler": False, "timer": False, "status": "Live relight off: another file was opened"}
    assert result["start_error"] is None and result["idle"] and result["before_open"].items() >= running.items()
    assert result["pending_at_open"] and result["after_open"] == stopped
    assert result["restart_error"] is None and result["idle_in_opened"]
    opened = result["in_opened"]
    assert opened.items() >= running.items()
    assert opened["relights"] == 1 and Path(opened["plate"]).parent == tmp_path / "opened", opened
    assert result["after_new"] == stopped


ERRORS = {
    "missing_capture": "no_capture_here/capture.yaml: capture not found",
    "no_subject": "Pick the subject",
    "mesh_emitter": "object 'Neon': emissive materials on meshes are not supported",
    "mesh_emitter_live": "object 'Neon': emissive materials",
    "area_spread": "(AREA): Spread below 180 deg is not supported",
    "sky_world": "world: the Background colour comes from a Sky Texture node",
    "frame_not_in_capture": "frames not in the capture: [5001] (it has frame 1001)",
    "stopped_engine": "Relume engine is not running",
    "bad_engine_python": "/nonexistent/bin/python3: engine Python not found",
}


@pytest.mark.parametrize("name", sorted(ERRORS))
def test_failures_explain_themselves_and_change_nothing(main_result, name):
    result = main_result["errors"][name]
    assert result["message"] is not None and ERRORS[name] in result["message"], result
    assert result["unchanged"], f"{name} changed the scene"
    # the panel's own settings are checked by poll(): the button is greyed out, its tooltip says why
    assert ("poll()" in result["message"]) == (name in ("missing_capture", "no_subject")), result


def test_a_crashed_engines_log_is_kept_and_named(main_result):
    message = main_result["errors"]["stopped_engine"]["message"]
    assert re.search(r"the engine stopped with code -9; its log: (\S+engine\.log)", message), message
    # kept while this Blender runs; the next host session to start an engine removes it once Blender has ended
    assert main_result["errors"]["stopped_engine"]["log_kept"]


def test_starting_the_engine_waits_on_a_worker_not_the_ui(main_result):
    """The main-thread part of a start (preferences) returns at once; the start itself runs on a worker."""
    connector = main_result["errors"]["connector"]
    assert not connector["running_after_main_part"] and connector["health"]["ok"]
    assert connector["main_seconds"] < 0.05 < connector["worker_seconds"], connector


def test_a_stopped_engine_restarts_when_allowed(main_result):
    restarted = main_result["errors"]["restarted"]
    assert restarted["message"] is None and restarted["running"] and restarted["plate_made"]


def test_screenshot_truth_relit_difference(main_result, tmp_path):
    """Cycles truth | the relit plate rendered on its plane in Blender | 4x difference, as a PNG.

    Written to docs/images/ when RELUME_WRITE_DOCS=1 (the README's picture), else to a temp folder.
    """
    truth = read_rgba(Path(main_result["cases"]["mixed"]["truth"]))
    plate = read_rgba(Path(main_result["plane"]["render"]))
    difference = np.concatenate([4.0 * np.abs(plate[..., :3] - truth[..., :3]), np.ones_like(truth[..., 3:])], axis=2)
    gap = np.zeros((SIZE, 2, 4), dtype=np.float32)
    gap[..., 3] = 1.0
    strip = np.concatenate([truth, gap, plate, gap, difference], axis=1)
    strip = np.repeat(np.repeat(strip, 3, axis=0), 3, axis=1)
    target = DOCS_IMAGE if os.environ.get("RELUME_WRITE_DOCS") == "1" else tmp_path / DOCS_IMAGE.name
    target.parent.mkdir(parents=True, exist_ok=True)
    preview_png(strip, target)
    image = read_image(target)
    assert image.shape == (3 * SIZE, 3 * (3 * SIZE + 4)) and image.rgb.std() > 0.02

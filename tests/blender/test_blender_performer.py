"""The extension's performer tools in real Blender 5.0 (bpy, headless), against the engine.

One child Blender (tests/support/relume_blender_performer.py) imports a transferred track of the small
synthetic target as the ICT rig, exports it back, reenacts and relights it, cancels, and meets bad
input. Here: the rig's mesh lands on the pixels the engine's own camera puts it (the whole chain of
axes, intrinsics, pose and shape keys), the track survives shape keys within 1e-4, the reenacted and
relit frames equal what the CLI makes from the same track and lights file, and each error is a report
that changes nothing.
"""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import numpy as np
import pytest
import torch

from engine.face.model import FaceModel
from engine.io.colour import srgb_encode
from engine.io.exr import read_image, write_image
from engine.lighting.lights import SunLight, load_lights
from engine.reenact.settings import TEMPORAL_SMOOTHING
from engine.stage.capture import Capture
from engine.track.geometry import track_camera, track_vertices
from engine.track.track_file import frame_numbers, read_track
from support import blender_child

pytestmark = [pytest.mark.blender, pytest.mark.slow]

DRIVER = Path(__file__).parents[1] / "support" / "relume_blender_performer.py"
DOCS_IMAGE = Path(__file__).resolve().parents[2] / "docs" / "images" / "blender_performer.png"
CHECK_FRAME = 1003
VERTEX_IDS = [0, 1200, 2500, 4000, 5500, 6700, 9000]      # spread over the face and head
SMOOTHING = 0.3                                            # the panel's Temporal Smoothing, not the default


def _edited_model(model: Path, folder: Path, **config) -> Path:
    copy = Path(shutil.copytree(model, folder))
    data = json.loads((copy / "config.json").read_text())
    data.update(config)
    (copy / "config.json").write_text(json.dumps(data))
    return copy


@pytest.fixture(scope="module")
def run(small_target: dict, small_model: Path, tmp_path_factory: pytest.TempPathFactory) -> tuple[dict, Path]:
    root = tmp_path_factory.mktemp("performer")
    identity = json.loads((small_model / "config.json").read_text())["identity"]
    job = {"scenario": "performer", "zip": str(blender_child.extension_zip(root)), "track": str(small_target["result"]),
           "model": str(small_model), "check_frame": CHECK_FRAME, "vertex_ids": VERTEX_IDS, "smoothing": SMOOTHING,
           "other_performer_model": str(_edited_model(small_model, root / "other_performer",
                                                      identity=[w + 0.5 for w in identity])),
           "other_stage_model": str(_edited_model(small_model, root / "other_stage", image_size=[256, 256]))}
    work = root / "work"
    work.mkdir()
    return blender_child.run_child(DRIVER, job, work, blender_child.blender_env(root / "env")), work


def test_import_builds_the_ict_rig_with_named_shape_keys(run: tuple[dict, Path], small_target: dict) -> None:
    result, _ = run
    assert result["import_error"] is None
    imported = result["import"]
    face = FaceModel.load()
    assert imported["vertices"] == face.vertex_count
    assert imported["shape_keys"] == ["Basis", *face.expression_names]
    assert imported["parent"] == imported["camera"] == imported["stage_parent"]
    frames = frame_numbers(read_track(small_target["result"]))
    assert imported["frame_range"] == [frames[0], frames[-1]] and imported["resolution"] == [128, 128]
    stage = np.array(imported["stage_world"])             # the mean head at the origin, engine axes = Blender's
    assert np.allclose(stage, np.eye(4), atol=1e-5)        # front view (performer looking -Y, up +Z)


def test_rig_lands_on_the_pixels_the_engine_projects(run: tuple[dict, Path], small_target: dict) -> None:
    result, _ = run
    track = read_track(small_target["result"])
    vertices = track_vertices(FaceModel.load(), track, [CHECK_FRAME])[0][VERTEX_IDS]
    pixels, _ = track_camera(track).project(torch.from_numpy(vertices).float())
    assert np.abs(np.array(result["import"]["projected"]) - pixels.numpy()).max() < 0.02       # pixels
    weight = track["frames"][str(CHECK_FRAME)]["expression"]["jawOpen"]
    assert abs(result["import"]["jaw_at_check_frame"] - weight) < 1e-6


def test_track_survives_shape_keys_and_takes_hand_keys(run: tuple[dict, Path], small_target: dict) -> None:
    result, work = run
    assert result["export_error"] is None and result["edited_error"] is None
    original = read_track(small_target["result"])
    again, edited = read_track(work / "round.track"), read_track(work / "edited.track")
    assert again["identity"] == original["identity"] and again["intrinsics"] == original["intrinsics"]
    for number, record in original["frames"].items():
        for name, weight in record["expression"].items():
            assert abs(again["frames"][number]["expression"][name] - weight) < 1e-4, (number, name)
        assert np.abs(np.subtract(again["frames"][number]["rotation"], record["rotation"])).max() < 1e-4
        assert np.abs(np.subtract(again["frames"][number]["translation"], record["translation"])).max() < 1e-5
    assert abs(edited["frames"][str(CHECK_FRAME)]["expression"]["jawOpen"] - 0.7) < 1e-6
    assert edited["frames"]["1001"] == again["frames"]["1001"]    # a key changes only its own frame


def test_reenact_performer_equals_the_cli_chain(run: tuple[dict, Path], small_model: Path, tmp_path: Path,
                                                cli) -> None:
    result, work = run
    assert result["lights_error_1001"] is None and result["lights_error_1008"] is None, result
    assert result["reenact_error"] is None, result
    out = work / "out"
    relit = sorted(name for name in result["out_files"] if name.endswith(".exr"))
    assert len(relit) == 8 and result["status"].startswith("Relit 8 frame(s)")
    assert result["background"] == ["Relume Plate"]
    # the stage carries the capture's axes: the sun at Blender (2, -3, 2) lights from engine (x, z, -y)
    sun = next(light for light in load_lights(work / "lights.1001.yaml") if isinstance(light, SunLight))
    assert np.allclose(sun.direction, np.array([2.0, 2.0, 3.0]) / np.sqrt(17.0), atol=1e-4)
    name = result["import"]["name"]
    keyed = read_track(out / f"{name}_reenact.track")
    assert keyed["frames"] == read_track(work / "edited.track")["frames"]   # the keys Blender held, hand key too
    assert result["smoothing_default"] == TEMPORAL_SMOOTHING                   # the panel starts at the engine's
    assert Capture.load(out / f"{name}_reenacted").extra["reenacted"]["temporal_smoothing"] == SMOOTHING
    done = cli("reenact", small_model, "--track", out / f"{name}_reenact.track", "--out", tmp_path / "cap",
               "--temporal-smoothing", SMOOTHING)
    assert done.returncode == 0, done.stderr
    for light in (0, 7):
        for frame in (1001, CHECK_FRAME):
            ours = read_image(out / f"{name}_reenacted/olat/L{light:03d}/frame.{frame:04d}.exr")
            theirs = read_image(tmp_path / f"cap/olat/L{light:03d}/frame.{frame:04d}.exr")
            assert np.array_equal(ours.rgb, theirs.rgb) and np.array_equal(ours.alpha, theirs.alpha), (light, frame)
    # the sun's energy is keyed 3 -> 6 over the range: the ends equal the CLI with the lights exported there
    for frame in (1001, 1008):
        done = cli("relight", out / f"{name}_reenacted", "--lights", work / f"lights.{frame}.yaml", "--frames",
                   str(frame), "--out", tmp_path / "relit.####.exr")
        assert done.returncode == 0, done.stderr
        ours, theirs = read_image(out / relit[frame - 1001]), read_image(tmp_path / f"relit.{frame:04d}.exr")
        assert np.array_equal(ours.rgb, theirs.rgb) and np.array_equal(ours.alpha, theirs.alpha), frame
        assert ours.rgb.max() > 0.0
    sun_at = [next(light for light in load_lights(work / f"lights.{f}.yaml") if isinstance(light, SunLight)).rgb
              for f in (1001, 1008)]
    assert np.allclose(sun_at[1], 2.0 * sun_at[0], rtol=1e-4)


def test_cancel_leaves_an_incomplete_capture_and_no_plate(run: tuple[dict, Path]) -> None:
    cancel = run[0]["cancel"]
    assert cancel["result"] == "CANCELLED" and cancel["message"].startswith("Reenacting cancelled;"), cancel
    assert cancel["phase"] == 0 and not cancel["capture_yaml"]


@pytest.mark.parametrize("case, message", [
    ("no_model", "not a trained model folder (set Model in the Relume panel"),
    ("other_performer_model", "a track of another performer than the model"),
    ("other_stage_model", "image size 128x128 differs from the model's 256x256"),
    ("not_a_performer", "'Cube' is not a Relume performer (import one with Import Performer)"),
    ("not_ict_topology", "'Cube' is not the ICT face model's topology: its mesh has 8 vertices, the model 26719"),
    ("unsupported_light", "Unsupported lighting: "),
])
def test_bad_input_is_a_report_that_changes_nothing(run: tuple[dict, Path], case: str, message: str) -> None:
    outcome = run[0]["errors"][case]
    assert outcome["message"] is not None and message in outcome["message"], outcome
    assert outcome["unchanged"], outcome
    # what poll() sees (cheap, on every redraw) greys the button out and says why (poll_message_set)
    assert ("poll()" in outcome["message"]) == (case in ("no_model", "not_a_performer")), outcome


@pytest.mark.skipif(not os.environ.get("RELUME_DOCS_REENACT"), reason="set RELUME_DOCS_REENACT to a reenact benchmark "
                    "folder (benchmarks/reenact.py --work) to draw the README picture")
def test_readme_picture(tmp_path: Path) -> None:
    """The README picture from the reenactment benchmark's trained model and transferred track: the rig as
    Blender renders it | the reenacted target relit by the scene's sun, at frame 1020."""
    bench = Path(os.environ["RELUME_DOCS_REENACT"])
    job = {"scenario": "picture", "picture": True, "zip": str(blender_child.extension_zip(tmp_path)),
           "track": str(bench / "result.track"), "model": str(bench / "model_networkk2semantic"),
           "check_frame": 1020, "render": str(tmp_path / "rig.png")}
    work = tmp_path / "work"
    work.mkdir()
    result = blender_child.run_child(DRIVER, job, work, blender_child.blender_env(tmp_path / "env"))
    assert result["reenact_error"] is None, result
    relit = next(name for name in result["out_files"] if name.endswith(".exr"))
    rig, plate = read_image(tmp_path / "rig.png"), read_image(work / "out" / relit)
    grey = srgb_encode(np.full(3, 0.18, np.float32))
    left = rig.rgb * rig.alpha[..., None] + grey * (1.0 - rig.alpha[..., None])
    right = srgb_encode(plate.rgb + 0.18 * (1.0 - plate.alpha[..., None]))
    sheet = np.concatenate([left, right], axis=1).repeat(2, 0).repeat(2, 1)
    write_image(DOCS_IMAGE, np.clip(sheet, 0.0, 1.0).astype(np.float32), "uint8")

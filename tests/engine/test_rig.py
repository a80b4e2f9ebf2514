"""The performer rig (engine/track/rig.py) and the service endpoints hosts use to animate and reenact it.

The Blender round trip through real shape keys is tests/blender/test_blender_performer.py; here the engine's half:
the rig holds exactly the model's mesh for the track's identity, an animation read back from it gives the
same track, bad keys are refused with the frame and the problem, and ``POST /reenact`` runs as a job.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import yaml

from engine.errors import InputError
from engine.face.model import FaceModel
from engine.stage.capture import Capture
from engine.track.rig import track_from_animation, write_rig
from engine.track.track_file import frame_numbers, read_track, write_track
from support.service_process import Service


def animation_of(rig_path: Path) -> dict:
    """What a host sends back for an untouched rig: every frame's keys as the rig gave them."""
    with np.load(rig_path) as rig:
        names = [str(n) for n in rig["expression_names"]]
        return {str(n): {"expression": dict(zip(names, map(float, w))), "rotation": r.tolist(), "translation": t.tolist()}
                for n, w, r, t in zip(rig["frames"], rig["expression"], rig["rotation"], rig["translation"])}


@pytest.fixture(scope="module")
def rig(small_target: dict, tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_rig(small_target["result"], tmp_path_factory.mktemp("rig") / "performer.rig.npz")


def test_rig_is_the_models_mesh_for_the_tracks_identity(rig: Path, small_target: dict) -> None:
    face = FaceModel.load()
    track = read_track(small_target["result"])
    with np.load(rig) as data:
        assert str(data["format"]) == "relume-rig" and int(data["version"]) == 1
        identity = np.asarray(track["identity"], np.float32)
        expression = data["expression"][3]
        posed = data["vertices"] + np.tensordot(expression, data["expression_deltas"], axes=1)
        truth = face.vertices(identity[None], expression[None])[0].numpy()
        assert np.abs(posed - truth).max() < 1e-6           # metres
        assert data["polygons"].shape == (26384, 4) and data["vertices"].shape == (face.vertex_count, 3)
        assert list(data["frames"]) == frame_numbers(track)
        assert list(data["expression_names"]) == face.expression_names
        assert data["image_size"].tolist() == track["image_size"]
        assert json.loads(str(data["header"]))["identity"] == track["identity"]


def test_animation_read_back_gives_the_same_track(rig: Path, small_target: dict, tmp_path: Path) -> None:
    original = read_track(small_target["result"])
    path = write_track(tmp_path / "again.track", track_from_animation(rig, animation_of(rig)))
    again = read_track(path, FaceModel.load().source)
    for key in ("identity", "intrinsics", "image_size", "model", "source"):
        assert again[key] == original[key], key
    assert again["animation"]["rig"] == str(rig.resolve())
    for number, record in original["frames"].items():
        keyed = again["frames"][number]
        for name, weight in record["expression"].items():
            assert abs(keyed["expression"][name] - weight) < 1e-6, (number, name)
        assert np.allclose(keyed["rotation"], record["rotation"], atol=1e-9)
        assert np.allclose(keyed["translation"], record["translation"], atol=1e-9)
        assert keyed["face_found"] and keyed["confidence"] == 1.0


@pytest.mark.parametrize("edit, message", [
    (lambda f: f["expression"].pop("jawOpen"), "frame 1001: expressions must be the model's 53: missing jawOpen"),
    (lambda f: f["expression"].update(jawOpen=1.5), "frame 1001: expression jawOpen must be a weight in [0, 1]"),
    (lambda f: f["expression"].update(smile=0.5), "unknown smile"),
    (lambda f: f.update(rotation=(2 * np.eye(3)).tolist()), "head rotation is not a rotation"),
    (lambda f: f.update(rotation=np.diag([1.0, 1.0, -1.0]).tolist()), "head rotation is not a rotation"),
    (lambda f: f.update(translation=[0.0, 0.0, 0.5]), "the head is behind the camera"),
    (lambda f: f.update(translation=[0.0, float("nan"), -0.5]), "3 finite numbers"),
])
def test_bad_keys_name_the_frame_and_the_problem(rig: Path, edit, message: str) -> None:
    frames = animation_of(rig)
    edit(frames["1001"])
    with pytest.raises(InputError, match=message.replace("[", r"\[").replace("]", r"\]")):
        track_from_animation(rig, frames)


def test_a_file_that_is_not_a_rig_is_refused(tmp_path: Path, rig: Path) -> None:
    other = tmp_path / "other.npz"
    np.savez(other, format=np.array("something"), version=np.array(1))
    for path, message in ((other, "not a relume-rig version 1 file"), (tmp_path / "gone.npz", "rig file not found")):
        with pytest.raises(InputError, match=message) as error:
            track_from_animation(path, animation_of(rig))
        assert str(path) in str(error.value)


@pytest.mark.slow
def test_service_rig_track_and_reenact_job(small_target: dict, small_model: Path, tmp_path: Path) -> None:
    service = Service(tmp_path)
    try:
        status, body = service.call("POST", "/rig", {"track": str(small_target["result"]), "out": str(tmp_path / "p.npz")})
        assert status == 200 and Path(body["rig"]).is_file()
        status, body = service.call("POST", "/track", {"rig": body["rig"], "out": str(tmp_path / "keyed.track"),
                                                       "frames": animation_of(Path(body["rig"]))})
        assert status == 200 and body["frames"] == 8
        request = {"model": str(small_model), "track": body["track"], "out": str(tmp_path / "reenacted"),
                   "precision": "float32", "temporal_smoothing": 0}
        status, job = service.call("POST", "/reenact", request)
        assert status == 202
        state = service.wait_job(job["job"])
        assert state["state"] == "done" and state["done"] == state["total"] == 8, state
        capture = Capture.load(tmp_path / "reenacted")
        assert capture.frames == frame_numbers(read_track(small_target["result"])) and capture.light_count == 12
        reenacted = yaml.safe_load((tmp_path / "reenacted" / "capture.yaml").read_text())["reenacted"]
        assert reenacted["precision"] == "float32" and reenacted["temporal_smoothing"] == 0
        # bad requests answer with the engine's message
        for change, message in (({"model": str(tmp_path)}, "not a trained model folder"),
                                ({"precision": "int4"}, "request: 'precision': must be one of auto, float32, int8, got 'int4'"),
                                ({"runtime": "torch", "precision": "int8"}, "precision: int8 runs through onnxruntime"),
                                ({"temporal_smoothing": 1}, "temporal_smoothing: must be at least 0 and below 1, not 1"),
                                ({"temporal_smoothing": "high"}, "request: 'temporal_smoothing': has the wrong type (str)")):
            status, body = service.call("POST", "/reenact", {**request, **change, "out": str(tmp_path / "bad")})
            assert status == 400 and message in body["error"] and "--" not in body["error"], body   # no CLI flags
        assert not (tmp_path / "bad").exists()
        status, body = service.call("POST", "/track", {"rig": str(tmp_path / "p.npz"), "out": str(tmp_path / "x.track"),
                                                       "frames": {}})
        assert status == 400 and "request: frames: must map frame numbers" in body["error"]
    finally:
        service.call("POST", "/shutdown", {})
        service.process.wait(10)


def test_reenact_refuses_a_track_of_another_performer(small_target: dict, small_model: Path, tmp_path: Path,
                                                      cli) -> None:
    track = read_track(small_target["result"])
    track["identity"] = [w + 0.5 for w in track["identity"]]
    write_track(tmp_path / "other.track", track)
    result = cli("reenact", small_model, "--track", tmp_path / "other.track", "--out", tmp_path / "x")
    assert result.returncode == 2 and "other.track: a track of another performer" in result.stderr
    assert not (tmp_path / "x").exists()

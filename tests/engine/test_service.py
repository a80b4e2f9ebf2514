"""``relume serve``: real HTTP on 127.0.0.1, token required, results equal to the library's."""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from engine.demo import DEMO_FRAME, make_sphere_capture
from engine.io.exr import read_image
from engine.lighting.lights import lights_from_dicts
from engine.lighting.weights import capture_weights
from engine.relight.frame import relight_frame
from engine.stage.capture import Capture
from support.linked_capture import linked_capture
from support.sample_lights import LIGHTS

FRAMES = [DEMO_FRAME, DEMO_FRAME + 1, DEMO_FRAME + 2]


@pytest.fixture(scope="module")
def capture(tmp_path_factory) -> Capture:
    """A three-frame synthetic capture (the demo spheres; every frame links to one rendered frame)."""
    base = make_sphere_capture(tmp_path_factory.mktemp("base"), light_count=40, size=40, progress=False)
    return linked_capture(base, DEMO_FRAME, tmp_path_factory.mktemp("capture"), FRAMES)


def test_token_file_is_private_and_service_binds_localhost(service):
    assert service.token_file.stat().st_mode & 0o077 == 0
    status, health = service.call("GET", "/health")
    assert status == 200 and health["ok"] and health["pid"] == service.process.pid
    lsof = Path(f"/proc/{service.process.pid}/net/tcp")
    listening = [line.split() for line in lsof.read_text().splitlines()[1:] if line.split()[3] == "0A"]
    ours = [entry for entry in listening if int(entry[1].split(":")[1], 16) == service.port]
    assert ours and all(entry[1].split(":")[0] == "0100007F" for entry in ours)  # 127.0.0.1 only


@pytest.mark.parametrize("token", ["", "wrong-token"])
def test_requests_without_the_token_are_rejected(service, capture, token):
    for method, path, body in (("GET", "/health", None), ("POST", "/weights", {"capture": str(capture.folder)}),
                               ("POST", "/shutdown", {})):
        status, reply = service.call(method, path, body, token=token)
        assert status == 401 and "token" in reply["error"]
    assert service.process.poll() is None


def test_weights_match_the_library(service, capture):
    status, reply = service.call("POST", "/weights", {"capture": str(capture.folder), "lights": LIGHTS,
                                                      "exposure": 0.5, "method": "voronoi"})
    assert status == 200
    expected = capture_weights(capture, lights_from_dicts(LIGHTS, "test"), "voronoi", 0.5)
    assert reply["light_ids"] == capture.light_ids
    np.testing.assert_allclose(reply["weights"], expected, rtol=1e-12)


def test_relight_writes_what_the_library_computes(service, capture, tmp_path):
    out = tmp_path / "relit.####.exr"
    status, reply = service.call("POST", "/relight", {"capture": str(capture.folder), "lights": LIGHTS,
                                                      "frames": "1001-1002", "out": str(out), "wait": True})
    assert status == 200 and reply["state"] == "done" and reply["done"] == reply["total"] == 2
    assert reply["paths"] == [str(tmp_path / "relit.1001.exr"), str(tmp_path / "relit.1002.exr")]
    weights = capture_weights(capture, lights_from_dicts(LIGHTS, "test"))
    expected = relight_frame(capture, weights, DEMO_FRAME)
    image = read_image(reply["paths"][0])
    relit = np.concatenate([image.rgb, image.alpha[..., None]], axis=2)
    np.testing.assert_allclose(relit, expected.astype(np.float16), rtol=0, atol=0)


def test_animated_lights_light_each_frame_with_its_own(service, capture, tmp_path):
    """``frame_lights``: frame 1002 under a brighter sun, frame 1003 under the other lights again."""
    brighter = [{**LIGHTS[0], "rgb": [6.0, 5.4, 4.5]}]
    status, reply = service.call("POST", "/relight", {"capture": str(capture.folder), "lights": LIGHTS[:1],
                                                      "frame_lights": {"1002": brighter}, "frames": "1001-1003",
                                                      "out": str(tmp_path / "anim.####.exr"), "wait": True})
    assert status == 200 and reply["state"] == "done", reply
    for path, lights in zip(reply["paths"], (LIGHTS[:1], brighter, LIGHTS[:1])):
        expected = relight_frame(capture, capture_weights(capture, lights_from_dicts(lights, "test")), DEMO_FRAME)
        image = read_image(path)
        relit = np.concatenate([image.rgb, image.alpha[..., None]], axis=2)
        np.testing.assert_array_equal(relit, expected.astype(np.float16))
    status, reply = service.call("POST", "/relight", {"capture": str(capture.folder), "lights": LIGHTS[:1],
                                                      "frame_lights": {"x": brighter}, "out": "o.####.exr"})
    assert status == 400 and "request: 'frame_lights': must map frame numbers" in reply["error"]
    status, reply = service.call("POST", "/weights", {"capture": str(capture.folder), "lights": LIGHTS[:1],
                                                      "frame_lights": {"1002": brighter}})
    assert status == 200 and list(reply["frames"]) == ["1002"]
    np.testing.assert_allclose(reply["frames"]["1002"],
                               capture_weights(capture, lights_from_dicts(brighter, "test")), rtol=1e-12)


def test_async_job_reports_progress_and_resumes(service, capture, tmp_path):
    out = tmp_path / "plate.####.exr"
    body = {"capture": str(capture.folder), "lights": LIGHTS[:1], "out": str(out)}
    status, reply = service.call("POST", "/relight", body)
    assert status == 202 and reply["state"] in ("queued", "running", "done")
    state = service.wait_job(reply["job"])
    assert state["state"] == "done" and state["done"] == state["total"] == 3 and len(state["paths"]) == 3
    status, again = service.call("POST", "/relight", {**body, "skip_existing": True, "wait": True})
    assert again["state"] == "done" and again["total"] == 0 and again["paths"] == []


def test_cancel_stops_between_frames_and_keeps_finished_ones(service, capture, tmp_path):
    frames = list(range(2001, 2041))
    folder = linked_capture(capture, DEMO_FRAME, tmp_path / "long", frames).folder
    out = tmp_path / "out"
    status, reply = service.call("POST", "/relight", {"capture": str(folder), "lights": LIGHTS, "frames": frames,
                                                      "out": str(out / "c.####.exr")})
    assert status == 202
    while reply["done"] < 2 and reply["state"] in ("queued", "running"):
        time.sleep(0.02)
        reply = service.call("GET", f"/jobs/{reply['job']}")[1]
    assert service.call("POST", f"/jobs/{reply['job']}/cancel", {})[0] == 200
    state = service.wait_job(reply["job"])
    assert state["state"] == "cancelled"
    assert 2 <= state["done"] < len(frames)
    written = sorted(str(p) for p in out.iterdir())
    assert written == sorted(state["paths"])  # whole frames only, no temporary files left


@pytest.mark.parametrize("body, message", [
    ({"capture": None, "lights": LIGHTS}, "request: 'capture': missing"),
    ({"capture": "/no/such/capture", "lights": LIGHTS}, "/no/such/capture/capture.yaml: capture description not found"),
    ({"lights": [{"type": "laser"}]}, "unknown light type 'laser'"),
    ({"lights": LIGHTS, "method": "nearest"}, "request: 'method': must be one of"),
    ({"lights": [{"type": "environment", "hdri": "/no/sky.exr"}]}, "/no/sky.exr: HDRI not found"),
])
def test_bad_requests_get_the_engines_message(service, capture, body, message):
    status, reply = service.call("POST", "/weights", {"capture": str(capture.folder), **body})
    assert status == 400 and message in reply["error"]


def test_failed_job_reports_the_problem(service, capture, tmp_path):
    status, reply = service.call("POST", "/relight", {"capture": str(capture.folder), "lights": LIGHTS,
                                                      "frames": [999], "out": str(tmp_path / "x.####.exr"),
                                                      "wait": True})
    assert status == 200 and reply["state"] == "failed" and "frames not in the capture: [999]" in reply["error"]
    assert not list(tmp_path.iterdir())


def test_unknown_endpoints_and_jobs(service):
    assert service.call("GET", "/nope")[0] == 404
    assert service.call("GET", "/jobs/999999")[0] == 404


def test_service_exits_with_its_parent(tmp_path):
    parent = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    token_file = tmp_path / "service.json"
    child = subprocess.Popen([sys.executable, "-m", "engine", "-q", "serve", "--token-file", str(token_file),
                              "--parent-pid", str(parent.pid)])
    try:
        deadline = time.monotonic() + 120
        while not token_file.is_file():
            assert child.poll() is None and time.monotonic() < deadline
            time.sleep(0.05)
        parent.kill()
        parent.wait()
        assert child.wait(15) == 0
        assert not token_file.exists()
    finally:
        for process in (parent, child):
            if process.poll() is None:
                process.kill()


def test_serve_command_imports_nothing_heavy():
    code = "import sys, engine.cli; print(sorted(m for m in ('torch', 'scipy', 'engine.service.server') if m in sys.modules))"
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert "engine.service" not in done.stdout and "torch" not in done.stdout


def test_unavailable_cuda_is_refused_at_start(tmp_path):
    import torch

    if torch.cuda.is_available():
        pytest.skip("this machine has CUDA")
    done = subprocess.run([sys.executable, "-m", "engine", "serve", "--device", "cuda", "--token-file",
                           str(tmp_path / "service.json")], capture_output=True, text=True, timeout=120)
    assert done.returncode == 2 and "--device: cuda requested but torch sees no CUDA device" in done.stderr
    assert not (tmp_path / "service.json").exists()

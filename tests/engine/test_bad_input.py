"""Bad input through the CLI: a clear error naming the file and the problem, exit code 2, no
partial output (no image and no temporary file in the output folder or the capture's cache).

Most cases call ``engine.cli.main`` (the function behind ``python -m engine`` and ``relume``) in
this process to keep the suite fast; ``test_real_process_exits_2_without_traceback`` runs the same
kind of failures through a real ``python -m engine`` subprocess.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path

import numpy as np
import OpenImageIO as oiio
import pytest
import yaml

from engine.cli import main
from engine.demo_scene import procedural_sky
from engine.io.exr import write_image
from engine.stage.capture import Capture, write_capture_yaml

FRAME = 1001


def files_under(folder: Path) -> list[Path]:
    """Every file below ``folder``, hidden temporaries included."""
    return sorted(p for p in folder.rglob("*") if p.is_file()) if folder.exists() else []


class Run:
    """Runs the CLI in-process for one test; ``out`` is its output sequence."""

    def __init__(self, capture: Path, tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
        self.capture = capture
        self.tmp_path = tmp_path
        self.out_dir = tmp_path / "out"
        self.out = self.out_dir / "relit.####.exr"
        self.capsys = capsys
        self.sky = tmp_path / "sky.exr"
        write_image(self.sky, procedural_sky(16), "float")

    def olat(self, light: int) -> Path:
        return Capture.load(self.capture).olat_path(light, FRAME)

    def fails(self, args: list[object], where: Path | str, problem: str) -> str:
        """Run ``args``; assert exit 2, an error starting with ``where`` and matching ``problem``,
        and nothing partial left behind. Returns the message."""
        code = main(["-q", *map(str, args)])
        err = self.capsys.readouterr().err
        assert code == 2, err
        assert err.startswith(f"relume: error: {where}: "), err
        message = err.strip().splitlines()[-1]
        assert problem.lower() in message.lower(), message
        assert files_under(self.out_dir) == [], "partial output left behind"
        assert not [p for p in files_under(self.capture) if ".tmp" in p.name], "temporary file left in the capture"
        return message

    def relight_fails(self, where: Path | str, problem: str, *lighting: object) -> str:
        lighting = lighting or ("--env", self.sky)
        return self.fails(["relight", self.capture, *lighting, "--out", self.out], where, problem)


@pytest.fixture
def run(sphere_capture: Path, tmp_path: Path, capsys: pytest.CaptureFixture) -> Run:
    return Run(sphere_capture, tmp_path, capsys)


def write_channels(path: Path, names: list[str], size: tuple[int, int] = (32, 32)) -> None:
    """An EXR with arbitrary channel names (e.g. a depth-only Z)."""
    spec = oiio.ImageSpec(size[1], size[0], len(names), "half")
    spec.channelnames = names
    output = oiio.ImageOutput.create(str(path))
    assert output.open(str(path), spec)
    assert output.write_image(np.ones((size[0], size[1], len(names)), np.float32))
    output.close()


# --- OLAT images --------------------------------------------------------------------------------

def test_missing_exr(run: Run) -> None:
    missing = run.olat(5)
    missing.unlink()
    run.relight_fails(missing, "missing OLAT image for light id 5")


@pytest.mark.parametrize("keep", [0.5, 100, 0])
def test_corrupt_exr(run: Run, keep: float) -> None:
    broken = run.olat(7)
    data = broken.read_bytes()
    broken.write_bytes(data[: int(len(data) * keep) if keep < 1 else keep])
    run.relight_fails(broken, "image")  # "corrupt or truncated image" / "cannot open image"


def test_corrupt_exr_after_a_cache_exists(run: Run) -> None:
    assert main(["-q", "ingest", str(run.capture)]) == 0
    broken = run.olat(3)
    broken.write_bytes(broken.read_bytes()[:300])
    run.relight_fails(broken, "cannot open image")


def test_resolution_mismatch_across_lights(run: Run) -> None:
    odd = run.olat(9)
    write_image(odd, np.zeros((16, 32, 4), np.float32))
    run.relight_fails(odd, f"resolution 32x16 differs from 32x32 of {run.olat(0)}")


def test_channel_mismatch_depth_only_image(run: Run) -> None:
    depth = run.olat(11)
    write_channels(depth, ["Z"])
    run.relight_fails(depth, "needs R, G, B (or grey Y) channels, has Z")


def test_grey_image_is_accepted_as_grey(run: Run) -> None:
    write_channels(run.olat(11), ["Y"])
    assert main(["-q", "relight", str(run.capture), "--env", str(run.sky), "--out", str(run.out)]) == 0
    assert [p.name for p in files_under(run.out_dir)] == [f"relit.{FRAME}.exr"]


def test_more_lights_listed_than_files(run: Run) -> None:
    last = run.olat(29)
    last.unlink()
    message = run.relight_fails(last, "missing OLAT image for light id 29")
    assert "30 lights listed" in message


def test_more_files_than_lights_listed(run: Run) -> None:
    extra = run.capture / "olat" / "L030" / f"frame.{FRAME}.exr"
    extra.parent.mkdir()
    write_image(extra, np.zeros((32, 32, 4), np.float32))
    run.relight_fails(extra, "light count does not match the files")


@pytest.mark.parametrize(("light", "pixel", "value", "pixel_type", "problem"), [
    (2, (3, 4, 1), np.nan, "half", "contains NaN or Inf pixels"),
    (3, (7, 8, 3), np.nan, "half", "contains NaN or Inf alpha"),
    (4, (1, 2, 0), 1e5, "float", "pixels above 65504, the largest half float"),  # finite, just not half
])
def test_non_finite_or_out_of_range_olat_values(run: Run, light: int, pixel: tuple, value: float, pixel_type: str,
                                                problem: str) -> None:
    bad = run.olat(light)
    pixels = np.ones((32, 32, 4), np.float32)
    pixels[pixel] = value
    write_image(bad, pixels, pixel_type)
    run.relight_fails(bad, problem)


# --- HDRIs ---------------------------------------------------------------------------------------

@pytest.mark.parametrize(("value", "problem"), [(np.nan, "NaN or Inf values (first at row 5, column 9)"),
                                                (np.inf, "NaN or Inf values (first at row 5, column 9)"),
                                                (-0.5, "negative radiance -0.5 (first at row 5, column 9)")])
def test_bad_hdri_values(run: Run, value: float, problem: str) -> None:
    radiance = np.ones((16, 32, 3), np.float32)
    radiance[5, 9, 2] = value
    hdri = run.tmp_path / "bad.exr"
    write_image(hdri, radiance, "float")
    run.relight_fails(hdri, problem, "--env", hdri)


def test_hdri_filter_ringing_is_clamped_not_an_error(run: Run) -> None:
    radiance = np.ones((16, 32, 3), np.float32)
    radiance[5, 9] = -0.005  # resampling filters leave such values in real HDRIs
    hdri = run.tmp_path / "ringing.exr"
    write_image(hdri, radiance, "float")
    assert main(["-q", "weights", str(run.capture), "--env", str(hdri)]) == 0


@pytest.mark.parametrize("shape", [(32, 32), (16, 48)])
def test_hdri_not_2_to_1(run: Run, shape: tuple[int, int]) -> None:
    hdri = run.tmp_path / "square.exr"
    write_image(hdri, np.ones((*shape, 3), np.float32), "float")
    run.relight_fails(hdri, f"HDRI must be a 2:1 lat-long image, got {shape[1]}x{shape[0]}", "--env", hdri)


def test_missing_hdri(run: Run) -> None:
    missing = run.tmp_path / "nowhere.exr"
    run.relight_fails(missing, "HDRI not found", "--env", missing)


# --- capture.yaml and lights files --------------------------------------------------------------

def edit_yaml(path: Path, change: Callable[[dict], None]) -> None:
    data = yaml.safe_load(path.read_text())
    change(data)
    path.write_text(yaml.safe_dump(data))


def test_zero_direction_in_capture_yaml(run: Run) -> None:
    yaml_path = run.capture / "capture.yaml"
    edit_yaml(yaml_path, lambda data: data["lights"][3].update(direction=[0, 0, 0]))
    run.relight_fails(yaml_path, "light 3: zero or non-finite direction")


@pytest.mark.parametrize("camera", [{"focal_px": -5}, {"focal_px": "long"}, {"focal_px": float("nan")}, {"f": 700}, 700])
def test_bad_camera_in_capture_yaml(run: Run, camera: object) -> None:
    yaml_path = run.capture / "capture.yaml"
    edit_yaml(yaml_path, lambda data: data.update(camera=camera))
    run.relight_fails(yaml_path, "camera must be a mapping with focal_px, a positive number of pixels")


def test_capture_yaml_camera_focal_length_is_read_and_written(tmp_path: Path) -> None:
    """The optional calibrated focal length round-trips; without it a capture has none."""
    write_capture_yaml(tmp_path, [FRAME], np.array([[0.0, 1.0, 0.0]]), np.ones((1, 3)), focal_px=725.92407)
    assert Capture.load(tmp_path).focal_px == 725.9241
    assert "camera" not in Capture.load(tmp_path).extra
    write_capture_yaml(tmp_path, [FRAME], np.array([[0.0, 1.0, 0.0]]), np.ones((1, 3)))
    assert Capture.load(tmp_path).focal_px is None


@pytest.mark.parametrize(("light", "problem"), [
    ({"type": "sun", "direction": [0, 0, 0], "rgb": [1, 1, 1]}, "zero or non-finite direction"),
    ({"type": "spot", "position": [0, 1, 2], "direction": [0, 0, 0], "rgb": [1, 1, 1]}, "zero or non-finite direction"),
    ({"type": "area", "position": [0, 1, 2], "direction": [0.0, 0.0, 0.0], "rgb": [1, 1, 1]},
     "zero or non-finite direction"),
    ({"type": "point", "position": [0, 0, 0], "rgb": [1, 1, 1]}, "sits at the subject's origin"),
    ({"type": "laser", "direction": [0, 1, 0]}, "unknown light type 'laser'"),
    ({"type": "area", "position": [0, 1, 2], "direction": [0, -1, -2], "rgb": [1, 1, 1], "size": "big"},
     "'size' must be one or two positive numbers"),
    ({"type": "sun", "direction": [0, 1, 0], "rgb": [1, -1, 1]}, "'rgb' must not be negative"),
])
def test_bad_light_in_a_lights_file(run: Run, light: dict, problem: str) -> None:
    lights_file = run.tmp_path / "lights.yaml"
    lights_file.write_text(yaml.safe_dump({"lights": [{"type": "sun", "direction": [0, 1, 0], "rgb": [1, 1, 1]},
                                                      light]}))
    run.relight_fails(f"{lights_file}: light 1 ({light['type']})", problem, "--lights", lights_file)
    run.fails(["weights", run.capture, "--lights", lights_file], f"{lights_file}: light 1 ({light['type']})", problem)


def test_missing_lights_file_and_capture(run: Run) -> None:
    run.relight_fails(run.tmp_path / "none.yaml", "lights file not found", "--lights", run.tmp_path / "none.yaml")
    (run.capture / "capture.yaml").unlink()
    run.relight_fails(run.capture / "capture.yaml", "capture description not found")


def test_frames_outside_the_capture(run: Run) -> None:
    run.fails(["relight", run.capture, "--env", run.sky, "--frames", "1001-1003", "--out", run.out],
              run.capture / "capture.yaml", "frames not in the capture: [1002, 1003] (it has frame 1001)")
    run.fails(["relight", run.capture, "--env", run.sky, "--frames", "10x", "--out", run.out], "--frames",
              "bad frame range")
    run.fails(["relight", run.capture, "--env", run.sky, "--frames", "1001-400001000", "--out", run.out], "--frames",
              "holds 400000000 frames, more than 1000000")


@pytest.mark.parametrize(("option", "value", "where", "problem"), [
    ("--rotate", "nan", "--env (environment)", "'rotate_deg' must be finite, got nan"),
    ("--rotate", "inf", "--env (environment)", "'rotate_deg' must be finite"),
    ("--strength", "-1", "--env (environment)", "'strength' must be in [0.0, inf], got -1.0"),
    ("--strength", "nan", "--env (environment)", "'strength' must be in"),
    ("--exposure", "200", "--exposure", "must be between -24 and 24 stops, got 200.0"),  # the setting, as its flag
    ("--exposure", "nan", "--exposure", "must be between -24 and 24 stops"),
])
def test_bad_lighting_values_on_the_command_line(run: Run, option: str, value: str, where: str, problem: str) -> None:
    run.relight_fails(where, problem, "--env", run.sky, option, value)
    run.fails(["weights", run.capture, "--env", run.sky, option, value], where, problem)


def test_a_frame_that_would_overflow_half_float_is_refused(run: Run) -> None:
    lights_file = run.tmp_path / "blinding.yaml"
    lights_file.write_text(yaml.safe_dump({"lights": [{"type": "sun", "direction": [0, 1, 1], "rgb": [1e9] * 3}]}))
    message = run.relight_fails(str(run.out).replace("####", str(FRAME)), "would be NaN or infinite in half float",
                                "--lights", lights_file)
    assert f"frame {FRAME}: " in message and " pixels " in message


# --- outputs -------------------------------------------------------------------------------------

def test_output_folder_is_a_file(run: Run) -> None:
    blocker = run.tmp_path / "not_a_folder"
    blocker.write_text("a file where the output folder should be")
    for out in (blocker / "relit.####.exr", blocker / "deeper" / "relit.####.exr"):
        run.fails(["relight", run.capture, "--env", run.sky, "--out", out],
                  str(out).replace("####", str(FRAME)), "not a folder")
    assert blocker.read_text() == "a file where the output folder should be"
    assert files_under(run.tmp_path / "not_a_folder.d") == []


def test_a_hash_in_a_folder_name_is_not_a_frame_field(run: Run) -> None:
    out = run.tmp_path / "shot#1" / "relit.####.exr"
    assert main(["-q", "relight", str(run.capture), "--env", str(run.sky), "--out", str(out)]) == 0
    assert [p.relative_to(run.tmp_path).as_posix() for p in files_under(run.tmp_path / "shot#1")] == \
        [f"shot#1/relit.{FRAME}.exr"]


def test_paths_that_are_not_utf8(run: Run) -> None:
    odd = Path(os.fsdecode(os.fsencode(run.tmp_path) + b"/cap\xff"))
    os.rename(run.capture, odd)
    assert main(["-q", "relight", str(odd), "--env", str(run.sky), "--out", str(run.out)]) == 2
    err = run.capsys.readouterr().err
    assert "cap\\xff/" in err and "is not valid UTF-8, which OpenImageIO cannot open" in err
    os.rename(odd, run.capture)
    odd_out = Path(os.fsdecode(os.fsencode(run.out_dir) + b"/\xfe/relit.####.exr"))
    assert main(["-q", "relight", str(run.capture), "--env", str(run.sky), "--out", str(odd_out)]) == 2
    assert "is not valid UTF-8, which OpenImageIO cannot write" in run.capsys.readouterr().err
    assert [p for p in files_under(run.out_dir) if not p.name.startswith(".")] == []


def test_two_relights_of_the_same_frame_cannot_both_succeed(run: Run) -> None:
    from relume_host.atomic import exclusive_writer

    frame_path = Path(str(run.out).replace("####", str(FRAME)))
    with exclusive_writer(frame_path):                      # another relight is writing the frame
        assert main(["-q", "relight", str(run.capture), "--env", str(run.sky), "--out", str(run.out)]) == 2
        assert run.capsys.readouterr().err.strip() == \
            f"relume: error: {frame_path}: another relight is writing this file right now"
        assert not frame_path.exists()
    assert main(["-q", "relight", str(run.capture), "--env", str(run.sky), "--out", str(run.out)]) == 0
    assert files_under(run.out_dir) == [frame_path]         # and no lock file is left behind


def test_output_under_proc(run: Run) -> None:
    out = Path("/proc/relume_test/relit.####.exr")
    run.fails(["relight", run.capture, "--env", run.sky, "--out", out], f"/proc/relume_test/relit.{FRAME}.exr",
              "cannot write in /proc/relume_test")


def test_output_must_number_several_frames(run: Run, make_capture) -> None:
    capture = make_capture(name="three", frames=[1001, 1002, 1003])
    run.fails(["relight", capture.folder, "--env", run.sky, "--out", run.out_dir / "still.exr"],
              run.out_dir / "still.exr", "needs a frame number field")


def test_real_process_exits_2_without_traceback(cli, run: Run) -> None:
    """A missing EXR once escaped as a FileNotFoundError traceback (exit 1) from the cache's fingerprint."""
    missing = run.olat(5)
    missing.unlink()
    result = cli("relight", run.capture, "--env", run.sky, "--out", run.out)
    assert result.returncode == 2, result.stderr
    assert result.stderr.startswith(f"relume: error: {missing}: missing OLAT image")
    assert "Traceback" not in result.stderr
    assert files_under(run.out_dir) == []

"""``python -m engine`` end to end in real subprocesses: relight, weights, ingest, demo."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import OpenImageIO as oiio
import pytest
import yaml

import engine.cli as cli_module
from engine.demo_scene import procedural_sky
from engine.errors import InputError
from engine.io.exr import read_image, write_image
from engine.lighting.lights import EnvironmentLight, load_lights, load_lights_file
from engine.lighting.weights import capture_weights
from engine.relight.frame import NO_CACHE, CacheOptions, relight_frame
from engine.relight.job import frame_output_path
from engine.stage.capture import Capture

FRAME = 1001


def current_umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def exr_spec(path: Path) -> tuple[list[str], str]:
    image_input = oiio.ImageInput.open(str(path))
    spec = image_input.spec()
    image_input.close()
    return list(spec.channelnames), str(spec.format)


def rgba(path: Path) -> np.ndarray:
    image = read_image(path)
    return np.concatenate([image.rgb, image.alpha[..., None]], axis=2)


def half(values: np.ndarray) -> np.ndarray:
    return values.astype(np.float16).astype(np.float32)


@pytest.fixture
def sky(tmp_path: Path) -> Path:
    path = tmp_path / "hdri" / "sky.exr"
    write_image(path, procedural_sky(32), "float")
    return path


def test_relight_env_rotate_writes_rgba_half_equal_to_the_library(cli, sphere_capture: Path, sky: Path,
                                                                   tmp_path: Path) -> None:
    out = tmp_path / "out" / "relit.####.exr"
    result = cli("relight", sphere_capture, "--env", sky, "--rotate", 30, "--out", out)
    assert result.returncode == 0, result.stderr
    written = tmp_path / "out" / f"relit.{FRAME}.exr"
    assert str(written) in result.stdout
    assert sorted(p.name for p in written.parent.iterdir()) == [written.name]  # no temporaries left
    assert exr_spec(written) == (["R", "G", "B", "A"], "half")
    assert written.stat().st_mode & 0o777 == 0o666 & ~current_umask()

    capture = Capture.load(sphere_capture)
    rotated = relight_frame(capture, capture_weights(capture, [EnvironmentLight(sky, 30.0)]), FRAME)
    unrotated = relight_frame(capture, capture_weights(capture, [EnvironmentLight(sky, 0.0)]), FRAME)
    assert np.abs(rotated - unrotated).max() > 20 * np.abs(rotated).max() * 1e-3  # --rotate matters
    np.testing.assert_allclose(rgba(written), half(rotated), rtol=2e-3, atol=1e-5)
    # alpha is carried through from the OLAT images
    np.testing.assert_array_equal(rgba(written)[..., 3], read_image(capture.olat_path(0, FRAME), "half").alpha)
    assert 0 < rgba(written)[..., 3].mean() < 1


def test_relight_lights_file_with_exposure(cli, sphere_capture: Path, sky: Path, tmp_path: Path) -> None:
    lights_file = tmp_path / "hdri" / "key.yaml"  # the HDRI path is relative to the lights file
    lights_file.write_text(yaml.safe_dump({"lights": [
        {"type": "environment", "hdri": "sky.exr", "rotate_deg": -45, "strength": 0.5},
        {"type": "sun", "direction": [0.4, 0.7, 0.6], "rgb": [3.0, 2.5, 2.0], "angle_deg": 2.0},
        {"type": "point", "position": [-1.5, 0.3, 1.0], "rgb": [2.0, 2.0, 4.0]},
    ]}))
    out = tmp_path / "out" / "key.####.exr"
    result = cli("relight", sphere_capture, "--lights", lights_file, "--exposure", 1, "--out", out)
    assert result.returncode == 0, result.stderr
    capture = Capture.load(sphere_capture)
    base = relight_frame(capture, capture_weights(capture, load_lights(lights_file)), FRAME)  # 0 EV
    brighter = rgba(tmp_path / "out" / f"key.{FRAME}.exr")
    np.testing.assert_allclose(brighter[..., :3], half(2 * base[..., :3]), rtol=2e-3, atol=1e-5)  # +1 stop doubles
    np.testing.assert_array_equal(brighter[..., 3], half(base[..., 3]))
    assert base[..., :3].max() > 0.05


def test_frame_range_and_output_naming(cli, make_capture, sky: Path, tmp_path: Path) -> None:
    capture = make_capture(frames=[1001, 1002, 1003, 1004])
    out = tmp_path / "renders" / "v001" / "shot_v001.#####.exr"
    result = cli("relight", capture.folder, "--env", sky, "--frames", "1002-1003", "--out", out)
    assert result.returncode == 0, result.stderr
    assert sorted(p.name for p in out.parent.iterdir()) == ["shot_v001.01002.exr", "shot_v001.01003.exr"]
    weights = capture_weights(capture, [EnvironmentLight(sky)])
    for frame in (1002, 1003):
        np.testing.assert_allclose(rgba(out.parent / f"shot_v001.{frame:05d}.exr"),
                                   half(relight_frame(capture, weights, frame)), rtol=2e-3, atol=1e-5)
    # frames differ (each frame's own OLAT images were used)
    assert not np.array_equal(rgba(out.parent / "shot_v001.01002.exr"), rgba(out.parent / "shot_v001.01003.exr"))


def test_lights_file_frames_light_those_frames_with_their_own_lights(cli, make_capture, sky: Path,
                                                                    tmp_path: Path) -> None:
    """Animated lights: ``frames`` in the lights file gives frame 1002 its own lights (a sun); the other frames
    keep ``lights``; ``weights --json`` reports the same per frame."""
    capture = make_capture(frames=[1001, 1002, 1003])
    lights_file = tmp_path / "hdri" / "animated.yaml"
    sun = {"type": "sun", "direction": [0.4, 0.7, 0.6], "rgb": [3.0, 2.5, 2.0]}
    lights_file.write_text(yaml.safe_dump({"lights": [{"type": "environment", "hdri": "sky.exr"}],
                                           "frames": {1002: [sun]}}))
    out = tmp_path / "out" / "anim.####.exr"
    result = cli("relight", capture.folder, "--lights", lights_file, "--out", out)
    assert result.returncode == 0, result.stderr
    env_weights = capture_weights(capture, [EnvironmentLight(sky)])
    sun_weights = capture_weights(capture, load_lights_file(lights_file).frames[1002])
    for frame, weights in ((1001, env_weights), (1002, sun_weights), (1003, env_weights)):
        np.testing.assert_allclose(rgba(tmp_path / "out" / f"anim.{frame}.exr"),
                                   half(relight_frame(capture, weights, frame)), rtol=2e-3, atol=1e-5)
    printed = json.loads(cli("weights", capture.folder, "--lights", lights_file, "--json").stdout)
    np.testing.assert_allclose(printed["weights"], env_weights, rtol=1e-12)
    assert list(printed["frames"]) == ["1002"]
    np.testing.assert_allclose(printed["frames"]["1002"], sun_weights, rtol=1e-12)
    lights_file.write_text(yaml.safe_dump({"lights": [sun], "frames": {"x": [sun]}}))
    result = cli("weights", capture.folder, "--lights", lights_file)
    assert result.returncode == 2 and f"{lights_file}: frames: must map frame numbers to lists of lights" in result.stderr


def test_skip_existing_rewrites_only_missing_frames(cli, make_capture, sky: Path, tmp_path: Path) -> None:
    capture = make_capture(frames=[1001, 1002, 1003])
    out = tmp_path / "out" / "plate.####.exr"
    assert cli("relight", capture.folder, "--env", sky, "--out", out).returncode == 0
    paths = {frame: tmp_path / "out" / f"plate.{frame}.exr" for frame in capture.frames}
    old = 1_000_000_000_000_000_000  # ns: 2001
    for path in paths.values():
        os.utime(path, ns=(old, old))
    paths[1002].unlink()  # as if the batch had stopped there
    result = cli("relight", capture.folder, "--env", sky, "--out", out, "--skip-existing")
    assert result.returncode == 0, result.stderr
    assert re.search(r"wrote 1 frame\(s\), skipped 2 existing", result.stdout)
    assert paths[1001].stat().st_mtime_ns == old and paths[1003].stat().st_mtime_ns == old
    assert paths[1002].stat().st_mtime_ns > old
    assert exr_spec(paths[1002]) == (["R", "G", "B", "A"], "half")


def test_weights_json(cli, sphere_capture: Path, sky: Path) -> None:
    result = cli("weights", sphere_capture, "--env", sky, "--rotate", 90, "--json")
    assert result.returncode == 0, result.stderr
    printed = json.loads(result.stdout)
    capture = Capture.load(sphere_capture)
    assert printed["light_ids"] == capture.light_ids
    np.testing.assert_allclose(printed["weights"], capture_weights(capture, [EnvironmentLight(sky, 90.0)]), rtol=1e-12)


def test_ingest_builds_the_cache_that_relight_then_reuses(cli, sphere_capture: Path, sky: Path, tmp_path: Path,
                                                          monkeypatch: pytest.MonkeyPatch) -> None:
    cache_dir = tmp_path / "cache"
    result = cli("ingest", sphere_capture, "--cache-dir", cache_dir, "--rank", 4)
    assert result.returncode == 0, result.stderr
    assert str(cache_dir) in result.stdout
    reported = float(re.search(r"frame 1001: rank 4 relative error ([0-9.e+-]+)", result.stdout).group(1))
    assert (reported > 0.03) == ("a poor fit" in result.stdout), result.stdout      # 4 of 30 lights: poor
    meta_path = cache_dir / f"olat.{FRAME}.json"
    assert json.loads(meta_path.read_text())["lowrank"]["4"]["relative_error"] == pytest.approx(reported, rel=1e-2)
    stack = cache_dir / f"olat.{FRAME}.npy"
    capture = Capture.load(sphere_capture)
    assert np.load(stack, mmap_mode="r").shape[2] == capture.light_count
    built = stack.stat().st_mtime_ns, meta_path.stat().st_mtime_ns
    weights = capture_weights(capture, [EnvironmentLight(sky)])
    expected = relight_frame(capture, weights, FRAME, NO_CACHE)

    def refuse(*args: object, **kwargs: object) -> None:
        raise AssertionError("an EXR was decoded although the capture was ingested")

    monkeypatch.setattr("engine.relight.olat_reader.read_image", refuse)
    np.testing.assert_allclose(relight_frame(capture, weights, FRAME, CacheOptions(folder=cache_dir)), expected, rtol=1e-4,
                               atol=1e-6)
    low = relight_frame(capture, weights, FRAME, CacheOptions(folder=cache_dir, rank=4))[..., :3]
    assert np.linalg.norm(low - expected[..., :3]) / np.linalg.norm(expected[..., :3]) < 2 * reported
    assert (stack.stat().st_mtime_ns, meta_path.stat().st_mtime_ns) == built  # reused, not rebuilt
    assert not (sphere_capture / ".relume_cache").exists()


def test_demo_writes_exr_and_png_and_prints_their_paths(cli, tmp_path: Path) -> None:
    result = cli("demo", "--out", tmp_path / "demo", "--lights", 24, "--size", 32)
    assert result.returncode == 0, result.stderr
    printed = dict(line.removeprefix("relume demo: ").rsplit(None, 1) for line in result.stdout.splitlines())
    exr, png = Path(printed["relit EXR"]), Path(printed["preview"])
    assert exr.suffix == ".exr" and png.suffix == ".png"
    assert exr_spec(exr) == (["R", "G", "B", "A"], "half")
    channels, pixel_format = exr_spec(png)
    assert len(channels) == 3 and pixel_format == "uint8"
    preview = read_image(png).rgb
    assert preview.shape == (32, 32, 3) and 0.05 < preview.mean() < 0.95
    assert Path(printed["capture"], "capture.yaml").is_file() and Path(printed["HDRI"]).is_file()


def test_relighting_never_imports_torch_nor_scipy_once_the_sky_is_integrated(sphere_capture: Path, sky: Path,
                                                                              tmp_path: Path) -> None:
    """A one-off relight (cache built, full sum, low-rank form, streamed) runs with torch unimportable: it
    would cost over a second of import for nothing (issue 12.6). Once the capture's cache keeps the sky's
    integral, a call needs no SciPy either (the HDRI's place on the stage is all it is used for)."""
    blockers = tmp_path / "blocked"
    for name in ("torch", "scipy"):
        (blockers / name).mkdir(parents=True)
        (blockers / name / "__init__.py").write_text(f"raise ImportError('relighting must not import {name}')\n")
    (blockers / "scipy").rename(blockers / "scipy_later")

    def relight(*extra: str) -> None:
        out = tmp_path / f"relit{len(list(tmp_path.glob('relit*')))}" / "r.####.exr"
        done = subprocess.run([sys.executable, "-m", "engine", "-q", "relight", str(sphere_capture), "--env", str(sky),
                               "--out", str(out), *extra], env={**os.environ, "PYTHONPATH": str(blockers)},
                              cwd=Path(__file__).resolve().parents[2], capture_output=True, text=True, timeout=300)
        assert done.returncode == 0, done.stderr
        assert frame_output_path(out, FRAME).is_file()

    for extra in ([], ["--rank", "4"], ["--no-cache"]):
        relight(*extra)
    (blockers / "scipy_later").rename(blockers / "scipy")
    relight()
    relight("--rank", "4")


def test_library_errors_name_settings_and_the_command_line_names_its_flags(sphere_capture: Path, cli) -> None:
    """build_lowrank says ``rank: ...`` (as the service, whose requests say ``rank``, reports it); the command
    line that was given ``--rank`` says ``--rank: ...`` (issue 14.4)."""
    for flag in (["--rank", "999"], ["--rank=999"]):
        result = cli("ingest", sphere_capture, *flag)
        assert result.returncode == 2
        assert re.fullmatch(r"relume: error: --rank: must be between 1 and the capture's \d+ lights, got 999\n",
                            result.stderr), result.stderr
    error = InputError("rank", "too big")
    assert cli_module.flag_named(error, ["ingest", "cap", "--rank", "9"]) == "--rank: too big"
    assert cli_module.flag_named(error, ["ingest", "cap"]) == "rank: too big"          # not given: the setting
    assert cli_module.flag_named(InputError("out", "x"), ["relight", "out"]) == "out: x"  # a path, not a flag

"""The synthetic light stage (engine.synth): pure parts, then one small real capture checked end to end.

The capture (150 lights, 3 frames, 128 px, motion timed for 4 fps so frames move about a pixel) is
made once per session through :func:`engine.synth.generate.generate`, relit through the relighting
engine (capture_weights + relight_frame) and compared with the stage renderer's direct renders.
Bounds and why:

* Sun exactly on a stage light: the engine's weight is that light's alone, so relit = direct up to
  half-float rounding of the OLAT file (~1e-3 relative); measured 90 dB, bound 50 dB.
* Environment (a soft sky with a bright sun blob): the stage has 150 lights (~17 degrees apart), the
  direct render integrates the HDRI onto 512 directions (~9 degrees), so shadows and highlights
  finer than a stage cell differ; measured 40.7-40.8 dB at 128 px, bound 36 dB.
* Sun between stage lights: the engine blends three neighbouring lights, whose shadows sit up to
  ~17 degrees apart; measured 36 dB, bound 31 dB.
* Flow: texture coordinates move with the surface, so UV(t+1) sampled at p + flow(p) must equal
  UV(t) at p; the remaining error (bilinear sampling of a piecewise-linear field) is 2-5 % of the
  error of not warping (mean motion 0.7-0.8 px): bound 10 %.
"""

from __future__ import annotations

import json
import math
import subprocess
import sys
from pathlib import Path

import cv2
import numpy as np
import OpenImageIO as oiio
import pytest
import torch
import yaml

from engine.errors import InputError
from engine.face.model import FaceModel
from engine.io.exr import read_image, write_image
from engine.lighting.lights import lights_from_dicts, load_lights
from engine.lighting.sphere import fibonacci_sphere
from engine.lighting.weights import capture_weights
from engine.relight.frame import NO_CACHE, relight_frame
from engine.stage.capture import Capture
from engine.synth.brdf import ggx_specular, shade
from engine.synth.dome import make_dome
from engine.synth.flow import warp_with_flow
from engine.synth.generate import (
    STAGE_STREAM,
    SynthOptions,
    generate,
    make_performer,
    stage_camera,
)
from engine.synth.layout import GROUND_TRUTH, GT_PATTERNS, RELIT_PATTERN
from engine.synth.material import PixelMaterial
from engine.synth.noise import fbm, value_noise
from engine.synth.performer import make_performance
from engine.synth.shadows import SurfaceSampler, render_shadow_maps, visibility

REPO = Path(__file__).resolve().parents[2]
SIZE, LIGHTS, FRAMES, SEED, FPS = 128, 150, 3, 7, 4.0
ENV_BOUND_DB, SUN_ON_LIGHT_BOUND_DB, SUN_BETWEEN_BOUND_DB = 36.0, 50.0, 31.0
FLOW_RATIO_BOUND = 0.10


def masked_psnr(estimate: np.ndarray, truth: np.ndarray, mask: np.ndarray) -> float:
    """PSNR (dB) of RGB inside ``mask``, peak = the truth's maximum there."""
    error = estimate[..., :3][mask].astype(np.float64) - truth[..., :3][mask]
    mse = float(np.mean(error**2))
    return math.inf if mse == 0 else 10.0 * math.log10(float(truth[..., :3][mask].max()) ** 2 / mse)


def rgba(path: Path) -> np.ndarray:
    image = read_image(path)
    return np.concatenate([image.rgb, image.alpha[..., None]], axis=2)


# ---------------------------------------------------------------------------------------------- pure parts
def test_dome_covers_the_sphere_with_calibrated_lights() -> None:
    dome = make_dome(150, seed=3)
    assert dome.directions.shape == (150, 3) and dome.rgb.shape == (150, 3)
    np.testing.assert_allclose(np.linalg.norm(dome.directions, axis=1), 1.0, atol=1e-12)
    assert abs(dome.directions.mean(axis=0)).max() < 0.02  # balanced over the sphere
    assert 0.95 < dome.rgb.min() and dome.rgb.max() < 1.05  # +-3 % gain, 1 % tint
    np.testing.assert_array_equal(dome.rgb, make_dome(150, seed=3).rgb)
    assert not np.array_equal(dome.rgb, make_dome(150, seed=4).rgb)
    assert dome.solid_angle == pytest.approx(4 * np.pi / 150)
    np.testing.assert_allclose(dome.uniform_weights() * dome.rgb, dome.solid_angle)
    cut = make_dome(150, floor_deg=-30.0)
    assert 0.7 * 150 < cut.light_count < 150 and cut.directions[:, 1].min() >= -0.5


def test_lambert_reads_irradiance_over_pi_and_wrap_keeps_energy() -> None:
    normal = torch.tensor([[0.0, 0.0, 1.0]])
    ones = torch.ones(1, 3)
    lambert = PixelMaterial(albedo=ones, roughness=torch.full((1,), 0.5), specular=torch.zeros(1), wrap=torch.zeros(1, 3))
    out = shade(normal, normal, lambert, torch.tensor([[0.0, 0.0, 1.0]]), torch.tensor([[2.0, 3.0, 4.0]]))
    np.testing.assert_allclose(out[0, 0].numpy(), np.array([2.0, 3.0, 4.0]) / np.pi, rtol=1e-6)
    # Under uniform light from every direction (radiance 1) wrapped diffuse still returns albedo.
    directions = torch.from_numpy(make_dome(4000, variation=0.0).directions).float()
    irradiance = torch.full((4000, 3), 4 * np.pi / 4000)
    wrap = torch.tensor([[0.0, 0.3, 0.6]])
    wrapped = PixelMaterial(albedo=ones, roughness=torch.full((1,), 0.5), specular=torch.zeros(1), wrap=wrap)
    radiance = shade(normal, normal, wrapped, directions, irradiance)
    np.testing.assert_allclose(radiance.sum(dim=0)[0].numpy(), 1.0, atol=5e-3)


def test_ggx_matches_the_textbook_formula() -> None:
    generator = torch.Generator().manual_seed(0)
    n = torch.nn.functional.normalize(torch.randn(9, 3, generator=generator), dim=1)
    v = torch.nn.functional.normalize(n + 0.6 * torch.randn(9, 3, generator=generator), dim=1)
    lights = torch.nn.functional.normalize(torch.randn(5, 3, generator=generator), dim=1)
    roughness, f0 = torch.linspace(0.2, 0.9, 9), torch.linspace(0.02, 0.08, 9)
    ours = ggx_specular(lights @ n.T, (n * v).sum(dim=1), lights @ v.T, roughness, f0)
    for i in range(5):
        for j in range(9):
            nl, nv = float(lights[i] @ n[j]), max(float(n[j] @ v[j]), 1e-4)
            h = torch.nn.functional.normalize(lights[i] + v[j], dim=0)
            nh, vh, a2 = float(n[j] @ h), float(v[j] @ h), float(roughness[j]) ** 4
            d = a2 / (np.pi * (nh * nh * (a2 - 1) + 1) ** 2)
            g = 0.5 / (nl * np.sqrt(nv * nv * (1 - a2) + a2) + nv * np.sqrt(nl * nl * (1 - a2) + a2)) if nl > 0 else 0
            f = float(f0[j]) + (1 - float(f0[j])) * (1 - vh) ** 5
            assert float(ours[i, j]) == pytest.approx(d * g * f * max(nl, 0.0), rel=1e-4, abs=1e-9)


def test_shadow_maps_shadow_a_plane_under_a_ball() -> None:
    # A 20 cm floor (y = 0) and a 3 cm ball 5 cm above its centre, light from straight above.
    axis = torch.linspace(-0.1, 0.1, 81)
    gx, gz = torch.meshgrid(axis, axis, indexing="ij")
    floor = torch.stack([gx.reshape(-1), torch.zeros(gx.numel()), gz.reshape(-1)], dim=1)
    ball = torch.from_numpy(fibonacci_sphere(6000)).float()  # evenly spread, like SurfaceSampler's points
    occluders = torch.cat([floor, ball * 0.03 + torch.tensor([0.0, 0.05, 0.0])])
    up = torch.tensor([[0.0, 1.0, 0.0], [0.0, 0.8, 0.6]])
    maps = render_shadow_maps(occluders, torch.nn.functional.normalize(up, dim=1), resolution=128)
    lit = visibility(maps, floor, torch.tensor([[0.0, 1.0, 0.0]]).expand_as(floor))
    radius = floor[:, [0, 2]].norm(dim=1)
    assert lit[0, radius < 0.02].max() < 0.05 and lit[0, radius > 0.04].min() > 0.95
    shifted = (floor - torch.tensor([0.0, 0.0, -0.05 * 0.6 / 0.8])).norm(dim=1)  # the slanted light's shadow moves
    assert lit[1, shifted < 0.02].max() < 0.05 and lit[1, floor[:, 2] > 0.01].min() > 0.95


def test_surface_sampler_fills_large_triangles() -> None:
    vertices = torch.tensor([[0.0, 0.0, 0.0], [0.05, 0.0, 0.0], [0.0, 0.05, 0.0]])
    sampler = SurfaceSampler(torch.tensor([[0, 1, 2]]), vertices, spacing=0.005)
    points = sampler.points(vertices)
    assert sampler.count == 3 + int(0.5 * 0.05 * 0.05 / 0.005**2)
    assert (points[:, :2] >= -1e-7).all() and (points[:, :2].sum(dim=1) <= 0.05 + 1e-6).all()


def test_noise_is_deterministic_and_bounded() -> None:
    points = torch.rand(5000, 3, generator=torch.Generator().manual_seed(2)) * 20
    a, b = value_noise(points, 4), value_noise(points, 4)
    assert torch.equal(a, b) and not torch.equal(a, value_noise(points, 5))
    assert a.abs().max() <= 1.0 and 0.2 < a.std() < 0.6
    assert fbm(points[:, :2], 2.0, 3, 1).abs().max() <= 1.0


def test_performance_is_deterministic_smooth_and_in_range() -> None:
    names = FaceModel.load().expression_names
    a, b = make_performance(11, names, 60), make_performance(11, names, 60)
    np.testing.assert_array_equal(a.expressions, b.expressions)
    np.testing.assert_array_equal(a.rotations, b.rotations)
    assert not np.array_equal(a.identity, make_performance(12, names, 60).identity)
    assert a.expressions.shape == (60, 53) and a.expressions.min() >= 0.0 and a.expressions.max() <= 1.0
    assert 0.05 < (a.expressions > 0).mean() < 0.6  # sparse but alive
    blinks = [names.index("eyeBlink_L"), names.index("eyeBlink_R")]
    others = np.delete(np.abs(np.diff(a.expressions, axis=0)), blinks, axis=1)
    assert others.max() < 0.35  # smooth at 24 fps (blinks are allowed to be fast)
    np.testing.assert_allclose(np.einsum("tij,tkj->tik", a.rotations, a.rotations),
                               np.broadcast_to(np.eye(3), (60, 3, 3)), atol=1e-9)
    assert np.abs(np.diff(a.translations, axis=0)).max() < 0.002  # metres per frame


# ---------------------------------------------------------------------------------------------- the capture
def _sky(width: int = 128) -> np.ndarray:
    """A lat-long sky: blue gradient above, brown ground, a soft bright sun blob (engine mapping)."""
    height = width // 2
    v, u = np.meshgrid((np.arange(height) + 0.5) / height, (np.arange(width) + 0.5) / width, indexing="ij")
    theta, phi = v * np.pi, (u - 0.5) * 2 * np.pi
    d = np.stack([np.sin(theta) * np.cos(phi), np.cos(theta), np.sin(theta) * np.sin(phi)], axis=-1)
    up = d[..., 1:2]
    sky = np.where(up > 0, np.array([0.35, 0.5, 0.8]) * (0.4 + 0.6 * up), np.array([0.16, 0.12, 0.09]))
    sun = np.array([0.5, 0.6, 0.62]) / np.linalg.norm([0.5, 0.6, 0.62])
    blob = np.exp((d @ sun - 1.0) / (1 - np.cos(np.radians(8.0))))[..., None] * np.array([30.0, 27.0, 22.0])
    return (sky + blob).astype(np.float32)


@pytest.fixture(scope="session")
def synth(tmp_path_factory: pytest.TempPathFactory) -> SynthOptions:
    work = tmp_path_factory.mktemp("synth")
    write_image(work / "sky.exr", _sky(), "float")
    (work / "env.yaml").write_text(yaml.safe_dump({"lights": [{"type": "environment", "hdri": "sky.exr",
                                                                "rotate_deg": 40.0, "strength": 1.0}]}))
    options = SynthOptions(out=work / "capture", lights_count=LIGHTS, frames=FRAMES, size=SIZE, seed=SEED,
                           relight=work / "env.yaml", relight_every=2, relight_directions=512, fps=FPS,
                           progress=False, contact_sheet=True)
    generate(options)
    return options


@pytest.fixture(scope="session")
def performer(synth: SynthOptions):
    """The capture's performer rebuilt from its seed (as generate builds it)."""
    return make_performer(FaceModel.load(), SEED, STAGE_STREAM, FRAMES, stage_camera(SIZE), FPS,
                          synth.shadow_resolution)


def test_capture_has_every_file_in_its_format(synth: SynthOptions) -> None:
    capture = Capture.load(synth.out)
    assert capture.frames == [1001, 1002, 1003] and capture.light_count == LIGHTS
    assert capture.extra["synthetic"]["seed"] == SEED
    spec = oiio.ImageInput.open(str(capture.olat_path(5, 1002)))
    assert list(spec.spec().channelnames) == ["R", "G", "B", "A"] and spec.spec().format == oiio.HALF
    spec.close()
    olat = rgba(capture.olat_path(5, 1002))
    matte = rgba(capture.matte_path(1002))
    assert olat.shape == (SIZE, SIZE, 4)
    np.testing.assert_array_equal(olat[..., 3], matte[..., 3])
    assert set(np.unique(matte[..., 3])) == {0.0, 1.0} and 0.25 < matte[..., 3].mean() < 0.7
    assert (olat[..., :3][matte[..., 3] == 0] == 0).all() and olat[..., :3].max() > 0.05
    tracking = rgba(capture.tracking_path(1002))
    assert 0.05 < np.median(tracking[..., :3][matte[..., 3] > 0]) < 0.8
    gt = synth.out / GROUND_TRUTH
    labels = cv2.imread(str(gt / GT_PATTERNS["segmentation"].format(frame=1002)), cv2.IMREAD_UNCHANGED)
    assert labels.dtype == np.uint8 and labels.shape == (SIZE, SIZE)
    counts = np.bincount(labels.reshape(-1), minlength=5)
    assert len(counts) == 5 and counts[1] == counts[1:].max() and counts[2] > 0  # skin most, eyes seen
    np.testing.assert_array_equal(labels > 0, matte[..., 3] > 0)
    for name in ("flow_forward", "flow_backward", "uv"):
        flow = oiio.ImageInput.open(str(gt / GT_PATTERNS[name].format(frame=1002)))
        assert flow.spec().format == oiio.FLOAT and flow.spec().nchannels == 4
        flow.close()
    assert (rgba(gt / GT_PATTERNS["flow_forward"].format(frame=1003))[..., 2] == 0).all()  # no next frame
    params = json.loads((gt / "params.json").read_text())
    assert len(params["identity"]) == 100 and np.asarray(params["expressions"]).shape == (FRAMES, 53)
    assert np.asarray(params["landmarks_2d"]).shape == (FRAMES, 68, 2)
    assert np.asarray(params["head_rotation"]).shape == (FRAMES, 3, 3)
    assert params["camera"]["width"] == SIZE and len(params["dome"]["directions"]) == LIGHTS
    sheet = cv2.imread(str(synth.out / "contact_sheet.png"))
    assert sheet.shape[0] > 2 * SIZE and sheet.shape[1] >= 8 * 256 and sheet.std() > 10


def test_params_reproduce_the_landmarks(synth: SynthOptions, performer) -> None:
    params = json.loads((synth.out / GROUND_TRUTH / "params.json").read_text())
    model = FaceModel.load()
    rotation = torch.tensor(params["head_rotation"][1], dtype=torch.float32)
    pivot = torch.tensor(params["head_pivot"], dtype=torch.float32)
    vertices = model.vertices(torch.tensor(params["identity"])[None], torch.tensor(params["expressions"][1])[None])[0]
    posed = (vertices - pivot) @ rotation.T + pivot + torch.tensor(params["head_translation"][1], dtype=torch.float32)
    xy, _ = stage_camera(SIZE).project(model.landmarks(posed))
    np.testing.assert_allclose(xy.numpy(), np.asarray(params["landmarks_2d"][1]), atol=1e-3)


def test_the_seed_rebuilds_the_performer(synth: SynthOptions, performer) -> None:
    capture = Capture.load(synth.out)
    surface = performer.renderer.surface(performer.vertices(0))
    direction, rgb = capture.directions[17:18], capture.rgb[17:18]
    again = surface.to_image(next(performer.renderer.radiance(surface, direction, rgb)))[0].numpy()
    np.testing.assert_allclose(again, rgba(capture.olat_path(17, 1001))[..., :3], rtol=2e-3, atol=1e-5)


def test_environment_relit_from_olats_equals_the_direct_render(synth: SynthOptions) -> None:
    capture = Capture.load(synth.out)
    weights = capture_weights(capture, load_lights(synth.relight))
    for frame in (1001, 1003):  # the frames with direct renders (relight_every=2)
        relit = relight_frame(capture, weights, frame, NO_CACHE)
        direct = rgba(synth.out / GROUND_TRUTH / RELIT_PATTERN.format(frame=frame))
        np.testing.assert_array_equal(relit[..., 3], direct[..., 3])
        mask = direct[..., 3] > 0
        assert relit[..., :3][mask].mean() == pytest.approx(direct[..., :3][mask].mean(), rel=0.02)
        assert masked_psnr(relit, direct, mask) >= ENV_BOUND_DB


@pytest.mark.parametrize("on_light", [True, False], ids=["sun-on-a-stage-light", "sun-between-lights"])
def test_sun_relit_from_olats_equals_the_direct_render(synth: SynthOptions, performer, on_light: bool) -> None:
    capture = Capture.load(synth.out)
    index = int(np.argmax(capture.directions @ np.array([0.45, 0.4, 0.8])))
    if on_light:
        direction, rgb = capture.directions[index], 2.0 * capture.rgb[index]
    else:  # the middle of the triangle of the three nearest lights
        nearest = np.argsort(-(capture.directions @ capture.directions[index]))[:3]
        direction = capture.directions[nearest].mean(axis=0)
        direction, rgb = direction / np.linalg.norm(direction), np.array([2.0, 1.9, 1.7])
    lights = lights_from_dicts([{"type": "sun", "direction": direction.tolist(), "rgb": rgb.tolist()}], "test")
    relit = relight_frame(capture, capture_weights(capture, lights), 1002, NO_CACHE)
    surface = performer.renderer.surface(performer.vertices(1))
    direct = surface.to_image(performer.renderer.total_radiance(surface, direction[None], rgb[None])).numpy()
    mask = relit[..., 3] > 0
    bound = SUN_ON_LIGHT_BOUND_DB if on_light else SUN_BETWEEN_BOUND_DB
    assert masked_psnr(relit, direct, mask) >= bound


@pytest.mark.parametrize("direction", ["forward", "backward"])
def test_flow_warps_one_frame_onto_the_next(synth: SynthOptions, direction: str) -> None:
    gt = synth.out / GROUND_TRUTH
    for frame in (1001, 1002) if direction == "forward" else (1002, 1003):
        other = frame + 1 if direction == "forward" else frame - 1
        flow = rgba(gt / GT_PATTERNS[f"flow_{direction}"].format(frame=frame))
        uv = rgba(gt / GT_PATTERNS["uv"].format(frame=frame))
        uv_other = rgba(gt / GT_PATTERNS["uv"].format(frame=other))
        # Compare away from UV seams (where u or v jumps between neighbouring pixels) and silhouettes.
        smooth = np.max(np.abs(cv2.Laplacian(uv[..., :2], cv2.CV_32F)), axis=2) < 0.02
        valid = (flow[..., 2] > 0) & smooth & (cv2.erode(uv_other[..., 3], np.ones((3, 3))) > 0)
        assert valid.mean() > 0.2 and np.hypot(flow[..., 0], flow[..., 1])[valid].mean() > 0.5
        warped = warp_with_flow(uv_other[..., :2], flow)
        error = np.abs(warped - uv[..., :2])[valid].mean()
        unwarped = np.abs(uv_other[..., :2] - uv[..., :2])[valid].mean()
        assert error < FLOW_RATIO_BOUND * unwarped


def test_same_seed_same_files_and_resume_refuses_other_options(tmp_path: Path) -> None:
    options = SynthOptions(out=tmp_path / "c", lights_count=8, frames=2, size=32, seed=1, progress=False)
    generate(options)
    generate(SynthOptions(**{**options.__dict__, "out": tmp_path / "again"}))
    for path in sorted((tmp_path / "c").rglob("*.exr")):
        np.testing.assert_array_equal(rgba(path), rgba(tmp_path / "again" / path.relative_to(tmp_path / "c")))
    olat = tmp_path / "c" / "olat" / "L003" / "frame.1002.exr"
    before = olat.stat().st_mtime_ns
    generate(SynthOptions(**{**options.__dict__, "skip_existing": True}))
    assert olat.stat().st_mtime_ns == before
    with pytest.raises(InputError, match="other options"):
        generate(SynthOptions(**{**options.__dict__, "skip_existing": True, "seed": 2}))
    other = SynthOptions(**{**options.__dict__, "out": tmp_path / "d", "seed": 2})
    generate(other)
    assert not np.array_equal(rgba(olat), rgba(tmp_path / "d" / "olat" / "L003" / "frame.1002.exr"))


def test_bad_options_fail_before_writing(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="--size"):
        generate(SynthOptions(out=tmp_path / "x", size=4))
    with pytest.raises(InputError, match="missing.yaml"):
        generate(SynthOptions(out=tmp_path / "x", relight=tmp_path / "missing.yaml"))
    assert not (tmp_path / "x").exists()


def test_source_video_under_a_lights_file_is_auto_exposed(tmp_path: Path) -> None:
    """An HDRI lights the source video at the built-in light's exposure, whatever its strength."""
    write_image(tmp_path / "sky.exr", _sky(), "float")
    videos = {}
    for strength in (1.0, 4.0):
        lights = tmp_path / f"sky{strength:g}.yaml"
        lights.write_text(yaml.safe_dump([{"type": "environment", "hdri": "sky.exr", "strength": strength}]))
        options = SynthOptions(out=tmp_path / f"c{strength:g}", lights_count=6, frames=1, size=48, seed=3,
                               source_video=True, source_lights=lights, relight_directions=128, progress=False)
        generate(options)
        record = json.loads((options.out / "source" / "params.json").read_text())["lighting"]
        assert record["lights_file"] == str(lights.resolve())
        videos[strength] = (record["exposure"], rgba(options.out / "source" / "linear" / "frame.1001.exr"))
    assert videos[1.0][0] == pytest.approx(4.0 * videos[4.0][0], rel=1e-9)
    np.testing.assert_allclose(videos[4.0][1], videos[1.0][1], rtol=2e-3, atol=1e-4)
    generate(SynthOptions(out=tmp_path / "keyfill", lights_count=6, frames=1, size=48, seed=3, source_video=True,
                          progress=False))
    built_in = rgba(tmp_path / "keyfill" / "source" / "linear" / "frame.1001.exr")
    mask = built_in[..., 3] > 0
    np.testing.assert_array_equal(videos[1.0][1][..., 3] > 0, mask)
    ratio = videos[1.0][1][..., :3][mask].mean() / built_in[..., :3][mask].mean()
    assert 0.5 < ratio < 2.0 and not np.allclose(videos[1.0][1], built_in, atol=0.01)


def test_source_lights_refusals_come_before_writing(tmp_path: Path) -> None:
    write_image(tmp_path / "black.exr", np.zeros((8, 16, 3), np.float32), "float")
    (tmp_path / "black.yaml").write_text(yaml.safe_dump([{"type": "environment", "hdri": "black.exr"}]))
    with pytest.raises(InputError, match="needs --source-video"):
        generate(SynthOptions(out=tmp_path / "x", source_lights=tmp_path / "black.yaml"))
    with pytest.raises(InputError, match="black.yaml: sends no light towards the source camera"):
        generate(SynthOptions(out=tmp_path / "x", source_video=True, source_lights=tmp_path / "black.yaml"))
    assert not (tmp_path / "x").exists()


def test_cli_synth_writes_a_capture(tmp_path: Path) -> None:
    result = subprocess.run([sys.executable, "-m", "engine", "-q", "synth", str(tmp_path / "cap"),
                             "--lights-count", "6", "--frames", "2", "--size", "24", "--source-video", "--seed", "3"],
                            cwd=REPO, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr
    capture = Capture.load(tmp_path / "cap")
    assert capture.light_count == 6 and capture.frames == [1001, 1002]
    source = tmp_path / "cap" / "source"
    assert cv2.imread(str(source / "frames" / "frame.1002.png")).shape == (24, 24, 3)
    assert rgba(source / "linear" / "frame.1001.exr")[..., :3].max() > 0.05
    assert json.loads((source / "params.json").read_text())["stream"] == 1
    bad = subprocess.run([sys.executable, "-m", "engine", "-q", "synth", str(tmp_path / "bad"), "--size", "4"],
                         cwd=REPO, capture_output=True, text=True, timeout=300)
    assert bad.returncode == 2 and "--size" in bad.stderr and not (tmp_path / "bad").exists()

"""``relume demo``: a self-contained tour — make a synthetic capture, relight it, save EXR + PNG."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from tqdm import tqdm

from engine.demo_scene import procedural_sky, render_olat, trace_camera
from engine.io.colour import srgb_encode
from engine.io.exr import write_image
from engine.lighting.lights import EnvironmentLight
from engine.lighting.sphere import fibonacci_sphere
from engine.lighting.weights import capture_weights
from engine.relight.job import RelightJob, frame_output_path
from engine.stage.capture import Capture, write_capture_yaml

DEMO_FRAME = 1001


def make_sphere_capture(folder: Path, light_count: int = 150, size: int = 192, progress: bool = True) -> Capture:
    """Write a one-frame OLAT capture of the procedural spheres into ``folder``."""
    directions = fibonacci_sphere(light_count)
    rgb = np.ones((light_count, 3))
    write_capture_yaml(folder, [DEMO_FRAME], directions, rgb)
    capture = Capture.load(folder)
    hits = trace_camera(size)
    for index in tqdm(range(light_count), desc="render OLAT", unit="light", disable=not progress):
        write_image(capture.olat_path(index, DEMO_FRAME), render_olat(hits, size, 2, directions[index], rgb[index]))
    return capture


def preview_png(exr_pixels: np.ndarray, path: Path) -> None:
    """sRGB 8-bit preview of scene-linear RGBA (exposure 0, clipped), composited over grey."""
    rgb, alpha = exr_pixels[..., :3], exr_pixels[..., 3:4]
    over = rgb + (1 - alpha) * 0.18
    write_image(path, srgb_encode(over), "uint8")


def run_demo(out: Path, progress: bool = True, light_count: int = 150, size: int = 192) -> Path:
    """Make the capture (``light_count`` stage lights, ``size`` px square) under ``out/capture``,
    relight it under a procedural sky, print the paths."""
    from engine.io.exr import read_image

    out.mkdir(parents=True, exist_ok=True)
    capture = make_sphere_capture(out / "capture", light_count, size, progress=progress)
    hdri_path = out / "sky.exr"
    write_image(hdri_path, procedural_sky(), "float")
    weights = capture_weights(capture, [EnvironmentLight(hdri_path, rotate_deg=-30.0)], exposure_ev=-1.0)
    pattern = str(out / "relit" / "demo.####.exr")
    RelightJob(capture, weights, pattern, [DEMO_FRAME]).run(progress=progress)
    exr_path = frame_output_path(pattern, DEMO_FRAME)
    image = read_image(exr_path)
    png_path = out / "relit" / "demo.png"
    preview_png(np.concatenate([image.rgb, image.alpha[..., None]], axis=2), png_path)
    print(f"relume demo: capture   {out / 'capture'}")
    print(f"relume demo: HDRI      {hdri_path}")
    print(f"relume demo: relit EXR {exr_path}")
    print(f"relume demo: preview   {png_path}")
    return exr_path

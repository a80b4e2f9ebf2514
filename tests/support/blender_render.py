"""Cycles ground truth for the tests: render a subject in a child process running real bpy."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np

from engine.io.exr import read_image

SCENE_SCRIPT = Path(__file__).with_name("cycles_scene.py")


def blender_hdri(name: str = "forest.exr") -> Path:
    """Path of an HDRI that ships inside bpy (CC0), found without importing bpy here."""
    code = "import bpy,sys; sys.stdout.write(bpy.utils.system_resource('DATAFILES', path='studiolights/world'))"
    folder = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    return Path(folder.strip().splitlines()[-1]) / name


def render(job: dict, workdir: Path, timeout: float = 900) -> None:
    """Run the renders of ``job`` (see cycles_scene.py for its keys) with bpy in a child process."""
    workdir.mkdir(parents=True, exist_ok=True)
    job_path = workdir / "job.json"
    job_path.write_text(json.dumps(job))
    result = subprocess.run([sys.executable, str(SCENE_SCRIPT), str(job_path)], capture_output=True, text=True,
                            timeout=timeout)
    if result.returncode != 0:
        raise RuntimeError(f"Cycles render failed:\n{result.stdout[-2000:]}\n{result.stderr[-2000:]}")


def read_rgba(path: Path) -> np.ndarray:
    image = read_image(path)
    alpha = image.alpha if image.alpha is not None else np.ones(image.shape, np.float32)
    return np.concatenate([image.rgb, alpha[..., None]], axis=2)


def psnr(estimate: np.ndarray, truth: np.ndarray) -> float:
    """PSNR (dB) of RGB against the truth, peak = the truth's maximum RGB value."""
    mse = float(np.mean((estimate[..., :3].astype(np.float64) - truth[..., :3]) ** 2))
    peak = float(truth[..., :3].max())
    return float("inf") if mse == 0 else 10.0 * np.log10(peak**2 / mse)

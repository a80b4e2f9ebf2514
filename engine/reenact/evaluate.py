"""Scores of reenacted frames against the synthetic stage's truth, and the nearest-frame baseline.

Images are scene-linear RGB (T, H, W, 3) relit the same way as the truth; ``masks`` (T, H, W) bool marks the
pixels the true matte covers. Both images are divided by the truth's 99th percentile on those pixels, so
scores do not depend on the environment's exposure. Used by ``relume demo --transfer``, the tests and
``benchmarks/reenact.py``, so all three report the same numbers the same way.
"""

from __future__ import annotations

import json
from pathlib import Path

import cv2
import numpy as np

from engine.io.exr import read_image


def psnr(pred: np.ndarray, truth: np.ndarray, masks: np.ndarray) -> float:
    """PSNR in dB (peak 1) on the covered pixels, both images divided by the truth's 99th percentile."""
    scale = np.percentile(truth[masks], 99)
    return float(10 * np.log10(1.0 / (((pred - truth) / scale) ** 2)[masks].mean()))


def _temporal_changes(images: np.ndarray, scale: float, masks: np.ndarray, flows: np.ndarray):
    """Per frame t >= 1: (O_t - O_{t-1}(p + flow(p))) / scale and the visible covered pixels."""
    p = images / scale
    for i in range(1, len(p)):
        flow = flows[i]
        h, w = flow.shape[:2]
        xs, ys = np.meshgrid(np.arange(w, dtype=np.float32), np.arange(h, dtype=np.float32))
        warped = cv2.remap(p[i - 1], xs + flow[..., 0], ys + flow[..., 1], cv2.INTER_LINEAR)
        yield p[i] - warped, (flow[..., 2] > 0.5) & masks[i]


def flicker(images: np.ndarray, truth: np.ndarray, masks: np.ndarray, flows: np.ndarray) -> float:
    """Temporal warping error: mean |O_t(p) - O_{t-1}(p + flow(p))| over visible covered pixels, in the truth's
    99th-percentile units. ``flows`` (T, H, W, 3): the true backward flow in pixels (dx, dy) and its validity.
    Blur lowers it too (a still image scores 0 where nothing moves), so read it with :func:`temporal_error`."""
    scale = np.percentile(truth[masks], 99)
    changes = _temporal_changes(images, scale, masks, flows)
    return float(np.mean([np.abs(change)[valid].mean() for change, valid in changes]))


def temporal_error(images: np.ndarray, truth: np.ndarray, masks: np.ndarray, flows: np.ndarray) -> float:
    """Error of the frame-to-frame change: mean |(O_t - W O_{t-1}) - (T_t - W T_{t-1})| over visible covered
    pixels (W: warp by the true backward flow), truth's 99th-percentile units. 0 for the truth; flicker the
    truth does not have raises it, and so does missing a change the truth has (shading that moves with the
    head), which the plain warping error rewards."""
    scale = np.percentile(truth[masks], 99)
    pairs = zip(_temporal_changes(images, scale, masks, flows), _temporal_changes(truth, scale, masks, flows))
    return float(np.mean([np.abs(ours - true)[valid].mean() for (ours, valid), (true, _) in pairs]))


def true_backward_flows(capture_dir: Path, frames: list[int]) -> np.ndarray:
    """(T, H, W, 3) true flow of ``frames`` to their previous frame (dx, dy in pixels, valid); the first frame
    gets none, since its predecessor is not among the frames scored."""
    flows = [read_image(Path(capture_dir) / f"ground_truth/flow_backward/frame.{f:04d}.exr").rgb for f in frames]
    flows[0] = np.zeros_like(flows[0])
    return np.stack(flows)


def nearest_training_frames(capture_dir: Path, training: list[int], frames: list[int]) -> list[int]:
    """For each of ``frames``, the training frame whose true expression weights are closest (L1): the
    nearest-neighbour retrieval baseline. Reads the synthetic stage's ``ground_truth/params.json``."""
    params = json.loads((Path(capture_dir) / "ground_truth/params.json").read_text())
    row = {int(f): i for i, f in enumerate(params["frames"])}
    expressions = np.asarray(params["expressions"])
    pool = expressions[[row[f] for f in training]]
    return [training[int(np.argmin(np.abs(pool - expressions[row[f]]).sum(1)))] for f in frames]

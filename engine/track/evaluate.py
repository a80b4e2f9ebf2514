"""Accuracy of a fitted sequence against the synthetic stage's ground truth (``params.json``).

* **vertex error (mm)**: mean distance over frames and the narrow-face vertices (upstream ids
  0..6705) between the fitted and the true camera-space meshes, after **one** similarity transform for
  the whole sequence (Umeyama over all frames). A single camera cannot tell a larger face further away
  from a smaller one nearer; one transform per sequence removes only that, while per-frame pose and
  expression errors stay in the figure.
* **reprojection (px)**: mean distance of the model's 68 Multi-PIE landmark vertices, projected with
  the fitted camera, to the true 2-D landmarks (no alignment).
* **expression MAE**: mean absolute difference of the 53 weights over all frames.
* **jitter (mm / frame^2)**: mean norm of the difference between the fitted and the true frame-to-frame
  vertex acceleration (aligned narrow face), i.e. motion the truth does not have.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import torch

from engine.face.model import FaceModel
from engine.track.fit import NARROW_FACE_VERTICES
from engine.track.geometry import track_vertices
from engine.track.landmark_energy import project


@dataclass(frozen=True)
class Accuracy:
    vertex_mm: float
    reprojection_px: float
    expression_mae: float
    jitter_mm: float
    truth_acceleration_mm: float

    def as_dict(self) -> dict:
        return asdict(self)


def umeyama(source: np.ndarray, target: np.ndarray) -> tuple[float, np.ndarray, np.ndarray]:
    """Similarity (s, R, t) minimising |s R source + t - target|^2 over (N, 3) points."""
    mu_s, mu_t = source.mean(0), target.mean(0)
    a, b = source - mu_s, target - mu_t
    u, sigma, vt = np.linalg.svd(b.T @ a / len(a))
    d = np.diag([1.0, 1.0, np.sign(np.linalg.det(u @ vt))])
    rotation = u @ d @ vt
    scale = float(np.trace(np.diag(sigma) @ d) / (a ** 2).sum(1).mean())
    return scale, rotation, mu_t - scale * rotation @ mu_s


def project_pinhole(points: np.ndarray, focal_px: float, cx: float, cy: float) -> np.ndarray:
    """Camera-space points (..., 3) float64 (engine camera, looking down -Z, metres) -> pixels (..., 2), v down:
    the fit's own projection (:func:`engine.track.landmark_energy.project`) on NumPy arrays."""
    as_tensor = {"dtype": torch.float64}
    return project(torch.from_numpy(points), torch.tensor(focal_px, **as_tensor), torch.tensor((cx, cy), **as_tensor)).numpy()


def true_poses(params: dict, frame_indices: list[int]) -> tuple[np.ndarray, np.ndarray]:
    """The true head poses of rows ``frame_indices`` of ``params`` as a track holds them: rotations (T, 3, 3) and
    translations (T, 3, metres) with ``x_camera = R @ x_model + t`` (engine camera, looking down -Z)."""
    w2c = np.asarray(params["camera"]["world_to_camera"])
    pivot = np.asarray(params["head_pivot"])
    head = np.asarray(params["head_rotation"])[frame_indices]
    shift = np.asarray(params["head_translation"])[frame_indices]
    rotations = w2c[:3, :3] @ head
    translations = (pivot - head @ pivot + shift) @ w2c[:3, :3].T + w2c[:3, 3]
    return rotations, translations


def true_camera_vertices(model: FaceModel, params: dict, frame_indices: list[int]) -> np.ndarray:
    """(T, V, 3) true vertices in the engine camera frame for rows ``frame_indices`` of ``params``."""
    identity = torch.tensor(params["identity"], dtype=torch.float32)[None].expand(len(frame_indices), -1)
    expressions = torch.tensor(np.asarray(params["expressions"])[frame_indices], dtype=torch.float32)
    with torch.no_grad():
        v = model.vertices(identity, expressions).numpy().astype(np.float64)
    rotations, translations = true_poses(params, frame_indices)
    return np.einsum("tij,tvj->tvi", rotations, v) + translations[:, None]


def accuracy(model: FaceModel, params_path: Path, track: dict) -> Accuracy:
    """Compare a track (as read by :mod:`engine.track.track_file`) with the truth in ``params_path``."""
    params = json.loads(Path(params_path).read_text())
    frames = [int(f) for f in track["frames"]]
    rows = [params["frames"].index(f) for f in frames]
    names = model.expression_names
    expressions = np.array([[track["frames"][str(f)]["expression"][n] for n in names] for f in frames])
    fitted = track_vertices(model, track, frames)
    truth = true_camera_vertices(model, params, rows)
    face = slice(0, NARROW_FACE_VERTICES)
    fit_face, true_face = fitted[:, face].reshape(-1, 3), truth[:, face].reshape(-1, 3)
    scale, rotation, shift = umeyama(fit_face, true_face)
    aligned = (scale * fit_face @ rotation.T + shift).reshape(len(frames), -1, 3)
    true_face = true_face.reshape(len(frames), -1, 3)
    vertex_mm = float(np.linalg.norm(aligned - true_face, axis=-1).mean() * 1000.0)
    intr = track["intrinsics"]
    fitted_2d = project_pinhole(fitted[:, model.landmark_ids.numpy()], intr["focal_px"], intr["cx"], intr["cy"])
    true_2d = np.asarray(params["landmarks_2d"])[rows]
    reprojection = float(np.linalg.norm(fitted_2d - true_2d, axis=-1).mean())
    true_expr = np.asarray(params["expressions"])[rows]
    mae = float(np.abs(expressions - true_expr).mean())
    if len(frames) > 2:
        acc_fit = aligned[2:] - 2 * aligned[1:-1] + aligned[:-2]
        acc_true = true_face[2:] - 2 * true_face[1:-1] + true_face[:-2]
        jitter = float(np.linalg.norm(acc_fit - acc_true, axis=-1).mean() * 1000.0)
        truth_acc = float(np.linalg.norm(acc_true, axis=-1).mean() * 1000.0)
    else:
        jitter = truth_acc = 0.0
    return Accuracy(vertex_mm, reprojection, mae, jitter, truth_acc)

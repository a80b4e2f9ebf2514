"""A track's meshes and camera: what renders and evaluations of a ``.track`` need."""

from __future__ import annotations

import numpy as np
import torch

from engine.face.model import FaceModel
from engine.render.camera import Camera


def track_camera(track: dict) -> Camera:
    """The track's pinhole camera (the track's camera frame is the world: identity extrinsics)."""
    intr = track["intrinsics"]
    K = [[intr["focal_px"], 0.0, intr["cx"]], [0.0, intr["focal_px"], intr["cy"]], [0.0, 0.0, 1.0]]
    width, height = track["image_size"]
    return Camera(K, torch.eye(4), width, height)


def track_vertices(model: FaceModel, track: dict, numbers: list[int]) -> np.ndarray:
    """(T, V, 3) float64 camera-space vertices (metres) of frames ``numbers`` of ``track``."""
    names = model.expression_names
    records = [track["frames"][str(n)] for n in numbers]
    expressions = np.array([[r["expression"].get(n, 0.0) for n in names] for r in records])
    rotations = np.array([r["rotation"] for r in records], dtype=np.float64)
    translations = np.array([r["translation"] for r in records], dtype=np.float64)
    identity = torch.tensor(track["identity"], dtype=torch.float32)[None].expand(len(records), -1)
    with torch.no_grad():
        v = model.vertices(identity, torch.tensor(expressions, dtype=torch.float32)).cpu().numpy().astype(np.float64)
    return np.einsum("tij,tvj->tvi", rotations, v) + translations[:, None]

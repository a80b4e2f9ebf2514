"""Pinhole cameras in the engine convention, with conversions to and from OpenCV.

Conventions
-----------
* World: the engine frame (Y up, right-handed, metres, subject looking +Z).
* Camera space (engine / OpenGL): x right, y up, the camera looks down its **-Z**.
  ``world_to_camera`` (4, 4) maps world points into it.
* OpenCV camera space: x right, y down, z forward; ``x_cv = diag(1, -1, -1) @ x_camera``.
* Pixels: ``K`` is an OpenCV intrinsic matrix in pixels, the origin at the top-left **corner** of the
  image, u to the right, v down; pixel (row i, column j) covers [j, j+1] x [i, i+1] and its centre is at
  (j + 0.5, i + 0.5). A centred principal point is (width / 2, height / 2).
* Depth: distance along the view axis in metres, ``z_cv = -z_camera`` (positive in front).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch

# Camera space (engine/OpenGL) <-> OpenCV camera space: flip y and z.
_GL_TO_CV = torch.diag(torch.tensor([1.0, -1.0, -1.0]))


def _as_tensor(value, dtype=torch.float32) -> torch.Tensor:
    return torch.as_tensor(value, dtype=dtype)


@dataclass
class Camera:
    """A pinhole camera: OpenCV-style intrinsics ``K`` (3, 3) in pixels, ``world_to_camera`` (4, 4) in
    the engine/OpenGL camera convention (looks down -Z), and the image size in pixels."""

    K: torch.Tensor
    world_to_camera: torch.Tensor
    width: int
    height: int

    def __post_init__(self) -> None:
        self.K = _as_tensor(self.K)
        self.world_to_camera = _as_tensor(self.world_to_camera)
        self.width, self.height = int(self.width), int(self.height)
        if self.K.shape != (3, 3) or self.world_to_camera.shape != (4, 4):
            raise ValueError("Camera needs K (3, 3) and world_to_camera (4, 4)")

    # ------------------------------------------------------------------ constructors
    @classmethod
    def look_at(cls, eye, target, up=(0.0, 1.0, 0.0), fov_deg: float = 30.0, width: int = 512,
                height: int = 512) -> Camera:
        """A camera at ``eye`` (m, world) aiming at ``target`` with ``up`` roughly up; ``fov_deg`` is
        the vertical field of view; square pixels, centred principal point."""
        eye, target, up = _as_tensor(eye), _as_tensor(target), _as_tensor(up)
        back = eye - target
        back = back / back.norm()
        right = torch.linalg.cross(up, back)
        if float(right.norm()) < 1e-8:
            raise ValueError("look_at: 'up' is parallel to the viewing direction")
        right = right / right.norm()
        true_up = torch.linalg.cross(back, right)
        rotation = torch.stack([right, true_up, back])  # rows: camera axes in world
        world_to_camera = torch.eye(4)
        world_to_camera[:3, :3] = rotation
        world_to_camera[:3, 3] = -rotation @ eye
        focal = 0.5 * height / math.tan(math.radians(fov_deg) / 2)
        K = torch.tensor([[focal, 0.0, width / 2], [0.0, focal, height / 2], [0.0, 0.0, 1.0]])
        return cls(K, world_to_camera, width, height)

    @classmethod
    def from_opencv(cls, K, R, t, width: int, height: int) -> Camera:
        """From OpenCV intrinsics ``K`` and extrinsics ``x_cv = R @ x_world + t`` (x_world in the
        engine frame)."""
        R, t = _as_tensor(R), _as_tensor(t).reshape(3)
        world_to_camera = torch.eye(4)
        world_to_camera[:3, :3] = _GL_TO_CV @ R
        world_to_camera[:3, 3] = _GL_TO_CV @ t
        return cls(K, world_to_camera, width, height)

    # ------------------------------------------------------------------ conversions
    def to_opencv(self) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """``(K, R, t)`` with ``x_cv = R @ x_world + t`` (OpenCV camera: x right, y down, z forward)."""
        flip = _GL_TO_CV.to(self.world_to_camera)
        return self.K.clone(), flip @ self.world_to_camera[:3, :3], flip @ self.world_to_camera[:3, 3]

    @property
    def camera_to_world(self) -> torch.Tensor:
        """(4, 4) inverse of ``world_to_camera``."""
        return torch.linalg.inv(self.world_to_camera)

    @property
    def position(self) -> torch.Tensor:
        """Camera centre (3,) in world metres."""
        return self.camera_to_world[:3, 3]

    def to(self, device: str | torch.device) -> Camera:
        """A copy with its matrices on ``device``."""
        return Camera(self.K.to(device), self.world_to_camera.to(device), self.width, self.height)

    # ------------------------------------------------------------------ projection
    def to_camera(self, points: torch.Tensor) -> torch.Tensor:
        """World points (..., 3) -> engine camera space (..., 3) (looking down -Z)."""
        w2c = self.world_to_camera.to(points)
        return points @ w2c[:3, :3].T + w2c[:3, 3]

    def project(self, points: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """World points (..., 3) -> pixel coordinates (..., 2) (u right, v down, corner origin) and
        depth (...,) in metres along the view axis (positive in front of the camera). Differentiable."""
        cam = self.to_camera(points)
        depth = -cam[..., 2]
        K = self.K.to(points)
        u = K[0, 0] * cam[..., 0] / depth + K[0, 1] * (-cam[..., 1]) / depth + K[0, 2]
        v = K[1, 1] * (-cam[..., 1]) / depth + K[1, 2]
        return torch.stack([u, v], dim=-1), depth

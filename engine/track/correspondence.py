"""Where each MediaPipe FaceMesh landmark lies on the ICT mesh: a triangle, barycentrics and a weight.

The table (``data/mediapipe_ict.json``) is *measured*, not hand-made: :mod:`engine.track.calibrate`
renders synthetic performers (identities, expressions, head poses and lightings of calibration seeds
that no evaluation uses), runs the detector, looks up which triangle of the true mesh each detected
point falls on, maps every hit onto the mean face and keeps the medoid hit per landmark. The spread of
the hits around it (millimetres on the mean face) sets the landmark's weight: points that slide with
pose or expression (the jaw outline, the inner lip line) count less than fixed ones (eye corners, nose).

``triangle`` indexes :attr:`engine.face.FaceModel.triangles` (the full model), so a landmark's 3-D
position on any mesh of the model is ``sum_k bary[k] * vertices[triangles[triangle, k]]``.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import torch

from engine.errors import InputError

TABLE_PATH = Path(__file__).with_name("data") / "mediapipe_ict.json"
TABLE_FORMAT = "relume-landmark-correspondence/1"


@dataclass(frozen=True)
class Correspondence:
    """Per detector landmark: ``triangle`` (N,) long, ``barycentrics`` (N, 3), ``weight`` (N,) in [0, 1],
    ``spread_mm`` (N,) measured scatter on the mean face."""

    triangle: torch.Tensor
    barycentrics: torch.Tensor
    weight: torch.Tensor
    spread_mm: torch.Tensor

    @classmethod
    def load(cls, path: Path = TABLE_PATH) -> Correspondence:
        try:
            data = json.loads(Path(path).read_text())
        except (OSError, ValueError) as exc:
            raise InputError(path, f"cannot read the landmark correspondence table ({exc})") from None
        if data.get("format") != TABLE_FORMAT:
            raise InputError(path, f"not a {TABLE_FORMAT} table")
        rows = data["landmarks"]
        return cls(torch.tensor([r["triangle"] for r in rows], dtype=torch.long),
                   torch.tensor([r["barycentrics"] for r in rows], dtype=torch.float32),
                   torch.tensor([r["weight"] for r in rows], dtype=torch.float32),
                   torch.tensor([r["spread_mm"] for r in rows], dtype=torch.float32))

    def corners(self, triangles: torch.Tensor) -> torch.Tensor:
        """Vertex ids (N, 3) of each landmark's triangle in the model's ``triangles`` (F, 3)."""
        return triangles[self.triangle.to(triangles.device)]

    def points(self, vertices: torch.Tensor, corners: torch.Tensor) -> torch.Tensor:
        """3-D landmark positions (..., N, 3) on ``vertices`` (..., V, 3); ``corners`` from :meth:`corners`."""
        bary = self.barycentrics.to(vertices)
        return (vertices[..., corners, :] * bary[..., None]).sum(dim=-2)

"""Shape from shading for footage without OLAT normals: the fit's shading term.

A video has no photometric-stereo normals, so landmarks and photometric consistency leave the face's depth
profile to the identity prior. Its shading still speaks to it: each visible skin vertex's colour is modelled as

    colour[t, v] = albedo(v) * (Y(n[t, v]) @ L)

with ``n`` the mesh normal in the camera frame (frame t's pose and expression), ``Y`` the nine order-2 real
spherical harmonics, ``L`` (9, RGB) one distant lighting for the whole sequence in the camera frame (the
camera and the room's light stay put while the head moves), and a *smooth* albedo: a degree-4 polynomial
(3 channels) of the vertex's position on the mean face. A free per-vertex albedo would absorb the shading,
leaving only its change as the head turns (a few degrees in most shots) to speak to the shape; a smooth one
makes the shading across the face (the side of the nose darker than its ridge) depend on the normals.
Order-2 harmonics model diffuse light from an environment closely; what they do not model (cast shadows,
highlights, lips, brows) is left to the Cauchy loss and the visibility mask.

``L`` and the albedo are re-fitted without gradient (alternating weighted least squares, Cauchy weights
from the last residuals) every ``REFIT_EVERY`` evaluations; between refits the loss moves the shape (through
the normals) and the pose (through where the colours are sampled).
"""

from __future__ import annotations

import numpy as np
import torch

from engine.face.model import FaceModel
from engine.face.regions import REGIONS
from engine.track.landmark_energy import cauchy

ALBEDO_DEGREE = 4          # the smooth albedo's polynomial degree (35 terms per channel)
SCALE = 0.1                # Cauchy scale of the colour residual, in the photometric term's units (lit mean = 1)
REFIT_EVERY = 10           # loss evaluations between least-squares refits of the lighting and the albedo
FACING = 0.3               # vertices whose normal faces the camera less than this (cosine) are left out
SKIN = REGIONS.index("skin")


def spherical_harmonics(normals: torch.Tensor) -> torch.Tensor:
    """The nine order-2 real spherical-harmonic functions (..., 9) of unit ``normals`` (..., 3), unnormalised
    (constants fold into the fitted lighting)."""
    x, y, z = normals.unbind(-1)
    return torch.stack([torch.ones_like(x), x, y, z, x * y, x * z, y * z, x * x - y * y, 3.0 * z * z - 1.0], -1)


def albedo_basis(points: np.ndarray, degree: int = ALBEDO_DEGREE) -> np.ndarray:
    """Monomials (V, terms) up to ``degree`` of ``points`` (V, 3), each coordinate standardised first."""
    unit = (points - points.mean(0)) / points.std(0)
    columns = [np.ones(len(points))]
    for total in range(1, degree + 1):
        for i in range(total + 1):
            for j in range(total + 1 - i):
                columns.append(unit[:, 0] ** i * unit[:, 1] ** j * unit[:, 2] ** (total - i - j))
    return np.stack(columns, -1)


def vertex_regions(model: FaceModel) -> np.ndarray:
    """(V,) region index of every vertex of the face-and-head submesh (a vertex on a seam takes one of its
    triangles' regions); vertices outside it are 0."""
    submesh = model.submesh("face_and_head")
    regions = np.zeros(model.vertex_count, dtype=np.int64)
    regions[submesh.triangles.numpy().reshape(-1)] = np.repeat(submesh.triangle_region.numpy(), 3)
    return regions


class ShadingTerm:
    """The shading energy on the fit's dense vertices ``vertex_ids`` (V',), restricted to skin vertices below
    ``last_vertex`` (the narrow face)."""

    def __init__(self, model: FaceModel, vertex_ids: torch.Tensor, last_vertex: int, weight: float,
                 device: torch.device) -> None:
        ids = vertex_ids.cpu().numpy()
        skin = (vertex_regions(model)[ids] == SKIN) & (ids < last_vertex)
        self.skin = torch.from_numpy(skin.astype(np.float32)).to(device)
        self.basis = torch.from_numpy(albedo_basis(model.neutral.cpu().numpy()[ids])).to(device, torch.float64)     # (V', terms)
        self.weight = weight
        self.albedo = torch.zeros(self.basis.shape[1], 3, dtype=torch.float64, device=device)
        self.albedo[0] = 1.0                                    # coefficients: a grey albedo to start from
        self.lighting = torch.zeros(9, 3, dtype=torch.float64, device=device)
        self.robust_weights: torch.Tensor | None = None         # (T, V') Cauchy weights of the last refit
        self.calls = 0

    @torch.no_grad()
    def _refit(self, colours: torch.Tensor, harmonics: torch.Tensor, use: torch.Tensor) -> None:
        """Alternating weighted least squares for the lighting and the albedo (three rounds the first time,
        one after: each starts from the last)."""
        weights = (use if self.robust_weights is None else use * self.robust_weights).double()
        colours, harmonics = colours.double(), harmonics.double()
        eye = torch.eye(9, dtype=torch.float64, device=colours.device)
        eye_albedo = torch.eye(self.basis.shape[1], dtype=torch.float64, device=colours.device)
        for _ in range(3 if self.robust_weights is None else 1):
            albedo = self.basis @ self.albedo                                              # (V', 3)
            for channel in range(3):
                rows = albedo[None, :, channel, None] * harmonics                          # (T, V', 9)
                normal = torch.einsum("tvi,tv,tvj->ij", rows, weights, rows)
                right = torch.einsum("tvi,tv,tv->i", rows, weights, colours[..., channel])
                self.lighting[:, channel] = torch.linalg.solve(normal + 1e-9 * eye, right)
            shading = harmonics @ self.lighting                                            # (T, V', 3)
            for channel in range(3):
                per_vertex = (shading[..., channel].square() * weights).sum(0)              # (V',)
                normal = torch.einsum("vi,v,vj->ij", self.basis, per_vertex, self.basis)
                right = self.basis.T @ (shading[..., channel] * weights * colours[..., channel]).sum(0)
                self.albedo[:, channel] = torch.linalg.solve(normal + 1e-9 * eye_albedo, right)
        residual = ((self.basis @ self.albedo)[None] * shading - colours).square().sum(-1)   # the last lighting's
        self.robust_weights = (1.0 / (1.0 + residual / SCALE ** 2)).float()

    def loss(self, colours: torch.Tensor, normals: torch.Tensor, visible: torch.Tensor) -> torch.Tensor:
        """``colours`` (T, V', 3) sampled at the vertices' projections, ``normals`` (T, V', 3) unit, camera frame,
        ``visible`` (T, V') in [0, 1]."""
        use = visible * self.skin[None] * (normals[..., 2] > FACING).float()
        harmonics = spherical_harmonics(normals)
        if self.calls % REFIT_EVERY == 0:
            self._refit(colours.detach(), harmonics.detach(), use)
        self.calls += 1
        albedo, lighting = (self.basis @ self.albedo).float(), self.lighting.float()
        squared = (albedo[None] * (harmonics @ lighting) - colours).square().sum(-1)
        return self.weight * (cauchy(squared, SCALE) * use).sum() / use.sum().clamp(min=1.0)

"""Cast shadows from many distant lights at once: splatted depth maps and a filtered lookup.

The stage renders every frame under ~150 lights, so it cannot rasterise a shadow map per light.
Instead the mesh surface is covered with sample points (its vertices plus stratified points
inside the triangles larger than the map's cells), and each light's orthographic depth map is
one ``scatter_reduce(amax)`` of the points' depths toward the light: a cell keeps the sample
nearest the light. All lights share one matrix product and one scatter, light-major so the
writes stay in cache.

A receiving point p with normal n looks itself up at p + n * offset (normal-offset biasing, so
a surface does not shadow itself) and is lit when its depth toward the light plus a bias
reaches the cell's occluder depth; nine cells are compared and blended (percentage
closer filtering over a two-cell box), which gives shadows a penumbra about two cells (~5 mm)
wide, like a light-stage light of a few degrees seen from a few centimetres behind the occluder.

Frames: positions in the engine frame (metres); directions unit subject->light.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

_R2 = (0.7548776662466927, 0.5698402909980532)  # the R2 low-discrepancy sequence's steps


class SurfaceSampler:
    """Points covering a mesh's surface with at most ~``spacing`` metres between neighbours.

    Every vertex the triangles use, plus barycentric samples (stratified with the R2 sequence)
    inside every triangle whose area exceeds ``spacing^2`` on ``reference`` (V, 3), the mesh the
    spacing is measured on; the same samples follow the mesh as it moves.
    """

    def __init__(self, triangles: torch.Tensor, reference: torch.Tensor, spacing: float = 1.8e-3) -> None:
        triangles = triangles.cpu()
        self.vertex_ids = torch.unique(triangles)
        corners = reference.detach().cpu()[triangles]
        area = 0.5 * torch.linalg.cross(corners[:, 1] - corners[:, 0], corners[:, 2] - corners[:, 0]).norm(dim=1)
        extra = torch.floor(area / spacing**2).long().numpy()
        owner = np.repeat(np.arange(len(extra)), extra)
        index = np.arange(len(owner)) - np.repeat(np.cumsum(extra) - extra, extra) + 1
        r1 = np.mod(index * _R2[0] + 0.5, 1.0)
        r2 = np.mod(index * _R2[1] + 0.5, 1.0)
        root = np.sqrt(r1)
        self.corner_ids = triangles[torch.from_numpy(owner)]  # (E, 3)
        self.barycentrics = torch.from_numpy(np.stack([1.0 - root, root * (1.0 - r2), root * r2], axis=1)).float()
        self.count = len(self.vertex_ids) + len(owner)

    def points(self, vertices: torch.Tensor) -> torch.Tensor:
        """Sample positions (S, 3) on the mesh with ``vertices`` (V, 3)."""
        inside = (vertices[self.corner_ids] * self.barycentrics[..., None]).sum(dim=1)
        return torch.cat([vertices[self.vertex_ids], inside])


@dataclass
class ShadowMaps:
    """Orthographic depth maps of L lights over a sphere (``origin``, radius ``resolution * cell / 2``).

    ``projection`` (3L, 3): rows 0..L-1 and L..2L-1 map an offset from ``origin`` to map columns and
    rows (in cells, centred on 0), rows 2L..3L-1 to depth toward the light (metres).
    ``depth`` (L, R, R): nearest-to-light depth per cell, -inf where empty.
    """

    projection: torch.Tensor
    origin: torch.Tensor
    depth: torch.Tensor
    cell: float

    @property
    def light_count(self) -> int:
        return self.depth.shape[0]

    @property
    def resolution(self) -> int:
        return self.depth.shape[1]


def light_frames(directions: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Two unit tangents (L, 3) each, completing each light direction to an orthonormal frame."""
    helper = torch.where((directions[:, 1].abs() < 0.9)[:, None], torch.tensor([0.0, 1.0, 0.0]),
                         torch.tensor([1.0, 0.0, 0.0]))
    tangent = torch.nn.functional.normalize(torch.linalg.cross(helper, directions, dim=1), dim=1)
    return tangent, torch.linalg.cross(directions, tangent, dim=1)


def render_shadow_maps(points: torch.Tensor, directions: torch.Tensor, resolution: int = 160) -> ShadowMaps:
    """Depth maps (L, R, R) of occluder samples ``points`` (S, 3) seen from ``directions`` (L, 3)."""
    directions = directions.to(torch.float32)
    low, high = points.min(dim=0).values, points.max(dim=0).values
    origin = 0.5 * (low + high)
    radius = float((points - origin).norm(dim=1).max()) * 1.001 + 1e-6
    cell = 2.0 * radius / resolution
    tangent, bitangent = light_frames(directions)
    projection = torch.cat([tangent / cell, bitangent / cell, directions])
    light_count = len(directions)
    projected = projection @ (points - origin).T  # (3L, S), light-major
    half = resolution / 2.0
    columns = (projected[:light_count] + half).floor_().clamp_(0, resolution - 1)
    rows = (projected[light_count:2 * light_count] + half).floor_().clamp_(0, resolution - 1)
    base = (torch.arange(light_count, dtype=torch.float32) * resolution * resolution)[:, None]
    flat = rows.mul_(resolution).add_(columns).add_(base).reshape(-1).long()
    depth = torch.full((light_count * resolution * resolution,), -torch.inf)
    depth.scatter_reduce_(0, flat, projected[2 * light_count:].reshape(-1), "amax")
    return ShadowMaps(projection, origin, depth.reshape(light_count, resolution, resolution), cell)


def visibility(maps: ShadowMaps, points: torch.Tensor, normals: torch.Tensor, normal_offset: float = 1.0,
               bias: float = 0.5, slope_bias: float = 1.5, max_slope: float = 8.0) -> torch.Tensor:
    """Fraction (L, P) of each light reaching points (P, 3) with unit normals (P, 3).

    ``normal_offset`` and ``bias`` are in cells of the maps; the depth bias grows by ``slope_bias``
    cells per unit of tan(angle between normal and light) (up to ``max_slope``), since a surface
    tilted away from the light spans that much depth per cell.
    """
    light_count, resolution = maps.light_count, maps.resolution
    query = points + normals * (normal_offset * maps.cell) - maps.origin
    projected = maps.projection @ query.T  # (3L, P)
    u = projected[:light_count].add_(resolution / 2.0)
    v = projected[light_count:2 * light_count].add_(resolution / 2.0)
    cos = (normals @ maps.projection[2 * light_count:].T).T.clamp_(min=1.0 / max_slope)
    slope = torch.sqrt(1.0 - cos * cos).div_(cos)
    receiver = projected[2 * light_count:].add_(slope.mul_(slope_bias * maps.cell).add_(bias * maps.cell))
    # A two-cell box filter: the cell under the point gets weight 1/2, its neighbours share 1/2 by overlap.
    u0 = u.floor().clamp_(1, resolution - 2)  # the outer cells are empty: the maps span a bounding sphere
    v0 = v.floor().clamp_(1, resolution - 2)
    fu, fv = (u - u0 - 0.5).clamp_(-0.5, 0.5), (v - v0 - 0.5).clamp_(-0.5, 0.5)
    weights_u = (0.5 - fu) * 0.5, torch.full_like(fu, 0.5), (0.5 + fu) * 0.5
    weights_v = (0.5 - fv) * 0.5, torch.full_like(fv, 0.5), (0.5 + fv) * 0.5
    base = (torch.arange(light_count, dtype=torch.float32) * (resolution * resolution))[:, None]
    centre = v0.mul_(resolution).add_(u0).add_(base).long()
    flat_depth = maps.depth.reshape(-1)
    lit = torch.zeros_like(u)
    for dv in (-1, 0, 1):
        row = torch.zeros_like(u)
        for du in (-1, 0, 1):
            row.addcmul_((receiver >= flat_depth[centre + (dv * resolution + du)]).to(torch.float32), weights_u[du + 1])
        lit.addcmul_(row, weights_v[dv + 1])
    return lit

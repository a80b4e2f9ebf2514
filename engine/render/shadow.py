"""Cast shadows from distant (directional) lights: orthographic depth maps and a filtered lookup.

A light direction ``d`` (unit, subject -> light, engine frame) gets an orthographic view along ``-d``
covering the mesh's bounding sphere; its depth map stores, per texel, the distance along ``-d`` of the
surface nearest the light. A point is lit when it is no farther than that (plus ``bias``); 2x2
percentage-closer filtering with bilinear weights softens the texel steps. Lights rasterise in
batches (see :func:`~engine.render.coverage.rasterize_coverage`).

By default the maps hold the surfaces facing *away* from the light (front faces culled, the classic
remedy for shadow acne): a surface facing the light is compared with the far side of whatever is in
front of it, so it never shadows itself, and only surfaces that face away from the light (unlit anyway)
sit at their own depth. This assumes closed, outward-wound occluders such as the face model's head.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from engine.render.coverage import rasterize_coverage

DEFAULT_BIAS_TEXELS = 2.0
# Lights rasterised per batch on the CPU: enough to amortise per-call overhead, few enough to stay in cache.
LIGHTS_PER_BATCH = 8


@dataclass
class ShadowMap:
    """Depth maps of L directional lights over one mesh, metres.

    ``depth`` (L, R, R) distance along the light's travel from the plane tangent to the bounding sphere
    on the light's side (+inf where no surface); ``axes`` (L, 3, 3) rows = map right, map down, light
    travel (-d), a right-handed frame like an OpenCV camera looking along -d; ``centre`` (3,) and
    ``radius`` (m) of the square each map covers; texel size = 2 * radius / R.
    """

    depth: torch.Tensor
    axes: torch.Tensor
    centre: torch.Tensor
    radius: float

    @property
    def texel_size(self) -> float:
        return 2.0 * self.radius / self.depth.shape[-1]

    def project(self, points: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """World points (N, 3) -> map pixel coordinates (L, N, 2) and depth along the light (L, N), >= 0
        inside the bounding sphere."""
        local = torch.einsum("lij,nj->lni", self.axes, points - self.centre)
        texels = (local[..., :2] + self.radius) / self.texel_size
        return texels, local[..., 2] + self.radius


def light_axes(light_dirs: torch.Tensor) -> torch.Tensor:
    """Orthonormal frames (L, 3, 3) for unit directions (L, 3): rows right, down, travel = -d."""
    travel = -torch.nn.functional.normalize(light_dirs, dim=-1)
    helper = torch.where((travel[:, 1:2].abs() > 0.9), torch.tensor([1.0, 0.0, 0.0]).to(travel),
                         torch.tensor([0.0, 1.0, 0.0]).to(travel))
    right = torch.nn.functional.normalize(torch.linalg.cross(helper, travel), dim=-1)
    down = torch.linalg.cross(travel, right)
    return torch.stack([right, down, travel], dim=1)


@torch.no_grad()
def shadow_map(vertices: torch.Tensor, triangles: torch.Tensor, light_dirs: torch.Tensor,
               resolution: int = 256, cull: str | None = "front", lights_per_batch: int | None = None) -> ShadowMap:
    """Depth maps (L, R, R) of a mesh (V, 3) for directions ``light_dirs`` (L, 3) or (3,); ``cull``:
    ``"front"`` (keep the faces turned away from the light, default), ``"back"`` or ``None``.
    ``lights_per_batch``: default :data:`LIGHTS_PER_BATCH` on the CPU, all lights at once on a GPU."""
    light_dirs = torch.as_tensor(light_dirs, dtype=vertices.dtype, device=vertices.device).reshape(-1, 3)
    low, high = vertices.amin(dim=0), vertices.amax(dim=0)
    centre = (low + high) / 2
    radius = float((vertices - centre).norm(dim=1).max()) * 1.001 + 1e-6
    axes = light_axes(light_dirs)
    maps = ShadowMap(torch.empty(0, resolution, resolution), axes, centre, radius)
    texels, depth = maps.project(vertices)
    if lights_per_batch is None:
        lights_per_batch = LIGHTS_PER_BATCH if vertices.device.type == "cpu" else len(light_dirs)
    maps.depth = torch.cat([
        rasterize_coverage(texels[i : i + lights_per_batch], depth[i : i + lights_per_batch], triangles,
                           resolution, resolution, perspective=False, cull=cull).depth
        for i in range(0, len(light_dirs), lights_per_batch)
    ])
    return maps


def shadow_visibility(maps: ShadowMap, points: torch.Tensor, bias: float | None = None) -> torch.Tensor:
    """Fraction (L, N) in [0, 1] of each point (N, 3) that each light reaches; ``bias`` in metres
    (default 2 texels) keeps lit surfaces from shadowing themselves."""
    bias = DEFAULT_BIAS_TEXELS * maps.texel_size if bias is None else bias
    texels, depth = maps.project(points)
    resolution = maps.depth.shape[-1]
    start = torch.floor(texels - 0.5)
    frac = texels - 0.5 - start
    start = start.long()
    flat = maps.depth.reshape(len(maps.depth), -1)
    visibility = torch.zeros_like(depth)
    for dx, dy in ((0, 0), (1, 0), (0, 1), (1, 1)):
        col, row = start[..., 0] + dx, start[..., 1] + dy
        inside = (col >= 0) & (col < resolution) & (row >= 0) & (row < resolution)
        index = (row.clamp(0, resolution - 1) * resolution + col.clamp(0, resolution - 1))
        occluder = torch.where(inside, torch.gather(flat, 1, index), torch.inf)
        weight = (frac[..., 0] if dx else 1 - frac[..., 0]) * (frac[..., 1] if dy else 1 - frac[..., 1])
        visibility = visibility + weight * (depth <= occluder + bias).to(depth.dtype)
    return visibility


def directional_shadow_mask(vertices: torch.Tensor, triangles: torch.Tensor, points: torch.Tensor,
                            light_dir: torch.Tensor, resolution: int = 256, bias: float | None = None,
                            cull: str | None = "front") -> torch.Tensor:
    """Visibility in [0, 1] of ``points`` (N, 3) from directional light(s) ``light_dir`` (3,) -> (N,) or
    (L, 3) -> (L, N), the mesh (V, 3) / (F, 3) casting the shadows. 1 = lit, 0 = in shadow."""
    light_dir = torch.as_tensor(light_dir, dtype=vertices.dtype, device=vertices.device)
    maps = shadow_map(vertices, triangles, light_dir, resolution, cull)
    visibility = shadow_visibility(maps, points.to(vertices), bias)
    return visibility[0] if light_dir.dim() == 1 else visibility

"""Differentiable G-buffers of a triangle mesh seen by a pinhole :class:`~engine.render.camera.Camera`.

Two halves, like nvdiffrast: :func:`~engine.render.coverage.rasterize_coverage` finds the nearest triangle
per pixel (integer work, no gradients), then every covered pixel's perspective-correct barycentrics are
recomputed from the projected vertices with autograd, so gradients flow from every G-buffer channel
(position, depth, normals, uv, :func:`interpolate`-d attributes) to the vertices. Silhouette gradients
come from ``soft_sigma`` (see :mod:`engine.render.soft`).

Frames: ``position``/``normal_world`` in the world (engine) frame; ``normal_camera`` in the engine camera
frame (x right, y up, +z toward the viewer, so visible surfaces have z > 0); ``depth`` in metres along
the view axis. Image arrays are row-major with row 0 at the top. Uncovered pixels hold 0 (``triangle_id``
-1). The winding convention is the face model's: counter-clockwise seen from outside is the front.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch

from engine.render.camera import Camera
from engine.render.coverage import rasterize_coverage
from engine.render.soft import soft_silhouette


@dataclass
class GBuffer:
    """Per-pixel surface data, (H, W, ...) for one mesh or (B, H, W, ...) for a batch of meshes.

    The float channels from ``depth`` to ``uv`` are views into one dense tensor (one scatter fills them
    all), so they are not contiguous: ``.reshape`` copies, indexing with a mask does not need to.
    """

    mask: torch.Tensor              # bool, a triangle covers the pixel centre
    alpha: torch.Tensor             # float coverage in [0, 1]: soft at silhouettes with soft_sigma, else mask
    depth: torch.Tensor             # metres along the view axis
    triangle_id: torch.Tensor       # long, index into the triangles given, -1 = background
    barycentrics: torch.Tensor      # (..., 3) perspective-correct weights of the triangle's corners
    position: torch.Tensor          # (..., 3) world metres
    normal_world: torch.Tensor      # (..., 3) unit, interpolated vertex normals
    normal_camera: torch.Tensor     # (..., 3) unit, same in the camera frame
    face_normal_world: torch.Tensor  # (..., 3) unit, flat triangle normals
    uv: torch.Tensor | None = None  # (..., 2) texture coordinates when uvs were given


def _corners(vertices: torch.Tensor, triangles: torch.Tensor) -> tuple[torch.Tensor, ...]:
    """The three corners (..., F, 3) of every triangle, gathered with one index_select."""
    gathered = vertices.index_select(-2, triangles.reshape(-1))
    gathered = gathered.reshape(*vertices.shape[:-2], triangles.shape[0], 3, vertices.shape[-1])
    return gathered[..., 0, :], gathered[..., 1, :], gathered[..., 2, :]


def face_normals(vertices: torch.Tensor, triangles: torch.Tensor) -> torch.Tensor:
    """Unit normals (..., F, 3) of triangles (F, 3) over vertices (..., V, 3): (b - a) x (c - a)."""
    a, b, c = _corners(vertices, triangles)
    return torch.nn.functional.normalize(torch.linalg.cross(b - a, c - a), dim=-1, eps=1e-20)


def vertex_normals(vertices: torch.Tensor, triangles: torch.Tensor) -> torch.Tensor:
    """Area-weighted unit vertex normals (..., V, 3); vertices no triangle uses get (0, 0, 0)."""
    a, b, c = _corners(vertices, triangles)
    weighted = torch.linalg.cross(b - a, c - a)  # (..., F, 3), length = twice the area
    # One flat index_add over (batch, vertex, axis): much faster on CPU than index_add along dim -2.
    batch = math.prod(vertices.shape[:-2])
    count = vertices.shape[-2]
    target = (triangles.reshape(1, -1, 1) * 3 + torch.arange(3, device=triangles.device)).expand(batch, -1, -1)
    target = target + (torch.arange(batch, device=triangles.device) * count * 3).reshape(-1, 1, 1)
    values = weighted.reshape(batch, -1, 1, 3).expand(-1, -1, 3, -1)  # each triangle to its 3 corners
    total = vertices.new_zeros(batch * count * 3).index_add(0, target.reshape(-1), values.reshape(-1))
    return torch.nn.functional.normalize(total.reshape(vertices.shape), dim=-1, eps=1e-20)


def _covered(triangle_id: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Flat indices of covered pixels (N,), their batch index (N,) and triangle (N,)."""
    flat = triangle_id.reshape(-1)
    pixels = torch.nonzero(flat >= 0).squeeze(1)
    per_image = triangle_id.shape[-1] * triangle_id.shape[-2]
    return pixels, torch.div(pixels, per_image, rounding_mode="floor"), flat.index_select(0, pixels)


def _scatter(pixels: torch.Tensor, values: torch.Tensor, shape: tuple[int, ...]) -> torch.Tensor:
    """Dense (*shape, C) zeros with ``values`` (N, C) at flat pixel indices; differentiable."""
    out = values.new_zeros((math.prod(shape), values.shape[-1]))
    return out.index_put((pixels,), values).reshape(*shape, values.shape[-1])


def _interpolate_at(attributes: torch.Tensor, corners: torch.Tensor, batch: torch.Tensor,
                    barycentrics: torch.Tensor) -> torch.Tensor:
    """Sum of barycentrics (N, 3) times attributes (B or 1, V, C) at corners (N, 3) of batch items (N,)."""
    count = attributes.shape[1]
    rows = corners if attributes.shape[0] == 1 else corners + (batch * count)[:, None]
    values = attributes.reshape(-1, attributes.shape[-1]).index_select(0, rows.reshape(-1))
    values = values.reshape(len(corners), 3, -1)
    return (values[:, 0] * barycentrics[:, 0:1] + values[:, 1] * barycentrics[:, 1:2]
            + values[:, 2] * barycentrics[:, 2:3])


def interpolate(gbuffer: GBuffer, attributes: torch.Tensor, triangles: torch.Tensor) -> torch.Tensor:
    """Any per-vertex attribute (V, C) or (B, V, C) interpolated over the image -> (..., H, W, C).

    ``triangles`` (F, 3) index ``attributes`` and must be parallel to the triangles rasterised (e.g.
    ``FaceModel.triangle_uv_ids`` with ``FaceModel.uvs``). Perspective-correct; 0 where uncovered;
    differentiable with respect to ``attributes`` and (through the barycentrics) the vertices.
    """
    triangle_id = gbuffer.triangle_id
    batched = triangle_id.dim() == 3
    ids = triangle_id if batched else triangle_id[None]
    if attributes.dim() == 2:
        attributes = attributes[None]
    pixels, batch, faces = _covered(ids)
    bary = gbuffer.barycentrics.reshape(-1, 3).index_select(0, pixels)
    values = _interpolate_at(attributes, triangles.to(faces.device).index_select(0, faces), batch, bary)
    out = _scatter(pixels, values, tuple(ids.shape))
    return out if batched else out[0]


def rasterize(camera: Camera, vertices: torch.Tensor, triangles: torch.Tensor, uvs: torch.Tensor | None = None,
              uv_triangles: torch.Tensor | None = None, soft_sigma: float | None = None,
              cull_backfaces: bool = False) -> GBuffer:
    """G-buffer of a mesh: ``vertices`` (V, 3) or (B, V, 3) world metres, ``triangles`` (F, 3) long.

    ``uvs`` (T, 2) with ``uv_triangles`` (F, 3) fills ``uv``. ``soft_sigma`` (pixels) makes ``alpha`` a
    sigmoid of the signed distance to the silhouette, differentiable with respect to the vertices.
    ``cull_backfaces`` skips clockwise (back-facing) triangles: faster, correct for closed outward meshes.
    Triangles with a corner behind the camera are dropped (no near-plane clipping).
    """
    if (uvs is None) != (uv_triangles is None):
        raise ValueError("uvs and uv_triangles (F, 3) go together")
    batched = vertices.dim() == 3
    verts = vertices if batched else vertices[None]
    triangles = triangles.to(verts.device)
    camera = camera.to(verts.device)
    batch, count, height, width = verts.shape[0], verts.shape[1], camera.height, camera.width
    xy, depth = camera.project(verts)
    coverage = rasterize_coverage(xy, depth, triangles, height, width, cull="back" if cull_backfaces else None)

    pixels, index, faces = _covered(coverage.triangle_id)
    corners = triangles.index_select(0, faces)                          # (N, 3)
    rows = (corners + (index * count)[:, None]).reshape(-1)            # into (B*V)
    corner_xy = xy.reshape(-1, 2).index_select(0, rows).reshape(-1, 3, 2)
    corner_depth = depth.reshape(-1).index_select(0, rows).reshape(-1, 3)
    col = (pixels % width).to(xy.dtype) + 0.5
    row = (torch.div(pixels, width, rounding_mode="floor") % height).to(xy.dtype) + 0.5
    # Screen-space barycentrics from edge functions, then perspective correction with 1/depth.
    edge = []
    for k in range(3):
        p, q = corner_xy[:, (k + 1) % 3], corner_xy[:, (k + 2) % 3]
        edge.append((q[:, 0] - p[:, 0]) * (row - p[:, 1]) - (q[:, 1] - p[:, 1]) * (col - p[:, 0]))
    screen = torch.stack(edge, dim=1)
    weights = screen / (screen.sum(dim=1, keepdim=True) * corner_depth)
    inverse_depth = weights.sum(dim=1, keepdim=True)
    bary = weights / inverse_depth

    position = _interpolate_at(verts, corners, index, bary)
    normal = torch.nn.functional.normalize(
        _interpolate_at(vertex_normals(verts, triangles), corners, index, bary), dim=-1, eps=1e-20)
    flat_normal = face_normals(verts.reshape(-1, 3), rows.reshape(-1, 3))
    rotation = camera.world_to_camera[:3, :3].to(verts)
    channels = [1.0 / inverse_depth, bary, position, normal, normal @ rotation.T, flat_normal]
    if uvs is not None:
        uv_corners = uv_triangles.to(faces.device).index_select(0, faces)
        channels.append(_interpolate_at(uvs.to(verts)[None], uv_corners, index, bary))
    dense = _scatter(pixels, torch.cat(channels, dim=1), (batch, height, width))
    mask = coverage.triangle_id >= 0
    alpha = mask.to(verts.dtype)
    if soft_sigma is not None:
        alpha = soft_silhouette(xy, triangles, mask, float(soft_sigma))
    gbuffer = GBuffer(
        mask=mask,
        alpha=alpha,
        depth=dense[..., 0],
        triangle_id=coverage.triangle_id,
        barycentrics=dense[..., 1:4],
        position=dense[..., 4:7],
        normal_world=dense[..., 7:10],
        normal_camera=dense[..., 10:13],
        face_normal_world=dense[..., 13:16],
        uv=dense[..., 16:18] if uvs is not None else None,
    )
    if not batched:
        for name, value in vars(gbuffer).items():
            if isinstance(value, torch.Tensor):
                setattr(gbuffer, name, value[0])
    return gbuffer

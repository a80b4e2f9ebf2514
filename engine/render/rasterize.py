"""Differentiable G-buffers of a triangle mesh seen by a pinhole :class:`~engine.render.camera.Camera`.

Two halves, like nvdiffrast: :func:`~engine.render.coverage.rasterize_coverage` finds the nearest triangle
per pixel (integer work, no gradients), then every covered pixel's perspective-correct barycentrics are
recomputed from the projected vertices with autograd, so gradients flow from every G-buffer channel
(position, depth, normals, uv, :func:`interpolate`-d attributes) to the vertices. Silhouette gradients
come from ``soft_sigma`` (see :mod:`engine.render.soft`).

Frames: ``position``/``normal_world`` in the world (engine) frame; ``normal_camera`` in the engine camera
frame (x right, y up, +z toward the viewer, so visible surfaces have z > 0); ``depth`` in metres along
the view axis. Image arrays are row-major with row 0 at the top. Uncovered pixels hold 0 (``triangle_id``
-1).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from engine.render.camera import Camera
from engine.render.coverage import rasterize_coverage
from engine.render.soft import soft_silhouette


@dataclass
class GBuffer:
    """Per-pixel surface data, (H, W, ...) for one mesh or (B, H, W, ...) for a batch of meshes."""

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


def face_normals(vertices: torch.Tensor, triangles: torch.Tensor) -> torch.Tensor:
    """Unit normals (..., F, 3) of triangles (F, 3) over vertices (..., V, 3): (b - a) x (c - a)."""
    a, b, c = (vertices[..., triangles[:, k], :] for k in range(3))
    return torch.nn.functional.normalize(torch.linalg.cross(b - a, c - a), dim=-1, eps=1e-20)


def vertex_normals(vertices: torch.Tensor, triangles: torch.Tensor) -> torch.Tensor:
    """Area-weighted unit vertex normals (..., V, 3); vertices no triangle uses get (0, 0, 0)."""
    a, b, c = (vertices[..., triangles[:, k], :] for k in range(3))
    weighted = torch.linalg.cross(b - a, c - a)  # length = twice the area
    total = torch.zeros_like(vertices)
    for k in range(3):
        total = total.index_add(-2, triangles[:, k], weighted)
    return torch.nn.functional.normalize(total, dim=-1, eps=1e-20)


def _covered(triangle_id: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Flat indices of covered pixels (N,), their batch index (N,) and triangle (N,)."""
    flat = triangle_id.reshape(-1)
    pixels = torch.nonzero(flat >= 0).squeeze(1)
    per_image = triangle_id.shape[-1] * triangle_id.shape[-2]
    return pixels, torch.div(pixels, per_image, rounding_mode="floor"), flat[pixels]


def _scatter(pixels: torch.Tensor, values: torch.Tensor, shape: tuple[int, ...]) -> torch.Tensor:
    """Dense (*shape, C) zeros with ``values`` (N, C) at flat pixel indices; differentiable."""
    out = values.new_zeros((int(torch.tensor(shape).prod()), values.shape[-1]))
    return out.index_put((pixels,), values).reshape(*shape, values.shape[-1])


def _interpolate_at(attributes: torch.Tensor, corners: torch.Tensor, batch: torch.Tensor,
                    barycentrics: torch.Tensor) -> torch.Tensor:
    """Sum of barycentrics (N, 3) times attributes (B or 1, V, C) at corners (N, 3) of batch items (N,)."""
    if attributes.shape[0] == 1:
        values = attributes[0][corners]
    else:
        values = attributes[batch[:, None], corners]
    return (values * barycentrics[..., None]).sum(dim=1)


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
    bary = gbuffer.barycentrics.reshape(-1, 3)[pixels]
    values = _interpolate_at(attributes, triangles.to(faces.device)[faces], batch, bary)
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
    batched = vertices.dim() == 3
    verts = vertices if batched else vertices[None]
    triangles = triangles.to(verts.device)
    camera = camera.to(verts.device)
    batch, height, width = verts.shape[0], camera.height, camera.width
    xy, depth = camera.project(verts)
    coverage = rasterize_coverage(xy, depth, triangles, height, width, cull="back" if cull_backfaces else None)

    pixels, index, faces = _covered(coverage.triangle_id)
    corners = triangles[faces]                                # (N, 3)
    flat_corners = index[:, None] * verts.shape[1] + corners  # into (B*V)
    corner_xy = xy.reshape(-1, 2)[flat_corners]               # (N, 3, 2)
    corner_depth = depth.reshape(-1)[flat_corners]            # (N, 3)
    col = (pixels % width).to(xy.dtype) + 0.5
    row = (torch.div(pixels, width, rounding_mode="floor") % height).to(xy.dtype) + 0.5
    # Screen-space barycentrics from edge functions, then perspective correction with 1/depth.
    edge = []
    for k in range(3):
        p, q = corner_xy[:, (k + 1) % 3], corner_xy[:, (k + 2) % 3]
        edge.append((q[:, 0] - p[:, 0]) * (row - p[:, 1]) - (q[:, 1] - p[:, 1]) * (col - p[:, 0]))
    screen = torch.stack(edge, dim=1)
    screen = screen / screen.sum(dim=1, keepdim=True)
    weights = screen / corner_depth
    inverse_depth = weights.sum(dim=1, keepdim=True)
    bary = weights / inverse_depth

    shape = (batch, height, width)
    position = _interpolate_at(verts, corners, index, bary)
    normals = vertex_normals(verts, triangles)
    normal = torch.nn.functional.normalize(_interpolate_at(normals, corners, index, bary), dim=-1, eps=1e-20)
    flat_normal = face_normals(verts.reshape(-1, 3), flat_corners)
    rotation = camera.world_to_camera[:3, :3].to(verts)
    mask = coverage.triangle_id >= 0
    alpha = mask.to(verts.dtype)
    if soft_sigma is not None:
        alpha = soft_silhouette(xy, triangles, mask, float(soft_sigma))
    gbuffer = GBuffer(
        mask=mask,
        alpha=alpha,
        depth=_scatter(pixels, 1.0 / inverse_depth, shape)[..., 0],
        triangle_id=coverage.triangle_id,
        barycentrics=_scatter(pixels, bary, shape),
        position=_scatter(pixels, position, shape),
        normal_world=_scatter(pixels, normal, shape),
        normal_camera=_scatter(pixels, normal @ rotation.T, shape),
        face_normal_world=_scatter(pixels, flat_normal, shape),
    )
    if uvs is not None:
        if uv_triangles is None:
            raise ValueError("uvs need uv_triangles (F, 3) parallel to triangles")
        gbuffer.uv = interpolate(gbuffer, uvs.to(verts), uv_triangles)
    if not batched:
        for name, value in vars(gbuffer).items():
            if isinstance(value, torch.Tensor):
                setattr(gbuffer, name, value[0])
    return gbuffer

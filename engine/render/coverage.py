"""Vectorised triangle coverage and z-test in screen space (the non-differentiable half of rasterising).

Every triangle's pixel bounding box is expanded into candidate (triangle, pixel) pairs in bounded
groups of similar box size (broadcast grids, no per-triangle Python loop); edge functions decide coverage
and the nearest surface per pixel wins through one ``scatter_reduce(amin)`` over a packed int64 key
``depth bits << 32 | triangle id``. Pure torch, so the same code runs on CPU and GPU.

Screen space: x right, y down, pixel (row i, col j) has its centre at (j + 0.5, i + 0.5); a pixel is
covered when its centre lies inside or on the edge of a triangle. ``perspective=True`` interpolates
1/depth linearly across the screen (a pinhole projection), ``False`` interpolates depth (orthographic).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

_EMPTY_KEY = torch.iinfo(torch.int64).max
_ID_BITS = 32
# Candidate pairs per chunk: bounds peak memory (~100 bytes per pair) whatever the mesh and resolution.
CHUNK_PAIRS = 1 << 21


@dataclass
class Coverage:
    """Per pixel of B images (B, H, W): the winning triangle (-1 = none) and its depth."""

    triangle_id: torch.Tensor  # (B, H, W) long
    depth: torch.Tensor        # (B, H, W) float32, the interpolated depth; +inf where uncovered


def _size_class(n: torch.Tensor) -> torch.Tensor:
    """Round box sides up to 1, 2, 3, 4, 6, 8, 12, 16, ... (at most 1.5x padding per side)."""
    n = n.clamp(min=1)
    power = torch.pow(2.0, torch.floor(torch.log2((n - 1).clamp(min=1).float()))).long()
    return torch.where(n <= 4, n, torch.where(n <= power + power // 2, power + power // 2, 2 * power))


def _depth_to_key(depth: torch.Tensor) -> torch.Tensor:
    """float32 -> int64 whose signed order equals the float order, shifted into the high 32 bits."""
    bits = depth.contiguous().view(torch.int32)
    bits = torch.where(bits < 0, bits ^ 0x7FFFFFFF, bits)
    return bits.to(torch.int64) << _ID_BITS


def _key_to_depth(key: torch.Tensor) -> torch.Tensor:
    bits = (key >> _ID_BITS).to(torch.int32)
    bits = torch.where(bits < 0, bits ^ 0x7FFFFFFF, bits)
    return bits.view(torch.float32)


def _plane(values: torch.Tensor, x: torch.Tensor, y: torch.Tensor, inv_area: torch.Tensor) -> torch.Tensor:
    """Coefficients (T, 3) of the screen plane a*x + b*y + c through 3 corner values (T, 3)."""
    a = ((values[:, 1] - values[:, 0]) * (y[:, 2] - y[:, 0]) - (values[:, 2] - values[:, 0]) * (y[:, 1] - y[:, 0]))
    b = ((values[:, 2] - values[:, 0]) * (x[:, 1] - x[:, 0]) - (values[:, 1] - values[:, 0]) * (x[:, 2] - x[:, 0]))
    a, b = a * inv_area, b * inv_area
    return torch.stack([a, b, values[:, 0] - a * x[:, 0] - b * y[:, 0]], dim=1)


@torch.no_grad()
def rasterize_coverage(xy: torch.Tensor, depth: torch.Tensor, triangles: torch.Tensor, height: int, width: int,
                       perspective: bool = True, cull_backfaces: bool = False, near: float = 1e-4) -> Coverage:
    """Nearest triangle per pixel for B views of one mesh.

    ``xy`` (B, V, 2) screen positions in pixels, ``depth`` (B, V) view depth (for ``perspective`` it must be
    > ``near``; triangles with a corner nearer are dropped, there is no clipping), ``triangles`` (F, 3).
    With ``cull_backfaces`` triangles whose screen winding is clockwise in a y-up view (the back of an
    outward, counter-clockwise mesh) are skipped.
    """
    batch, device = xy.shape[0], xy.device
    xy, depth = xy.detach().float(), depth.detach().float()
    faces = triangles.to(device)
    face_count = faces.shape[0]
    x = xy[..., 0][:, faces].reshape(-1, 3)  # (B*F, 3)
    y = xy[..., 1][:, faces].reshape(-1, 3)
    z = depth[:, faces].reshape(-1, 3)
    # Twice the signed area; y points down, so a counter-clockwise (front-facing) triangle is negative.
    area = (x[:, 1] - x[:, 0]) * (y[:, 2] - y[:, 0]) - (x[:, 2] - x[:, 0]) * (y[:, 1] - y[:, 0])
    keep = torch.isfinite(area) & (area.abs() > 1e-12)
    if cull_backfaces:
        keep &= area < 0
    if perspective:
        keep &= (z > near).all(dim=1)
    x0 = torch.ceil(x.amin(dim=1) - 0.5).clamp(min=0)
    x1 = torch.floor(x.amax(dim=1) - 0.5).clamp(max=width - 1)
    y0 = torch.ceil(y.amin(dim=1) - 0.5).clamp(min=0)
    y1 = torch.floor(y.amax(dim=1) - 0.5).clamp(max=height - 1)
    keep &= (x1 >= x0) & (y1 >= y0)
    index = torch.nonzero(keep).squeeze(1)
    x, y, z, area = x[index], y[index], z[index], area[index]
    x0, y0 = x0[index].long(), y0[index].long()
    nx = x1[index].long() - x0 + 1
    ny = y1[index].long() - y0 + 1

    # Per triangle: barycentric planes of corners 1 and 2 and the depth (or 1/depth) plane, each
    # as (value at the box's first pixel centre, step per column, step per row).
    inv_area = 1.0 / area
    eye = torch.eye(3, device=device)
    first_x, first_y = x0.float() + 0.5, y0.float() + 0.5
    planes = []
    for values in (eye[1].expand_as(x), eye[2].expand_as(x), 1.0 / z if perspective else z):
        a, b, c = _plane(values, x, y, inv_area).unbind(1)
        planes += [a * first_x + b * first_y + c, a, b]
    planes = torch.stack(planes, dim=1)
    view = torch.div(index, face_count, rounding_mode="floor")
    face = index - view * face_count
    base = view * (height * width) + y0 * width + x0
    keys = torch.full((batch * height * width,), _EMPTY_KEY, dtype=torch.int64, device=device)

    # Triangles with similar boxes share one padded (rows x cols) candidate grid: broadcasting, no
    # per-candidate gathers. Box sides round up to 1, 2, 3, 4, 6, 8, 12, 16, ...
    cols_class, rows_class = _size_class(nx), _size_class(ny)
    group_key = rows_class * (width + height + 1) + cols_class
    order = torch.argsort(group_key)
    groups, sizes = torch.unique_consecutive(group_key[order], return_counts=True)
    offset = 0
    for group, size in zip(groups.tolist(), sizes.tolist()):
        rows, cols = divmod(group, width + height + 1)
        grid_col = torch.arange(cols, device=device).repeat(rows)
        grid_row = torch.arange(rows, device=device).repeat_interleave(cols)
        members = order[offset : offset + size]
        offset += size
        for chunk in torch.split(members, max(1, CHUNK_PAIRS // (rows * cols))):
            p = planes[chunk]
            b1 = p[:, 0:1] + p[:, 1:2] * grid_col + p[:, 2:3] * grid_row
            b2 = p[:, 3:4] + p[:, 4:5] * grid_col + p[:, 5:6] * grid_row
            plane = p[:, 6:7] + p[:, 7:8] * grid_col + p[:, 8:9] * grid_row
            inside = (b1 >= 0) & (b2 >= 0) & (b1 + b2 <= 1)
            inside &= (grid_col < nx[chunk, None]) & (grid_row < ny[chunk, None])
            pixel = (base[chunk, None] + grid_row * width + grid_col)[inside]
            candidate_depth = (1.0 / plane if perspective else plane)[inside]
            key = _depth_to_key(candidate_depth) + face[chunk, None].expand_as(inside)[inside]
            keys.scatter_reduce_(0, pixel, key, reduce="amin")

    empty = keys == _EMPTY_KEY
    triangle_id = torch.where(empty, -1, keys & ((1 << _ID_BITS) - 1))
    hit_depth = torch.where(empty, torch.inf, _key_to_depth(keys))
    shape = (batch, height, width)
    return Coverage(triangle_id.reshape(shape), hit_depth.reshape(shape))

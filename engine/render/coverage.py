"""Vectorised triangle coverage and z-test in screen space (the non-differentiable half of rasterising).

Every triangle's pixel bounding box is expanded into candidate (triangle, pixel) pairs in bounded
groups of similar box size (broadcast grids, no per-triangle Python loop); edge functions decide coverage
and the nearest surface per pixel wins through one ``scatter_reduce(amin)`` over a packed int64 key
``depth bits << 32 | triangle id``. Pure torch, so the same code runs on CPU and GPU.

Screen space: x right, y down, pixel (row i, col j) has its centre at (j + 0.5, i + 0.5); a pixel is
covered when its centre lies inside or on the edge of a triangle. ``perspective=True`` interpolates
1/depth linearly across the screen (a pinhole projection), ``False`` interpolates depth (orthographic).
Depths must be >= 0: their float bits then sort like the floats, which the packed key relies on.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

_EMPTY_KEY = torch.iinfo(torch.int64).max
_ID_BITS = 32
# Candidate pairs per grid chunk: bounds peak memory (~60 bytes per pair) whatever the mesh and resolution.
CHUNK_PAIRS = 1 << 21


@dataclass
class Coverage:
    """Per pixel of B images (B, H, W): the winning triangle (-1 = none) and its depth."""

    triangle_id: torch.Tensor  # (B, H, W) long
    depth: torch.Tensor        # (B, H, W) float32, the interpolated depth; +inf where uncovered


def _size_classes(limit: int, device: torch.device) -> torch.Tensor:
    """Table n -> padded box side for n = 0..limit: 1, 2, 3, 4, then 6, 8, 12, 16, 24, ... (<= 1.5x)."""
    sides = [1, 2, 3, 4]
    while sides[-1] < limit:
        sides.append(sides[-1] * 3 // 2 if sides[-1] & (sides[-1] - 1) == 0 else sides[-1] * 4 // 3)
    n = torch.arange(limit + 1)
    table = torch.tensor(sides)[torch.searchsorted(torch.tensor(sides), n)]
    return table.to(device)


def _triangle_setup(screen: torch.Tensor, triangles: torch.Tensor, height: int, width: int,
                    cull: str | None) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
    """Triangles that may cover a pixel centre, with their boxes and screen-linear planes.

    ``screen`` (B, V, 3) holds x, y and the depth quantity q that is linear on screen. Returns the flat
    index into (B*F) (T,), box origin (T, 2) long (col, row), box size (T, 2) long, and planes (T, 9):
    for b1, b2 (barycentric weights of corners 1, 2) and q, (value at the box's first pixel centre,
    step per column, step per row).
    """
    corners = screen[:, triangles].reshape(-1, 3, 3)  # (B*F, corner, xyq)
    lo = torch.ceil(corners[..., :2].amin(dim=1) - 0.5).clamp(min=0)
    hi = torch.minimum(torch.floor(corners[..., :2].amax(dim=1) - 0.5),
                       torch.tensor([width - 1.0, height - 1.0], device=screen.device))
    e1 = corners[:, 1] - corners[:, 0]
    e2 = corners[:, 2] - corners[:, 0]
    area = e1[:, 0] * e2[:, 1] - e1[:, 1] * e2[:, 0]  # y down: counter-clockwise (front) is negative
    keep = (hi >= lo).all(dim=1) & (area.abs() > 1e-12)  # NaN corners (behind the camera) fail too
    if cull == "back":
        keep &= area < 0
    elif cull == "front":
        keep &= area > 0
    index = torch.nonzero(keep).squeeze(1)
    corners, lo, hi, e1, e2 = corners[index], lo[index], hi[index], e1[index], e2[index]
    inv_area = 1.0 / area[index]
    # P - p0 = b1 e1 + b2 e2  =>  b1 = cross(P - p0, e2) / area, b2 = cross(e1, P - p0) / area.
    step1 = torch.stack([e2[:, 1], -e2[:, 0]], dim=1) * inv_area[:, None]   # d b1 / d(x, y)
    step2 = torch.stack([-e1[:, 1], e1[:, 0]], dim=1) * inv_area[:, None]   # d b2 / d(x, y)
    step_q = step1 * e1[:, 2:3] + step2 * e2[:, 2:3]
    offset = lo + 0.5 - corners[:, 0, :2]
    b1 = (step1 * offset).sum(dim=1)
    b2 = (step2 * offset).sum(dim=1)
    q = corners[:, 0, 2] + b1 * e1[:, 2] + b2 * e2[:, 2]
    planes = torch.cat([b1[:, None], step1, b2[:, None], step2, q[:, None], step_q], dim=1)
    return index, lo.long(), (hi - lo).long() + 1, planes


@torch.no_grad()
def rasterize_coverage(xy: torch.Tensor, depth: torch.Tensor, triangles: torch.Tensor, height: int, width: int,
                       perspective: bool = True, cull: str | None = None, near: float = 1e-4) -> Coverage:
    """Nearest triangle per pixel for B views of one mesh.

    ``xy`` (B, V, 2) screen positions in pixels, ``depth`` (B, V) view depth >= 0 (for ``perspective``,
    triangles with a corner nearer than ``near`` are dropped: there is no clipping), ``triangles`` (F, 3).
    ``cull="back"`` skips triangles clockwise in a y-up view (the back of an outward counter-clockwise
    mesh), ``"front"`` the others, ``None`` none.
    """
    batch, device = xy.shape[0], xy.device
    face_count = triangles.shape[0]
    depth = depth.detach().float()
    xy = xy.detach().float()
    if perspective:
        xy = torch.where((depth > near)[..., None], xy, torch.nan)
        depth = 1.0 / depth  # 1/depth is linear on screen
    screen = torch.cat([xy, depth[..., None]], dim=2)
    index, lo, size, planes = _triangle_setup(screen, triangles.to(device), height, width, cull)
    view = torch.div(index, face_count, rounding_mode="floor")
    face = index - view * face_count
    base = view * (height * width) + lo[:, 1] * width + lo[:, 0]
    keys = torch.full((batch * height * width,), _EMPTY_KEY, dtype=torch.int64, device=device)

    # Triangles with similar boxes share one padded (rows x cols) grid of candidate pixels: broadcasting,
    # no per-candidate gathers of triangle data.
    classes = _size_classes(max(height, width), device)[size]
    group_key = (classes[:, 1] * (max(height, width) + 1) + classes[:, 0]).to(torch.int32)
    group_key, order = torch.sort(group_key)
    groups, counts = torch.unique_consecutive(group_key, return_counts=True)
    start = 0
    for group, count in zip(groups.tolist(), counts.tolist()):
        rows, cols = divmod(group, max(height, width) + 1)
        grid_col = torch.arange(cols, device=device).repeat(rows)
        grid_row = torch.arange(rows, device=device).repeat_interleave(cols)
        grid_offset = grid_row * width + grid_col
        exact = rows <= 4 and cols <= 4  # boxes of this group are never padded (image clipping is in size)
        members = order[start : start + count]
        start += count
        for chunk in torch.split(members, max(1, CHUNK_PAIRS // (rows * cols))):
            p = planes[chunk]
            b1 = p[:, 0:1] + p[:, 1:2] * grid_col + p[:, 2:3] * grid_row
            b2 = p[:, 3:4] + p[:, 4:5] * grid_col + p[:, 5:6] * grid_row
            inside = (b1 >= 0) & (b2 >= 0) & (b1 + b2 <= 1)
            if not exact:
                inside &= (grid_col < size[chunk, 0:1]) & (grid_row < size[chunk, 1:2])
            hit = torch.nonzero(inside.reshape(-1)).squeeze(1)
            member = torch.div(hit, rows * cols, rounding_mode="floor")
            cell = hit - member * (rows * cols)
            triangle = chunk[member]
            q = p[member, 6] + p[member, 7] * grid_col[cell] + p[member, 8] * grid_row[cell]
            candidate_depth = 1.0 / q if perspective else q
            key = (candidate_depth.view(torch.int32).to(torch.int64) << _ID_BITS) + face[triangle]
            keys.scatter_reduce_(0, base[triangle] + grid_offset[cell], key, reduce="amin")

    empty = keys == _EMPTY_KEY
    triangle_id = torch.where(empty, -1, keys & ((1 << _ID_BITS) - 1))
    hit_depth = torch.where(empty, torch.inf, (keys >> _ID_BITS).to(torch.int32).view(torch.float32))
    shape = (batch, height, width)
    return Coverage(triangle_id.reshape(shape), hit_depth.reshape(shape))

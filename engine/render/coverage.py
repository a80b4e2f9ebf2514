"""Vectorised triangle coverage and z-test in screen space (the non-differentiable half of rasterising).

Every triangle's pixel bounding box becomes candidate (triangle, pixel) pairs: triangles with boxes
of similar size share one broadcast grid (a few dozen groups, no per-triangle Python loop), chunked
to bound memory. Plane equations decide coverage, and the nearest surface per pixel wins through one
``scatter_reduce(amin)`` over a packed int64 key ``depth bits << 32 | triangle id``. Pure torch, so
the same code runs on CPU and GPU.

Screen space: x right, y down, pixel (row i, col j) has its centre at (j + 0.5, i + 0.5); a pixel is
covered when its centre lies inside or on the edge of a triangle (no holes along shared edges).
``perspective=True`` interpolates 1/depth linearly across the screen (a pinhole projection), ``False``
interpolates depth (orthographic). Depths must be >= 0: their float bits then sort like the floats,
which the packed key relies on.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

_EMPTY_KEY = torch.iinfo(torch.int64).max
_ID_BITS = 32
# Candidate pairs per grid chunk: bounds peak memory (~60 bytes per pair) whatever the mesh and resolution.
CHUNK_PAIRS = 1 << 21
_EXACT_SIDES = 4  # box sides up to this get grids of exactly their size
# Barycentric slack of the inside test: neighbours evaluate a shared edge with different rounding, so
# a pixel centre on the edge could fall out of both; the slack makes them both take it (the depth
# test picks one) at the cost of coverage 1e-5 of a triangle's height too wide on the silhouette.
_EDGE_EPS = 1e-5


@dataclass
class Coverage:
    """Per pixel of B images (B, H, W): the winning triangle (-1 = none) and its depth."""

    triangle_id: torch.Tensor  # (B, H, W) long
    depth: torch.Tensor        # (B, H, W) float32, the interpolated depth; +inf where uncovered


def _size_classes(limit: int, device: torch.device) -> torch.Tensor:
    """Table n -> padded box side for n = 0..limit: 1, 2, 3, 4 exactly, then 8, 16, 32, ...

    Most boxes of a dense mesh are 1-4 pixels wide and get exact grids; rounding larger ones up to
    powers of two keeps the number of groups (one loop iteration each) small.
    """
    sides = list(range(1, _EXACT_SIDES + 1))
    while sides[-1] < limit:
        sides.append(sides[-1] * 2)
    table = torch.tensor(sides)[torch.searchsorted(torch.tensor(sides), torch.arange(limit + 1))]
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
    xy0, xy1, xy2 = corners[:, 0, :2], corners[:, 1, :2], corners[:, 2, :2]
    lo = torch.ceil(torch.minimum(torch.minimum(xy0, xy1), xy2) - 0.5).clamp(min=0)
    hi = torch.minimum(torch.floor(torch.maximum(torch.maximum(xy0, xy1), xy2) - 0.5),
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
    pixel_count = batch * height * width

    # Triangles with similar boxes share one padded (rows x cols) grid of candidate pixels: broadcasting,
    # no per-candidate gathers. Per-triangle data is sorted by group once, so groups are slices.
    side = max(height, width) + 1
    classes = _size_classes(side - 1, device)[size]
    group_key, order = torch.sort((classes[:, 1] * side + classes[:, 0]).to(torch.int32))
    groups, counts = torch.unique_consecutive(group_key, return_counts=True)
    planes, size, lo, view = planes[order], size[order], lo[order], view[order]
    face = index[order] - view * face_count
    base = view * (height * width) + lo[:, 1] * width + lo[:, 0]
    shapes = [divmod(group, side) for group in groups.tolist()]
    # Padded cells may run past the last pixel: their keys are empty, so a spare tail absorbs them.
    spare = max((rows * width + cols for rows, cols in shapes), default=0)
    keys = torch.full((pixel_count + spare,), _EMPTY_KEY, dtype=torch.int64, device=device)
    start = 0
    for (rows, cols), count in zip(shapes, counts.tolist()):
        grid_col = torch.arange(cols, device=device).repeat(rows)
        grid_row = torch.arange(rows, device=device).repeat_interleave(cols)
        grid_offset = grid_row * width + grid_col
        grid_col_f, grid_row_f = grid_col.float(), grid_row.float()
        exact = rows <= _EXACT_SIDES and cols <= _EXACT_SIDES  # never padded (image clipping is in size)
        step = max(1, CHUNK_PAIRS // (rows * cols))
        for first in range(start, start + count, step):
            last = min(first + step, start + count)
            p = planes[first:last]
            b1 = torch.addcmul(torch.addcmul(p[:, 0:1], p[:, 1:2], grid_col_f), p[:, 2:3], grid_row_f)
            b2 = torch.addcmul(torch.addcmul(p[:, 3:4], p[:, 4:5], grid_col_f), p[:, 5:6], grid_row_f)
            q = torch.addcmul(torch.addcmul(p[:, 6:7], p[:, 7:8], grid_col_f), p[:, 8:9], grid_row_f)
            outside = (b1 < -_EDGE_EPS) | (b2 < -_EDGE_EPS) | (b1 + b2 > 1 + _EDGE_EPS)
            if not exact:
                box = size[first:last]
                outside |= (grid_col >= box[:, 0:1]) | (grid_row >= box[:, 1:2])
            candidate_depth = q.reciprocal_() if perspective else q
            key = (candidate_depth.view(torch.int32).to(torch.int64) << _ID_BITS) + face[first:last, None]
            key.masked_fill_(outside, _EMPTY_KEY)
            pixel = base[first:last, None] + grid_offset
            keys.scatter_reduce_(0, pixel.reshape(-1), key.reshape(-1), reduce="amin")
        start += count
    keys = keys[:pixel_count]

    empty = keys == _EMPTY_KEY
    triangle_id = torch.where(empty, -1, keys & ((1 << _ID_BITS) - 1))
    hit_depth = torch.where(empty, torch.inf, (keys >> _ID_BITS).to(torch.int32).view(torch.float32))
    shape = (batch, height, width)
    return Coverage(triangle_id.reshape(shape), hit_depth.reshape(shape))

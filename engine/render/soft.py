"""Soft silhouettes: coverage as a sigmoid of the signed screen distance to the mesh's outline.

Near the outline of the hard mask (within ~3 sigma) each pixel finds its nearest *silhouette edge*: a
mesh edge between a front- and a back-facing triangle in this view, or a boundary edge. Its alpha is
``sigmoid(+-distance / sigma)`` (+ inside the hard mask, - outside), and the distance is recomputed
with autograd from the projected vertices, so moving the outline moves the alpha. Elsewhere alpha is
the hard mask (0 or 1) with no gradient, which is exact there. Screen units are pixels.
"""

from __future__ import annotations

import math

import torch

_ID_BITS = 32
_CHUNK_PAIRS = 1 << 21


def silhouette_edges(xy: torch.Tensor, triangles: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Silhouette edges of B views: ``(view (E,), edge vertex pairs (E, 2))``.

    ``xy`` (B, V, 2) screen positions (y down). An undirected edge is on the silhouette when its
    triangles do not all face the same way, or when it has one triangle (an open border).
    """
    batch = xy.shape[0]
    x, y = xy[..., 0][:, triangles], xy[..., 1][:, triangles]
    area = (x[..., 1] - x[..., 0]) * (y[..., 2] - y[..., 0]) - (x[..., 2] - x[..., 0]) * (y[..., 1] - y[..., 0])
    front = (area < 0).long()  # (B, F), counter-clockwise in a y-up view
    pairs = torch.cat([triangles[:, [0, 1]], triangles[:, [1, 2]], triangles[:, [2, 0]]])  # (3F, 2)
    pairs = torch.sort(pairs, dim=1).values
    stride = int(triangles.max()) + 1
    keys, inverse = torch.unique(pairs[:, 0] * stride + pairs[:, 1], return_inverse=True)
    edges = torch.stack([torch.div(keys, stride, rounding_mode="floor"), keys % stride], dim=1)
    total = torch.bincount(inverse, minlength=len(edges))
    front_count = torch.zeros(batch, len(edges), dtype=torch.long, device=xy.device)
    front_count.index_add_(1, inverse, front.repeat(1, 3))
    on_outline = ((front_count > 0) & (front_count < total)) | (total == 1)
    view, edge = torch.nonzero(on_outline, as_tuple=True)
    return view, edges[edge]


def _dilate(image: torch.Tensor, radius: int) -> torch.Tensor:
    """Max over a (2 radius + 1)^2 square around each pixel of (B, H, W) images, as two 1-D passes."""
    pool = torch.nn.functional.max_pool2d
    size = 2 * radius + 1
    rows = pool(image[:, None], (1, size), stride=1, padding=(0, radius))
    return pool(rows, (size, 1), stride=1, padding=(radius, 0))[:, 0]


def _pixel_centres(pixels: torch.Tensor, height: int, width: int, dtype: torch.dtype) -> torch.Tensor:
    """Screen positions (N, 2) of the centres of flat pixel indices (N,) into (B, H, W) images."""
    row = torch.div(pixels, width, rounding_mode="floor") % height
    return torch.stack([pixels % width, row], dim=1).to(dtype) + 0.5


def _segment_distance(p: torch.Tensor, a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """Distance (N,) from points p (N, 2) to segments a-b (N, 2)."""
    ab = b - a
    t = (((p - a) * ab).sum(dim=1) / (ab * ab).sum(dim=1).clamp(min=1e-12)).clamp(0.0, 1.0)
    return (a + t[:, None] * ab - p).norm(dim=1)


@torch.no_grad()
def _nearest_edge(xy: torch.Tensor, view: torch.Tensor, edges: torch.Tensor, band: torch.Tensor,
                  radius: int) -> torch.Tensor:
    """Per pixel of ``band`` (B, H, W) bool, the nearest silhouette edge within ``radius`` px (-1 = none)."""
    batch, height, width = band.shape
    ends = xy[view[:, None], edges]  # (E, 2, 2)
    lo = torch.floor(ends.amin(dim=1) - 0.5 - radius).long()
    hi = torch.floor(ends.amax(dim=1) - 0.5 + radius).long() + 1
    lo[:, 0].clamp_(0, width - 1), lo[:, 1].clamp_(0, height - 1)
    hi[:, 0].clamp_(0, width - 1), hi[:, 1].clamp_(0, height - 1)
    size = (hi - lo + 1).clamp(min=0)
    counts = size[:, 0] * size[:, 1]
    keys = torch.full((batch * height * width,), torch.iinfo(torch.int64).max, dtype=torch.int64,
                      device=xy.device)
    band = band.reshape(-1)
    for chunk in torch.split(torch.arange(len(edges), device=xy.device), max(1, _CHUNK_PAIRS // 64)):
        owner = torch.repeat_interleave(chunk, counts[chunk])
        first = torch.cumsum(counts[chunk], 0) - counts[chunk]
        local = torch.arange(len(owner), device=xy.device) - torch.repeat_interleave(first, counts[chunk])
        row = torch.div(local, size[owner, 0], rounding_mode="floor")
        col = local - row * size[owner, 0]
        pixel = view[owner] * (height * width) + (lo[owner, 1] + row) * width + lo[owner, 0] + col
        hit = torch.nonzero(band[pixel]).squeeze(1)
        owner, pixel = owner[hit], pixel[hit]
        distance = _segment_distance(_pixel_centres(pixel, height, width, xy.dtype), ends[owner, 0], ends[owner, 1])
        key = (distance.view(torch.int32).to(torch.int64) << _ID_BITS) + owner
        keys.scatter_reduce_(0, pixel, key, reduce="amin")
    found = keys != torch.iinfo(torch.int64).max
    return torch.where(found, keys & ((1 << _ID_BITS) - 1), -1).reshape(batch, height, width)


def soft_silhouette(xy: torch.Tensor, triangles: torch.Tensor, mask: torch.Tensor, sigma: float) -> torch.Tensor:
    """Soft alpha (B, H, W) from screen vertices ``xy`` (B, V, 2), triangles (F, 3), hard ``mask``
    (B, H, W) bool and the edge width ``sigma`` in pixels; differentiable with respect to ``xy``."""
    if sigma <= 0:
        raise ValueError("soft_sigma must be > 0 pixels")
    radius = int(math.ceil(3.0 * sigma)) + 1
    hard = mask.to(xy.dtype)
    band = (_dilate(hard, radius) > 0) & (_dilate(1.0 - hard, radius) > 0)  # within radius of both sides
    view, edges = silhouette_edges(xy.detach(), triangles)
    nearest = _nearest_edge(xy.detach(), view, edges, band, radius)
    pixels = torch.nonzero(nearest.reshape(-1) >= 0).squeeze(1)
    edge = nearest.reshape(-1)[pixels]
    height, width = mask.shape[-2:]
    ends = xy[view[edge][:, None], edges[edge]]  # (N, 2, 2), with gradients
    distance = _segment_distance(_pixel_centres(pixels, height, width, xy.dtype), ends[:, 0], ends[:, 1])
    sign = torch.where(mask.reshape(-1)[pixels], 1.0, -1.0).to(xy.dtype)
    alpha = hard.reshape(-1).index_put((pixels,), torch.sigmoid(sign * distance / sigma))
    return alpha.reshape(mask.shape)

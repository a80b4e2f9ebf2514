"""Ground-truth optical flow from known vertex motion, and its colour-wheel picture.

Convention: flow images are (H, W, 4) float32 in pixels, image coordinates (x right, y down,
the origin at the top-left corner, pixel (row i, column j) centred at (j + 0.5, i + 0.5)).
Channel 0 = dx, 1 = dy: the surface point seen at the centre of pixel (i, j) in frame t appears
at (j + 0.5 + dx, i + 0.5 + dy) in the other frame (t + 1 for forward flow, t - 1 for backward).
Channel 2 = valid: 1 where that point is visible in the other frame (inside the image, not
hidden behind other geometry), else 0. Channel 3 = the frame's coverage mask. Background pixels
are all zero. Warping check: I_t(p) = I_other(p + flow(p)) where valid.
"""

from __future__ import annotations

import cv2
import numpy as np
import torch

from engine.render.camera import Camera
from engine.render.rasterize import GBuffer

DEPTH_TOLERANCE = 2.5e-3  # metres: a point within this of the other frame's depth buffer is visible


def surface_flow(camera: Camera, gbuffer: GBuffer, triangles: torch.Tensor, other_vertices: torch.Tensor,
                 other_gbuffer: GBuffer, depth_tolerance: float = DEPTH_TOLERANCE) -> torch.Tensor:
    """Flow (H, W, 4) from a frame (``gbuffer``) to another frame (posed ``other_vertices`` (V, 3),
    rasterised as ``other_gbuffer``), following each pixel's triangle and barycentrics."""
    height, width = gbuffer.mask.shape
    pixels = torch.nonzero(gbuffer.mask.reshape(-1)).squeeze(1)
    corners = triangles[gbuffer.triangle_id.reshape(-1)[pixels]]
    bary = gbuffer.barycentrics.reshape(-1, 3)[pixels]
    moved = (other_vertices[corners] * bary[..., None]).sum(dim=1)
    xy, depth = camera.project(moved)
    x0 = (pixels % width).to(torch.float32) + 0.5
    y0 = torch.div(pixels, width, rounding_mode="floor").to(torch.float32) + 0.5
    column, row = torch.floor(xy[:, 0]).long(), torch.floor(xy[:, 1]).long()
    inside = (column >= 0) & (column < width) & (row >= 0) & (row < height)
    target = row.clamp(0, height - 1) * width + column.clamp(0, width - 1)
    covered = other_gbuffer.mask.reshape(-1)[target]
    seen_depth = other_gbuffer.depth.reshape(-1)[target]
    valid = inside & covered & (depth <= seen_depth + depth_tolerance)
    values = torch.stack([xy[:, 0] - x0, xy[:, 1] - y0, valid.to(torch.float32), torch.ones_like(x0)], dim=1)
    out = torch.zeros(height * width, 4)
    out[pixels] = values
    return out.reshape(height, width, 4)


def warp_with_flow(image: np.ndarray, flow: np.ndarray) -> np.ndarray:
    """Sample ``image`` (H, W, C) at p + flow(p) (bilinear, edges clamped): brings the other frame
    onto this one's pixels."""
    height, width = flow.shape[:2]
    grid_x, grid_y = np.meshgrid(np.arange(width, dtype=np.float32), np.arange(height, dtype=np.float32))
    map_x = grid_x + flow[..., 0].astype(np.float32)
    map_y = grid_y + flow[..., 1].astype(np.float32)
    return cv2.remap(image.astype(np.float32), map_x, map_y, cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)


def flow_to_colour(flow: np.ndarray, max_magnitude: float | None = None) -> np.ndarray:
    """(H, W, 3) float RGB in [0, 1] of a flow field (H, W, >=2): hue = direction on the colour
    wheel, saturation = magnitude / ``max_magnitude`` (default: the field's 99th percentile).
    Pixels with a mask channel (3) of 0 are black."""
    dx, dy = flow[..., 0], flow[..., 1]
    magnitude = np.hypot(dx, dy)
    mask = flow[..., 3] > 0 if flow.shape[-1] > 3 else np.ones(dx.shape, dtype=bool)
    if max_magnitude is None:
        max_magnitude = float(np.percentile(magnitude[mask], 99)) if mask.any() else 1.0
    hue = (np.arctan2(-dy, -dx) / np.pi + 1.0) * 3.0  # 0..6 around the wheel
    saturation = np.clip(magnitude / max(max_magnitude, 1e-6), 0.0, 1.0)
    sector = np.floor(hue).astype(int) % 6
    f = hue - np.floor(hue)
    p, q, t = 1.0 - saturation, 1.0 - saturation * f, 1.0 - saturation * (1.0 - f)
    one = np.ones_like(p)
    choices = [(one, t, p), (q, one, p), (p, one, t), (p, q, one), (t, p, one), (one, p, q)]
    rgb = np.zeros((*dx.shape, 3))
    for index, (r, g, b) in enumerate(choices):
        pick = sector == index
        rgb[pick] = np.stack([r[pick], g[pick], b[pick]], axis=-1)
    return rgb * mask[..., None]

"""A procedural light-stage subject for the demo and the tests: three spheres, no files needed.

A large matte "head" sphere and two smaller glossy and diffuse spheres that cast shadows on it,
seen by a camera on +Z looking at the origin (engine frame). :func:`render_olat` gives each
stage light's image under the OLAT convention (a distant light from ``direction`` with
irradiance ``rgb``: a white Lambertian surface facing it has radiance rgb / pi).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from engine.synth.brdf import ggx_specular

SPHERES = np.array([[0.0, 0.0, 0.0, 0.5], [0.52, -0.28, 0.38, 0.2], [-0.48, -0.34, 0.3, 0.16]])
ALBEDO = np.array([[0.75, 0.55, 0.45], [0.2, 0.35, 0.8], [0.85, 0.8, 0.3]])
ROUGHNESS = np.array([0.6, 0.15, 0.9])
SPECULAR_F0 = 0.04
CAMERA_DISTANCE = 3.0
FIELD_OF_VIEW_DEG = 30.0


@dataclass(frozen=True)
class SurfaceHits:
    """Per-pixel first hits of camera rays (supersampled grid, flattened)."""

    hit: np.ndarray  # (N,) bool
    position: np.ndarray  # (N, 3)
    normal: np.ndarray  # (N, 3)
    view: np.ndarray  # (N, 3) unit vector surface->camera
    sphere: np.ndarray  # (N,) index of the sphere hit


def _intersect(origins: np.ndarray, directions: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Nearest positive hit distance (inf if none) and sphere index for each ray."""
    best = np.full(len(origins), np.inf)
    index = np.full(len(origins), -1)
    for i, (cx, cy, cz, radius) in enumerate(SPHERES):
        offset = origins - np.array([cx, cy, cz])
        b = np.einsum("ij,ij->i", offset, directions)
        c = np.einsum("ij,ij->i", offset, offset) - radius**2
        disc = b * b - c
        root = np.sqrt(np.clip(disc, 0.0, None))
        t = np.where(-b - root > 1e-4, -b - root, -b + root)
        valid = (disc > 0) & (t > 1e-4) & (t < best)
        best = np.where(valid, t, best)
        index = np.where(valid, i, index)
    return best, index


def trace_camera(size: int, supersample: int = 2) -> SurfaceHits:
    """Primary hits for a size x size image, ``supersample``^2 rays per pixel."""
    n = size * supersample
    half = np.tan(np.deg2rad(FIELD_OF_VIEW_DEG) / 2)
    coords = ((np.arange(n) + 0.5) / n * 2 - 1) * half
    x, y = np.meshgrid(coords, -coords)
    directions = np.stack([x, y, -np.ones_like(x)], axis=-1).reshape(-1, 3)
    directions /= np.linalg.norm(directions, axis=1, keepdims=True)
    origins = np.tile([0.0, 0.0, CAMERA_DISTANCE], (len(directions), 1))
    distance, sphere = _intersect(origins, directions)
    hit = np.isfinite(distance)
    position = origins + directions * np.where(hit, distance, 0.0)[:, None]
    normal = position - SPHERES[np.maximum(sphere, 0), :3]
    normal /= np.linalg.norm(normal, axis=1, keepdims=True)
    return SurfaceHits(hit, position, normal, -directions, sphere)


def shade(hits: SurfaceHits, direction: np.ndarray, rgb: np.ndarray) -> np.ndarray:
    """Radiance (N, 3) under a distant light from unit ``direction`` with irradiance ``rgb``:
    Lambert plus the synthetic stage's GGX specular (:func:`engine.synth.brdf.ggx_specular`), with cast shadows."""
    n_dot_l = hits.normal @ direction
    lit = hits.hit & (n_dot_l > 0)
    shadow_origin = hits.position + hits.normal * 1e-3
    blocked, _ = _intersect(shadow_origin[lit], np.tile(direction, (int(lit.sum()), 1)))
    visible = np.zeros(len(lit), dtype=bool)
    visible[np.flatnonzero(lit)[~np.isfinite(blocked)]] = True
    sphere = np.maximum(hits.sphere, 0)
    n_dot_v = np.einsum("ij,ij->i", hits.normal, hits.view)
    specular = ggx_specular(torch.from_numpy(n_dot_l[None]), torch.from_numpy(n_dot_v),
                            torch.from_numpy((hits.view @ direction)[None]), torch.from_numpy(ROUGHNESS[sphere]),
                            torch.full(n_dot_v.shape, SPECULAR_F0, dtype=torch.float64))[0].numpy()
    cos_l = np.clip(n_dot_l, 0.0, 1.0)
    radiance = ALBEDO[sphere] / np.pi * cos_l[:, None] + specular[:, None]
    return np.where(visible[:, None], radiance * rgb[None, :], 0.0)


def downsample(values: np.ndarray, size: int, supersample: int) -> np.ndarray:
    """Box-filter a flattened supersampled (N, C) grid to (size, size, C)."""
    grid = values.reshape(size, supersample, size, supersample, -1)
    return grid.mean(axis=(1, 3))


def render_olat(hits: SurfaceHits, size: int, supersample: int, direction: np.ndarray, rgb: np.ndarray) -> np.ndarray:
    """RGBA (size, size, 4) float32 image of the subject under one distant light."""
    colour = downsample(shade(hits, direction, rgb), size, supersample)
    alpha = downsample(hits.hit[:, None].astype(np.float64), size, supersample)
    return np.concatenate([colour, alpha], axis=2).astype(np.float32)


def procedural_sky(height: int = 128) -> np.ndarray:
    """A 2:1 lat-long HDRI (H, 2H, 3): blue sky gradient, warm ground bounce and a bright sun."""
    from engine.lighting.sphere import latlong_to_directions

    u = (np.arange(2 * height) + 0.5) / (2 * height)
    v = (np.arange(height) + 0.5) / height
    d = latlong_to_directions(u[None, :], v[:, None])
    up = d[..., 1:2]
    sky = np.where(up > 0, np.array([0.35, 0.55, 1.0]) * (0.4 + 0.6 * up), np.array([0.25, 0.2, 0.15]) * 0.6)
    sun_direction = np.array([0.6, 0.55, 0.58]) / np.linalg.norm([0.6, 0.55, 0.58])
    sun = np.clip(d @ sun_direction, 0.0, 1.0) ** 400 * 250.0
    return (sky + sun[..., None] * np.array([1.0, 0.9, 0.75])).astype(np.float32)

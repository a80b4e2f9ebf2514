"""Surface normals of a capture frame from its OLAT images (robust photometric stereo).

A light stage gives shape for free. Under a distant light ``d_l`` (unit, subject -> light) of
irradiance ``rgb_l``, a diffuse surface with wrapped-Lambert shading (the cheap model of subsurface
scattering, :mod:`engine.synth.brdf`) shows ``I_l / rgb_l = g . d_l + b`` wherever it is lit, with
``g = albedo * n`` scaled and ``b`` the wrap's offset. Per pixel (grey, the mean of the channels):

1. the lights that cannot fit the model are left out of the fit: those in shadow (attached or cast:
   at most ``SHADOW_FRACTION`` of the pixel's brightest value, a noise floor for real stages) and, for a
   first estimate, the brightest ``HIGHLIGHT_FRACTION`` of the lights (where specular highlights are);
2. least squares of ``(g, b)`` over the other lights, then six reweighted passes with Cauchy weights on
   the residual in units of its median, so what is left of shadows and highlights stops pulling;
3. again, now leaving out the lights within ``SPECULAR_CONE_DEG`` of the first estimate's mirror
   direction of the camera (``2 (n.v) n - v``, ``v`` = +Z, the direction to a distant camera) instead of
   the brightest: a highlight sits there, and it is further from the camera than the normal, so the
   brightest-lights rule left normals tilted away from the camera (a median 1.05 degrees, 0.7 after);
4. ``n = g / |g|``, kept where at least four lights were fitted, the surface is lit (|g| above 2 % of
   the frame's 99th percentile) and faces the camera (n_z >= 0.5): at grazing angles a pixel mixes
   normals and the bias grows, so those pixels are left unknown.

On the synthetic stage (256 px, tuning seed 905, 20 lights, every 10th of 100 frames) the median error
against the true normals is 2.0 degrees (mean 3.9); without step 3, 2.8 (mean 4.9), and with its cone at
30 / 40 / 50 / 60 degrees 2.8 / 2.2 / 1.8 / 1.7 (mean 4.1 / 3.9 / 3.9 / 4.2: wider cones leave too few
lights). Fitting every light and relying on the reweighting alone gave 5.4 degrees at 20 lights (shadowed
lights, exactly 0, pulled the fit). Frame: the capture's light directions are in the engine frame (the
subject looking +Z toward a stage camera that looks down -Z, y up), so the normals are in the tracking
camera's frame (:mod:`engine.track.fit`).
"""

from __future__ import annotations

import math

import numpy as np

MIN_LIGHTS = 4
MIN_LIT_FRACTION = 0.02     # |g| below this fraction of the frame's 99th percentile: unknown
MIN_FACING = 0.5            # n_z below this (more than 60 degrees from the camera axis): unknown
REWEIGHT_PASSES = 6
CAUCHY_SCALE = 1.5          # outlier scale, in medians of the absolute residual
SHADOW_FRACTION = 0.01      # a light at most this fraction of the pixel's brightest value: in shadow, left out
HIGHLIGHT_FRACTION = 0.15   # first estimate: the pixel's brightest lights, this fraction of all, left out
SPECULAR_CONE_DEG = 45.0    # then: the lights within this angle of the camera's mirror direction, left out
VIEW = np.array([0.0, 0.0, 1.0], dtype=np.float32)   # subject -> distant camera, engine frame


def photometric_normals(olats: np.ndarray, directions: np.ndarray, rgb: np.ndarray) -> np.ndarray:
    """Unit normals (H, W, 3) in the engine frame, (0, 0, 0) where unknown (everywhere with fewer than
    ``MIN_LIGHTS`` lights: four unknowns need four lights).

    ``olats`` (L, H, W, 3) scene-linear OLAT images, ``directions`` (L, 3) unit subject -> light,
    ``rgb`` (L, 3) each light's irradiance (the capture's ``rgb``), which each image is divided by.
    """
    count, height, width, _ = olats.shape
    normals = np.zeros((height * width, 3), dtype=np.float32)
    if count < MIN_LIGHTS:
        return normals.reshape(height, width, 3)
    grey = (olats / rgb[:, None, None, :].astype(np.float32)).mean(axis=3).reshape(count, -1)   # (L, P)
    lit = np.flatnonzero(grey.max(axis=0) > 0)
    if lit.size == 0:
        return normals.reshape(height, width, 3)
    values = grey[:, lit]
    rank = np.argsort(np.argsort(-values, axis=0), axis=0)                                      # 0 = brightest
    unshadowed = values > SHADOW_FRACTION * values.max(axis=0, keepdims=True)                    # (L, P)
    design = np.concatenate([directions, np.ones((count, 1))], axis=1).astype(np.float32)       # (L, 4)
    outer = (design[:, :, None] * design[:, None, :]).reshape(count, 16)                        # (L, 16)

    def solve(weight: np.ndarray) -> np.ndarray:
        """(P, 4): per pixel the weighted least-squares (g, b)."""
        normal_matrix = (weight.T @ outer).reshape(-1, 4, 4) + 1e-6 * np.eye(4, dtype=np.float32)
        return np.linalg.solve(normal_matrix, ((weight * values).T @ design)[..., None])[..., 0]

    def robust_solve(keep: np.ndarray) -> np.ndarray:
        """(P, 4): least squares over the kept lights, then the Cauchy-reweighted passes."""
        solution = solve(keep)
        for _ in range(REWEIGHT_PASSES):
            residual = values - design @ solution.T                                             # (L, P)
            scale = CAUCHY_SCALE * np.median(np.abs(residual), axis=0, keepdims=True) + 1e-8
            solution = solve(keep * (1.0 / (1.0 + (residual / scale) ** 2)).astype(np.float32))
        return solution

    first = robust_solve((unshadowed & (rank >= round(HIGHLIGHT_FRACTION * count))).astype(np.float32))
    estimate = first[:, :3] / np.maximum(np.linalg.norm(first[:, :3], axis=1), 1e-12)[:, None]
    mirror = 2.0 * (estimate @ VIEW)[:, None] * estimate - VIEW                                 # (P, 3)
    highlight = directions.astype(np.float32) @ mirror.T > math.cos(math.radians(SPECULAR_CONE_DEG))
    keep = (unshadowed & ~highlight).astype(np.float32)
    solution = robust_solve(keep)
    scaled = solution[:, :3]
    length = np.linalg.norm(scaled, axis=1)
    floor = MIN_LIT_FRACTION * float(np.percentile(length, 99))
    unit = scaled / np.maximum(length, 1e-12)[:, None]
    known = (length > floor) & (unit[:, 2] >= MIN_FACING) & (keep.sum(axis=0) >= MIN_LIGHTS)
    normals[lit[known]] = unit[known]
    return normals.reshape(height, width, 3)

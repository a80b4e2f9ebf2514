"""Procedural materials for the synthetic performer: per-vertex maps plus per-pixel detail.

A :class:`SurfaceMaterial` holds, per mesh vertex, the parameters of the stage's shading model
(:mod:`engine.synth.brdf`): linear Rec.709 diffuse ``albedo``, GGX perceptual ``roughness``
(alpha = roughness^2), ``specular`` reflectance at normal incidence (F0), and ``wrap``, the
per-channel width of the cheap subsurface term (red scatters furthest in skin). Two per-pixel
layers add what vertices are too coarse for: a baked UV-space detail texture (pores and fine
mottling on skin and hair) and the irises, painted on the eyeballs' corneas from each eye's
gaze in the current frame.

:func:`procedural_skin` builds a plausible person from a seed: skin tone, blotches, redder
cheeks, nose and ears, darker brows, lips, an oilier T-zone, scalp hair, and materials for the
eyes and the mouth interior. Positions are model-space metres of the performer's neutral face
(engine frame: Y up, looking +Z).
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

import numpy as np
import torch

from engine.face.model import FaceModel
from engine.render.rasterize import GBuffer
from engine.synth.noise import fbm, value_noise

# Upstream vertex ranges of M_BackHead (see the ICT README).
_HEAD_NECK = (9409, 11248)
_MOUTH_SOCKET = (11248, 13294)
_EYE_SOCKET = (13294, 14062)

# Linear Rec.709 skin albedo along a melanin axis (light, medium, dark).
_SKIN_TONES = np.array([[0.62, 0.46, 0.38], [0.40, 0.25, 0.17], [0.14, 0.08, 0.05]])
_HAIR_COLOURS = np.array([[0.020, 0.017, 0.015], [0.055, 0.033, 0.020], [0.12, 0.07, 0.038],
                          [0.34, 0.24, 0.13], [0.24, 0.075, 0.03], [0.30, 0.29, 0.28]])
_IRIS_COLOURS = np.array([[0.10, 0.045, 0.018], [0.20, 0.12, 0.045], [0.08, 0.15, 0.24], [0.09, 0.15, 0.06]])
_WRAP_SKIN = np.array([0.45, 0.22, 0.14])  # red light scatters furthest under the skin

IRIS_ANGLE_DEG = 24.0   # angular radius of the iris seen from the eyeball centre (the cornea bulge)
PUPIL_ANGLE_DEG = 8.5
DETAIL_TEXELS = 384      # per UV tile of the baked detail texture


def _smoothstep(edge0: float, edge1: float, x: np.ndarray) -> np.ndarray:
    t = np.clip((x - edge0) / (edge1 - edge0), 0.0, 1.0)
    return t * t * (3.0 - 2.0 * t)


def _blob(points: np.ndarray, centre: np.ndarray, sigma: float) -> np.ndarray:
    """Gaussian falloff (N,) around ``centre`` with ``sigma`` metres."""
    return np.exp(-np.sum((points - centre) ** 2, axis=1) / (2.0 * sigma**2))


def _polyline_distance(points: np.ndarray, line: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Distance (N,) from points to a polyline (K, 3) and the arc position (N,) in [0, 1] of the nearest point."""
    best = np.full(len(points), np.inf)
    position = np.zeros(len(points))
    lengths = np.linalg.norm(np.diff(line, axis=0), axis=1)
    start = np.concatenate([[0.0], np.cumsum(lengths)]) / lengths.sum()
    for k in range(len(line) - 1):
        a, b = line[k], line[k + 1]
        t = np.clip((points - a) @ (b - a) / np.dot(b - a, b - a), 0.0, 1.0)
        distance = np.linalg.norm(points - (a + t[:, None] * (b - a)), axis=1)
        closer = distance < best
        best[closer] = distance[closer]
        position[closer] = start[k] + t[closer] * (start[k + 1] - start[k])
    return best, position


def _inside_polygon_distance(xy: np.ndarray, polygon: np.ndarray) -> np.ndarray:
    """Signed 2-D distance (N,) to a closed polygon (K, 2): positive inside."""
    closed = np.vstack([polygon, polygon[:1]])
    inside = np.zeros(len(xy), dtype=bool)
    distance = np.full(len(xy), np.inf)
    for a, b in zip(closed[:-1], closed[1:]):
        crosses = (a[1] > xy[:, 1]) != (b[1] > xy[:, 1])
        x_at = a[0] + (xy[:, 1] - a[1]) * (b[0] - a[0]) / (b[1] - a[1] + 1e-12)
        inside ^= crosses & (xy[:, 0] < x_at)
        t = np.clip((xy - a) @ (b - a) / np.dot(b - a, b - a), 0.0, 1.0)
        distance = np.minimum(distance, np.linalg.norm(xy - (a + t[:, None] * (b - a)), axis=1))
    return np.where(inside, distance, -distance)


@dataclass(frozen=True)
class EyeLayout:
    """Vertex ids to find each eyeball's centre (sphere fit of its body) and gaze (cornea apex),
    and the material index of each eye's outer shell (sclera + cornea)."""

    body_ids: tuple[torch.Tensor, torch.Tensor]
    cornea_ids: tuple[torch.Tensor, torch.Tensor]
    sclera_material: tuple[int, int]
    iris_rgb: torch.Tensor  # (3,)

    @classmethod
    def from_model(cls, model: FaceModel, neutral: np.ndarray, iris_rgb: np.ndarray) -> EyeLayout:
        bodies, corneas, materials = [], [], []
        for name in ("M_ScleraLeft", "M_ScleraRight"):
            index = model.material_names.index(name)
            ids = np.unique(model.triangles[model.triangle_material == index].numpy())
            centre = _sphere_centre(torch.from_numpy(neutral[ids])).numpy()
            offset = neutral[ids] - centre
            radius = np.linalg.norm(offset, axis=1)
            apex = offset[np.argmax(radius)] / radius.max()
            angle = np.degrees(np.arccos(np.clip(offset @ apex / radius, -1.0, 1.0)))
            bodies.append(torch.from_numpy(ids[angle > IRIS_ANGLE_DEG + 10.0]))
            corneas.append(torch.from_numpy(ids[angle < 10.0]))
            materials.append(index)
        return cls(tuple(bodies), tuple(corneas), tuple(materials), torch.tensor(iris_rgb, dtype=torch.float32))


def _sphere_centre(points: torch.Tensor) -> torch.Tensor:
    """Least-squares sphere centre (3,) of points (N, 3)."""
    design = torch.cat([2.0 * points, torch.ones(len(points), 1, dtype=points.dtype)], dim=1)
    solution = torch.linalg.lstsq(design, (points**2).sum(dim=1, keepdim=True)).solution
    return solution[:3, 0]


@dataclass
class PixelMaterial:
    """Shading parameters of P covered pixels: albedo (P, 3), roughness (P,), specular (P,), wrap (P, 3)."""

    albedo: torch.Tensor
    roughness: torch.Tensor
    specular: torch.Tensor
    wrap: torch.Tensor


@dataclass
class SurfaceMaterial:
    """Per-vertex shading parameters (see the module doc) and optional per-pixel layers.

    albedo (V, 3), roughness (V,), specular (V,), wrap (V, 3), detail_amount (V,) (how strongly
    the baked ``detail`` texture (T, R, R), one R x R tile per UDIM tile u in [t, t+1), modulates
    albedo); ``eyes`` paints irises per pixel.
    """

    albedo: torch.Tensor
    roughness: torch.Tensor
    specular: torch.Tensor
    wrap: torch.Tensor
    detail_amount: torch.Tensor | None = None
    detail: torch.Tensor | None = None
    eyes: EyeLayout | None = None

    @classmethod
    def constant(cls, vertex_count: int, albedo: tuple[float, float, float] = (0.5, 0.5, 0.5),
                 roughness: float = 0.5, specular: float = 0.0, wrap: float = 0.0) -> SurfaceMaterial:
        """One material everywhere (the physical checks use Lambert: specular 0, wrap 0)."""
        return cls(torch.tensor(albedo, dtype=torch.float32).expand(vertex_count, 3).clone(),
                   torch.full((vertex_count,), float(roughness)), torch.full((vertex_count,), float(specular)),
                   torch.full((vertex_count, 3), float(wrap)))

    def at_pixels(self, gbuffer: GBuffer, pixels: torch.Tensor, triangles: torch.Tensor,
                  triangle_material: torch.Tensor, vertices: torch.Tensor) -> PixelMaterial:
        """Parameters at covered pixels ``pixels`` (P,) (flat indices into the G-buffer).

        ``triangles`` and ``triangle_material`` are those rasterised; ``vertices`` (V, 3) the frame's
        posed vertices (for the eyes' gaze).
        """
        faces = gbuffer.triangle_id.reshape(-1)[pixels]
        corners = triangles[faces]
        bary = gbuffer.barycentrics.reshape(-1, 3)[pixels]

        def lerp(values: torch.Tensor) -> torch.Tensor:
            return (values[corners] * (bary[..., None] if values.dim() == 2 else bary)).sum(dim=1)

        albedo = lerp(self.albedo)
        roughness = lerp(self.roughness)
        specular = lerp(self.specular)
        wrap = lerp(self.wrap)
        if self.detail is not None and gbuffer.uv is not None:
            uv = gbuffer.uv.reshape(-1, 2)[pixels]
            albedo = albedo * (1.0 + lerp(self.detail_amount)[:, None] * _sample_tiles(self.detail, uv)[:, None])
        if self.eyes is not None:
            pixel_material = triangle_material[faces]
            position = gbuffer.position.reshape(-1, 3)[pixels]
            for side in range(2):
                on_eye = torch.nonzero(pixel_material == self.eyes.sclera_material[side]).squeeze(1)
                if len(on_eye):
                    albedo[on_eye] = _paint_iris(self.eyes, side, vertices, position[on_eye], albedo[on_eye])
        return PixelMaterial(albedo.clamp(0.0, 1.0), roughness, specular, wrap)


def _sample_tiles(tiles: torch.Tensor, uv: torch.Tensor) -> torch.Tensor:
    """Bilinear lookup (P,) of UDIM tiles (T, R, R) at uv (P, 2); tile = floor(u)."""
    count = tiles.shape[0]
    tile = uv[:, 0].floor().clamp(0, count - 1)
    strip = tiles.permute(1, 0, 2).reshape(1, 1, tiles.shape[1], count * tiles.shape[2])
    x = (tile + (uv[:, 0] - tile).clamp(0.0, 1.0)) / count * 2.0 - 1.0
    y = 1.0 - 2.0 * uv[:, 1].clamp(0.0, 1.0)
    grid = torch.stack([x, y], dim=1)[None, None]
    return torch.nn.functional.grid_sample(strip, grid, mode="bilinear", align_corners=False)[0, 0, 0]


def _paint_iris(eyes: EyeLayout, side: int, vertices: torch.Tensor, position: torch.Tensor,
                albedo: torch.Tensor) -> torch.Tensor:
    """Albedo of cornea pixels: iris with radial streaks, dark limbal ring and pupil."""
    centre = _sphere_centre(vertices[eyes.body_ids[side]])
    gaze = torch.nn.functional.normalize(vertices[eyes.cornea_ids[side]].mean(dim=0) - centre, dim=0)
    offset = torch.nn.functional.normalize(position - centre, dim=1)
    angle = torch.rad2deg(torch.arccos((offset @ gaze).clamp(-1.0, 1.0)))
    helper = torch.tensor([0.0, 1.0, 0.0])
    right = torch.nn.functional.normalize(torch.linalg.cross(helper, gaze), dim=0)
    up = torch.linalg.cross(gaze, right)
    azimuth = torch.atan2(offset @ up, offset @ right)
    streaks = value_noise(torch.stack([azimuth * 9.0, angle / 3.0], dim=1), seed=17 + side)
    radial = angle / IRIS_ANGLE_DEG
    iris = eyes.iris_rgb * (0.75 + 0.35 * streaks[:, None]) * (1.15 - 0.6 * radial[:, None] ** 4)
    iris_mask = torch.clamp((IRIS_ANGLE_DEG - angle) / 1.5, 0.0, 1.0)[:, None]
    pupil_mask = torch.clamp((PUPIL_ANGLE_DEG - angle) / 1.0, 0.0, 1.0)[:, None]
    coloured = albedo * (1.0 - iris_mask) + iris * iris_mask
    return coloured * (1.0 - pupil_mask) + 0.008 * pupil_mask


def _vertex_kinds(model: FaceModel) -> dict[str, np.ndarray]:
    """Boolean masks (V,) of the vertices of each kind of surface, from triangle materials and ranges."""
    vertex_material = np.full(model.vertex_count, -1)
    triangles = model.triangles.numpy()
    materials = model.triangle_material.numpy()
    for corner in range(3):
        vertex_material[triangles[:, corner]] = materials
    names = model.material_names
    index = np.arange(model.vertex_count)

    def of(*material_names: str) -> np.ndarray:
        return np.isin(vertex_material, [names.index(n) for n in material_names])

    back = of("M_BackHead")
    return {
        "face": of("M_Face") | (back & (index >= _EYE_SOCKET[0]) & (index < _EYE_SOCKET[1])),
        "head": back & (index >= _HEAD_NECK[0]) & (index < _HEAD_NECK[1]),
        "mouth": back & (index >= _MOUTH_SOCKET[0]) & (index < _MOUTH_SOCKET[1]),
        "gums": of("M_GumsTongue"),
        "teeth": of("M_Teeth"),
        "eyes": of("M_ScleraLeft", "M_ScleraRight", "M_IrisLeft", "M_IrisRight"),
    }


@lru_cache(maxsize=1)
def _bake_detail(tiles: int = 2, texels: int = DETAIL_TEXELS, seed: int = 0x90E5) -> torch.Tensor:
    """(tiles, texels, texels) fine albedo variation in about [-1, 1]: pores and mottling.

    The same for every performer (made once per process); people differ in the per-vertex maps."""
    axis = (torch.arange(texels, dtype=torch.float32) + 0.5) / texels
    v, u = torch.meshgrid(axis, axis, indexing="ij")
    layers = []
    for tile in range(tiles):
        uv = torch.stack([u.reshape(-1) + tile, v.reshape(-1)], dim=1)
        pores = value_noise(uv * 150.0, seed + 101)
        mottle = fbm(uv, 22.0, octaves=2, seed=seed + 202)
        layers.append((0.55 * pores + 0.45 * mottle).reshape(texels, texels))
    return torch.stack(layers)


def procedural_skin(model: FaceModel, neutral: torch.Tensor, seed: int) -> SurfaceMaterial:
    """A seeded person's materials on ``model``'s vertices; ``neutral`` (V, 3) is the performer's
    mesh with no expression, model space (metres)."""
    rng = np.random.default_rng([seed, 0x5C1])
    points = neutral.detach().cpu().numpy().astype(np.float64)
    marks = points[model.landmark_ids.numpy()]
    kinds = _vertex_kinds(model)
    count = model.vertex_count

    melanin = rng.uniform(0.0, 1.0)
    tone = np.interp(melanin, [0.0, 0.5, 1.0], [0, 1, 2])
    low = int(min(np.floor(tone), 1))
    skin = _SKIN_TONES[low] + (tone - low) * (_SKIN_TONES[low + 1] - _SKIN_TONES[low])
    skin = skin * rng.uniform(0.93, 1.07, size=3) ** 0.3
    hair = _HAIR_COLOURS[rng.integers(len(_HAIR_COLOURS))] * rng.uniform(0.8, 1.2)
    iris = _IRIS_COLOURS[rng.integers(len(_IRIS_COLOURS))] * rng.uniform(0.8, 1.25)
    noise_seed = int(rng.integers(1 << 30))

    # Low-frequency blotches (~2 cm) on the skin.
    blotch = fbm(torch.from_numpy(points).float(), 45.0, octaves=3, seed=noise_seed).numpy()
    albedo = np.tile(skin, (count, 1)) * (1.0 + 0.10 * blotch)[:, None]

    # Redness: cheeks, nose tip, ears, chin; darker, cooler under the eyes.
    cheeks = sum(_blob(points, (marks[2 + 12 * s] + marks[31 + 4 * s] + marks[41 + 5 * s]) / 3, 0.014) for s in (0, 1))
    nose = _blob(points, marks[30], 0.010)
    ears = sum(_blob(points, marks[0 + 16 * s] + np.array([0.0, 0.0, -0.035]), 0.025) for s in (0, 1))
    red = np.clip(0.8 * cheeks + 0.6 * nose + 0.7 * ears + 0.3 * _blob(points, marks[8], 0.012), 0.0, 1.0)
    albedo *= (1.0 + 0.12 * red)[:, None] * np.array([1.0, 0.86, 0.88]) ** red[:, None]
    under_eye = sum(_blob(points, marks[36 + 6 * s:42 + 6 * s].mean(axis=0) + np.array([0.0, -0.011, -0.004]), 0.007)
                    for s in (0, 1))
    albedo *= 1.0 - 0.18 * under_eye[:, None] * np.array([0.9, 1.0, 0.8])

    # Brows: a band along each brow line, thick at the inner end, with strands.
    strands = value_noise(torch.from_numpy(points * np.array([900.0, 260.0, 900.0])).float(), noise_seed + 3).numpy()
    brow = np.zeros(count)
    for line in (marks[17:22], marks[22:27][::-1]):
        distance, along = _polyline_distance(points, line + np.array([0.0, 0.002, 0.0]))
        half_width = 0.0045 - 0.0022 * along
        brow = np.maximum(brow, _smoothstep(1.2e-3, -1.0e-3, distance - half_width))
    brow *= np.clip(0.75 + 0.5 * strands, 0.0, 1.0) * kinds["face"]

    # Lips: inside the outer lip contour, seen from the front.
    lip = _smoothstep(-0.6e-3, 1.2e-3, _inside_polygon_distance(points[:, :2], marks[48:60, :2]))
    lip *= kinds["face"] * (points[:, 2] > marks[48:60, 2].min() - 0.012)
    lip_colour = skin * np.array([0.95, 0.55, 0.58])
    albedo = albedo * (1.0 - lip[:, None]) + lip_colour * lip[:, None]
    albedo = albedo * (1.0 - brow[:, None]) + hair * brow[:, None]

    # Scalp hair on the back of the head above the ears, with a soft hairline; the neck is skin.
    top = marks[19:25, 1].mean()
    above_ears = _smoothstep(marks[0, 1] - 0.01, marks[0, 1] + 0.025, points[:, 1])
    scalp = above_ears * _smoothstep(-0.01, 0.02, top + 0.04 - points[:, 2] * 0.6)
    hairline = _smoothstep(top + 0.05, top + 0.07, points[:, 1] + 0.3 * np.maximum(np.abs(points[:, 0]) - 0.04, 0.0))
    hair_weight = np.clip(np.maximum(scalp * kinds["head"], hairline * (kinds["face"] | kinds["head"])), 0.0, 1.0)
    hair_weight *= np.clip(0.85 + 0.3 * strands, 0.0, 1.0)
    albedo = albedo * (1.0 - hair_weight[:, None]) + hair * hair_weight[:, None] * (1.0 + 0.25 * strands[:, None])

    # Roughness and specular: oily T-zone, moist lips, dull brows and hair.
    nose_ridge = _smoothstep(0.010, 0.004, _polyline_distance(points, marks[27:31])[0])
    t_zone = np.clip(_blob(points, (marks[21] + marks[22]) / 2 + np.array([0.0, 0.03, -0.005]), 0.022)
                     + 0.8 * nose_ridge, 0.0, 1.0)
    roughness = 0.55 - 0.13 * t_zone - 0.2 * lip + 0.12 * brow + 0.04 * blotch
    specular = 0.028 + 0.012 * t_zone + 0.01 * lip
    roughness = roughness * (1 - hair_weight) + 0.45 * hair_weight
    specular = specular * (1 - hair_weight) + 0.046 * hair_weight
    wrap = np.tile(_WRAP_SKIN, (count, 1)) * (1.0 - hair_weight)[:, None]
    detail_amount = 0.09 * (kinds["face"] | kinds["head"]) * (1.0 - 0.5 * hair_weight)

    # Mouth interior, teeth and eyes.
    depth = np.clip((marks[62, 2] - points[:, 2]) / 0.04, 0.0, 1.0)  # darker deeper inside the mouth
    for kind, colour, rough, spec, scatter in (
        ("mouth", np.array([0.36, 0.10, 0.09]), 0.35, 0.03, 0.5),
        ("gums", np.array([0.48, 0.13, 0.12]), 0.3, 0.03, 0.6),
        ("teeth", np.array([0.78, 0.72, 0.60]), 0.25, 0.05, 0.3),
        ("eyes", np.array([0.80, 0.74, 0.70]), 0.08, 0.025, 0.0),
    ):
        ids = kinds[kind]
        albedo[ids] = colour * (1.0 - (0.5 * depth[ids, None] if kind != "eyes" else 0.0))
        roughness[ids], specular[ids] = rough, spec
        wrap[ids] = scatter * _WRAP_SKIN / _WRAP_SKIN[0]
        detail_amount[ids] = 0.0

    def tensor(values: np.ndarray) -> torch.Tensor:
        return torch.from_numpy(np.ascontiguousarray(values, dtype=np.float32))

    return SurfaceMaterial(
        albedo=tensor(np.clip(albedo, 0.005, 0.95)), roughness=tensor(np.clip(roughness, 0.05, 1.0)),
        specular=tensor(specular), wrap=tensor(wrap), detail_amount=tensor(detail_amount),
        detail=_bake_detail(), eyes=EyeLayout.from_model(model, points, iris),
    )

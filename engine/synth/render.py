"""Render the performer under distant lights: one G-buffer per frame, shading batched over lights.

Each frame is rasterised once (:func:`engine.render.rasterize`); the covered pixels' positions,
normals, view directions and material parameters are gathered into flat (P, ...) arrays and
reused for every light. Lights come in chunks: one splatted shadow-map pass per chunk
(:mod:`engine.synth.shadows`) and one batched BRDF evaluation (:mod:`engine.synth.brdf`).

The result obeys the capture format's OLAT semantic exactly: the radiance under a distant light
from unit direction d (subject->light, engine frame) with irradiance E is linear in E, so the
image under many lights is the sum of the images under each, and a white Lambertian surface
facing a light reads E / pi.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np
import torch

from engine.face.model import FaceModel, Submesh
from engine.render.camera import Camera
from engine.render.rasterize import GBuffer, rasterize, vertex_normals
from engine.synth.brdf import shade
from engine.synth.material import PixelMaterial, SurfaceMaterial
from engine.synth.shadows import SurfaceSampler, render_shadow_maps, visibility

MAX_CHUNK_VALUES = 8_000_000  # lights x pixels shaded together (a few such float arrays live at once)
MAX_LIGHT_CHUNK = 160


@dataclass
class FrameSurface:
    """A frame's visible surface: G-buffer, covered pixel indices (P,) and per-pixel shading inputs.

    position, normal, view: (P, 3) world frame (view = unit vector from the surface to the camera);
    occluders: (S, 3) shadow-casting sample points of the posed mesh. Shadows are looked up at the
    K vertices of the visible triangles (``receiver_position``/``receiver_normal`` (K, 3)) and
    interpolated to the pixels through ``corners`` (P, 3) (indices into the K) and ``barycentrics`` (P, 3).
    """

    gbuffer: GBuffer
    pixels: torch.Tensor
    vertices: torch.Tensor
    position: torch.Tensor
    normal: torch.Tensor
    view: torch.Tensor
    material: PixelMaterial
    occluders: torch.Tensor
    receiver_position: torch.Tensor
    receiver_normal: torch.Tensor
    corners: torch.Tensor
    barycentrics: torch.Tensor

    @property
    def height(self) -> int:
        return self.gbuffer.mask.shape[0]

    @property
    def width(self) -> int:
        return self.gbuffer.mask.shape[1]

    def to_image(self, values: torch.Tensor, background: float = 0.0) -> torch.Tensor:
        """Scatter per-pixel values (..., P, C) into images (..., H, W, C)."""
        lead = values.shape[:-2]
        out = torch.full((*lead, self.height * self.width, values.shape[-1]), background, dtype=values.dtype)
        out[..., self.pixels, :] = values
        return out.reshape(*lead, self.height, self.width, values.shape[-1])


class StageRenderer:
    """Renders a face model's posed meshes with a material, seen by one camera, under distant lights.

    shadow_resolution: cells per side of each light's shadow map (over the head's bounding sphere);
    shadow_spacing: metres between the mesh's shadow-casting sample points.
    """

    def __init__(self, model: FaceModel, camera: Camera, material: SurfaceMaterial, neutral: torch.Tensor,
                 shadow_resolution: int = 160, shadow_spacing: float = 1.8e-3, submesh: Submesh | None = None) -> None:
        self.model = model
        self.camera = camera
        self.material = material
        self.submesh = submesh or model.submesh("face_and_head")
        self.shadow_resolution = shadow_resolution
        self.sampler = SurfaceSampler(self.submesh.triangles, neutral, shadow_spacing)

    def surface(self, vertices: torch.Tensor) -> FrameSurface:
        """Rasterise posed ``vertices`` (V, 3) and gather the covered pixels' shading inputs."""
        with torch.no_grad():
            gbuffer = rasterize(self.camera, vertices, self.submesh.triangles, self.model.uvs,
                                self.submesh.triangle_uv_ids)
            pixels = torch.nonzero(gbuffer.mask.reshape(-1)).squeeze(1)
            position = gbuffer.position.reshape(-1, 3)[pixels]
            normal = gbuffer.normal_world.reshape(-1, 3)[pixels]
            view = torch.nn.functional.normalize(self.camera.position - position, dim=1)
            material = self.material.at_pixels(gbuffer, pixels, self.submesh.triangles,
                                               self.submesh.triangle_material, vertices)
            corners = self.submesh.triangles[gbuffer.triangle_id.reshape(-1)[pixels]]
            used = torch.zeros(vertices.shape[0], dtype=torch.bool)
            used[corners.reshape(-1)] = True
            receivers = torch.nonzero(used).squeeze(1)
            compact = (torch.cumsum(used, 0) - 1)[corners]
            normals = vertex_normals(vertices, self.submesh.triangles)
            return FrameSurface(gbuffer, pixels, vertices, position, normal, view, material,
                                self.sampler.points(vertices), vertices[receivers], normals[receivers],
                                compact, gbuffer.barycentrics.reshape(-1, 3)[pixels])

    @staticmethod
    def shadow(surface: FrameSurface, directions: torch.Tensor, resolution: int) -> torch.Tensor:
        """Visibility (L, P) of the covered pixels from ``directions`` (L, 3)."""
        maps = render_shadow_maps(surface.occluders, directions, resolution)
        at_vertices = visibility(maps, surface.receiver_position, surface.receiver_normal)
        bary = surface.barycentrics
        lit = at_vertices[:, surface.corners[:, 0]] * bary[:, 0]
        lit.addcmul_(at_vertices[:, surface.corners[:, 1]], bary[:, 1])
        return lit.addcmul_(at_vertices[:, surface.corners[:, 2]], bary[:, 2])

    def radiance(self, surface: FrameSurface, directions: np.ndarray | torch.Tensor,
                 irradiance: np.ndarray | torch.Tensor, shadows: bool = True) -> Iterator[torch.Tensor]:
        """Per-light radiance (l, P, 3) of the covered pixels, yielded in chunks of lights in order.

        directions (L, 3) unit subject->light; irradiance (L, 3) W/m^2.
        """
        directions = torch.as_tensor(directions, dtype=torch.float32)
        irradiance = torch.as_tensor(irradiance, dtype=torch.float32)
        step = int(min(MAX_LIGHT_CHUNK, max(1, MAX_CHUNK_VALUES // max(len(surface.pixels), 1))))
        with torch.no_grad():
            for start in range(0, len(directions), step):
                chunk = directions[start:start + step]
                visible = self.shadow(surface, chunk, self.shadow_resolution) if shadows else None
                yield shade(surface.normal, surface.view, surface.material, chunk, irradiance[start:start + step],
                            visible)

    def total_radiance(self, surface: FrameSurface, directions: np.ndarray | torch.Tensor,
                       irradiance: np.ndarray | torch.Tensor, shadows: bool = True) -> torch.Tensor:
        """Radiance (P, 3) under all the lights together (their sum)."""
        total = torch.zeros(len(surface.pixels), 3)
        for part in self.radiance(surface, directions, irradiance, shadows):
            total += part.sum(dim=0)
        return total

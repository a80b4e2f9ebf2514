"""Pure-torch rendering: pinhole cameras, differentiable G-buffer rasterisation, directional shadow maps."""

from engine.render.camera import Camera
from engine.render.rasterize import GBuffer, face_normals, interpolate, rasterize, vertex_normals
from engine.render.shadow import ShadowMap, directional_shadow_mask, shadow_map, shadow_visibility

__all__ = [
    "Camera", "GBuffer", "ShadowMap", "directional_shadow_mask", "face_normals", "interpolate", "rasterize",
    "shadow_map", "shadow_visibility", "vertex_normals",
]

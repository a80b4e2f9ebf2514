"""The stage's shading model: wrapped Lambert diffuse plus GGX microfacet specular.

For a surface point with unit normal n, unit direction to the viewer v, and a distant light from
unit direction l (subject->light) delivering irradiance E (W/m^2, RGB) on a surface facing it, the
outgoing radiance is::

    L_o = E * V(l) * [ albedo / pi * max(n.l + w, 0) / (1 + w)^2  +  D G F / (4 n.l n.v) * max(n.l, 0) ]

with V the shadow visibility, w the per-channel wrap (w = 0 is Lambert, so a white Lambertian
surface facing the light has radiance E / pi), D the GGX distribution with alpha = roughness^2,
G Smith's height-correlated masking-shadowing, and F Schlick's Fresnel with reflectance F0 at
normal incidence. The wrap term is the cheap subsurface scattering: light reaches a little past
the terminator, more so in red; its 1 / (1 + w)^2 keeps the energy under uniform light equal to
Lambert's. The specular lobe is white (dielectric).

Everything is batched over lights: inputs (P, ...) per pixel and (L, ...) per light give (L, P, 3).
"""

from __future__ import annotations

import math

import torch

from engine.synth.material import PixelMaterial

_EPS = 1e-6


def ggx_specular(n_dot_l: torch.Tensor, n_dot_v: torch.Tensor, l_dot_v: torch.Tensor, roughness: torch.Tensor,
                 f0: torch.Tensor) -> torch.Tensor:
    """GGX BRDF times n.l, (L, P): the specular radiance per unit irradiance.

    n_dot_l, l_dot_v: (L, P); n_dot_v, roughness, f0: (P,). The half vector h = (l + v) / |l + v|
    never needs forming: n.h = (n.l + n.v) / |l + v| and v.h = (1 + l.v) / |l + v|.
    """
    alpha2 = (roughness * roughness).clamp(min=1e-2) ** 2
    nv = n_dot_v.clamp(min=1e-4)
    inv_len = (2.0 + 2.0 * l_dot_v).clamp_(min=_EPS).rsqrt_()
    n_dot_h = (n_dot_l + n_dot_v).mul_(inv_len).clamp_(0.0, 1.0)
    one_minus_v_dot_h = (1.0 + l_dot_v).mul_(inv_len).clamp_(0.0, 1.0).neg_().add_(1.0)
    nl = n_dot_l.clamp(min=0.0)
    denom = n_dot_h.square_().mul_(alpha2 - 1.0).add_(1.0).square_()
    distribution = denom.reciprocal_().mul_(alpha2 / math.pi)
    # Height-correlated Smith: G / (4 n.l n.v) = 0.5 / (n.l sqrt(n.v^2 (1 - a2) + a2) + n.v sqrt(n.l^2 (1 - a2) + a2))
    lambda_l = nl.square().mul_(1.0 - alpha2).add_(alpha2).sqrt_().mul_(nv)
    lambda_l.addcmul_(nl, torch.sqrt(nv * nv * (1.0 - alpha2) + alpha2)).clamp_(min=_EPS)
    fresnel = one_minus_v_dot_h.pow_(5).mul_(1.0 - f0).add_(f0)
    return distribution.mul_(fresnel).div_(lambda_l).mul_(nl).mul_(0.5)


def shade(normal: torch.Tensor, view: torch.Tensor, material: PixelMaterial, directions: torch.Tensor,
          irradiance: torch.Tensor, visibility: torch.Tensor | None = None) -> torch.Tensor:
    """Radiance (L, P, 3) of P surface points under L distant lights (see the module formula).

    normal, view: (P, 3) unit, world frame (view points from the surface to the camera); material: the P
    points' albedo, wrap (P, 3), roughness, specular (P,); directions: (L, 3) unit subject->light;
    irradiance: (L, 3) W/m^2; visibility: (L, P) in [0, 1] or None (no shadows).
    """
    albedo, wrap = material.albedo, material.wrap
    n_dot_l = directions @ normal.T                      # (L, P)
    l_dot_v = directions @ view.T
    n_dot_v = (normal * view).sum(dim=1)
    spec = ggx_specular(n_dot_l, n_dot_v, l_dot_v, material.roughness, material.specular)
    out = torch.empty(directions.shape[0], normal.shape[0], 3)
    for channel in range(3):
        w = wrap[:, channel]
        out[..., channel] = torch.addcmul(spec, (n_dot_l + w).clamp(min=0.0),
                                          albedo[:, channel] / (math.pi * (1.0 + w) ** 2))
    light = irradiance[:, None, :] if visibility is None else visibility[..., None] * irradiance[:, None, :]
    return out.mul_(light)

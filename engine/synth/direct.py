"""Lights files as directional lights the stage renderer can render directly (ground truth).

Every light of :mod:`engine.lighting.lights` reduces to directional samples at the subject's
origin. Lights with few samples (a sun, point or spot light, a soft sun's 64-direction cone) are
rendered sample by sample, exactly. Lights with many (an HDRI's every pixel, an area light's
grid) are first integrated over the cells of a dense Fibonacci sphere of ``dense_count``
directions (each direction receives the integral of the radiance over its spherical Voronoi
cell, so energy is exact) and those directions are rendered. With the default 1024 directions
the cells are ~6 degrees wide, against ~17 degrees for a 150-light stage, so the direct render
resolves shadows and highlights of an environment about three times finer than the stage can.
"""

from __future__ import annotations

from collections.abc import Sequence

from engine.lighting.hdri import DirectionalSamples
from engine.lighting.lights import Light
from engine.lighting.sphere import fibonacci_sphere
from engine.lighting.weights import splat_irradiance
from relume_host.vocabulary import WeightMethod

EXACT_SAMPLES = 64  # lights with at most this many samples are rendered sample by sample


def direct_samples(lights: Sequence[Light], dense_count: int = 1024) -> DirectionalSamples:
    """Directions (N, 3) and irradiance (N, 3) that render ``lights`` (see the module doc)."""
    exact, dense = [], []
    for light in lights:
        samples = light.samples()
        (exact if len(samples.directions) <= EXACT_SAMPLES else dense).append(samples)
    if dense:
        directions = fibonacci_sphere(dense_count)
        irradiance = splat_irradiance(DirectionalSamples.concatenate(dense), directions, WeightMethod.VORONOI)
        keep = irradiance.sum(axis=1) > 0.0
        exact.append(DirectionalSamples(directions[keep], irradiance[keep]))
    return DirectionalSamples.concatenate(exact)

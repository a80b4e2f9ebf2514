"""The synthetic light stage's dome: N distant lights on a Fibonacci sphere, with calibration.

Directions are unit vectors subject->light in the engine frame (Y up, subject looking +Z toward
the camera). The lights sit on a Fibonacci sphere (:func:`engine.lighting.sphere.fibonacci_sphere`),
so each light owns a near-equal share of the sphere, ``4 pi / N`` steradians. ``floor_deg`` cuts the
dome like a real stage floor: lights below that elevation (degrees, negative = below the horizon)
are dropped and the rest keep their ``4 pi / N`` share; the default keeps the full sphere.

Each light's ``rgb`` is the irradiance (W/m^2) it puts on the subject: nominally ``irradiance`` per
channel, times a small deterministic per-light gain and tint (``variation``), as a calibrated
real stage would report (LEDs differ by a few percent).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from engine.lighting.sphere import fibonacci_sphere


@dataclass(frozen=True)
class Dome:
    """directions (L, 3) unit subject->light; rgb (L, 3) irradiance W/m^2; solid_angle (sr) per light."""

    directions: np.ndarray
    rgb: np.ndarray
    solid_angle: float

    @property
    def light_count(self) -> int:
        return len(self.directions)

    def uniform_weights(self, radiance: float = 1.0) -> np.ndarray:
        """Stage weights (L, 3) that light the subject with a uniform environment of ``radiance``
        over the dome's cells (every stage light at ``radiance * solid_angle`` irradiance)."""
        return radiance * self.solid_angle / self.rgb


def make_dome(count: int = 150, floor_deg: float | None = None, irradiance: float = 1.0,
              variation: float = 0.03, seed: int = 0) -> Dome:
    """A dome of ``count`` Fibonacci directions (before the floor cut).

    ``variation`` is the relative spread of the per-light gain (colour tint is a third of it);
    0 gives every light exactly ``irradiance``. Deterministic from ``seed``.
    """
    if count < 4:
        raise ValueError(f"a dome needs at least 4 lights, got {count}")
    directions = fibonacci_sphere(count)
    if floor_deg is not None:
        directions = directions[directions[:, 1] >= np.sin(np.deg2rad(floor_deg))]
    rng = np.random.default_rng([seed, 0x0D0E])
    gain = 1.0 + variation * rng.uniform(-1.0, 1.0, size=(len(directions), 1))
    tint = 1.0 + (variation / 3.0) * rng.uniform(-1.0, 1.0, size=(len(directions), 3))
    rgb = irradiance * gain * tint
    return Dome(directions, rgb, 4.0 * np.pi / count)

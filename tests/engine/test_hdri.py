"""An HDRI's pixels as light (:mod:`engine.lighting.hdri`): filter ringing clamped, and the resampling before
integration keeps the light each part of the sky delivers. Refused HDRIs (not 2:1, NaN, strongly negative) are
tested through ``relume relight`` in ``test_bad_input.py``; rotation and the stage weights in ``test_weights.py``."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from engine.lighting.hdri import MAX_SAMPLE_WIDTH, MIN_SAMPLE_WIDTH, latlong_irradiance, validate_latlong
from engine.lighting.sphere import latlong_solid_angles


def test_filter_ringing_is_clamped_to_zero() -> None:
    radiance = np.ones((8, 16, 3))
    radiance[2, 3, 1] = -0.005                               # -0.5 % of the mean: a resampling filter's ringing
    checked = validate_latlong(Path("sky.exr"), radiance)
    assert checked[2, 3, 1] == 0.0 and checked.min() == 0.0


def _delivered(radiance: np.ndarray, rows: int) -> np.ndarray:
    """Irradiance (3,) the image's first ``rows`` rows deliver, straight from its own pixels and solid angles."""
    height, width = radiance.shape[:2]
    return (radiance * latlong_solid_angles(height, width)[:, None, None])[:rows].sum((0, 1))


@pytest.mark.parametrize(("height", "block", "repeat"), [(1152, 2, 1), (1025, 5, 3)])
def test_downsampling_keeps_the_light_of_each_part_of_the_sky(height: int, block: int, repeat: int) -> None:
    """Above MAX_SAMPLE_WIDTH, blocks are averaged weighted by their rows' solid angles, so the irradiance of the
    whole sky and of its upper half is kept to rounding (a plain block mean moves it: a pixel near the pole spans
    less sky than one near the horizon). 2304 x 1152 becomes 1152 x 576 (2 x 2 blocks); 2050 x 1025 shares no
    factor of 2-4 with its height, so its 5 x 5 blocks (410 x 205) are then repeated 3 times each way to 1230 x 615,
    within [MIN_SAMPLE_WIDTH, MAX_SAMPLE_WIDTH] like every HDRI."""
    rng = np.random.default_rng(height)
    radiance = rng.random((height, 2 * height, 3)) * np.linspace(0.2, 3.0, height)[:, None, None]
    irradiance = latlong_irradiance(radiance)
    rows = height // block * repeat
    assert irradiance.shape[:2] == (rows, 2 * rows)
    assert MIN_SAMPLE_WIDTH <= irradiance.shape[1] <= MAX_SAMPLE_WIDTH
    np.testing.assert_allclose(irradiance.sum((0, 1)), _delivered(radiance, height), rtol=1e-9)
    upper_blocks = height // block // 2
    np.testing.assert_allclose(irradiance[:upper_blocks * repeat].sum((0, 1)),
                               _delivered(radiance, upper_blocks * block), rtol=1e-9)


def test_upsampling_repeats_pixels_and_keeps_the_light() -> None:
    radiance = np.random.default_rng(1).random((64, 128, 3))
    irradiance = latlong_irradiance(radiance)
    assert irradiance.shape[1] >= MIN_SAMPLE_WIDTH and irradiance.shape[1] == 2 * irradiance.shape[0]   # finer both ways
    np.testing.assert_allclose(irradiance.sum((0, 1)), _delivered(radiance, 64), rtol=1e-9)

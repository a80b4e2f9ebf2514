"""Lights with an angular extent as the directions they light the subject from (:mod:`engine.lighting.lights`):
a sun's disc and a sphere light's cone have the size the light subtends, and the samples carry the light's
whole irradiance. How the lights file is read is ``test_lights_file_forms.py``; the stage weights
``test_weights.py``."""

from __future__ import annotations

import math

import numpy as np
import pytest

from engine.lighting.lights import PointLight, SpotLight, SunLight
from support.angles import angles_deg


def test_a_sun_of_angular_diameter_a_spreads_over_a_over_two_from_its_direction() -> None:
    direction = np.array([0.0, 0.6, 0.8])
    samples = SunLight(direction, np.array([2.0, 1.0, 0.5]), angle_deg=10.0).samples()
    assert 4.5 < angles_deg(samples.directions, direction).max() <= 5.0
    np.testing.assert_allclose(samples.irradiance.sum(0), [2.0, 1.0, 0.5], rtol=1e-12)


def test_a_sphere_light_subtends_its_true_cone_and_falls_off_with_distance() -> None:
    """A sphere of radius 0.8 m whose centre is 1 m away fills a cone of half angle asin(0.8) = 53.1 degrees
    (not 0.8 rad = 45.8); its irradiance is the intensity over the squared distance."""
    position = np.array([0.0, 0.0, 1.0])
    samples = PointLight(position, np.array([3.0, 3.0, 3.0]), radius=0.8).samples()
    assert math.degrees(math.asin(0.8)) * 0.97 < angles_deg(samples.directions, position).max() <= math.degrees(math.asin(0.8))
    far = PointLight(position * 2.0, np.array([3.0, 3.0, 3.0]), radius=0.8).samples()
    np.testing.assert_allclose(far.irradiance.sum(0), samples.irradiance.sum(0) / 4.0, rtol=1e-12)


@pytest.mark.parametrize(("off_axis_deg", "share"), [(0.0, 1.0), (19.0, 1.0), (21.5, None), (23.0, 0.0)])
def test_a_spot_lights_its_cone_with_a_soft_edge(off_axis_deg: float, share: float | None) -> None:
    """A 45-degree spot with blend 0.15 aimed at the subject from 1 m: full strength well inside its half angle
    of 22.5 degrees, nothing outside, and in between (the blend zone) some of it."""
    position = np.array([0.0, 0.0, 1.0])
    turn = math.radians(off_axis_deg)
    aim = np.array([math.sin(turn), 0.0, -math.cos(turn)])           # light -> scene, turned off the subject
    delivered = SpotLight(position, aim, np.array([1.0, 1.0, 1.0]), cone_deg=45.0, blend=0.15).samples().irradiance
    if share is None:
        assert 0.0 < delivered[0, 0] < 1.0
    else:
        assert delivered[0, 0] == pytest.approx(share)

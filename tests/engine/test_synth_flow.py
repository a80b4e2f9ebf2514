"""Ground-truth flow from known vertex motion (:func:`engine.synth.flow.surface_flow`) on a scene whose answer
is known: a small card sliding right in front of a still wall. Each pixel's flow is its surface point's
motion in pixels; ``valid`` is 0 where that point is hidden in the other frame (behind the card), lands on
nothing there, or leaves the image."""

from __future__ import annotations

import pytest
import torch

from engine.render import Camera, rasterize
from engine.synth.flow import surface_flow

SIZE = 64
SHIFT = 0.1                         # metres the card moves along +x
CARD_Z = 0.3                        # the card's distance in front of the wall (the camera is 1 m from the wall)


def _quad(x0: float, y0: float, x1: float, y1: float, z: float) -> torch.Tensor:
    return torch.tensor([[x0, y0, z], [x1, y0, z], [x1, y1, z], [x0, y1, z]])


WALL = (0, 1, 2, 3)
CARD = (4, 5, 6, 7)
TRIANGLES = torch.tensor([[0, 1, 2], [0, 2, 3], [4, 5, 6], [4, 6, 7]])    # counter-clockwise toward +Z


def _scene(card_x: float) -> torch.Tensor:
    """Vertices (8, 3): the wall at z = 0 (it fills the picture) and the card centred at ``card_x``."""
    return torch.cat([_quad(-0.5, -0.5, 0.5, 0.5, 0.0), _quad(card_x - 0.04, -0.04, card_x + 0.04, 0.04, CARD_Z)])


@pytest.fixture(scope="module")
def camera() -> Camera:
    return Camera.look_at((0.0, 0.0, 1.0), (0.0, 0.0, 0.0), fov_deg=30.0, width=SIZE, height=SIZE)


def test_flow_follows_the_surface_and_knows_what_is_hidden(camera: Camera) -> None:
    now, later = _scene(-0.05), _scene(-0.05 + SHIFT)
    seen, seen_later = rasterize(camera, now, TRIANGLES), rasterize(camera, later, TRIANGLES)
    flow = surface_flow(camera, seen, TRIANGLES, later, seen_later)
    on_card = seen.mask & (seen.triangle_id >= 2)
    on_wall = seen.mask & (seen.triangle_id < 2)
    hidden_later = seen_later.mask & (seen_later.triangle_id >= 2)               # where the card will be
    focal = float(camera.K[0, 0])
    card_px = SHIFT * focal / (1.0 - CARD_Z)
    assert int(on_card.sum()) > 30 and int((on_wall & hidden_later).sum()) > 30
    assert torch.allclose(flow[on_card][:, 0], torch.full((int(on_card.sum()),), card_px), atol=1e-3)
    assert float(flow[on_card][:, 1].abs().max()) < 1e-3 and bool((flow[on_card][:, 2] == 1).all())
    assert float(flow[on_wall][:, :2].abs().max()) < 1e-4                       # the wall stands still
    assert bool((flow[on_wall & hidden_later][:, 2] == 0).all())                # ... but is covered there
    assert bool((flow[on_wall & ~hidden_later][:, 2] == 1).all())
    assert torch.equal(flow[..., 3] > 0, seen.mask) and bool(seen.mask.all())


def test_points_landing_on_nothing_or_outside_are_not_valid(camera: Camera) -> None:
    now = _scene(-0.05)
    seen = rasterize(camera, now, TRIANGLES)
    on_card = seen.mask & (seen.triangle_id >= 2)
    on_wall = seen.mask & (seen.triangle_id < 2)
    # the other frame shows the card alone: the wall's points land on empty pixels there
    card_only = rasterize(camera, now, TRIANGLES[2:])
    flow = surface_flow(camera, seen, TRIANGLES, now, card_only)
    assert bool((flow[on_wall & ~card_only.mask][:, 2] == 0).all()) and bool((flow[on_card][:, 2] == 1).all())
    alone = surface_flow(camera, card_only, TRIANGLES[2:], now, card_only)       # background pixels: all zero
    assert bool((alone[~card_only.mask] == 0).all()) and torch.equal(alone[..., 3] > 0, card_only.mask)
    # the card flies a metre to the right, out of the picture (the wall behind the border pixels must not count)
    gone = _scene(1.0)
    flow = surface_flow(camera, seen, TRIANGLES, gone, rasterize(camera, gone, TRIANGLES))
    assert bool((flow[on_card][:, 2] == 0).all()) and float(flow[on_card][:, 0].min()) > SIZE / 2

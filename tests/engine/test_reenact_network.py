"""The reenactment network's output layout and its temporal blend (engine.reenact.network)."""

from __future__ import annotations

import pytest
import torch

from engine.face.regions import REGIONS
from engine.reenact.channels import CHANNELS
from engine.reenact.network import ReenactNet, SemanticNorm, blend_previous, split_outputs, warp
from engine.reenact.settings import NetworkConfig

SMALL = NetworkConfig(rank=4, width=8, levels=2, texture=4, texture_size=16)


@pytest.mark.parametrize(("history", "blend", "recurrent"), [(0, True, False), (2, False, False), (2, True, True)])
def test_only_a_network_that_sees_the_past_with_blend_on_predicts_a_blend_weight(history: int, blend: bool,
                                                                              recurrent: bool) -> None:
    config = NetworkConfig(**{**SMALL.as_dict(), "history": history, "blend": blend})
    torch.manual_seed(0)
    net = ReenactNet(config).eval()
    out = net(torch.rand(1, config.in_channels, 32, 32))
    assert config.recurrent is recurrent and out.shape[1] == config.out_channels == 3 * 4 + 1 + len(REGIONS) + 2 + recurrent
    named = split_outputs(out, config.rank)
    assert ("blend" in named) is recurrent
    if recurrent:
        assert 0.0 < float(named["blend"].min()) and float(named["blend"].max()) < 1.0
    assert named["flow"].shape == (1, 2, 32, 32) and named["segmentation"].shape == (1, len(REGIONS), 32, 32)


@pytest.mark.parametrize("blend", [True, False])
def test_appearance_sees_frame_t_alone_and_motion_sees_the_earlier_frames(blend: bool) -> None:
    config = NetworkConfig(**{**SMALL.as_dict(), "history": 2, "blend": blend})
    torch.manual_seed(0)
    net = ReenactNet(config).eval()
    torch.nn.init.normal_(net.texture)
    x = torch.rand(1, config.in_channels, 32, 32)
    changed = x.clone()
    changed[:, :-CHANNELS] = torch.rand(1, config.in_channels - CHANNELS, 32, 32)    # other frames t-2, t-1
    before, after = split_outputs(net(x), config.rank), split_outputs(net(changed), config.rank)
    for name in ("coefficients", "alpha", "segmentation"):
        assert torch.equal(before[name], after[name]), name
    moved = ["flow", "blend"] if blend else ["flow"]
    assert all(float((before[name] - after[name]).abs().max()) > 1e-4 for name in moved)
    current = changed.clone()
    current[:, -CHANNELS:] = torch.rand(1, CHANNELS, 32, 32)                           # frame t itself
    again = split_outputs(net(current), config.rank)
    assert all(float((after[name] - again[name]).abs().max()) > 1e-4 for name in ("coefficients", *moved))


@pytest.mark.parametrize("semantic", [True, False])
def test_region_modulation_is_the_appearance_branchs_and_off_in_the_ablation(semantic: bool) -> None:
    net = ReenactNet(NetworkConfig(**{**SMALL.as_dict(), "history": 2, "semantic": semantic}))
    norms = {name.split(".")[0]: [] for name, _ in net.named_children()}
    for name, module in net.named_modules():
        if isinstance(module, SemanticNorm):
            norms[name.split(".")[0]].append(module.semantic)
    assert len(norms["appearance"]) == len(norms["motion"]) == 2 * (2 * SMALL.levels + 1)
    assert set(norms["appearance"]) == {semantic} and set(norms["motion"]) == {False}


def test_warp_samples_the_image_at_p_plus_flow() -> None:
    image = torch.arange(8.0).repeat(1, 1, 6, 1)                      # value = column, 6 x 8
    flow = torch.zeros(1, 2, 6, 8)
    flow[:, 0] = 1.0                                                  # each pixel reads its right neighbour
    moved = warp(image, flow)
    assert torch.allclose(moved[0, 0, :, :7], image[0, 0, :, 1:])
    assert torch.allclose(moved[0, 0, :, 7], torch.full((6,), 7.0))   # border value past the edge
    rows, cols = torch.meshgrid(torch.arange(6.0), torch.arange(8.0), indexing="ij")
    ramp = (10.0 * rows + cols)[None, None]                           # value = 10 * row + column
    flow = torch.stack([torch.full((6, 8), -0.25), torch.full((6, 8), 0.5)])[None]
    moved = warp(ramp, flow)                                          # bilinear on a ramp: exact inside
    assert torch.allclose(moved[0, 0, :5, 1:], ramp[0, 0, :5, 1:] + 10.0 * 0.5 - 0.25)


def test_blend_weighs_own_against_previous_output_warped_by_the_flow() -> None:
    own = torch.full((1, 3, 2, 4, 5), 2.0)
    previous = torch.arange(5.0).expand(1, 3, 2, 4, 5).clone()
    flow = torch.zeros(1, 2, 4, 5)
    flow[:, 0] = 1.0
    for m in (0.0, 0.25, 1.0):
        blend = torch.full((1, 1, 4, 5), m)
        composed = blend_previous(own, blend, flow, previous)
        expected = m * 2.0 + (1.0 - m) * torch.tensor([1.0, 2.0, 3.0, 4.0, 4.0])
        assert torch.allclose(composed, expected.expand_as(own)), m

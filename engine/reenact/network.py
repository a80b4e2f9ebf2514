"""The rendering-to-video network: G-buffers of the fitted face model -> the target's OLAT stack.

Input (one tensor, (B, C_in, H, W)): the conditioning channels of frames t-k..t, oldest first
(:data:`engine.reenact.channels.CHANNELS` per frame). Output (one tensor, (B, C_out, H, W)), in
this channel order:

* ``3 * rank`` light-basis coefficients (channel-major: R's ``rank``, then G's, then B's); the OLAT
  image of stage light l is ``sum_k basis[l, k] * coeff[c, k]`` per colour channel c, decoded outside
  the network so its cost does not grow with the light count;
* 1 alpha (sigmoid), ``len(REGIONS)`` segmentation logits, 2 optical flow (pixels, t -> t-1);
* with ``history`` >= 1 and ``blend`` on, 1 blend weight m (sigmoid) for :func:`blend_previous`.

One tensor in and one out, so TorchScript and ONNX exports (and Nuke's CatFileCreator) take it as is.

Two branches, both U-Nets. The **appearance** branch sees frame t alone (its G-buffers and the neural
texture) and predicts the coefficients, alpha and segmentation: a face's reflectance field at t is a function
of its shape at t, and a branch that also saw the earlier frames' G-buffers could fit, on a 30-frame capture,
combinations of past and present that unseen expressions never repeat (docs/reenactment-log.md, the twelfth run). The
**motion** branch (a network with ``history`` >= 1) sees frames t-k..t and predicts the flow and the blend
weight, which need more than one frame. A single-frame network (``history`` 0) is the appearance branch
alone and predicts the flow from frame t too.
Semantic-aware normalisation (SPADE, Park et al. 2019): every block of the appearance branch normalises its
features (instance norm, no affine) and modulates them with a scale and shift predicted from frame t's region
labels, so skin, eyes, mouth interior and hair are treated apart. The motion branch normalises with plain
instance norm: the region labels of every frame are among its inputs, and SPADE's convolutions at its full
resolution made a training step 15-30 % longer for no gain in accuracy or flicker (docs/reenactment-log.md, the
thirteenth run).
A learned neural texture (``texture`` channels over the model's UDIM tiles 0-3; the eyes, whose UVs overlap
the face's in tile 0, get a fifth tile) is sampled at frame t's UVs and joins the appearance branch's input:
surface detail lives in its texels, which learn far faster than convolutions can (Thies et al. 2019,
deferred neural rendering).

Temporal composition (the sequential generator of vid2vid, Wang et al. 2018): a model that sees frames
before t also predicts a weight m per pixel, and frame t's coefficients become m times its own plus (1 - m)
times frame t-1's *output* warped by the predicted flow (:func:`blend_previous`, outside the network, so the
exported file stays one tensor in and one out; the reenactment loop and the trainer both call it, the loop with
the fitted meshes' own motion wherever the mesh covers the pixel: :func:`engine.reenact.reenact.blend_flow`).
Where the face only moved, the previous output carries over and does not flicker; where it changed, m is near 1.

The coefficients leave the network standardised per (colour, basis vector) with the training capture's
statistics (buffers ``coefficient_mean`` and ``coefficient_scale``, set by the trainer and exported with
the weights), so every output channel starts at the right magnitude.
"""

from __future__ import annotations

import torch
from torch import nn

from engine.face.regions import REGIONS
from engine.reenact.channels import CHANNELS, REGION_SLICE, UV_SLICE
from engine.reenact.settings import NetworkConfig

UV_TILES = 4                                  # UDIM tiles 0-3 hold the ICT layout (u in [0, 4))
EYES = REGIONS.index("eyes")


class SemanticNorm(nn.Module):
    """Instance norm modulated per pixel by the region labels (SPADE); plain when ``semantic`` is off."""

    def __init__(self, channels: int, semantic: bool) -> None:
        super().__init__()
        self.norm = nn.InstanceNorm2d(channels, affine=not semantic)
        self.semantic = semantic
        if semantic:
            hidden = 32
            self.shared = nn.Sequential(nn.Conv2d(len(REGIONS), hidden, 3, padding=1), nn.ReLU())
            self.gamma = nn.Conv2d(hidden, channels, 3, padding=1)
            self.beta = nn.Conv2d(hidden, channels, 3, padding=1)

    def forward(self, x: torch.Tensor, regions: torch.Tensor) -> torch.Tensor:
        x = self.norm(x)
        if not self.semantic:
            return x
        regions = nn.functional.interpolate(regions, size=x.shape[-2:], mode="nearest")
        hidden = self.shared(regions)
        return x * (1.0 + self.gamma(hidden)) + self.beta(hidden)


class Block(nn.Module):
    """conv 3x3 -> semantic norm -> leaky ReLU, twice."""

    def __init__(self, inputs: int, outputs: int, semantic: bool) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(inputs, outputs, 3, padding=1)
        self.norm1 = SemanticNorm(outputs, semantic)
        self.conv2 = nn.Conv2d(outputs, outputs, 3, padding=1)
        self.norm2 = SemanticNorm(outputs, semantic)
        self.act = nn.LeakyReLU(0.2)

    def forward(self, x: torch.Tensor, regions: torch.Tensor) -> torch.Tensor:
        x = self.act(self.norm1(self.conv1(x), regions))
        return self.act(self.norm2(self.conv2(x), regions))


class UNet(nn.Module):
    """U-Net of :class:`Block` levels (widths ``width`` * 2^i), average-pool down, bilinear up, 1x1 head."""

    def __init__(self, inputs: int, outputs: int, width: int, levels: int, semantic: bool) -> None:
        super().__init__()
        widths = [width * 2 ** i for i in range(levels)]
        self.down = nn.ModuleList()
        for level_width in widths:
            self.down.append(Block(inputs, level_width, semantic))
            inputs = level_width
        self.middle = Block(widths[-1], widths[-1], semantic)
        self.up = nn.ModuleList()
        for level_width in reversed(widths):
            self.up.append(Block(inputs + level_width, level_width, semantic))
            inputs = level_width
        self.head = nn.Conv2d(widths[0], outputs, 1)

    def forward(self, x: torch.Tensor, regions: torch.Tensor) -> torch.Tensor:
        skips = []
        for index, block in enumerate(self.down):
            x = block(x if index == 0 else nn.functional.avg_pool2d(x, 2), regions)
            skips.append(x)
        x = self.middle(nn.functional.avg_pool2d(x, 2), regions)
        for block, skip in zip(self.up, reversed(skips)):
            x = nn.functional.interpolate(x, size=skip.shape[-2:], mode="bilinear", align_corners=False)
            x = block(torch.cat([x, skip], dim=1), regions)
        return self.head(x)


class ReenactNet(nn.Module):
    """The appearance branch (frame t) and, with history, the motion branch (frames t-k..t); see the module doc."""

    def __init__(self, config: NetworkConfig) -> None:
        super().__init__()
        self.config = config
        c = config
        tiles = UV_TILES + 1
        self.texture = (nn.Parameter(torch.zeros(1, c.texture, c.texture_size, c.texture_size * tiles))
                        if c.texture else None)
        self.register_buffer("coefficient_mean", torch.zeros(3 * c.rank))
        self.register_buffer("coefficient_scale", torch.ones(3 * c.rank))
        self.appearance = UNet(CHANNELS + c.texture, c.appearance_channels, c.width, c.levels, c.semantic)
        self.motion = (UNet(c.in_channels, c.motion_channels, c.motion_width, c.levels, semantic=False)
                       if c.history else None)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        current = x[:, -CHANNELS:]
        regions = current[:, REGION_SLICE]
        features = current
        if self.texture is not None:
            u = current[:, UV_SLICE.start] + UV_TILES * current[:, REGION_SLICE.start + EYES]
            v = current[:, UV_SLICE.start + 1]
            grid = torch.stack([u / (UV_TILES + 1) * 2.0 - 1.0, 1.0 - 2.0 * v], dim=-1)   # v up, rows down
            sampled = nn.functional.grid_sample(self.texture.expand(x.shape[0], -1, -1, -1), grid, align_corners=False)
            features = torch.cat([current, sampled * current[:, -1:]], dim=1)
        out = self.appearance(features, regions)
        if self.motion is not None:
            out = torch.cat([out, self.motion(x, regions)], dim=1)
        rank3 = 3 * self.config.rank
        alpha = torch.sigmoid(out[:, rank3:rank3 + 1])
        coefficients = out[:, :rank3] * self.coefficient_scale[:, None, None] + self.coefficient_mean[:, None, None]
        rest = [out[:, rank3 + 1:rank3 + 3 + len(REGIONS)]]                     # segmentation logits, flow
        if self.config.recurrent:
            rest.append(torch.sigmoid(out[:, rank3 + 3 + len(REGIONS):]))
        return torch.cat([coefficients, alpha, *rest], dim=1)


def split_outputs(out: torch.Tensor, rank: int) -> dict[str, torch.Tensor]:
    """Name the output channels: coefficients (B, 3, rank, H, W), alpha (B, 1, H, W), segmentation logits
    (B, regions, H, W), flow (B, 2, H, W) and, from a recurrent network, blend (B, 1, H, W)."""
    rank3 = 3 * rank
    regions = len(REGIONS)
    named = {"coefficients": out[:, :rank3].reshape(len(out), 3, rank, *out.shape[-2:]),
             "alpha": out[:, rank3:rank3 + 1], "segmentation": out[:, rank3 + 1:rank3 + 1 + regions],
             "flow": out[:, rank3 + 1 + regions:rank3 + 3 + regions]}
    if out.shape[1] > rank3 + 3 + regions:
        named["blend"] = out[:, rank3 + 3 + regions:rank3 + 4 + regions]
    return named


def warp(image: torch.Tensor, flow: torch.Tensor) -> torch.Tensor:
    """Sample ``image`` (B, C, H, W) at p + flow(p) (flow (B, 2, H, W) pixels, x right, y down; bilinear,
    border values outside)."""
    height, width = image.shape[-2:]
    ys, xs = torch.meshgrid(torch.arange(height, device=image.device), torch.arange(width, device=image.device),
                            indexing="ij")
    x = (xs[None] + 0.5 + flow[:, 0]) / width * 2.0 - 1.0
    y = (ys[None] + 0.5 + flow[:, 1]) / height * 2.0 - 1.0
    return nn.functional.grid_sample(image, torch.stack([x, y], dim=-1), align_corners=False, padding_mode="border")


def blend_previous(own: torch.Tensor, blend: torch.Tensor, flow: torch.Tensor, previous: torch.Tensor) -> torch.Tensor:
    """Frame t's coefficients ``own`` (B, 3, rank, H, W) composed with frame t-1's output ``previous`` (same
    shape): m * own + (1 - m) * previous warped by ``flow`` (B, 2, H, W; pixels, t -> t-1), m = ``blend``
    (B, 1, H, W). Linear in the coefficients, so the decoded OLATs are blended the same way."""
    b, c, r, h, w = own.shape
    warped = warp(previous.reshape(b, c * r, h, w), flow).reshape(b, c, r, h, w)
    m = blend[:, :, None]
    return m * own + (1.0 - m) * warped

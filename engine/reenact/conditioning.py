"""What the network sees: G-buffers of a track's fitted meshes, rendered with the project's rasteriser.

Per frame, the channels of :mod:`engine.reenact.channels` at the track's image size (row 0 at the top),
plus, for training, the integer region labels and the optical flow from frame t to the previous frame
of the list (``engine.synth.flow`` convention: dx, dy in pixels and a valid channel), both from the
fitted meshes' own motion.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from engine.face.model import FaceModel
from engine.face.regions import REGIONS
from engine.reenact.channels import CHANNELS, DEPTH_UNIT_M, REGION_SLICE, UV_SLICE
from engine.render.rasterize import rasterize
from engine.synth.flow import surface_flow
from engine.track.geometry import track_camera, track_vertices


@dataclass
class Conditions:
    """``channels`` (T, CHANNELS, H, W) float32; ``labels`` (T, H, W) int64; ``flow`` (T, 3, H, W) float32
    (t -> t-1; zeros with valid 0 for the first frame); ``numbers`` the frames in order."""

    numbers: list[int]
    channels: np.ndarray
    labels: np.ndarray
    flow: np.ndarray

    def history(self, index: int, history: int) -> np.ndarray:
        """The network input (CHANNELS * (history + 1), H, W) for frame ``index``: frames index-history..index,
        oldest first; before the first frame the first frame repeats."""
        rows = [max(0, index - k) for k in range(history, -1, -1)]
        return self.channels[rows].reshape(-1, *self.channels.shape[-2:])


def render_conditions(model: FaceModel, track: dict, numbers: list[int], with_flow: bool = True) -> Conditions:
    """Render the conditioning of ``numbers`` (in this order) of ``track``."""
    camera = track_camera(track)
    submesh = model.submesh("face_and_head")
    triangles = submesh.triangles
    vertices = torch.from_numpy(track_vertices(model, track, numbers)).float()
    channels = np.zeros((len(numbers), CHANNELS, camera.height, camera.width), dtype=np.float32)
    labels = np.zeros((len(numbers), camera.height, camera.width), dtype=np.int64)
    flow = np.zeros((len(numbers), 3, camera.height, camera.width), dtype=np.float32)
    previous = None
    with torch.no_grad():
        for index in range(len(numbers)):
            gbuffer = rasterize(camera, vertices[index], triangles, model.uvs, submesh.triangle_uv_ids)
            mask = gbuffer.mask
            label = torch.where(mask, submesh.triangle_region[gbuffer.triangle_id.clamp(min=0)], 0)
            depth = gbuffer.depth
            reference = depth[mask].median() if mask.any() else torch.tensor(0.0)
            out = channels[index]
            out[0:3] = gbuffer.normal_camera.permute(2, 0, 1).numpy()
            out[3] = torch.where(mask, (depth - reference) / DEPTH_UNIT_M, 0.0).numpy()
            out[UV_SLICE] = gbuffer.uv.permute(2, 0, 1).numpy()
            out[REGION_SLICE] = torch.nn.functional.one_hot(label, len(REGIONS)).permute(2, 0, 1).numpy()
            out[11] = mask.numpy()
            labels[index] = label.numpy()
            if with_flow and previous is not None:
                backward = surface_flow(camera, gbuffer, triangles, previous[0], previous[1])
                flow[index] = backward[..., :3].permute(2, 0, 1).numpy()
            previous = (vertices[index], gbuffer)
    return Conditions(list(numbers), channels, labels, flow)

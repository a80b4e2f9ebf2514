"""What the network sees: G-buffers of a track's fitted meshes, rendered with the project's rasteriser.

Per frame, the channels of :mod:`engine.reenact.channels` at the track's image size (row 0 at the top),
plus, for training, the integer region labels and the optical flow from frame t to the previous frame
of the list (``engine.synth.flow`` convention: dx, dy in pixels and a valid channel), both from the
fitted meshes' own motion.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np
import torch

from engine.face.model import FaceModel, Submesh
from engine.face.regions import REGIONS
from engine.reenact.channels import CHANNELS, DEPTH_UNIT_M, REGION_SLICE, UV_SLICE
from engine.render.camera import Camera
from engine.render.rasterize import GBuffer, rasterize
from engine.synth.flow import surface_flow
from engine.track.geometry import track_camera, track_vertices


def history_rows(index: int, history: int) -> list[int]:
    """The frames (indices in the list, oldest first) the network sees for frame ``index``: index-history..index,
    the first frame repeated before the first."""
    return [max(0, index - k) for k in range(history, -1, -1)]


@dataclass
class Conditions:
    """``channels`` (T, CHANNELS, H, W) float32; ``labels`` (T, H, W) int64; ``flow`` (T, 3, H, W) float32
    (t -> t-1; zeros with valid 0 for the first frame); ``numbers`` the frames in order."""

    numbers: list[int]
    channels: np.ndarray
    labels: np.ndarray
    flow: np.ndarray

    def history(self, index: int, history: int) -> np.ndarray:
        """The network input (CHANNELS * (history + 1), H, W) for frame ``index`` (:func:`history_rows`)."""
        return self.channels[history_rows(index, history)].reshape(-1, *self.channels.shape[-2:])


@dataclass(frozen=True)
class FrameConditions:
    """One frame of :class:`Conditions`: ``channels`` (CHANNELS, H, W), ``labels`` (H, W), ``flow`` (3, H, W)."""

    channels: np.ndarray
    labels: np.ndarray
    flow: np.ndarray


class HistoryWindow:
    """The network inputs of a stream of frames, holding only the last ``history + 1`` frames' channels:
    :meth:`push` each frame in order, then :meth:`input` is what :meth:`Conditions.history` gives for it."""

    def __init__(self, history: int) -> None:
        self.recent: deque[np.ndarray] = deque(maxlen=history + 1)
        self.history, self.index = history, -1

    def push(self, channels: np.ndarray) -> None:
        self.recent.append(channels)
        self.index += 1

    def input(self) -> np.ndarray:
        first = self.index - len(self.recent) + 1          # the list index of the oldest frame held
        return np.concatenate([self.recent[row - first] for row in history_rows(self.index, self.history)])


def iter_conditions(model: FaceModel, track: dict, numbers: list[int],
                    with_flow: bool = True) -> Iterator[FrameConditions]:
    """The conditioning of ``numbers`` (in this order) of ``track``, each frame rendered as it is asked for, so a
    long shot never holds more than one frame and the one before (the flow's other end)."""
    camera = track_camera(track)
    submesh = model.submesh("face_and_head")
    previous = None
    for number in numbers:
        vertices = torch.from_numpy(track_vertices(model, track, [number])[0]).float()
        frame, gbuffer = _render(camera, model, submesh, vertices, previous if with_flow else None)
        yield frame
        previous = (vertices, gbuffer)


def render_conditions(model: FaceModel, track: dict, numbers: list[int], with_flow: bool = True) -> Conditions:
    """Render the conditioning of ``numbers`` (in this order) of ``track``, all frames at once (training, the int8
    model's calibration; ``relume reenact`` streams them with :func:`iter_conditions`)."""
    frames = list(iter_conditions(model, track, numbers, with_flow))
    return Conditions(list(numbers), np.stack([f.channels for f in frames]), np.stack([f.labels for f in frames]),
                      np.stack([f.flow for f in frames]))


@torch.no_grad()
def _render(camera: Camera, model: FaceModel, submesh: Submesh, vertices: torch.Tensor,
            previous: tuple[torch.Tensor, GBuffer] | None) -> tuple[FrameConditions, GBuffer]:
    """One frame's conditioning, and its G-buffer (the next frame's flow needs it); the flow to ``previous``
    (its vertices and G-buffer) when given, else zeros with valid 0."""
    triangles = submesh.triangles
    gbuffer = rasterize(camera, vertices, triangles, model.uvs, submesh.triangle_uv_ids)
    mask = gbuffer.mask
    label = torch.where(mask, submesh.triangle_region[gbuffer.triangle_id.clamp(min=0)], 0)
    depth = gbuffer.depth
    reference = depth[mask].median() if mask.any() else torch.tensor(0.0)
    channels = np.zeros((CHANNELS, camera.height, camera.width), dtype=np.float32)
    channels[0:3] = gbuffer.normal_camera.permute(2, 0, 1).numpy()
    channels[3] = torch.where(mask, (depth - reference) / DEPTH_UNIT_M, 0.0).numpy()
    channels[UV_SLICE] = gbuffer.uv.permute(2, 0, 1).numpy()
    channels[REGION_SLICE] = torch.nn.functional.one_hot(label, len(REGIONS)).permute(2, 0, 1).numpy()
    channels[11] = mask.numpy()
    flow = np.zeros((3, camera.height, camera.width), dtype=np.float32)
    if previous is not None:
        flow[:] = surface_flow(camera, gbuffer, triangles, previous[0], previous[1])[..., :3].permute(2, 0, 1).numpy()
    return FrameConditions(channels, label.numpy().astype(np.int64, copy=False), flow), gbuffer

"""Training data: a target capture's OLAT stacks and alpha, its track's conditioning, a light basis.

The light basis (L, rank) is the top eigenvectors of the stage's light-transport samples
(``S S^T`` over masked pixels of every training frame and colour channel, linear values), so every
OLAT image is ``unit * basis @ coefficients`` and the network's output size does not depend on L.
``unit`` is the capture's mean covered OLAT value: the network works in multiples of it, so its
outputs and the log-range losses are O(1) whatever the stage's exposure (OLATs of a 40-light stage
average a few hundredths, where log(1 + x) would be linear and the loss blind to relative error).

The stacks are held in memory when they fit ``memory_bytes`` (default
:data:`engine.reenact.settings.STACK_MEMORY_BYTES`); larger ones (150 lights at 1K: 0.9 GB per frame) are
decoded once into a float16 ``.npy`` file (the trainer puts it in the model folder and removes it at the
end) and memory-mapped, so each training step reads only its crops' rows and the basis reads one frame at a
time: memory no longer grows with the frame count.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from engine.errors import InputError
from engine.face.model import FaceModel
from engine.reenact.conditioning import Conditions, render_conditions
from engine.reenact.settings import STACK_MEMORY_BYTES
from engine.relight.olat_reader import frame_alpha, iter_olat_images
from engine.stage.capture import Capture
from engine.track.track_file import frame_numbers, read_track

BASIS_SAMPLES = 40_000


@dataclass
class TrainingSet:
    """``stacks`` (T, L, 3, H, W) float16 linear OLATs (in memory, or a read-only memory map of
    ``stream_path``); ``alpha`` (T, H, W) float32; conditions per frame."""

    capture: Capture
    numbers: list[int]
    stacks: np.ndarray
    alpha: np.ndarray
    conditions: Conditions
    stream_path: Path | None = None

    def release(self) -> None:
        """Remove the streamed stacks' file (when there is one)."""
        if self.stream_path is not None:
            self.stacks = np.empty((0,), np.float16)
            self.stream_path.unlink(missing_ok=True)


def check_track_matches(capture: Capture, track: dict, track_path: str | Path, numbers: list[int]) -> None:
    """Refuse a track whose frames or image size do not fit the capture."""
    missing = sorted(set(numbers) - {int(f) for f in track["frames"]})
    if missing:
        tracked = frame_numbers(track)
        raise InputError(track_path, f"has no frame {missing[0]} of the capture {capture.folder} "
                         f"(track frames {tracked[0]}-{tracked[-1]}, capture {numbers[0]}-{numbers[-1]})")
    first = next(iter_olat_images(capture, numbers[0]))[1]
    width, height = track["image_size"]
    if (first.shape[1], first.shape[0]) != (width, height):
        raise InputError(track_path, f"image size {width}x{height} differs from the capture's "
                         f"{first.shape[1]}x{first.shape[0]} ({capture.olat_path(0, numbers[0])})")


def load_training_set(model: FaceModel, capture_path: str | Path, track_path: str | Path,
                      frames: list[int] | None = None, stream_path: Path | None = None,
                      memory_bytes: int = STACK_MEMORY_BYTES) -> TrainingSet:
    """Read the capture's frames (all, or ``frames``) and render their conditioning from the track. Stacks
    above ``memory_bytes`` are streamed from the file ``stream_path`` (see the module doc)."""
    capture = Capture.load(capture_path)
    track = read_track(track_path, model.source)
    numbers = frames or capture.frames
    outside = sorted(set(numbers) - set(capture.frames))
    if outside:
        raise InputError(capture.folder, f"frame {outside[0]} is not in the capture")
    check_track_matches(capture, track, track_path, numbers)
    width, height = track["image_size"]
    shape = (len(numbers), capture.light_count, 3, height, width)
    path = Path(stream_path) if stream_path is not None and int(np.prod(shape)) * 2 > memory_bytes else None
    if path is not None:
        path.parent.mkdir(parents=True, exist_ok=True)
        stacks = np.lib.format.open_memmap(path, mode="w+", dtype=np.float16, shape=shape)
    else:
        stacks = np.empty(shape, np.float16)
    alphas = []
    for index, number in enumerate(numbers):
        for light, image in iter_olat_images(capture, number):
            stacks[index, light] = image.rgb.transpose(2, 0, 1)
            if light == 0:
                alphas.append(frame_alpha(capture, number, image).astype(np.float32))
    if path is not None:
        stacks.flush()
        del stacks
        stacks = np.load(path, mmap_mode="r")
    conditions = render_conditions(model, track, numbers)
    return TrainingSet(capture, numbers, stacks, np.stack(alphas), conditions, path)


@dataclass(frozen=True)
class LightBasis:
    """``vectors`` (L, rank) orthonormal; ``unit``: linear OLAT value of one network unit;
    ``coefficient_mean`` and ``coefficient_scale`` (3 * rank, channel-major): mean and standard
    deviation of the covered pixels' coefficients, which the network's outputs are standardised by."""

    vectors: np.ndarray
    unit: float
    coefficient_mean: np.ndarray
    coefficient_scale: np.ndarray


def light_basis(stacks: np.ndarray, alpha: np.ndarray, rank: int, seed: int = 0) -> LightBasis:
    """Light basis and unit from up to ``BASIS_SAMPLES`` covered pixels of the stacks."""
    frames, lights = stacks.shape[:2]
    if rank > lights:
        raise InputError("rank", f"{rank} is more than the capture's {lights} stage lights")
    covered = np.argwhere(alpha > 0.5)
    rng = np.random.default_rng(seed)
    pick = covered[rng.choice(len(covered), min(BASIS_SAMPLES, len(covered)), replace=False)]
    samples = np.empty((len(pick), lights, 3))                                      # (N, L, 3)
    for frame in np.unique(pick[:, 0]):                  # one frame at a time: a memory map reads each once
        rows = pick[:, 0] == frame
        samples[rows] = np.asarray(stacks[frame])[:, :, pick[rows, 1], pick[rows, 2]].transpose(2, 0, 1)
    matrix = samples.transpose(1, 0, 2).reshape(lights, -1)
    values, vectors = np.linalg.eigh(matrix @ matrix.T)
    basis = vectors[:, ::-1][:, :rank]
    basis = basis * np.where(basis.sum(axis=0) < 0, -1.0, 1.0)   # eigenvectors' sign is arbitrary: lights add up
    unit = float(samples.mean())
    if not unit > 0.0:
        raise InputError("capture", "the training frames' OLAT images are black where the matte covers the face")
    coefficients = np.einsum("lk,nlc->nck", basis, samples / unit).reshape(len(samples), -1)
    return LightBasis(basis.astype(np.float32).copy(), unit, coefficients.mean(0).astype(np.float32),
                      np.maximum(coefficients.std(0), 1e-3).astype(np.float32))

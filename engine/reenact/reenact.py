"""``relume reenact``: a trained model and a (transferred) track -> a standard capture of new OLAT frames.

The capture written (``capture.yaml`` with the training capture's stage lights, half-float RGBA OLAT EXRs
``olat/L{light:03d}/frame.{frame:04d}.exr`` with alpha, ``tracking/frame.{frame:04d}.exr`` with every stage
light on (the sum of the OLATs: what a tracker or a preview reads), ``matte/frame.{frame:04d}.exr``) keeps the
track's frame numbers, so ``relume relight``, the Nuke gizmo and the Blender extension read it unchanged.
``capture.yaml`` is written last, so an interrupted run never looks whole; ``skip_existing`` resumes (a
recurrent network still runs on the frames already written, as each frame's output depends on the one before).

Inference runs through onnxruntime, on the CPU on the folder's int8 ``model.int8.onnx`` and on CUDA (when
onnxruntime has it) on the float32 ``model.onnx`` (``precision``: :class:`engine.reenact.settings.Precision`), or
through torch in float32 (``runtime="torch"``).

Temporal smoothing (a recurrent network only): frame t's output is ``m' * own + (1 - m') * previous``, the
previous output warped (:func:`engine.reenact.network.blend_previous`) by the fitted meshes' own motion where the
mesh covers the pixel in frames t and t-1, and by the network's predicted flow elsewhere (:func:`blend_flow`), with
``m' = (1 - temporal_smoothing) * m`` and ``m`` the network's own blend weight. Training learns ``m`` one pair of
frames at a time and never sees a whole sequence's flicker; on the tuning capture a lower ``m`` than the learned
one removes flicker the truth does not have. With the predicted flow, whose errors drag the past off the surface,
that cost accuracy beyond ``temporal_smoothing`` 0.4; with the meshes' motion 0.8 costs 0.07 / 0.02 dB and has 28 %
less flicker than 0 (docs/reenactment-log.md, the nineteenth run); 0 keeps the learned blend, values towards 1
carry more of the past (and lag where the face changes). ``capture.yaml`` records the value used (``reenacted:
temporal_smoothing``).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
from tqdm import tqdm

from engine.errors import InputError
from engine.face.model import FaceModel
from engine.reenact.conditioning import HistoryWindow, iter_conditions
from engine.reenact.export import has_cuda_provider, model_onnx, onnx_session
from engine.reenact.model_dir import TrainedModel
from engine.reenact.network import blend_previous, split_outputs
from engine.reenact.settings import MATTE_BLACK, MATTE_WHITE, TEMPORAL_SMOOTHING, Precision, Runtime
from engine.stage.capture import CAPTURE_FILE, Capture, write_capture_yaml
from engine.synth.output import ImageWriter
from engine.track.track_file import frame_numbers, read_track

OLAT_PATTERN = "olat/L{light:03d}/frame.{frame:04d}.exr"
TRACKING_PATTERN = "tracking/frame.{frame:04d}.exr"
MATTE_PATTERN = "matte/frame.{frame:04d}.exr"


def resolve_precision(runtime: Runtime, precision: Precision) -> Precision:
    """FLOAT32 or INT8: what ``precision`` means for ``runtime`` here (see :class:`Precision`); InputError for int8
    through torch."""
    if runtime is Runtime.TORCH:
        if precision is Precision.INT8:
            raise InputError("precision", "int8 runs through onnxruntime; the torch runtime is float32")
        return Precision.FLOAT32
    if precision is Precision.AUTO:
        return Precision.FLOAT32 if has_cuda_provider() else Precision.INT8
    return precision


class _Predictor:
    """Runs the network on one input (1, C_in, H, W) float32 -> (1, C_out, H, W)."""

    def __init__(self, trained: TrainedModel, runtime: Runtime, precision: Precision, device: str,
                 face: FaceModel) -> None:
        self.runtime = runtime
        if runtime is Runtime.TORCH:
            self.device = torch.device(device)
            self.net = trained.net.to(self.device)
            return
        path = model_onnx(trained, precision, face)
        self.session = onnx_session(path, cuda=precision is Precision.FLOAT32)   # int8 kernels are the CPU's

    def __call__(self, x: np.ndarray) -> np.ndarray:
        if self.runtime is Runtime.TORCH:
            with torch.no_grad():
                return self.net(torch.from_numpy(x).to(self.device)).cpu().numpy()
        return self.session.run(None, {"conditions": x})[0]


def blend_flow(predicted: torch.Tensor, surface: np.ndarray) -> torch.Tensor:
    """The flow (1, 2, H, W; pixels, frame t -> t-1) that frame t's blend warps frame t-1's output by: the fitted
    meshes' own motion ``surface`` (3, H, W: dx, dy and valid, :func:`engine.reenact.conditioning.iter_conditions`)
    where the mesh covers the pixel in both frames, the network's ``predicted`` flow (1, 2, H, W) elsewhere
    (background, hair beyond the mesh, what the face uncovers)."""
    surface = torch.from_numpy(surface)[None]
    return torch.where(surface[:, 2:3] > 0.5, surface[:, :2], predicted)


@dataclass(frozen=True)
class DecodedFrame:
    """One reenacted frame as the capture folder stores it."""

    olats: np.ndarray  # (L, H, W, 4) float16 RGBA, premultiplied like a captured OLAT
    tracking: np.ndarray  # (H, W, 4) float32: every stage light on (the sum of the OLATs' RGB) and the matte


def decode_olats(basis: np.ndarray, coefficients: np.ndarray | torch.Tensor,
                 alpha: np.ndarray | torch.Tensor) -> DecodedFrame:
    """The OLAT stack from the network's light-basis coefficients: ``basis`` (L, rank) in OLAT units,
    ``coefficients`` (3, rank, H, W), ``alpha`` (H, W, the network's matte); negative light clipped to 0. The
    matte is clipped at MATTE_BLACK and MATTE_WHITE and stretched between them, so the background is exactly 0
    (black OLATs there) and the face's inside exactly 1. One matmul writes the lights already in the (L, H, W,
    RGB) order of the files; torch does the arithmetic and the float16 conversion (numpy's half conversion alone
    is 3x slower)."""
    coefficients, alpha = torch.as_tensor(coefficients, dtype=torch.float32), torch.as_tensor(alpha, dtype=torch.float32)
    alpha = ((alpha - MATTE_BLACK) / (MATTE_WHITE - MATTE_BLACK)).clamp_(0.0, 1.0)
    rank, (height, width), lights = coefficients.shape[1], alpha.shape, len(basis)
    per_pixel = coefficients.permute(1, 2, 3, 0).reshape(rank, -1)
    rgb = (torch.as_tensor(basis, dtype=torch.float32) @ per_pixel).clamp_(min=0.0)
    rgb = rgb.view(lights, height, width, 3).mul_(alpha[..., None])
    olats = torch.empty((lights, height, width, 4), dtype=torch.float16)
    olats[..., :3] = rgb
    olats[..., 3] = alpha
    tracking = torch.empty((height, width, 4), dtype=torch.float32)
    tracking[..., :3] = rgb.sum(dim=0)
    tracking[..., 3] = alpha
    return DecodedFrame(olats.numpy(), tracking.numpy())


def _check_stage(out: Path, trained: TrainedModel) -> None:
    """An existing capture in ``out`` must be of the model's stage (same lights)."""
    if not (out / CAPTURE_FILE).is_file():
        return
    existing = Capture.load(out)
    stage = trained.config["stage"]
    if existing.light_ids != stage["light_ids"] or not np.allclose(existing.directions, stage["directions"], atol=1e-6):
        raise InputError(out / CAPTURE_FILE, f"a capture of another stage ({existing.light_count} lights) is already "
                         f"here; the model {trained.folder} has {len(stage['light_ids'])}: use another folder")


def _check_performer(trained: TrainedModel, track: dict, track_path: Path) -> None:
    """The track must be of the performer the model learnt: same face model file, same fitted identity
    (a transferred track keeps the target's), same image size."""
    if trained.config.get("face_model_sha256") != track["model"]["sha256"]:
        raise InputError(track_path, f"made with another face model file than the model {trained.folder}")
    trained_identity = trained.config.get("identity")    # models trained before it was recorded have none
    if trained_identity is not None and not np.allclose(track["identity"], trained_identity, atol=1e-4):
        raise InputError(track_path, f"a track of another performer than the model {trained.folder} learnt "
                         "(its identity differs): transfer the expressions onto the target's track first")
    if tuple(track["image_size"]) != trained.image_size:
        w, h = trained.image_size
        raise InputError(track_path, f"image size {track['image_size'][0]}x{track['image_size'][1]} differs from the "
                         f"model's {w}x{h} (train on a capture of the track's size)")
    if trained.config["stage"]["light_ids"] != list(range(len(trained.basis))):
        raise InputError(trained.folder, "stage light ids must be 0..L-1 (capture.yaml written here numbers them so)")


@dataclass
class ReenactJob:
    """Reenact every frame of a track into the capture folder ``out``. It has the frame-job interface of
    :class:`engine.relight.job.RelightJob` (``frames``, ``pending_frames``, ``run(progress, on_frame)``), so
    the service reports its progress and cancels it between frames. Checks run on construction."""

    model_dir: Path
    track_path: Path
    out: Path
    runtime: Runtime = Runtime.ONNXRUNTIME
    skip_existing: bool = False
    device: str = "cpu"
    model_path: Path | None = None
    temporal_smoothing: float = TEMPORAL_SMOOTHING
    precision: Precision = Precision.AUTO
    frames: list[int] = field(init=False)

    def __post_init__(self) -> None:
        if not 0.0 <= self.temporal_smoothing < 1.0:
            raise InputError("temporal_smoothing", f"must be at least 0 and below 1, not {self.temporal_smoothing:g}")
        self.out = Path(self.out)
        self.precision = resolve_precision(self.runtime, self.precision)
        self.trained = TrainedModel.load(self.model_dir)
        self.face = FaceModel.load(self.model_path)
        self.track = read_track(self.track_path, self.face.source)
        _check_performer(self.trained, self.track, Path(self.track_path))
        _check_stage(self.out, self.trained)
        self.frames = frame_numbers(self.track)

    def _written(self, number: int) -> bool:
        files = [MATTE_PATTERN.format(frame=number), TRACKING_PATTERN.format(frame=number)]
        files += [OLAT_PATTERN.format(light=i, frame=number) for i in range(len(self.trained.basis))]
        return all((self.out / name).is_file() for name in files)

    def pending_frames(self) -> list[int]:
        return [n for n in self.frames if not (self.skip_existing and self._written(n))]

    def run(self, progress: bool = True, on_frame: Callable[[int, Path], None] | None = None) -> Path:
        """Write the pending frames, then ``capture.yaml``; returns its path. ``on_frame(number, matte)`` is
        called as each frame's images are handed to the writer (an exception from it stops the job; the
        capture then has no ``capture.yaml`` yet and ``skip_existing`` resumes it)."""
        trained, out = self.trained, self.out
        pending = set(self.pending_frames())
        network = trained.net.config
        # rendered frame by frame as the loop asks (a long shot's conditioning never held whole), so every frame is
        # rendered, the skipped ones too: the next frames' history and flow need them
        conditions = iter_conditions(self.face, self.track, self.frames, with_flow=network.recurrent)
        window = HistoryWindow(network.history)
        predict = _Predictor(trained, self.runtime, self.precision, self.device, self.face)
        basis = trained.basis
        pending_matte: tuple[Path, np.ndarray] | None = None
        previous: torch.Tensor | None = None       # a recurrent network's last output (every frame is run)
        with ImageWriter() as writer:
            frames = tqdm(self.frames, desc="reenact", unit="frame", disable=not progress)
            for number, frame in zip(frames, conditions):
                window.push(frame.channels)
                if number not in pending and not network.recurrent:
                    continue
                outputs = split_outputs(torch.from_numpy(predict(window.input()[None])), network.rank)
                coefficients = outputs["coefficients"]
                if previous is not None:
                    blend = (1.0 - self.temporal_smoothing) * outputs["blend"]
                    flow = blend_flow(outputs["flow"], frame.flow)
                    coefficients = blend_previous(coefficients, blend, flow, previous)
                if network.recurrent:
                    previous = coefficients
                if number not in pending:
                    continue
                decoded = decode_olats(basis, coefficients[0], outputs["alpha"][0, 0])
                # the previous frame's OLATs were encoded while this one was predicted; its matte goes last, so a
                # frame whose matte exists is whole
                writer.wait()
                if pending_matte is not None:
                    writer.exr(*pending_matte)
                for light, olat in enumerate(decoded.olats):
                    writer.exr(out / OLAT_PATTERN.format(light=light, frame=number), olat)
                writer.exr(out / TRACKING_PATTERN.format(frame=number), decoded.tracking)
                matte = out / MATTE_PATTERN.format(frame=number)
                pending_matte = matte, np.repeat(decoded.olats[0, ..., 3:], 4, axis=-1)
                if on_frame is not None:
                    on_frame(number, matte)
            writer.wait()
            if pending_matte is not None:
                writer.exr(*pending_matte)
        stage = trained.config["stage"]
        return write_capture_yaml(out, self.frames, np.asarray(stage["directions"]), np.asarray(stage["rgb"]),
                                  OLAT_PATTERN, TRACKING_PATTERN, MATTE_PATTERN,
                                  extra={"reenacted": {"model": str(Path(self.model_dir).resolve()),
                                                       "track": str(Path(self.track_path).resolve()),
                                                       "temporal_smoothing": self.temporal_smoothing,
                                                       "precision": self.precision.value}})


def reenact(model_dir: Path, track_path: Path, out: Path, runtime: Runtime = Runtime.ONNXRUNTIME,
            skip_existing: bool = False, device: str = "cpu", progress: bool = True,
            model_path: Path | None = None, temporal_smoothing: float = TEMPORAL_SMOOTHING,
            precision: Precision = Precision.AUTO) -> Path:
    """Write the reenacted capture into ``out``; returns its capture.yaml."""
    return ReenactJob(model_dir, track_path, out, runtime=runtime, skip_existing=skip_existing, device=device,
                      model_path=model_path, temporal_smoothing=temporal_smoothing, precision=precision).run(progress)

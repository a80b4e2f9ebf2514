"""``relume train``: learn the target's reflectance field from its capture and track.

Each step draws (from the seed and the step number alone, so a resumed run continues exactly)
``batch`` frames and a crop around the face, runs the network on frames t and t-1 (a recurrent network's
frame t is composed with its frame t-1 output by :func:`~engine.reenact.network.blend_previous`, as in
reenactment), and minimises:

* **olat**: |c(decoded) - c(captured)| with c(x) = asinh(x) (log-like range), x in the basis' ``unit`` (the
  capture's mean covered OLAT value), over ``olat_lights`` random stage lights;
* **relit**: the same under random light weights (every stage light, random colours and gains), which
  is the error relighting will show;
* a recurrent network's olat and relit terms are each the sum of its own prediction's (so the appearance
  branch, which sees frame t alone, is judged as the single-frame network is, against the same temporal term)
  and the blended output's (which trains the blend weight and the flow it warps by);
* **segmentation** (cross-entropy) and **alpha** (L1) against the fitted mesh's regions and the matte;
* **flow** (L1, pixels) against the fitted meshes' motion t -> t-1 where it is visible;
* **temporal**: frame t's relit prediction (its own, before any blend: the blended one would learn to copy
  frame t-1) against frame t-1's (no gradient) warped by the predicted flow, where the true flow says the
  point is visible.

Model folder: ``config.json`` (written first), ``checkpoint.pt`` (model, optimiser, step, basis, unit; written
atomically every ``checkpoint_seconds`` and at the end), ``losses.csv``, and ``model.onnx`` and
``model.int8.onnx`` (:func:`engine.reenact.export.quantize_onnx`) at the end.
A loss that is not finite stops the run with an error and keeps the last checkpoint. Under ``torchrun`` (one
process or several) it trains with DistributedDataParallel: gloo on CPU, NCCL on CUDA (rank r on
``cuda:LOCAL_RANK``); rank 0 writes.
"""

from __future__ import annotations

import csv
import io
import json
import os
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import torch
from torch import nn
from tqdm import tqdm

from engine.errors import InputError, RelumeError
from engine.face.model import FaceModel
from engine.reenact.data import TrainingSet, light_basis, load_training_set
from engine.reenact.model_dir import CHECKPOINT_FILE, CONFIG_FILE, INT8_FILE, LAYOUT_VERSION, ONNX_FILE
from engine.reenact.network import ReenactNet, blend_previous, split_outputs, warp
from engine.reenact.settings import STACK_MEMORY_BYTES, TrainSettings
from engine.track.track_file import model_fingerprint, read_track
from relume_host.atomic import write_bytes_atomic

LOSSES_FILE = "losses.csv"
LOSS_NAMES = ("total", "olat", "relit", "segmentation", "alpha", "flow", "temporal")


class TrainingError(RelumeError):
    """Training stopped (non-finite loss); the last checkpoint on disk is still whole."""


@dataclass
class Distributed:
    """This process's place in a torchrun job (rank 0 of 1, no process group, without torchrun).

    Under torchrun (``RANK`` set, even with one process) it joins the process group: NCCL on CUDA, each
    rank on the GPU ``LOCAL_RANK`` names (``cuda:LOCAL_RANK``, as torchrun's documentation asks), gloo on CPU.
    """

    device: torch.device
    rank: int = 0
    joined: bool = False

    @classmethod
    def start(cls, device: str) -> Distributed:
        place = torch.device(device)
        if "RANK" not in os.environ:
            return cls(place)
        if place.type == "cuda":
            place = torch.device("cuda", int(os.environ.get("LOCAL_RANK", "0")))
            torch.cuda.set_device(place)
        torch.distributed.init_process_group("nccl" if place.type == "cuda" else "gloo")
        return cls(place, torch.distributed.get_rank(), joined=True)

    @property
    def main(self) -> bool:
        return self.rank == 0

    def agree(self, flag: bool) -> bool:
        """Rank 0's decision, on every rank (NCCL broadcasts only tensors on the rank's own GPU)."""
        if not self.joined:
            return flag
        value = torch.tensor([1.0 if flag else 0.0], device=self.device)
        torch.distributed.broadcast(value, 0)
        return bool(value.item())

    def stop(self) -> None:
        if self.joined:
            torch.distributed.destroy_process_group()


def _crop_box(rng: np.random.Generator, alpha: np.ndarray, crop: int) -> tuple[int, int, int, int]:
    """(top, left, height, width) of a crop centred near a covered pixel."""
    height, width = alpha.shape
    ch, cw = min(crop, height), min(crop, width)
    covered = np.argwhere(alpha > 0.5)
    centre = covered[rng.integers(len(covered))] if len(covered) else np.array([height // 2, width // 2])
    top = int(np.clip(centre[0] - ch // 2, 0, height - ch))
    left = int(np.clip(centre[1] - cw // 2, 0, width - cw))
    return top, left, ch, cw


def compress(values: torch.Tensor) -> torch.Tensor:
    """asinh(x) = log(x + sqrt(x^2 + 1)): linear near 0, logarithmic for highlights, smooth everywhere
    (a clamp at 0 would leave an output that starts negative without a gradient)."""
    return torch.asinh(values)


class Trainer:
    """One training run into ``folder`` (see the module doc); :func:`train` has refused a folder that already
    holds a model unless ``resume``."""

    def __init__(self, data: TrainingSet, folder: Path, settings: TrainSettings, model_file: Path,
                 track_path: Path, resume: bool = False, preview: Path | None = None, progress: bool = True) -> None:
        self.data, self.folder, self.settings = data, Path(folder), settings
        self.preview, self.progress = preview, progress
        self.dist = Distributed.start(settings.device)
        self.device = self.dist.device
        self.config = {
            "format": "relume-reenact", "version": LAYOUT_VERSION, "network": settings.network.as_dict(),
            "stage": {"light_ids": data.capture.light_ids, "directions": data.capture.directions.tolist(),
                      "rgb": data.capture.rgb.tolist(), "colorspace": data.capture.colorspace},
            "image_size": [int(data.stacks.shape[-1]), int(data.stacks.shape[-2])],
            "capture": str(data.capture.folder.resolve()), "track": str(Path(track_path).resolve()),
            "frames": data.numbers, "face_model_sha256": model_fingerprint(model_file),
            "identity": read_track(track_path)["identity"],
            "training": {k: v for k, v in asdict(settings).items() if k not in ("network", "device")},
        }
        torch.manual_seed(settings.seed)
        self.net = ReenactNet(settings.network)
        light = light_basis(data.stacks, data.alpha, settings.network.rank, settings.seed)
        self.basis, self.unit = torch.from_numpy(light.vectors), light.unit
        self.net.coefficient_mean.copy_(torch.from_numpy(light.coefficient_mean))
        self.net.coefficient_scale.copy_(torch.from_numpy(light.coefficient_scale))
        self.net.to(self.device)
        others = [p for name, p in self.net.named_parameters() if name != "texture"]
        groups = [{"params": others, "lr": settings.learning_rate}]
        if self.net.texture is not None:
            groups.append({"params": [self.net.texture], "lr": settings.texture_learning_rate})
        self.optimiser = torch.optim.Adam(groups)
        self.step = 0
        if resume:
            self._load(self.folder / CHECKPOINT_FILE)
        self.basis = self.basis.to(self.device)
        self.model = self.net
        if self.dist.joined:
            # the buffers (the basis's coefficient statistics) are equal on every rank and never change:
            # re-broadcasting them each forward rewrites tensors that autograd saved (NCCL, cuda)
            self.model = nn.parallel.DistributedDataParallel(self.net, broadcast_buffers=False)

    # ------------------------------------------------------------------ checkpoints
    def _load(self, path: Path) -> None:
        if not path.is_file():
            raise InputError(path, "no checkpoint to resume from")
        try:
            state = torch.load(path, map_location="cpu", weights_only=False)
            saved = json.loads((self.folder / CONFIG_FILE).read_text())
            self.net.load_state_dict(state["model"])
            self.optimiser.load_state_dict(state["optimiser"])
        except (OSError, ValueError, RuntimeError, KeyError, EOFError, json.JSONDecodeError) as exc:
            raise InputError(path, f"corrupt or truncated checkpoint ({str(exc).splitlines()[0][:200]})") from None
        for key in ("network", "stage", "image_size", "frames", "face_model_sha256"):
            if saved.get(key) != self.config[key]:
                raise InputError(self.folder / CONFIG_FILE, f"--resume: the saved model's {key} differs from this run's")
        self.basis, self.unit = state["basis"], float(state["unit"])
        self.step = int(state["step"])

    @property
    def decoder(self) -> torch.Tensor:
        """(L, rank): network coefficients -> linear OLAT values (what a trained model folder decodes with)."""
        return self.basis * self.unit

    def _save(self) -> None:
        buffer = io.BytesIO()
        torch.save({"model": self.net.state_dict(), "optimiser": self.optimiser.state_dict(), "step": self.step,
                    "basis": self.basis.cpu(), "unit": self.unit}, buffer)
        write_bytes_atomic(self.folder / CHECKPOINT_FILE, buffer.getvalue())

    # ------------------------------------------------------------------ one step
    def _batch(self, rng: np.random.Generator) -> dict[str, torch.Tensor]:
        s = self.settings
        data = self.data
        k = s.network.history
        items = rng.integers(0, len(data.numbers), s.batch)
        box = [_crop_box(rng, data.alpha[i], s.crop) for i in items]
        h, w = box[0][2], box[0][3]

        def cut(array: np.ndarray, i: int, b: tuple[int, int, int, int]) -> np.ndarray:
            return array[..., b[0]:b[0] + h, b[1]:b[1] + w]

        cond = data.conditions
        batch = {
            "x": np.stack([cut(cond.history(i, k), i, b) for i, b in zip(items, box)]),
            "x_prev": np.stack([cut(cond.history(max(i - 1, 0), k), i, b) for i, b in zip(items, box)]),
            "stack": np.stack([cut(data.stacks[i], i, b) for i, b in zip(items, box)]).astype(np.float32),
            "alpha": np.stack([cut(data.alpha[i], i, b) for i, b in zip(items, box)])[:, None],
            "labels": np.stack([cut(cond.labels[i], i, b) for i, b in zip(items, box)]),
            "flow": np.stack([cut(cond.flow[i], i, b) for i, b in zip(items, box)]),
            "has_prev": (items > 0).astype(np.float32),
        }
        return {name: torch.from_numpy(value).to(self.device) for name, value in batch.items()}

    def losses(self, batch: dict[str, torch.Tensor], rng: np.random.Generator) -> dict[str, torch.Tensor]:
        s = self.settings
        rank = s.network.rank
        lights = self.basis.shape[0]
        with torch.autocast("cuda", dtype=torch.bfloat16, enabled=self.device.type == "cuda"):
            out = split_outputs(self.model(batch["x"]), rank)
            with torch.no_grad():              # the plain network: no gradient, so nothing for DDP to reduce
                prev = split_outputs(self.net(batch["x_prev"]), rank)
        own = coefficients = out["coefficients"].float()
        blends = "blend" in out
        if blends:                            # the first frame has no previous output: its own alone
            blend = torch.where(batch["has_prev"][:, None, None, None] > 0, out["blend"].float(), 1.0)
            coefficients = blend_previous(coefficients, blend, out["flow"].float(), prev["coefficients"].float())
        subset = torch.from_numpy(rng.choice(lights, min(s.olat_lights, lights), replace=False)).to(self.device)
        stack = batch["stack"] / self.unit
        captured = stack[:, subset]
        gains = torch.from_numpy(rng.gamma(0.5, 2.0, (lights, 1)) * rng.uniform(0.5, 1.5, (lights, 3))).float()
        gains = gains.to(self.device) * (4.0 / lights)
        mix = torch.einsum("lc,lk->ck", gains, self.basis)
        true_relit = torch.einsum("lc,blchw->bchw", gains, stack)

        def judged(predicted: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
            """The olat and relit losses of ``predicted`` coefficients, and its relit image."""
            decoded = torch.einsum("lk,bckhw->blchw", self.basis[subset], predicted)
            relit = torch.einsum("ck,bckhw->bchw", mix, predicted)
            return ((compress(decoded) - compress(captured)).abs().mean(),
                    (compress(relit) - compress(true_relit)).abs().mean(), relit)

        olat, relit_loss, own_relit = judged(coefficients)
        if blends:   # the own prediction is judged as a single-frame network's is, the blended output on top
            own_olat, own_relit_loss, own_relit = judged(own)
            olat, relit_loss = olat + own_olat, relit_loss + own_relit_loss
        segmentation = nn.functional.cross_entropy(out["segmentation"].float(), batch["labels"])
        alpha = (out["alpha"].float() - batch["alpha"]).abs().mean()
        valid = batch["flow"][:, 2:3] * batch["has_prev"][:, None, None, None]
        flow_error = (out["flow"].float() - batch["flow"][:, :2]).abs().sum(1, keepdim=True)
        flow = (flow_error * valid).sum() / valid.sum().clamp(min=1.0)
        prev_relit = torch.einsum("ck,bckhw->bchw", mix, prev["coefficients"].float())
        warped = warp(compress(prev_relit), out["flow"].float())
        # the temporal term judges the network's own prediction: on the blended one it learnt to copy frame t-1
        temporal_error = (compress(own_relit) - warped).abs().sum(1, keepdim=True)
        temporal = (temporal_error * valid).sum() / valid.sum().clamp(min=1.0)
        w = s.losses
        total = (w.olat * olat + w.relit * relit_loss + w.segmentation * segmentation + w.alpha * alpha
                 + w.flow * flow + w.temporal * temporal)
        return {"total": total, "olat": olat, "relit": relit_loss, "segmentation": segmentation, "alpha": alpha,
                "flow": flow, "temporal": temporal}

    # ------------------------------------------------------------------ run
    def run(self) -> int:
        """Train up to ``settings.steps``; returns the last step. Rank 0 writes config, log and checkpoints."""
        s = self.settings
        if self.dist.main:
            self.folder.mkdir(parents=True, exist_ok=True)
            write_bytes_atomic(self.folder / CONFIG_FILE, json.dumps(self.config, indent=1).encode())
        log_path = self.folder / LOSSES_FILE
        last_save = time.monotonic()
        bar = tqdm(total=s.steps, initial=self.step, desc="train", unit="step",
                   disable=not (self.progress and self.dist.main))
        torch.use_deterministic_algorithms(True, warn_only=True)
        try:
            while self.step < s.steps:
                rng = np.random.default_rng([s.seed, self.step, self.dist.rank])
                losses = self.losses(self._batch(rng), rng)
                if not bool(torch.isfinite(losses["total"])):
                    raise TrainingError(self.folder, f"the loss became {float(losses['total'])} at step "
                                        f"{self.step + 1}; stopped, the last checkpoint (step "
                                        f"{self._saved_step()}) is kept. Lower --learning-rate and --resume")
                self.optimiser.zero_grad(set_to_none=True)
                losses["total"].backward()
                self.optimiser.step()
                self.step += 1
                values = {k: float(v.detach()) for k, v in losses.items()}
                if self.dist.main:
                    _append_csv(log_path, self.step, values)
                    bar.set_postfix(loss=f"{values['total']:.4f}")
                    if self.preview is not None and self.step % s.preview_every == 0:
                        from engine.reenact.preview import write_training_preview

                        write_training_preview(self, self.preview / f"step_{self.step:06d}.png")
                bar.update(1)
                due = (s.checkpoint_every and self.step % s.checkpoint_every == 0) or \
                    time.monotonic() - last_save > s.checkpoint_seconds
                if self.dist.agree(bool(due)) and self.dist.main:
                    self._save()
                    last_save = time.monotonic()
            if self.dist.main:
                self._save()
        finally:
            bar.close()
            self.dist.stop()
        return self.step

    def _saved_step(self) -> int | str:
        path = self.folder / CHECKPOINT_FILE
        if not path.is_file():
            return "none yet"
        return int(torch.load(path, map_location="cpu", weights_only=False)["step"])


def refuse_trained_folder(folder: Path) -> None:
    """A new run (no --resume) into a folder that already holds a model is refused."""
    if (Path(folder) / CHECKPOINT_FILE).exists():
        raise InputError(folder, "already holds a trained model; use --resume to continue it, or another folder")


def _append_csv(path: Path, step: int, values: dict[str, float]) -> None:
    new = not path.is_file()
    with open(path, "a", newline="") as handle:
        writer = csv.writer(handle)
        if new:
            writer.writerow(["step", *LOSS_NAMES])
        writer.writerow([step, *(f"{values[name]:.6g}" for name in LOSS_NAMES)])


def train(capture: Path, track: Path, out: Path, settings: TrainSettings, resume: bool = False,
          preview: Path | None = None, progress: bool = True, model_path: Path | None = None,
          frames: list[int] | None = None, memory_bytes: int = STACK_MEMORY_BYTES) -> Trainer:
    """Load the data (the capture's ``frames``, default all; stacks above ``memory_bytes`` streamed from the
    model folder, one file per process), train, export ``model.onnx`` and its int8 form (rank 0)."""
    if not resume:                            # refused before a capture is decoded into the folder
        refuse_trained_folder(out)
    model = FaceModel.load(model_path)
    stream = Path(out) / f"training_stacks.rank{os.environ.get('RANK', '0')}.npy"
    data = load_training_set(model, capture, track, frames, stream, memory_bytes)
    try:
        trainer = Trainer(data, out, settings, model.source, track, resume, preview, progress)
        trainer.run()
        if trainer.dist.main:
            from engine.reenact.export import export_onnx, quantize_onnx

            float32 = export_onnx(trainer.net, Path(out) / ONNX_FILE, data.stacks.shape[-2:])
            quantize_onnx(trainer.net.config, float32, Path(out) / INT8_FILE, data.conditions)
    finally:
        data.release()
    return trainer


"""The CUDA paths: the tracking fit, training (bf16 autocast), torchrun with NCCL, and reenactment through torch.

Skipped without a CUDA device (CI has none); run on a GPU machine with ``pytest tests/engine/test_cuda.py -s``.
Each test compares the GPU's result with the CPU's on the same tiny synthetic target
(``tests/support/small_reenact.py``), so a device mix-up, a dtype left in bf16 or a rank on the wrong GPU
fails here. The tracking bound has margin over what an H200 gave (README, *CUDA*); the others follow from the
arithmetic (bf16 autocast in training, TF32 convolutions in inference) and await their first GPU run.
"""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np
import pytest
import torch

from engine.face.model import FaceModel
from engine.io.exr import read_image
from engine.reenact.model_dir import CHECKPOINT_FILE, INT8_FILE, ONNX_FILE
from engine.reenact.train import LOSSES_FILE
from engine.track.evaluate import accuracy
from engine.track.track_file import read_track
from support.small_reenact import TRAIN_ARGS, torchrun_train

pytestmark = pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")


def _losses(folder: Path) -> list[dict[str, float]]:
    with open(folder / LOSSES_FILE, newline="") as handle:
        return [{k: float(v) for k, v in row.items()} for row in csv.DictReader(handle)]


def test_track_on_cuda_matches_the_cpu_fit(small_target: dict, tmp_path: Path, cli) -> None:
    out = tmp_path / "cuda.track"
    result = cli("track", small_target["capture"], "--device", "cuda", "--out", out)
    assert result.returncode == 0, result.stderr
    cpu, cuda = read_track(small_target["target"]), read_track(out)
    truth = small_target["capture"] / "ground_truth/params.json"
    model = FaceModel.load()
    on_cpu, on_cuda = accuracy(model, truth, cpu), accuracy(model, truth, cuda)
    weights = np.array([[frame["expression"][name] for name in sorted(frame["expression"])]
                        for track in (cpu, cuda) for frame in track["frames"].values()])
    weights = weights.reshape(2, len(cpu["frames"]), -1)
    difference = float(np.abs(weights[0] - weights[1]).mean())
    print(f"\ntrack: vertex error cpu {on_cpu.vertex_mm:.3f} mm, cuda {on_cuda.vertex_mm:.3f} mm; "
          f"expression weights differ by {difference:.4f} on average")
    assert on_cuda.vertex_mm <= on_cpu.vertex_mm + 0.3
    assert difference < 0.03


def test_training_on_cuda_follows_the_cpu_run_in_bf16(small_target: dict, tmp_path: Path, cli) -> None:
    runs = {}
    for device in ("cpu", "cuda"):
        out = tmp_path / device
        result = cli("train", small_target["capture"], "--track", small_target["target"], "--out", out,
                     "--steps", "4", "--device", device, *TRAIN_ARGS)
        assert result.returncode == 0, result.stderr
        runs[device] = out
    cpu, cuda = _losses(runs["cpu"]), _losses(runs["cuda"])
    first = abs(cuda[0]["total"] - cpu[0]["total"]) / cpu[0]["total"]
    print(f"\ntrain: first-step loss cpu {cpu[0]['total']:.5f}, cuda (bf16) {cuda[0]['total']:.5f}, "
          f"relative difference {first:.4f}")
    assert first < 0.05                           # same seed, same weights, same batch: bf16 rounding only
    state = torch.load(runs["cuda"] / CHECKPOINT_FILE, map_location="cpu", weights_only=False)
    assert state["step"] == 4 and all(v.dtype in (torch.float32, torch.int64) for v in state["model"].values())
    assert all(torch.isfinite(v).all() for v in state["model"].values() if v.is_floating_point())
    assert (runs["cuda"] / ONNX_FILE).is_file() and (runs["cuda"] / INT8_FILE).is_file()


def test_torchrun_trains_on_cuda_through_nccl(small_target: dict, tmp_path: Path) -> None:
    out = tmp_path / "ddp"
    result = torchrun_train(small_target, out, 1, 29534, "--steps", "3", "--checkpoint-every", "1", "--device", "cuda",
                            env={"NCCL_DEBUG": "INFO"})
    assert result.returncode == 0, result.stderr[-3000:]
    assert "NCCL INFO" in result.stdout + result.stderr           # the process group really was NCCL
    assert torch.load(out / CHECKPOINT_FILE, weights_only=False)["step"] == 3
    assert len(_losses(out)) == 3


def test_reenact_through_torch_on_cuda_matches_onnxruntime(small_target: dict, small_model: Path, tmp_path: Path,
                                                          cli) -> None:
    outputs = {}
    for name, args in (("onnxruntime", ("--precision", "float32")), ("cuda", ("--runtime", "torch", "--device", "cuda"))):
        outputs[name] = tmp_path / name
        result = cli("reenact", small_model, "--track", small_target["result"], "--out", outputs[name], *args)
        assert result.returncode == 0, result.stderr
    worst = 0.0
    frames = sorted(int(f) for f in read_track(small_target["result"])["frames"])
    for frame in (frames[0], frames[len(frames) // 2], frames[-1]):
        a = read_image(outputs["onnxruntime"] / f"olat/L005/frame.{frame}.exr").rgb.astype(np.float32)
        b = read_image(outputs["cuda"] / f"olat/L005/frame.{frame}.exr").rgb.astype(np.float32)
        worst = max(worst, float(np.abs(a - b).max() / max(1.0, np.abs(a).max())))
    print(f"\nreenact: torch on cuda against onnxruntime on the cpu, largest difference {worst:.2e} of the peak")
    assert worst <= 5e-3                           # TF32 convolutions and half-float rounding

"""``relume export``: the trained network as ONNX (onnxruntime, the engine's default runtime) or TorchScript.

Both take one float32 tensor (1, C_in, H, W) and return one (1, C_out, H, W) (see
:mod:`engine.reenact.network`), so the TorchScript file is what Nuke's CatFileCreator turns into a
``.cat`` for the Inference node. ONNX is exported with a fixed image size (the training capture's).
"""

from __future__ import annotations

import warnings
from enum import Enum
from pathlib import Path

import torch

from engine.reenact.network import ReenactNet
from relume_host.atomic import atomic_path

ONNX_OPSET = 17


class ExportFormat(str, Enum):
    ONNX = "onnx"
    TORCHSCRIPT = "torchscript"


def _example(net: ReenactNet, size: tuple[int, int]) -> torch.Tensor:
    return torch.zeros(1, net.config.in_channels, *size)


def export_onnx(net: ReenactNet, path: Path, size: tuple[int, int]) -> Path:
    """Write ``net`` as ONNX (input ``conditions``, output ``outputs``) atomically."""
    net = net.eval().cpu()
    with atomic_path(path) as tmp, torch.no_grad(), warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=".*instance_norm.*")  # eval mode is what is exported
        torch.onnx.export(net, (_example(net, size),), str(tmp), input_names=["conditions"], output_names=["outputs"],
                          opset_version=ONNX_OPSET, dynamo=False)
    return path


def export_torchscript(net: ReenactNet, path: Path, size: tuple[int, int]) -> Path:
    """Write ``net`` traced to TorchScript (one tensor in, one out) atomically."""
    net = net.eval().cpu()
    with atomic_path(path) as tmp, torch.no_grad():
        torch.jit.trace(net, _example(net, size)).save(str(tmp))
    return path


def onnx_session(path: Path):
    """An onnxruntime session of an exported network: CUDA where onnxruntime has it, else CPU, with idle
    inference threads that sleep instead of spinning (so EXR writer threads get the cores between runs)."""
    import onnxruntime

    providers = [p for p in ("CUDAExecutionProvider", "CPUExecutionProvider")
                 if p in onnxruntime.get_available_providers()]
    options = onnxruntime.SessionOptions()
    options.add_session_config_entry("session.intra_op.allow_spinning", "0")
    return onnxruntime.InferenceSession(str(path), options, providers=providers)

"""``relume export``: the trained network as ONNX (onnxruntime, the engine's default runtime) or TorchScript.

Both take one float32 tensor (1, C_in, H, W) and return one (1, C_out, H, W) (see
:mod:`engine.reenact.network`), so the TorchScript file is what Nuke's CatFileCreator turns into a
``.cat`` for the Inference node. ONNX is exported with a fixed image size (the training capture's).

The int8 ONNX model (:func:`quantize_onnx`) is what ``relume reenact`` runs on the CPU, in onnxruntime's QDQ
form: 7-bit weights per output channel (``reduce_range``: on x86 CPUs without VNNI onnxruntime sums 8-bit
products in pairs into 16 bits, which full-range weights could saturate) and 8-bit activations per tensor,
their ranges measured on the training frames' conditions (so the file is the same whatever is reenacted).
Quantised: SPADE's convolutions and the appearance branch's below full resolution. Float32: the
full-resolution blocks' feature convolutions, the output head and the motion branch; on the tuning capture
quantising those too added flicker (0.0042 against 0.0034), while this choice scores within 0.04 dB of the
float32 model with the same flicker (docs/reenactment-log.md, the seventeenth run).
"""

from __future__ import annotations

import logging
import tempfile
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import numpy as np
import torch

from engine.errors import InputError
from engine.face.model import FaceModel
from engine.reenact.conditioning import Conditions, render_conditions
from engine.reenact.model_dir import INT8_FILE, ONNX_FILE, TrainedModel
from engine.reenact.network import ReenactNet
from engine.reenact.settings import NetworkConfig, Precision
from engine.track.track_file import read_track
from relume_host.atomic import atomic_path

ONNX_OPSET = 17


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


def model_onnx(trained: TrainedModel, precision: Precision, face: FaceModel) -> Path:
    """The model folder's ONNX file of ``precision`` (FLOAT32 or INT8), written first where it is missing (a
    folder trained by an earlier Relume has no int8 file: it is calibrated on the training frames again, from
    the track ``relume train`` was given)."""
    path = trained.folder / ONNX_FILE
    if not path.is_file():
        width, height = trained.image_size
        export_onnx(trained.net, path, (height, width))
    if precision is Precision.FLOAT32:
        return path
    int8 = trained.folder / INT8_FILE
    if not int8.is_file():
        track_path = Path(trained.config["track"])
        if not track_path.is_file():
            raise InputError(track_path, f"missing: {INT8_FILE} is calibrated on the training track's frames; "
                                         "reenact with --precision float32")
        track = read_track(track_path, face.source)
        quantize_onnx(trained.net.config, path, int8,
                      render_conditions(face, track, trained.config["frames"], with_flow=False))
    return int8


def float_convolution_scopes(config: NetworkConfig) -> tuple[str, ...]:
    """Name prefixes of the ONNX Conv nodes the int8 model keeps in float32 (torch's exporter names a node
    after its module's path, e.g. ``/appearance/down.0/conv1/Conv``): the full-resolution blocks' feature
    convolutions (not their SPADE), the appearance head and the motion branch."""
    scopes = ("/appearance/down.0/conv", f"/appearance/up.{config.levels - 1}/conv", "/appearance/head/")
    return scopes + (("/motion/",) if config.history else ())


def quantize_onnx(config: NetworkConfig, source: Path, out: Path, calibration: Conditions) -> Path:
    """Write the int8 model of the float32 ONNX ``source`` (see the module doc) atomically to ``out``; the
    activation ranges are the minimum and maximum over ``calibration``'s frames (the training frames)."""
    import onnx
    from onnxruntime.quantization import (
        CalibrationDataReader,
        CalibrationMethod,
        QuantFormat,
        QuantType,
        quantize_static,
    )
    from onnxruntime.quantization.shape_inference import quant_pre_process

    class Frames(CalibrationDataReader):
        def __init__(self) -> None:
            self.index = 0

        def get_next(self) -> dict | None:
            if self.index == len(calibration.numbers):
                return None
            self.index += 1
            return {"conditions": np.ascontiguousarray(calibration.history(self.index - 1, config.history)[None])}

    out = Path(out)
    with tempfile.TemporaryDirectory(prefix="relume_int8_") as scratch, _quiet_root_logger():
        prepared = Path(scratch) / "prepared.onnx"
        quant_pre_process(str(source), str(prepared), skip_symbolic_shape=True)
        convolutions = [node.name for node in onnx.load(str(prepared)).graph.node if node.op_type == "Conv"]
        scopes = float_convolution_scopes(config)
        kept = [name for name in convolutions if name.startswith(scopes)]
        missing = [scope for scope in scopes if not any(name.startswith(scope) for name in kept)]
        if missing:          # the exporter named the modules otherwise: refuse rather than quantise them all
            raise RuntimeError(f"{source}: no Conv node under {', '.join(missing)} to keep in float32")
        with atomic_path(out) as tmp:
            quantize_static(str(prepared), str(tmp), Frames(), quant_format=QuantFormat.QDQ, per_channel=True,
                            activation_type=QuantType.QUInt8, weight_type=QuantType.QInt8,
                            calibrate_method=CalibrationMethod.MinMax, op_types_to_quantize=["Conv"],
                            nodes_to_exclude=kept, reduce_range=True)
    return out


@contextmanager
def _quiet_root_logger() -> Iterator[None]:
    """onnxruntime's quantiser logs a warning on the root logger for each constant it leaves alone."""
    root = logging.getLogger()
    level = root.level
    root.setLevel(logging.ERROR)
    try:
        yield
    finally:
        root.setLevel(level)


def onnx_session(path: Path, cuda: bool = True):
    """An onnxruntime session of an exported network: CUDA where onnxruntime has it (and ``cuda``), else CPU,
    with idle inference threads that sleep instead of spinning (so EXR writer threads get the cores between
    runs)."""
    import onnxruntime

    providers = (["CUDAExecutionProvider"] if cuda and has_cuda_provider() else []) + ["CPUExecutionProvider"]
    options = onnxruntime.SessionOptions()
    options.add_session_config_entry("session.intra_op.allow_spinning", "0")
    return onnxruntime.InferenceSession(str(path), options, providers=providers)


def has_cuda_provider() -> bool:
    """Whether this onnxruntime build can run on CUDA."""
    import onnxruntime

    return "CUDAExecutionProvider" in onnxruntime.get_available_providers()

"""``relume train``, ``relume reenact`` and ``relume export`` (torch loads only when they run; their defaults are
:mod:`engine.reenact.settings`'s)."""

from __future__ import annotations

import argparse
import shutil
from pathlib import Path

from engine.cores import sleep_idle_openmp_threads
from engine.errors import InputError
from engine.reenact.settings import (
    STACK_MEMORY_BYTES,
    TEMPORAL_SMOOTHING,
    ExportFormat,
    LossWeights,
    NetworkConfig,
    Precision,
    Runtime,
    TrainSettings,
)
from engine.stage.capture import parse_frames


def add_parsers(subparsers: argparse._SubParsersAction) -> None:
    defaults, network, losses = TrainSettings(), NetworkConfig(), LossWeights()
    train = subparsers.add_parser(
        "train", help="train the reenactment network on a target capture and its track",
        description="Learn the target's OLAT stack from renders of its fitted face model. Multi-GPU/-node: "
                    "torchrun --nproc_per_node N -m engine train ...")
    train.add_argument("capture", type=Path, help="the target's capture folder")
    train.add_argument("--track", required=True, type=Path, help="the target's .track (relume track CAPTURE)")
    train.add_argument("--out", required=True, type=Path, help="model folder to write")
    train.add_argument("--frames", help="capture frames to train on, e.g. 1001-1030 (default: all)")
    train.add_argument("--steps", type=int, default=defaults.steps, help="training steps (default %(default)s)")
    train.add_argument("--seed", type=int, default=defaults.seed,
                       help="random seed (default %(default)s; runs are deterministic on the CPU)")
    train.add_argument("--resume", action="store_true", help="continue the model in --out from its checkpoint")
    train.add_argument("--device", default="cpu", help="cpu (default) or cuda (mixed precision)")
    train.add_argument("--preview", type=Path, metavar="DIR", help="PNG previews (predicted over captured OLATs)")
    train.add_argument("--preview-every", type=int, default=defaults.preview_every, metavar="N",
                       help="steps between previews (default %(default)s)")
    train.add_argument("--checkpoint-minutes", type=float, default=defaults.checkpoint_seconds / 60.0,
                       help="minutes between checkpoints (default %(default)s)")
    train.add_argument("--checkpoint-every", type=int, default=defaults.checkpoint_every, metavar="N",
                       help="also every N steps (default %(default)s: by time only)")
    train.add_argument("--history", type=int, default=network.history, metavar="K",
                       help="frames before t the network sees (default %(default)s)")
    train.add_argument("--rank", type=int,
                       help=f"light-basis size (default {network.rank}, or the stage's light count if smaller)")
    train.add_argument("--width", type=int, default=network.width,
                       help="channels of the network's first level (default %(default)s)")
    train.add_argument("--no-semantic", action="store_true", help="plain instance norm instead of SPADE")
    train.add_argument("--no-blend", action="store_true",
                       help="no temporal blend with the previous frame's warped output (k >= 1 only)")
    train.add_argument("--batch", type=int, default=defaults.batch, help="frames per step (default %(default)s)")
    train.add_argument("--crop", type=int, default=defaults.crop, help="training crop in pixels (default %(default)s)")
    train.add_argument("--learning-rate", type=float, default=defaults.learning_rate, help="(default %(default)s)")
    train.add_argument("--texture-learning-rate", type=float, default=defaults.texture_learning_rate,
                       help="learning rate of the neural texture (default %(default)s)")
    train.add_argument("--temporal-weight", type=float, default=losses.temporal,
                       help="weight of the temporal loss (frame t against frame t-1 warped; default %(default)s)")
    train.add_argument("--memory-gb", type=float, default=STACK_MEMORY_BYTES / 1024 ** 3,
                       help="training stacks larger than this are streamed from a file in --out (default %(default)s)")
    train.add_argument("--model", type=Path, help="ict_face_model.npz (default: installed model)")
    train.set_defaults(handler=run_train)

    reenact = subparsers.add_parser("reenact", help="write the target's OLAT capture for a (transferred) track")
    reenact.add_argument("model_dir", type=Path, help="trained model folder (relume train --out)")
    reenact.add_argument("--track", required=True, type=Path, help="track to render, e.g. relume transfer's result")
    reenact.add_argument("--out", required=True, type=Path, help="capture folder to write")
    reenact.add_argument("--runtime", type=Runtime, choices=list(Runtime), default=Runtime.ONNXRUNTIME,
                         help="(default %(default)s)")
    reenact.add_argument("--device", default="cpu", help="torch runtime's device (onnxruntime uses CUDA if present)")
    reenact.add_argument("--precision", type=Precision, choices=list(Precision), default=Precision.AUTO,
                         help="onnxruntime's model: int8 (the CPU's fast path, model.int8.onnx) or float32 "
                              "(model.onnx); auto (the default): int8 on the CPU, float32 where onnxruntime has CUDA")
    reenact.add_argument("--skip-existing", action="store_true", help="resume: keep frames already written")
    reenact.add_argument("--temporal-smoothing", type=float, default=TEMPORAL_SMOOTHING, metavar="S",
                         help="0 to below 1: how much of the previous frame's warped output a recurrent network's "
                              "frame keeps beyond its learned blend (default %(default)s; 0 = the learned blend "
                              "alone)")
    reenact.add_argument("--model", type=Path, help="ict_face_model.npz (default: installed model)")
    reenact.set_defaults(handler=run_reenact)

    export = subparsers.add_parser("export", help="export a trained network (ONNX, or TorchScript for Nuke)")
    export.add_argument("model_dir", type=Path)
    export.add_argument("--format", type=ExportFormat, choices=list(ExportFormat), required=True)
    export.add_argument("--precision", type=Precision, choices=[Precision.FLOAT32, Precision.INT8],
                        default=Precision.FLOAT32,
                        help="ONNX only: int8 is the model relume reenact runs on the CPU (calibrated on the "
                             "training frames; default %(default)s)")
    export.add_argument("--out", required=True, type=Path)
    export.add_argument("--model", type=Path, help="ict_face_model.npz (default: installed model; int8 calibration)")
    export.set_defaults(handler=run_export)


def _positive(name: str, value: float) -> None:
    if not value > 0:
        raise InputError(name, "must be positive")


def run_train(args: argparse.Namespace) -> int:
    from engine.reenact.train import train
    from engine.stage.capture import Capture
    from engine.track.cli import device

    if args.rank is None:
        args.rank = min(NetworkConfig.rank, Capture.load(args.capture).light_count)   # the default size
    for name in ("steps", "batch", "crop", "rank", "width", "learning_rate", "texture_learning_rate",
                 "checkpoint_minutes", "preview_every"):
        _positive("--" + name.replace("_", "-"), getattr(args, name))
    if args.history < 0:
        raise InputError("--history", "must be 0 or more")
    if not args.memory_gb >= 0:
        raise InputError("--memory-gb", "must be 0 or more")
    if not args.temporal_weight >= 0:
        raise InputError("--temporal-weight", "must be 0 or more")
    network = NetworkConfig(history=args.history, rank=args.rank, width=args.width, semantic=not args.no_semantic,
                            blend=not args.no_blend)
    settings = TrainSettings(steps=args.steps, batch=args.batch, crop=args.crop, learning_rate=args.learning_rate,
                             texture_learning_rate=args.texture_learning_rate, seed=args.seed,
                             checkpoint_seconds=args.checkpoint_minutes * 60.0, checkpoint_every=args.checkpoint_every,
                             preview_every=args.preview_every, device=device(args.device), network=network,
                             losses=LossWeights(temporal=args.temporal_weight))
    frames = parse_frames(args.frames, "--frames") if args.frames else None
    trainer = train(args.capture, args.track, args.out, settings, args.resume, args.preview, not args.quiet,
                    args.model, frames, int(args.memory_gb * 1024 ** 3))
    if trainer.dist.main:
        print(f"relume: trained to step {trainer.step}; model in {args.out}")
    return 0


def run_reenact(args: argparse.Namespace) -> int:
    sleep_idle_openmp_threads()                 # before torch loads
    from engine.reenact.reenact import reenact
    from engine.track.cli import device

    path = reenact(args.model_dir, args.track, args.out, runtime=args.runtime, skip_existing=args.skip_existing,
                   device=device(args.device), progress=not args.quiet, model_path=args.model,
                   temporal_smoothing=args.temporal_smoothing, precision=args.precision)
    print(f"relume: reenacted capture in {path.parent}")
    return 0


def run_export(args: argparse.Namespace) -> int:
    from engine.face.model import FaceModel
    from engine.reenact.export import export_onnx, export_torchscript, model_onnx
    from engine.reenact.model_dir import TrainedModel
    from relume_host.atomic import atomic_path

    trained = TrainedModel.load(args.model_dir)
    if args.format is ExportFormat.TORCHSCRIPT and args.precision is not Precision.FLOAT32:
        raise InputError("--precision", "int8 is an ONNX model; TorchScript is exported in float32")
    if args.precision is Precision.INT8:         # the model folder's int8 file (made first where missing)
        with atomic_path(args.out) as tmp:
            shutil.copyfile(model_onnx(trained, Precision.INT8, FaceModel.load(args.model)), tmp)
    else:
        width, height = trained.image_size
        writer = export_onnx if args.format is ExportFormat.ONNX else export_torchscript
        writer(trained.net, args.out, (height, width))
    print(f"relume: exported {args.format.value} ({args.precision.value}) to {args.out}")
    return 0

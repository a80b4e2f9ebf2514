"""``relume track`` and ``relume transfer``: argparse front ends (torch and MediaPipe load only when they run).

Bad input raises :class:`engine.errors.InputError` (the engine CLI prints it on one line and exits 2)
before any output is written; the ``.track`` is written atomically at the end.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from engine.errors import InputError
from engine.stage.capture import parse_frames


def add_parsers(subparsers: argparse._SubParsersAction) -> None:
    """Add ``track`` and ``transfer``."""
    track = subparsers.add_parser(
        "track", help="fit the face model to footage (facial performance capture) -> .track",
        description="Fit the ICT face model to every frame: one identity and focal length for the sequence, "
                    "head pose and 53 expression weights per frame (landmarks, then photometric refinement, "
                    "temporally smoothed).")
    track.add_argument("input", help="capture folder, image sequence (plate.####.png|jpg|exr) or video file")
    track.add_argument("--out", required=True, type=Path, help="track file to write (FILE.track)")
    track.add_argument("--frames", help="frames to track, e.g. 1001-1100 (default: all)")
    track.add_argument("--identity-from", type=Path, metavar="FILE.track",
                       help="reuse the identity of an earlier track of the same performer")
    track.add_argument("--preview", type=Path, metavar="DIR", help="write overlay PNGs and a contact sheet here")
    track.add_argument("--device", default="cpu", help="torch device for the fit: cpu (default) or cuda")
    track.add_argument("--face", type=int, default=0, metavar="N",
                       help="with several faces in frame, track the N-th largest (default 0, the largest)")
    track.add_argument("--strict", action="store_true", help="a frame without a face is an error")
    track.add_argument("--focal", type=float, metavar="PX",
                       help="known focal length in pixels (default: a capture's calibrated camera.focal_px, else fitted)")
    track.add_argument("--no-normals", action="store_true",
                       help="on a capture, skip the shape term from its OLATs' photometric-stereo normals (which "
                            "reads every OLAT image of every frame)")
    track.add_argument("--first-frame", type=int, default=1, help="number of a video's first frame (default 1)")
    track.add_argument("--model", type=Path, help="ict_face_model.npz (default: installed model)")
    track.set_defaults(handler=run_track)

    transfer = subparsers.add_parser(
        "transfer", help="move a source track's expressions onto a target track's face",
        description="Retarget expressions: each performer's neutral is calibrated, the source's offsets from its "
                    "neutral are added to the target's neutral (clamped to [0, 1]). Keeps the source's frames.")
    transfer.add_argument("source", type=Path, help="the source performer's .track")
    transfer.add_argument("--onto", required=True, type=Path, help="the target performer's .track")
    transfer.add_argument("--out", required=True, type=Path, help="result .track")
    transfer.add_argument("--pose", choices=("target", "source"), default="target",
                          help="head pose: the target's (default) or the source's motion applied to the target")
    transfer.add_argument("--source-neutral", type=int, metavar="FRAME", help="frame where the source is at rest")
    transfer.add_argument("--target-neutral", type=int, metavar="FRAME", help="frame where the target is at rest")
    transfer.add_argument("--neutral-percentile", type=float, default=5.0,
                          help="without a neutral frame: per-channel percentile taken as neutral (default 5)")
    transfer.add_argument("--model", type=Path, help="ict_face_model.npz the tracks must come from")
    transfer.set_defaults(handler=run_transfer)


def device(name: str) -> str:
    """A validated torch device name (``--device``)."""
    import torch

    if name not in ("cpu", "cuda") and not name.startswith("cuda:"):
        raise InputError("--device", f"unknown device {name!r} (use cpu or cuda)")
    if name.startswith("cuda") and not torch.cuda.is_available():
        raise InputError("--device", "CUDA is not available on this machine (use --device cpu)")
    return name


def _check_output(path: Path) -> None:
    folder = path.parent if str(path.parent) else Path(".")
    if folder.exists() and not folder.is_dir():
        raise InputError(path, f"{folder} is not a folder")
    if path.is_dir():
        raise InputError(path, "is a folder; give a file name such as result.track")


def run_track(args: argparse.Namespace) -> int:
    from engine.track.fit import FitSettings
    from engine.track.pipeline import TrackOptions
    from engine.track.pipeline import run_track as track

    if args.face < 0:
        raise InputError("--face", "must be 0 or more")
    if args.focal is not None and not args.focal > 0:
        raise InputError("--focal", "must be a positive number of pixels")
    _check_output(args.out)
    settings = FitSettings(focal_px=args.focal, device=device(args.device),
                           normal=0.0 if args.no_normals else FitSettings.normal)
    options = TrackOptions(source=args.input, out=args.out, frames=parse_frames(args.frames, "--frames")
                           if args.frames else None, identity_from=args.identity_from, preview=args.preview,
                           face=args.face, strict=args.strict, first_frame=args.first_frame, model_path=args.model,
                           settings=settings, progress=not args.quiet)
    result = track(options)
    frames = result["frames"]
    missing = [n for n, r in frames.items() if not r["face_found"]]
    errors = [r["landmark_error_px"] for r in frames.values() if r["landmark_error_px"] is not None]
    print(f"relume: tracked {len(frames)} frame(s) in {result['timing_s']:.1f} s, mean landmark error "
          f"{sum(errors) / len(errors):.2f} px" + (f", no face in {len(missing)} frame(s): {', '.join(missing[:5])}"
                                                   if missing else ""))
    print(f"  {args.out}")
    if args.preview is not None:
        print(f"  preview: {args.preview / 'contact_sheet.png'}")
    return 0


def run_transfer(args: argparse.Namespace) -> int:
    from engine.face.model import default_model_path
    from engine.track.track_file import read_track, write_track
    from engine.track.transfer import PoseFrom, TransferOptions, transfer

    _check_output(args.out)
    model_path = args.model or default_model_path()
    source = read_track(args.source, model_path if model_path.is_file() else None)
    target = read_track(args.onto, model_path if model_path.is_file() else None)
    options = TransferOptions(PoseFrom(args.pose), args.source_neutral, args.target_neutral, args.neutral_percentile)
    result = transfer(source, target, options, args.source, args.onto)
    write_track(args.out, result)
    print(f"relume: transferred {len(result['frames'])} frame(s) of {args.source} onto {args.onto}")
    print(f"  {args.out}")
    return 0

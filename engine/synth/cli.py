"""``python -m engine synth``: the synthetic light stage's command line (argparse).

:func:`add_parser` registers the subcommand on the engine CLI's subparsers; :func:`run` executes
it and returns the exit code. Bad options raise :class:`engine.errors.InputError` (the engine CLI
prints them and exits 2) before anything is written.
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # the renderer imports torch: load it only when synth runs, not at every CLI start
    from engine.synth.generate import SynthOptions


def add_parser(subparsers: argparse._SubParsersAction) -> argparse.ArgumentParser:
    """Add the ``synth`` subcommand; its handler is :func:`run` (set as the ``handler`` default)."""
    parser = subparsers.add_parser(
        "synth", help="generate a synthetic light-stage capture with ground truth",
        description="Render a synthetic performer under a dome of stage lights: OLAT EXR sequences in the "
                    "capture format, tracking frames and mattes, plus ground truth (parameters, segmentation, "
                    "optical flow, albedo, normals, direct renders). Deterministic from --seed.")
    parser.add_argument("out", type=Path, help="output folder (the capture)")
    parser.add_argument("--lights-count", type=int, default=150,
                        help="stage lights on the Fibonacci dome (default 150)")
    parser.add_argument("--frames", type=int, default=100, help="frames to render (default 100)")
    parser.add_argument("--size", type=int, default=256, help="image width and height in pixels (default 256)")
    parser.add_argument("--seed", type=int, default=0, help="random seed: performer, material, motion, calibration")
    parser.add_argument("--first-frame", type=int, default=1001, help="number of the first frame (default 1001)")
    parser.add_argument("--relight", type=Path, metavar="LIGHTS_FILE",
                        help="also render the performer directly under this lights file (ground truth)")
    parser.add_argument("--relight-every", type=int, default=10, metavar="N",
                        help="direct renders on every Nth frame (default 10; 1 = all)")
    parser.add_argument("--relight-directions", type=int, default=1024, metavar="K",
                        help="directions environments are integrated onto for direct renders (default 1024)")
    parser.add_argument("--source-video", action="store_true",
                        help="also render a source performer (other identity, ordinary lighting) as a video")
    parser.add_argument("--source-lights", type=Path, metavar="LIGHTS_FILE",
                        help="light the source video with this lights file, e.g. an HDRI, auto-exposed "
                             "(default: a key, fill and rim light)")
    parser.add_argument("--contact-sheet", action="store_true", help="write contact_sheet.png")
    parser.add_argument("--skip-existing", action="store_true", help="resume: keep frames already written")
    parser.add_argument("--floor-deg", type=float, default=None,
                        help="drop stage lights below this elevation in degrees (default: full sphere)")
    parser.add_argument("--shadow-resolution", type=int, default=128, help="shadow map cells per side (default 128)")
    parser.add_argument("--fps", type=float, default=24.0, help="frame rate the motion is timed for (default 24)")
    parser.add_argument("--model", type=Path, default=None, help="ict_face_model.npz (default: installed model)")
    parser.add_argument("--threads", type=int, default=2,
                        help="CPU threads: EXR encoding uses them all, rendering one fewer (default 2)")
    parser.set_defaults(handler=run)
    return parser


def options_from_args(args: argparse.Namespace) -> SynthOptions:
    """SynthOptions from parsed ``synth`` arguments."""
    from engine.synth.generate import SynthOptions

    return SynthOptions(
        out=args.out, lights_count=args.lights_count, frames=args.frames, size=args.size, seed=args.seed,
        first_frame=args.first_frame, relight=args.relight, relight_every=args.relight_every,
        relight_directions=args.relight_directions, source_video=args.source_video,
        source_lights=args.source_lights,
        contact_sheet=args.contact_sheet, skip_existing=args.skip_existing, floor_deg=args.floor_deg,
        shadow_resolution=args.shadow_resolution, fps=args.fps, model_path=args.model,
        progress=not getattr(args, "quiet", False), threads=max(1, args.threads))


def run(args: argparse.Namespace) -> int:
    """Generate the capture; prints where it went. Returns 0."""
    from engine.synth.generate import generate

    path = generate(options_from_args(args))
    print(f"relume: synthetic capture in {path.parent}")
    if args.contact_sheet:
        print(f"  contact sheet: {path.parent / 'contact_sheet.png'}")
    return 0

"""``relume`` / ``python -m engine``: the command line over the engine library.

Exit codes: 0 success, 1 unexpected failure, 2 bad input or unwritable output (the message names
the file and the problem), 130 interrupted.
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
from pathlib import Path

from tqdm import tqdm

from engine.errors import RelumeError
from engine.lighting.lights import LightsFile, light_from_dict, load_lights_file
from engine.lighting.request import Lighting
from engine.lighting.weights import METHODS
from engine.reenact.cli import add_parsers as add_reenact_parsers
from engine.service.cli import add_parser as add_serve_parser
from engine.stage.capture import Capture, parse_frames
from engine.synth.cli import add_parser as add_synth_parser
from engine.track.cli import add_parsers as add_track_parsers
from relume_host.vocabulary import DEFAULT_WEIGHT_METHOD

POOR_LOWRANK_ERROR = 0.03      # a rank-K form with a larger relative error is reported as a poor fit


def _add_lighting_arguments(parser: argparse.ArgumentParser) -> None:
    source = parser.add_mutually_exclusive_group(required=True)
    source.add_argument("--lights", type=Path, help="lights file (YAML, engine frame)")
    source.add_argument("--env", type=Path, help="lat-long HDRI (shortcut for one environment light)")
    parser.add_argument("--rotate", type=float, default=0.0, help="HDRI rotation about +Y in degrees (with --env)")
    parser.add_argument("--strength", type=float, default=1.0, help="HDRI strength (with --env)")
    parser.add_argument("--exposure", type=float, default=0.0, help="exposure change in stops")
    parser.add_argument("--method", choices=METHODS, default=DEFAULT_WEIGHT_METHOD.value,
                        help="how light between stage directions is shared among stage lights")


def _lighting(args: argparse.Namespace, capture: Capture) -> Lighting:
    """The lighting options as the service's requests give them (:class:`Lighting` validates both)."""
    if args.lights is not None:
        lights = load_lights_file(args.lights)
    else:  # validated exactly as a lights file's environment entry
        lights = LightsFile([light_from_dict({"type": "environment", "hdri": str(args.env), "rotate_deg": args.rotate,
                                              "strength": args.strength}, "--env", Path.cwd())], {})
    return Lighting(capture, lights, args.exposure, args.method, where="--{}")


def _frames(args: argparse.Namespace, capture: Capture) -> list[int]:
    return parse_frames(args.frames, "--frames") if args.frames else capture.frames


def run_relight(args: argparse.Namespace) -> int:
    from engine.relight.frame import CacheOptions
    from engine.relight.job import RelightJob
    from engine.stage.cache import cache_folder

    capture = Capture.load(args.capture)
    cache = None if args.no_cache else cache_folder(capture, args.cache_dir)
    lighting, frames = _lighting(args, capture), _frames(args, capture)
    options = CacheOptions(enabled=not args.no_cache, folder=args.cache_dir, rank=args.rank, rebuild=not args.no_rebuild)
    job = RelightJob(capture, lighting.weights(cache), args.out, frames, skip_existing=args.skip_existing,
                     cache=options, frame_weights=lighting.frame_weights(frames, cache))
    written = job.run(progress=not args.quiet)
    skipped = len(job.frames) - len(written)
    print(f"relume: wrote {len(written)} frame(s)" + (f", skipped {skipped} existing" if skipped else ""))
    for path in written[:1] + written[-1:] if len(written) > 1 else written:
        print(f"  {path}")
    return 0


def run_ingest(args: argparse.Namespace) -> int:
    from engine.relight.ingest import ingest_frame
    from engine.relight.lowrank import build_lowrank
    from engine.stage.cache import CacheDamaged, cache_folder

    capture = Capture.load(args.capture)
    folder = cache_folder(capture, args.cache_dir)
    for frame in tqdm(_frames(args, capture), desc="ingest", unit="frame", disable=args.quiet):
        try:
            cache = ingest_frame(capture, frame, folder, force=args.force, verify=True)
        except CacheDamaged as exc:
            tqdm.write(f"relume: frame {frame}: damaged cache, rebuilt from the EXRs ({exc})")
            cache = ingest_frame(capture, frame, folder, force=True)
        if args.rank:
            error = build_lowrank(cache, args.rank)
            note = "" if error <= POOR_LOWRANK_ERROR else (f": a poor fit (relit images off by about {100 * error:.0f} %); "
                                                          "use a higher --rank or relight from the full stack")
            tqdm.write(f"frame {frame}: rank {args.rank} relative error {error:.2e}{note}")
    print(f"relume: cache in {folder}")
    return 0


def run_weights(args: argparse.Namespace) -> int:
    capture = Capture.load(args.capture)
    lighting = _lighting(args, capture)
    weights = lighting.weights()
    frame_weights = lighting.frame_weights(sorted(lighting.lights.frames))
    if args.json:
        print(json.dumps({"light_ids": capture.light_ids, "weights": weights.tolist(),
                          "frames": {str(frame): w.tolist() for frame, w in frame_weights.items()}}))
        return 0
    for title, table in [("", weights), *((f"frame {frame}:", w) for frame, w in frame_weights.items())]:
        if title:
            print(title)
        for light_id, (r, g, b) in zip(capture.light_ids, table):
            print(f"{light_id:4d} {r:.6g} {g:.6g} {b:.6g}")
    return 0


def run_info(args: argparse.Namespace) -> int:
    """Describe a capture (for host adapters that cannot parse YAML): paths, frames, stage lights, and which
    channel of the matte is the matte (its alpha, else red: what the relight reads)."""
    from engine.io.exr import has_alpha

    capture = Capture.load(args.capture)
    matte = capture.matte_path(capture.frames[0])
    info = {"folder": str(capture.folder.resolve()), "frames": capture.frames, "olat": capture.olat_pattern,
            "matte": capture.matte_pattern, "matte_channel": None if matte is None else ("alpha" if has_alpha(matte) else "red"),
            "tracking": capture.tracking_pattern, "colorspace": capture.colorspace,
            "light_ids": capture.light_ids, "directions": capture.directions.tolist(), "rgb": capture.rgb.tolist()}
    if args.json:
        print(json.dumps(info))
    else:
        print(f"{info['folder']}: {capture.light_count} stage lights, frames {capture.frames[0]}-{capture.frames[-1]}"
              f" ({len(capture.frames)}), olat {capture.olat_pattern}, colorspace {capture.colorspace}")
    return 0


def run_hdri_preview(args: argparse.Namespace) -> int:
    from engine.lighting.hdri_preview import write_hdri_preview

    print(f"relume: preview in {write_hdri_preview(args.hdri, args.out, args.width)}")
    return 0


def run_demo(args: argparse.Namespace) -> int:
    if args.transfer:
        from engine.demo_transfer import run_transfer_demo

        result = run_transfer_demo(Path(args.out) / "transfer", progress=not args.quiet)
        sheet = result.sheet
        print(f"relume demo --transfer: contact sheet {sheet}")
        print("relume demo --transfer: held-out frames against the truth (environments A / B): reenacted "
              + " / ".join(f"{v:.1f}" for v in result.network_psnr) + " dB PSNR, nearest training frame "
              + " / ".join(f"{v:.1f}" for v in result.nearest_psnr) + " dB, average training frame "
              + " / ".join(f"{v:.1f}" for v in result.average_psnr) + " dB")
        print(f"relume demo --transfer: reenacted capture {sheet.parent / 'reenacted'}, relit frames in "
              f"{sheet.parent / 'relit_env1'} and {sheet.parent / 'relit_env2'}")
        return 0
    from engine.demo import run_demo as demo

    demo(Path(args.out), progress=not args.quiet, light_count=args.lights, size=args.size)
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="relume", description="Relume: light-stage relighting engine")
    parser.add_argument("-q", "--quiet", action="store_true", help="no progress bars")
    commands = parser.add_subparsers(dest="command", required=True)

    relight = commands.add_parser("relight", help="relight a capture's frames to EXR")
    relight.add_argument("capture", type=Path, help="capture folder (or its capture.yaml)")
    _add_lighting_arguments(relight)
    relight.add_argument("--out", required=True, help="output sequence, e.g. out/plate.####.exr")
    relight.add_argument("--frames", help="frame range, e.g. 1001-1100 (default: all)")
    relight.add_argument("--skip-existing", action="store_true", help="resume: keep frames already written")
    relight.add_argument("--no-cache", action="store_true", help="stream the EXRs, do not build the cache")
    relight.add_argument("--cache-dir", help="cache folder (default: CAPTURE/.relume_cache or $RELUME_CACHE_DIR)")
    relight.add_argument("--rank", type=int, help="relight from the rank-K low-rank form")
    relight.add_argument("--no-rebuild", action="store_true",
                         help="a damaged cache (bytes that do not match their checksums) is an error instead of "
                              "being rebuilt from the EXRs")
    relight.set_defaults(handler=run_relight)

    ingest = commands.add_parser("ingest", help="decode a capture's OLAT EXRs into the cache")
    ingest.add_argument("capture", type=Path)
    ingest.add_argument("--frames")
    ingest.add_argument("--cache-dir")
    ingest.add_argument("--rank", type=int, help="also build the rank-K form and report its error")
    ingest.add_argument("--force", action="store_true",
                        help="rebuild even if the cache is current (without it, every tile is checked and a damaged "
                             "frame is rebuilt)")
    ingest.set_defaults(handler=run_ingest)

    weights = commands.add_parser("weights", help="print the per-stage-light RGB weights for some lighting")
    weights.add_argument("capture", type=Path)
    _add_lighting_arguments(weights)
    weights.add_argument("--json", action="store_true", help="machine-readable output")
    weights.set_defaults(handler=run_weights)

    info = commands.add_parser("info", help="describe a capture (frames, OLAT pattern, stage lights)")
    info.add_argument("capture", type=Path)
    info.add_argument("--json", action="store_true", help="machine-readable output")
    info.set_defaults(handler=run_info)

    preview = commands.add_parser("hdri-preview", help="write a small tone-mapped 8-bit preview of a lat-long HDRI")
    preview.add_argument("hdri", type=Path)
    preview.add_argument("--out", required=True, help="output image, e.g. preview.png")
    preview.add_argument("--width", type=int, default=512, help="preview width in pixels (default 512)")
    preview.set_defaults(handler=run_hdri_preview)

    demo = commands.add_parser("demo", help="make a synthetic capture, relight it, write EXR and PNG")
    demo.add_argument("--out", default="relume_demo", help="output folder (default: ./relume_demo)")
    demo.add_argument("--lights", type=int, default=150, help="stage lights of the synthetic capture")
    demo.add_argument("--size", type=int, default=192, help="image size of the synthetic capture (pixels)")
    demo.add_argument("--transfer", action="store_true",
                      help="the main job instead: track, transfer, train, reenact and relight synthetic performers")
    demo.set_defaults(handler=run_demo)
    add_serve_parser(commands)
    add_synth_parser(commands)
    add_track_parsers(commands)
    add_reenact_parsers(commands)
    return parser


def flag_named(error: RelumeError, argv: list[str]) -> str:
    """The error's message, naming the command-line flag where the engine named the setting: library code
    (and the service, whose requests carry the same names) says ``rank: ...``, the command line that was given
    ``--rank 40`` says ``--rank: ...``."""
    flag = "--" + error.where.replace("_", "-")
    given = error.where.isidentifier() and any(a == flag or a.startswith(flag + "=") for a in argv)
    return f"{flag}: {error.problem}" if given else str(error)


def main(argv: list[str] | None = None) -> int:
    logging.basicConfig(level=logging.WARNING, format="relume: %(message)s")
    argv = sys.argv[1:] if argv is None else argv
    args = build_parser().parse_args(argv)
    try:
        return args.handler(args)
    except RelumeError as exc:
        # a path with bytes that are not UTF-8 is shown escaped (\xff), whatever the stream's encoding
        print(f"relume: error: {flag_named(exc, argv)}".encode("utf-8", "surrogateescape")
              .decode("utf-8", "backslashreplace"), file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("relume: interrupted; finished frames and the last checkpoint are kept (resume with --skip-existing, "
              "or --resume for training)", file=sys.stderr)
        return 130

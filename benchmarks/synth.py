"""Synthetic light-stage benchmark: a full capture, its per-frame stages, and a naive baseline.

    python benchmarks/synth.py [--frames 100] [--lights 150] [--size 256] [--threads 2] [--workdir DIR] [--keep]

Measures (wall clock, same machine, same run; per-frame stages with ``torch.set_num_threads(--threads)``,
the full run as the CLI runs it: EXR writers on ``--threads`` threads, torch on one fewer):

* full run      ``engine.synth.generate`` end to end: ``--lights`` OLAT EXRs per frame (half, zip),
                tracking, matte, segmentation, albedo, normals, UV, forward/backward flow, params.
                Target (issue 3): 150 lights x 100 frames at 256x256 in under 5 minutes.
* per frame     median over ``--repeats`` frames of each stage of one frame: G-buffer + material,
                splatted shadow maps for all lights (alone, then with the lookups as the renderer does
                them), batched BRDF, EXR encoding of the frame's OLAT images (``--threads`` writer
                threads); "frame total" counts the maps once.
* naive         the textbook way for one frame: per light, a rasterised shadow map
                (``engine.render.shadow.shadow_map``, 128 px) and a separate shading call, EXRs written
                one after another; timed on ``--naive-lights`` lights and extrapolated linearly to
                ``--lights`` and ``--frames`` (marked "extrap.").

Other processes on the machine slow every number; the table prints the load average it saw.
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

from engine.face.model import FaceModel
from engine.io.exr import write_image
from engine.render.shadow import shadow_map, shadow_visibility
from engine.synth.brdf import shade
from engine.synth.dome import make_dome
from engine.synth.generate import STAGE_STREAM, SynthOptions, generate, make_performer, stage_camera
from engine.synth.output import ImageWriter
from engine.synth.shadows import render_shadow_maps

TARGET_S = 300.0


def folder_size(folder: Path) -> int:
    return sum(p.stat().st_size for p in folder.rglob("*") if p.is_file())


def per_frame(args: argparse.Namespace, work: Path) -> tuple[dict[str, float], float]:
    """Median seconds of each stage of one frame, and the naive per-light time of one frame."""
    model = FaceModel.load()
    performer = make_performer(model, 0, STAGE_STREAM, args.repeats + 1, stage_camera(args.size), 24.0, 128)
    renderer = performer.renderer
    dome = make_dome(args.lights)
    directions = torch.from_numpy(dome.directions).float()
    irradiance = torch.from_numpy(dome.rgb).float()
    times: dict[str, list[float]] = {k: [] for k in ("G-buffer + material", "shadow maps", "shadows (maps + lookup)",
                                                        "BRDF", "EXR encode", "frame total")}
    for index in range(args.repeats):
        start = time.perf_counter()
        surface = renderer.surface(performer.vertices(index))
        t1 = time.perf_counter()
        maps = render_shadow_maps(surface.occluders, directions, renderer.shadow_resolution)
        t2 = time.perf_counter()
        lit = renderer.shadow(surface, directions, renderer.shadow_resolution)
        t3 = time.perf_counter()
        radiance = shade(surface.normal, surface.view, surface.material, directions, irradiance, lit)
        t4 = time.perf_counter()
        images = surface.to_image(torch.cat([radiance, torch.ones(*radiance.shape[:2], 1)], dim=2)).half().numpy()
        with ImageWriter(args.threads) as writer:
            for light, image in enumerate(images):
                writer.exr(work / "frame" / f"L{light:03d}.exr", image)
        t5 = time.perf_counter()
        del maps
        for key, value in zip(times, (t1 - start, t2 - t1, t3 - t2, t4 - t3, t5 - t4, t5 - start - (t2 - t1))):
            times[key].append(value)

    # Naive: per light, a rasterised shadow map and its own shading call; EXRs written in turn.
    surface = renderer.surface(performer.vertices(0))
    start = time.perf_counter()
    for light in range(args.naive_lights):
        maps = shadow_map(surface.vertices, renderer.submesh.triangles, directions[light:light + 1], 128)
        lit = shadow_visibility(maps, surface.position)
        radiance = shade(surface.normal, surface.view, surface.material, directions[light:light + 1],
                         irradiance[light:light + 1], lit)
        image = surface.to_image(torch.cat([radiance[0], torch.ones(len(radiance[0]), 1)], dim=1)).numpy()
        write_image(work / "naive" / f"L{light:03d}.exr", image)
    naive_frame = (time.perf_counter() - start) / args.naive_lights * args.lights
    return {k: statistics.median(v) for k, v in times.items()}, naive_frame


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--frames", type=int, default=100)
    parser.add_argument("--lights", type=int, default=150)
    parser.add_argument("--size", type=int, default=256)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--repeats", type=int, default=5, help="frames timed stage by stage")
    parser.add_argument("--naive-lights", type=int, default=6, help="lights the naive loop really renders")
    parser.add_argument("--workdir", type=Path, default=None)
    parser.add_argument("--keep", action="store_true", help="keep the generated capture")
    parser.add_argument("--skip-full", action="store_true", help="only the per-frame table")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    work = Path(args.workdir or tempfile.mkdtemp(prefix="relume_synth_bench_"))
    work.mkdir(parents=True, exist_ok=True)
    load_before = os.getloadavg()[0]
    try:
        stages, naive_frame = per_frame(args, work)
        full = size = None
        if not args.skip_full:
            options = SynthOptions(out=work / "capture", lights_count=args.lights, frames=args.frames,
                                   size=args.size, threads=args.threads)
            start = time.perf_counter()
            generate(options)
            full = time.perf_counter() - start
            size = folder_size(work / "capture")
        load_after = os.getloadavg()[0]
        print(f"\nsynthetic stage: {args.lights} lights x {args.frames} frames at {args.size}x{args.size}, "
              f"{args.threads} threads, load average {load_before:.1f} -> {load_after:.1f}\n")
        print("| step | time | note |")
        print("|---|---|---|")
        for key, value in stages.items():
            print(f"| per frame: {key} | {value * 1000:.0f} ms | median of {args.repeats} |")
        print(f"| naive per frame | {naive_frame:.1f} s | extrap. from {args.naive_lights} lights |")
        print(f"| naive, whole capture | {naive_frame * args.frames / 60:.1f} min | extrap. |")
        if full is not None:
            verdict = "meets" if full < TARGET_S else "misses"
            print(f"| **full run** | **{full:.0f} s** ({full / args.frames:.2f} s/frame) | {verdict} the "
                  f"{TARGET_S:.0f} s target; {size / 1e9:.2f} GB written |")
            print(f"| speed-up over naive | {naive_frame * args.frames / full:.0f}x | |")
    finally:
        if not args.keep and args.workdir is None:
            shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    np.set_printoptions(precision=3)
    main()

"""Facial performance capture benchmark: ``relume track`` on a 100-frame, 256 px synthetic sequence.

    python benchmarks/track.py [--frames 100] [--size 256] [--seed 12] [--lights 20] [--workdir DIR]
                               [--naive-frames 5] [--device cuda] [--source-lights LIGHTS_FILE]

Makes (or reuses in ``--workdir``) a synthetic capture of seed 12 (``--lights`` stage lights) with its source
video (held out: the tracker was tuned on seed 905 and its landmark table measured on seeds 900-903), lit by the
synthetic stage's key, fill and rim light or, with ``--source-lights``, by a lights file such as an HDRI, then,
in one run:

* **track**: the whole command as the CLI runs it (footage decode, MediaPipe landmarks, the batched
  sequence fit with its photometric refinement; on the capture also its OLATs' photometric-stereo
  normals and the normal term), for the capture (tracking frames, EXR) and the source
  video (PNG); seconds per frame. Target (issue 9): under 1.5 s per frame on this 2-core CPU.
* **floor**: decoding the footage (a capture's tracking frames, not its OLATs) and detecting landmarks
  alone, which any landmark-based tracker pays.
* **naive**: the same energy fitted frame by frame (each frame alone, same iteration counts, no batching
  and no temporal term), timed on ``--naive-frames`` frames and extrapolated (marked "extrap.").
* **accuracy** of both tracks against the ground truth (see ``engine.track.evaluate``).
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
from pathlib import Path

import torch

from engine.face.model import FaceModel
from engine.synth.generate import SynthOptions, generate
from engine.track.correspondence import Correspondence
from engine.track.evaluate import accuracy
from engine.track.fit import FitSettings, SequenceFitter
from engine.track.footage import Footage
from engine.track.pipeline import TrackOptions, detect, run_track


def synthetic_capture(work: Path, seed: int, frames: int, size: int, lights: int, source_lights: Path | None) -> Path:
    """The synthetic capture of ``seed`` (``lights`` stage lights) with its source video, lit by the stage's key,
    fill and rim light or by the lights file ``source_lights``: made in ``work`` once, reused after."""
    lit = "" if source_lights is None else f"_source_{source_lights.stem}"
    capture = work / f"seed{seed}_{frames}f_{size}px_{lights}lights{lit}"
    if not (capture / "capture.yaml").is_file():
        generate(SynthOptions(out=capture, lights_count=lights, frames=frames, size=size, seed=seed, source_video=True,
                              source_lights=source_lights, progress=False))
    return capture


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--frames", type=int, default=100)
    parser.add_argument("--size", type=int, default=256)
    parser.add_argument("--seed", type=int, default=12)
    parser.add_argument("--lights", type=int, default=20, help="stage lights of the capture (its OLAT normals)")
    parser.add_argument("--workdir", type=Path)
    parser.add_argument("--naive-frames", type=int, default=5)
    parser.add_argument("--device", default="cpu", help="torch device of the fits (cpu or cuda)")
    parser.add_argument("--source-lights", type=Path, help="lights file for the source video (synth --source-lights)")
    args = parser.parse_args()
    torch.set_num_threads(os.cpu_count() or 1)
    work = args.workdir or Path(tempfile.mkdtemp(prefix="relume_track_bench_"))
    capture = synthetic_capture(work, args.seed, args.frames, args.size, args.lights, args.source_lights)
    model = FaceModel.load()
    settings = FitSettings(device=args.device)
    print(f"{args.device}; load average {os.getloadavg()[0]:.2f}, {os.cpu_count()} CPUs, torch {torch.__version__}, "
          f"{args.frames} frames at {args.size} px, {args.lights} stage lights")
    rows = []
    for name, source, params in (("capture (tracking EXRs, OLAT normals)", capture,
                                  capture / "ground_truth/params.json"),
                                 ("source video (PNG)", capture / "source/frames/frame.####.png",
                                  capture / "source/params.json")):
        start = time.perf_counter()
        track = run_track(TrackOptions(str(source), work / "bench.track", settings=settings, progress=False))
        total = time.perf_counter() - start
        options = TrackOptions(str(source), work / "floor.track", progress=False)
        start = time.perf_counter()
        detect(Footage(str(source), normals=False), options)
        floor = time.perf_counter() - start
        detected = detect(Footage(str(source)), options)
        fitter = SequenceFitter(model, Correspondence.load(), detected.size, settings)
        count = args.naive_frames
        start = time.perf_counter()
        for index in range(count):
            fitter.fit([detected.points[index]], None, [detected.frames[index]])
        naive = (time.perf_counter() - start) / count * args.frames
        measured = accuracy(model, params, track)
        rows.append((name, total, floor, naive, measured))
    print("\n| footage | track (s/frame) | floor: decode + landmarks (s/frame) | track / floor | naive per-frame fit "
          "(s/frame, extrap.) | naive / track |")
    print("|---|---:|---:|---:|---:|---:|")
    for name, total, floor, naive, _ in rows:
        f = args.frames
        print(f"| {name} | **{total / f:.3f}** | {floor / f:.3f} | {total / floor:.1f}x | {naive / f:.3f} | "
              f"{naive / total:.1f}x |")
    print("\n| footage | vertex error (mm) | reprojection (px) | expression MAE | jitter (mm/frame^2) |")
    print("|---|---:|---:|---:|---:|")
    for name, *_, m in rows:
        print(f"| {name} | {m.vertex_mm:.2f} | {m.reprojection_px:.2f} | {m.expression_mae:.3f} | {m.jitter_mm:.3f} "
              f"(truth's motion {m.truth_acceleration_mm:.3f}) |")


if __name__ == "__main__":
    main()

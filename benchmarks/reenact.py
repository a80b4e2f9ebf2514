"""Reenactment quality and speed on known truth: the whole chain from footage, against baselines.

    python benchmarks/reenact.py [--steps 1200] [--workdir DIR] [--sheet docs/images/reenact_contact_sheet.png]
                                 [--seed 21] [--width W] [--temporal-weight T] [--temporal-smoothing S]
                                 [--models network single plain]
                                 [--device cuda] [--hdris DIR]

Data (synthetic stage, seed 21, never used elsewhere; ``--seed 22`` makes the tuning capture, same settings,
on which design choices are tried and which is never reported; ``--seed 24``, a second held-out capture): a
60-frame, 40-light, 256 px capture of the target with its source video (another performer). Frames 1001-1030
are the short training capture; frames 1031-1060 are held out: expressions and head poses the network never
sees, with their true OLATs.

Chain: ``relume track`` the capture (tracking frames) and the source video, ``relume transfer``,
``relume train`` on 1001-1030, ``relume reenact`` the held-out frames' own track (self-reenactment: the
truth exists) and the transferred source track (for the picture), ``relume relight`` under two of
Blender's CC0 HDRIs (forest, sunset rotated 120 degrees) -- truth: the true held-out OLATs relit the same way.

Scores, on pixels the true matte covers, after dividing both images by the truth's 99th percentile:
PSNR (peak 1); flicker, the mean |O_t(p) - O_{t-1}(p + flow(p))| over pixels the true backward flow
marks visible (the truth's own value is the floor; blur lowers it too); and the temporal error, the same
frame-to-frame change compared with the truth's, which blur does not lower (``engine.reenact.evaluate``). Against (a) nearest-neighbour retrieval: the
training frame whose true expression weights are closest, its true OLATs relit; (b) the network with
k = 0 (frame t alone in, so no blend with frame t-1's output either; the same losses, flow and temporal
term included); (c) the network without semantic normalisation. The reenactments use ``relume reenact``'s
temporal smoothing (its default, ``engine.reenact.settings.TEMPORAL_SMOOTHING``, unless ``--temporal-smoothing S``;
0 = the learned blend alone), which acts on the networks with the blend only: (b) has no previous output to blend with.
Also: training time per step and in total, reenactment time per frame through onnxruntime (CPU, all
40 lights decoded and written; the whole ``relume reenact`` command; its default, the int8 model, and the
float32 one, whose quality is a row of the table too; and what a frame costs beyond the start-up, the
30-frame command against the same on the first 10 frames) and through torch (the naive runtime), and the
floor: the network's forward pass alone through onnxruntime, int8 and float32.
``--device cuda`` tracks, trains (bf16 autocast) and runs the torch reenactment on the GPU; onnxruntime stays
on the CPU. ``--hdris`` names a folder holding ``forest.exr`` and ``sunset.exr`` where Blender is absent.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import cv2
import numpy as np

from engine.io.colour import srgb_encode
from engine.io.exr import read_image
from engine.lighting.lights import EnvironmentLight
from engine.lighting.weights import capture_weights
from engine.reenact.evaluate import flicker, nearest_training_frames, psnr, temporal_error, true_backward_flows
from engine.reenact.model_dir import ONNX_FILE
from engine.reenact.settings import Precision, TrainSettings
from engine.relight.frame import NO_CACHE, relight_frame
from engine.stage.capture import Capture
from engine.synth.generate import SynthOptions, generate
from engine.track.footage import auto_expose
from engine.track.track_file import read_track, write_track

REPO = Path(__file__).resolve().parents[1]
TRAIN, HELD_OUT = list(range(1001, 1031)), list(range(1031, 1061))
VARIANTS = {"network": ("network (k=2, semantic)", []), "single": ("(b) single frame (k=0)", ["--history", "0"]),
            "plain": ("(c) no semantic normalisation", ["--no-semantic"])}


def hdri_folder() -> Path:
    import bpy  # only to find Blender's bundled CC0 HDRIs

    return Path(bpy.utils.system_resource("DATAFILES", path="studiolights/world"))


def relume(*args: object) -> float:
    start = time.perf_counter()
    subprocess.run([sys.executable, "-m", "engine", "-q", *map(str, args)], cwd=REPO, check=True,
                   stdout=subprocess.DEVNULL)
    return time.perf_counter() - start


def relit(capture: Capture, lights: list, frames: list[int]) -> np.ndarray:
    weights = capture_weights(capture, lights)
    return np.stack([relight_frame(capture, weights, f, NO_CACHE)[..., :3] for f in frames])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=TrainSettings.steps)
    parser.add_argument("--workdir", type=Path)
    parser.add_argument("--sheet", type=Path)
    parser.add_argument("--seed", type=int, default=21, help="synthetic data (21 and 24: reported; 22: tuning)")
    parser.add_argument("--width", type=int, help="relume train --width for every model (default: train's)")
    parser.add_argument("--models", nargs="+", choices=list(VARIANTS), default=list(VARIANTS),
                        help="which networks to train and score (default: all three)")
    parser.add_argument("--temporal-weight", type=float, help="relume train --temporal-weight for every model")
    parser.add_argument("--temporal-smoothing", type=float,
                        help="relume reenact --temporal-smoothing for every model (default: reenact's)")
    parser.add_argument("--device", default="cpu", help="cpu (default) or cuda: track, train and the torch reenact")
    parser.add_argument("--hdris", type=Path, help="folder with forest.exr and sunset.exr (default: Blender's)")
    args = parser.parse_args()
    work = args.workdir or Path(tempfile.mkdtemp(prefix="relume_reenact_bench_"))
    capture_dir = work / "capture"
    if not (capture_dir / "capture.yaml").is_file():
        generate(SynthOptions(out=capture_dir, lights_count=40, frames=60, size=256, seed=args.seed, source_video=True,
                              progress=False))
    print(f"load average {os.getloadavg()[0]:.2f}, {os.cpu_count()} CPUs; workdir {work}")
    if not (work / "target.track").is_file():
        relume("track", capture_dir, "--out", work / "target.track", "--device", args.device)
        relume("track", capture_dir / "source/frames/frame.####.png", "--out", work / "source.track",
               "--device", args.device)
        relume("transfer", work / "source.track", "--onto", work / "target.track", "--out", work / "result.track")
    target = read_track(work / "target.track")
    held = dict(target, frames={str(f): target["frames"][str(f)] for f in HELD_OUT})
    write_track(work / "held_out.track", held)

    capture = Capture.load(capture_dir)
    hdris = args.hdris or hdri_folder()
    lightings = {"forest": [EnvironmentLight(hdris / "forest.exr", 0.0, 1.0)],
                 "sunset 120": [EnvironmentLight(hdris / "sunset.exr", 120.0, 1.0)]}
    masks = np.stack([read_image(capture.matte_path(f)).rgb[..., 0] > 0.5 for f in HELD_OUT])
    flows = true_backward_flows(capture_dir, HELD_OUT)
    truth = {name: relit(capture, lights, HELD_OUT) for name, lights in lightings.items()}

    nearest = nearest_training_frames(capture_dir, TRAIN, HELD_OUT)
    results = {"(a) nearest training frame": {n: relit(capture, lights, nearest) for n, lights in lightings.items()}}
    timings = {}
    chosen = [(flag, tag, value) for flag, tag, value in (("--width", "w", args.width),
                                                          ("--temporal-weight", "t", args.temporal_weight))
              if value is not None]           # passed to every relume train, and named in the model folders
    train_args = [item for flag, _, value in chosen for item in (flag, value)]
    suffix = "".join(f"_{tag}{value:g}" for _, tag, value in chosen)
    reenact_args = [] if args.temporal_smoothing is None else ["--temporal-smoothing", args.temporal_smoothing]
    models = {key: work / ("model_" + "".join(c for c in name if c.isalnum()) + suffix)
              for key, (name, _) in VARIANTS.items() if key in args.models}
    for key, model in models.items():
        name, extra = VARIANTS[key]
        if not (model / ONNX_FILE).is_file():
            timings[name] = relume("train", capture_dir, "--track", work / "target.track", "--frames", "1001-1030",
                                   "--out", model, "--steps", args.steps, "--device", args.device, *extra, *train_args)
        out = work / ("reenacted_" + model.name)
        elapsed = relume("reenact", model, "--track", work / "held_out.track", "--out", out, *reenact_args)
        timings[name + " reenact"] = elapsed
        if key == "network":       # the same on the first 10 frames: what a frame costs beyond the start-up
            short = work / "held_out_first10.track"
            write_track(short, dict(target, frames={str(f): target["frames"][str(f)] for f in HELD_OUT[:10]}))
            ten = relume("reenact", model, "--track", short, "--out", work / f"reenacted_first10_{model.name}",
                         *reenact_args)
            marginal = (elapsed - ten) / (len(HELD_OUT) - 10)
        reenacted = Capture.load(out)
        results[name] = {n: relit(reenacted, lights, HELD_OUT) for n, lights in lightings.items()}
    if "network" in models:
        name, out = VARIANTS["network"][0] + ", float32 model", work / f"reenacted_float32_{models['network'].name}"
        timings[name + " reenact"] = relume("reenact", models["network"], "--track", work / "held_out.track", "--out",
                                            out, "--precision", "float32", *reenact_args)
        results[name] = {n: relit(Capture.load(out), lights, HELD_OUT) for n, lights in lightings.items()}
        for precision, seconds in inference_floors(models["network"], work / "held_out.track").items():
            timings[f"floor: the network alone (onnxruntime, {precision.value})"] = seconds
        timings["torch reenact"] = relume("reenact", models["network"], "--track", work / "held_out.track", "--out",
                                          work / f"reenacted_torch_{models['network'].name}", "--runtime", "torch",
                                          "--device", args.device, *reenact_args)

    print(f"\n| method ({args.steps} training steps) | PSNR forest | PSNR sunset 120 | flicker forest | flicker sunset "
          "| temporal error forest | temporal error sunset |")
    print("|---|---:|---:|---:|---:|---:|---:|")
    for name, images in results.items():
        cells = [f"{psnr(images[n], truth[n], masks):.2f} dB" for n in lightings]
        cells += [f"{flicker(images[n], truth[n], masks, flows):.4f}" for n in lightings]
        cells += [f"{temporal_error(images[n], truth[n], masks, flows):.4f}" for n in lightings]
        print(f"| {name} | {' | '.join(cells)} |")
    floor = [flicker(truth[n], truth[n], masks, flows) for n in lightings]
    print(f"| truth (flicker floor) | | | {floor[0]:.4f} | {floor[1]:.4f} | 0 | 0 |")
    print("\n| step | time |")
    print("|---|---:|")
    for name, seconds in timings.items():
        per_frame = "reenact" in name or name.startswith("floor")
        per = f" ({seconds / len(HELD_OUT):.3f} s/frame)" if per_frame else f" ({seconds / args.steps:.3f} s/step)"
        print(f"| {name} | {seconds:.1f} s{per} |")
    if "network" in models:
        print(f"| {VARIANTS['network'][0]} reenact, each frame beyond the start-up ((30 frames - 10) / 20) "
              f"| {marginal:.3f} s/frame |")
    if args.sheet and "network" in models:
        write_sheet(args.sheet, capture, results["network (k=2, semantic)"], truth, list(lightings))


def inference_floors(model: Path, track_path: Path) -> dict[Precision, float]:
    """Seconds for the held-out frames of the network's own forward pass through onnxruntime on the CPU, int8
    and float32, inputs rendered beforehand (once for both): what any reenactment with this network pays, before
    decoding and writing the OLATs."""
    from engine.face.model import FaceModel
    from engine.reenact.conditioning import render_conditions
    from engine.reenact.export import model_onnx, onnx_session
    from engine.reenact.model_dir import TrainedModel

    face = FaceModel.load(None)
    track = read_track(track_path, face.source)
    conditions = render_conditions(face, track, HELD_OUT, with_flow=False)
    trained = TrainedModel.load(model)
    history = trained.net.config.history
    floors = {}
    for precision in Precision.INT8, Precision.FLOAT32:
        session = onnx_session(model_onnx(trained, precision, face), cuda=False)
        session.run(None, {"conditions": conditions.history(0, history)[None]})       # warm-up
        start = time.perf_counter()
        for index in range(len(HELD_OUT)):
            session.run(None, {"conditions": conditions.history(index, history)[None]})
        floors[precision] = time.perf_counter() - start
    return floors


def write_sheet(path: Path, capture: Capture, predicted: dict, truth: dict, names: list[str]) -> None:
    """Rows of held-out frames: tracking frame | reenacted, truth under each HDRI."""
    rows = []
    for index in (2, 14, 27):
        frame = HELD_OUT[index]
        tiles = [auto_expose(read_image(capture.tracking_path(frame)).rgb.astype(np.float32))]
        for name in names:
            scale = np.percentile(truth[name][index], 99.5) / 0.85   # one exposure for prediction and truth
            for image in (predicted[name][index], truth[name][index]):
                tiles.append(np.round(255 * srgb_encode(image / scale)).astype(np.uint8))
        rows.append(np.concatenate(tiles, axis=1))
    cv2.imwrite(str(path), np.concatenate(rows, axis=0)[..., ::-1])


if __name__ == "__main__":
    main()

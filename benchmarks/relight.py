"""Relighting benchmark: one frame of a synthetic light-stage capture, every path in one run.

    python benchmarks/relight.py [--size 1024] [--lights 150] [--big 4096] [--hdri 4096] [--call-size 512]
                                 [--call-frames 2] [--workdir DIR] [--keep]

Measures, on the same machine in the same run (median of ``--repeats`` for the small frame):

* bandwidth  the hardware limit: the cached stack file read once (``readinto`` a reused
             tile-sized buffer, page cache warm). Nothing that reads the cache can beat it.
* naive      ``np.einsum('lhwc,lc->hwc', S, W)`` over a float32 copy S of the stack already in
             memory (its construction is not timed).
* (a) files  ``relight_from_files``: the frame's OLAT EXRs decoded and summed, streamed.
* (b) cache  ``relight_from_cache`` after ``ingest_frame``, with the C tile kernel where it is built, and
             (b') the same sum with the numpy kernel, the fallback where it is not.
* ingest     ``ingest_frame`` with no cache yet, and again over a cache (``--force``), against a plain
             decode: OpenImageIO decoding every OLAT EXR on as many threads as ingest decodes on, nothing kept.
* (c) rank K ``relight_from_cache(rank=K)``; the low-rank form is built once, untimed for the
             table, and its PSNR is taken against (b).
* per call   ``relume relight`` as an artist or a farm task runs it, one process per call (Python start,
             imports, capture and lights read, weights, the sum from the cache, the EXR written), against
             a naive script doing the same sum in its own process (OIIO decode of every OLAT EXR plus a
             numpy weighted sum, the weights given to it for free), on ``--call-frames`` frames of ``--call-size``.
* live edit  the stage weights of a live edit under an ``--hdri``-wide synthetic sky plus a point
             light: the HDRI integrated with nothing kept (what every edit cost before the integral
             was kept), a world rotation (the pixels' places on the stage kept) and an edit of the
             point light (the integral kept). Add (b) for the whole edit's engine time.

Targets (issues 2 and 12): cache <= 1.5x bandwidth, naive >= 5x cache, ingest <= 1.3x the plain decode, a
call >= 6x faster than the naive script, and a ``--big`` frame
(default 4096x4096, same light count) relit from the cache and from the files with peak
memory under 3 GB. The big frame runs in child processes (one per step) so each step's peak
resident memory (VmHWM) is its own. Writing ``--lights`` distinct 4K EXRs would take long
and many GB, so only ``--big-distinct`` distinct images are written and the other lights'
files are symlinks to them: every file is still opened and decoded, and the cache is full size.

Content is synthetic but image-like: a textured ellipsoid with diffuse and glossy shading
under each stage light, with per-light smooth noise, alpha = its matte. Weights are random
positive (L, 3). ``--big 0`` skips the big frame.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path

import cv2
import numpy as np
import OpenImageIO as oiio

from engine.cores import usable_cores
from engine.demo_scene import procedural_sky
from engine.io.exr import read_image, write_image
from engine.lighting.hdri import HdriFile
from engine.lighting.lights import EnvironmentLight, PointLight
from engine.lighting.weights import (
    capture_weights,
    environment_received,
    forget_latlong_locations,
    integrate_environment,
    stage_weights,
)
from engine.relight.frame import relight_from_cache, relight_from_files
from engine.relight.ingest import ingest_frame
from engine.relight.lowrank import build_lowrank
from engine.relight.olat_reader import iter_olat_images, read_ahead
from engine.relight.tiled import DEFAULT_KERNEL, weighted_tile_sum
from engine.stage.cache import FrameCache
from engine.stage.capture import Capture, write_capture_yaml
from relume_host.vocabulary import DEFAULT_WEIGHT_METHOD

FRAME = 1001
PEAK_LIMIT_BYTES = 3e9
BIG_CACHE_HEADROOM = 1.2  # free disk wanted for the big frame, times its cache size


# ----------------------------------------------------------------------------- synthetic capture

def fibonacci_directions(count: int) -> np.ndarray:
    """(count, 3) unit vectors spread over the sphere (engine frame)."""
    index = np.arange(count) + 0.5
    y = 1.0 - 2.0 * index / count
    radius = np.sqrt(1.0 - y * y)
    phi = np.pi * (3.0 - np.sqrt(5.0)) * index
    return np.stack([radius * np.cos(phi), y, radius * np.sin(phi)], axis=1)


def smooth_noise(rng: np.random.Generator, size: int, cells: int, channels: int) -> np.ndarray:
    """(size, size, channels) float32 smooth noise in about [-1, 1]: bicubic upsampled random cells."""
    coarse = rng.uniform(-1.0, 1.0, (cells, cells, channels)).astype(np.float32)
    return cv2.resize(coarse, (size, size), interpolation=cv2.INTER_CUBIC).reshape(size, size, channels)


class Subject:
    """A textured ellipsoid seen from +Z: per-pixel normals, matte and albedo for one size."""

    def __init__(self, size: int, seed: int = 7) -> None:
        coords = (np.arange(size, dtype=np.float32) + 0.5) / size * 2.0 - 1.0
        x, y = np.meshgrid(coords / 0.7, -coords / 0.85)  # image row 0 is the top: engine +Y
        r2 = x * x + y * y
        self.matte = (r2 < 1.0).astype(np.float32)
        z = np.sqrt(np.clip(1.0 - r2, 0.0, 1.0))
        bump = smooth_noise(np.random.default_rng(seed), size, 24, 2) * 0.15
        normal = np.stack([x + bump[..., 0], y + bump[..., 1], z + 1e-3], axis=-1)
        self.normal = normal / np.linalg.norm(normal, axis=-1, keepdims=True)
        self.albedo = 0.45 + 0.3 * smooth_noise(np.random.default_rng(seed + 1), size, 12, 3)
        self.size = size

    def olat(self, direction: np.ndarray, seed: int) -> np.ndarray:
        """(size, size, 4) float32 RGBA: the subject under one distant light."""
        rng = np.random.default_rng(seed)
        d = direction.astype(np.float32)
        half = d + np.array([0.0, 0.0, 1.0], dtype=np.float32)
        half /= max(float(np.linalg.norm(half)), 1e-6)
        diffuse = np.clip(self.normal @ d, 0.0, None)
        gloss = np.clip(self.normal @ half, 0.0, None) ** 40 * (diffuse > 0)
        shadow = np.clip(0.75 + smooth_noise(rng, self.size, 6, 1)[..., 0], 0.0, 1.0)  # soft occlusion
        rgb = (self.albedo * (diffuse * shadow)[..., None] + 0.4 * gloss[..., None]) * self.matte[..., None]
        rgb += 0.01 * (1.0 + smooth_noise(rng, self.size, 8, 3))  # faint bounce light everywhere
        return np.concatenate([rgb, self.matte[..., None]], axis=2)


def make_capture(folder: Path, size: int, lights: int, distinct: int | None = None,
                 frames: Sequence[int] = (FRAME,)) -> Capture:
    """Write a synthetic ``lights``-light capture of ``frames``; with ``distinct`` only that many
    different images are written per frame and the remaining light files are symlinks to them."""
    directions = fibonacci_directions(lights)
    write_capture_yaml(folder, list(frames), directions, np.ones((lights, 3)))
    capture = Capture.load(folder)
    subject = Subject(size)
    unique = lights if distinct is None else min(distinct, lights)

    def write(job: tuple[int, int]) -> None:
        frame, index = job
        path = capture.olat_path(index, frame)
        path.parent.mkdir(parents=True, exist_ok=True)
        write_image(path, subject.olat(directions[index], seed=1000 + index + 7919 * (frame - FRAME)), "half")

    with ThreadPoolExecutor(max_workers=2) as pool:
        list(pool.map(write, [(frame, index) for frame in frames for index in range(unique)]))
    for frame in frames:
        for index in range(unique, lights):
            path = capture.olat_path(index, frame)
            path.parent.mkdir(parents=True, exist_ok=True)
            os.symlink(capture.olat_path(index % unique, frame).resolve(), path)
    return capture


def make_weights(lights: int) -> np.ndarray:
    """(L, 3) float32 random positive weights summing to about 2 per channel."""
    return (np.random.default_rng(3).uniform(0.0, 4.0, (lights, 3)) / lights).astype(np.float32)


# ----------------------------------------------------------------------------- measurements

@dataclass
class Timing:
    """Seconds of each timed run of one path, and its last result."""

    seconds: list[float] = field(default_factory=list)
    result: object = None

    @property
    def median(self) -> float:
        return statistics.median(self.seconds)

    def cell(self) -> str:
        return f"{milliseconds(self.median)} ms (min {milliseconds(min(self.seconds))})"


def milliseconds(seconds: float) -> str:
    """``seconds`` in ms: whole ones, tenths under 10 ms."""
    return f"{seconds * 1e3:.{0 if seconds >= 0.01 else 1}f}"


def interleaved_timings(paths: dict[str, Callable[[], object]], repeats: int,
                        setup: dict[str, Callable[[], object]] | None = None) -> dict[str, Timing]:
    """Time every path ``repeats`` times, round-robin, so that bursts of load from other
    processes hit all of them alike; ``setup[name]``, where given, runs untimed before each run of ``name``."""
    timings = {name: Timing() for name in paths}
    for _ in range(repeats):
        for name, function in paths.items():
            if setup and name in setup:
                setup[name]()
            start = time.perf_counter()
            timings[name].result = function()
            timings[name].seconds.append(time.perf_counter() - start)
    return timings


def read_once(path: Path, chunk_bytes: int) -> int:
    """Read the whole file into one reused ``chunk_bytes`` buffer; returns the bytes read."""
    buffer = memoryview(bytearray(chunk_bytes))
    total = 0
    with open(path, "rb", buffering=0) as handle:
        while count := handle.readinto(buffer):
            total += count
    return total


def evict(path: Path) -> None:
    """Write back and drop ``path`` from the page cache, so the next read fills it from disk as
    in a later session. The pages ingest leaves (written light by light, in small pieces) are
    read up to ~3x slower by ``read()``, which would flatter the cache-vs-bandwidth ratio."""
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
        os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_DONTNEED)
    finally:
        os.close(fd)


def psnr(reference: np.ndarray, test: np.ndarray) -> float:
    """PSNR in dB with the reference's maximum as peak."""
    mse = float(np.mean((reference.astype(np.float64) - test) ** 2))
    return float("inf") if mse == 0 else 10.0 * np.log10(float(reference.max()) ** 2 / mse)


def naive_stack(capture: Capture) -> np.ndarray:
    """(L, H, W, 3) float32 copy of the stack, the naive baseline's input (not timed)."""
    images = iter_olat_images(capture, FRAME)
    _, first = next(images)
    stack = np.empty((capture.light_count, *first.shape, 3), dtype=np.float32)
    stack[0] = first.rgb
    for index, image in images:
        stack[index] = image.rgb
    return stack


def peak_rss_bytes() -> int:
    """This process's peak resident memory (VmHWM), bytes."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) * 1024
    raise RuntimeError("no VmHWM in /proc/self/status")


def child_step(step: str, capture_folder: Path, cache_folder: Path, out: Path) -> None:
    """One big-frame step in this (child) process; prints JSON {seconds, peak_rss}."""
    capture = Capture.load(capture_folder)
    weights = make_weights(capture.light_count)
    start = time.perf_counter()
    if step == "ingest":
        ingest_frame(capture, FRAME, cache_folder, force=True)
        colour = None
    elif step == "cache":
        colour, _ = relight_from_cache(FrameCache(cache_folder, FRAME), weights)
    else:
        colour, _ = relight_from_files(capture, FRAME, weights)
    seconds = time.perf_counter() - start
    if colour is not None:
        np.save(out, colour[::16, ::16])
    print(json.dumps({"seconds": seconds, "peak_rss": peak_rss_bytes()}))


def run_child(step: str, capture_folder: Path, cache_folder: Path, out: Path) -> dict:
    command = [sys.executable, str(Path(__file__).resolve()), "--child", step, "--workdir", str(capture_folder),
               "--cache-dir", str(cache_folder), "--child-out", str(out)]
    done = subprocess.run(command, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise RuntimeError(f"big-frame step {step!r} failed:\n{done.stderr[-3000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


# ----------------------------------------------------------------------------- report

def ratio(a: float, b: float) -> str:
    return f"{a / b:.2f}x"


def verdict(ok: bool) -> str:
    return "met" if ok else "MISSED"


@dataclass
class Section:
    """A markdown section of the report and the targets it checked (label -> (value, met))."""

    lines: list[str]
    targets: dict[str, tuple[str, bool]] = field(default_factory=dict)


def small_frame(args: argparse.Namespace, root: Path) -> Section:
    """Benchmark every path on the ``--size`` frame."""
    folder = root / "small"
    folder.mkdir()
    start = time.perf_counter()
    capture = make_capture(folder, args.size, args.lights)
    print(f"wrote {args.lights} EXRs of {args.size}x{args.size} in {time.perf_counter() - start:.1f} s", file=sys.stderr)
    weights = make_weights(args.lights)

    cache = ingest_frame(capture, FRAME, folder / "cache", force=True)
    start = time.perf_counter()
    error = build_lowrank(cache, args.rank)
    lowrank_build_s = time.perf_counter() - start

    layout = cache.layout()
    chunk = 3 * layout.light_count * layout.tile_pixels * 2
    stack_bytes = cache.stack_path.stat().st_size
    for path in (cache.stack_path, cache.lowrank_paths(args.rank)[0]):
        evict(path)
        read_once(path, chunk)  # warm-up: the page cache holds the file for every run below
    paths = {
        "bandwidth": lambda: read_once(cache.stack_path, chunk),
        "cache": lambda: relight_from_cache(cache, weights)[0],
        "lowrank": lambda: relight_from_cache(cache, weights, rank=args.rank)[0],
    }
    if DEFAULT_KERNEL == "c":
        paths["cache_numpy"] = lambda: weighted_tile_sum(cache.stack_path, layout, weights, cache.tile_checksums(),
                                                         kernel="numpy")
    timings = interleaved_timings(paths, args.repeats)
    slow_repeats = max(1, args.repeats // 2)
    timings |= interleaved_timings({"files": lambda: relight_from_files(capture, FRAME, weights)[0]}, slow_repeats)
    timings |= interleaved_timings({"naive": partial(np.einsum, "lhwc,lc->hwc", naive_stack(capture), weights)},
                                   slow_repeats)                   # the 1.9 GB stack is freed with the partial
    frame_cache = FrameCache(folder / "cache", FRAME)
    decode_threads = read_ahead(read_image(capture.olat_path(0, FRAME), "half").nbytes)   # ingest's thread count
    timings |= interleaved_timings({"ingest": lambda: ingest_frame(capture, FRAME, folder / "cache"),
                                    "reingest": lambda: ingest_frame(capture, FRAME, folder / "cache", force=True),
                                    "decode": lambda: decode_all(capture, decode_threads)}, slow_repeats,
                                   setup={"ingest": frame_cache.discard})    # a first ingest finds no cache

    t = {name: timing.median for name, timing in timings.items()}
    naive = timings["naive"].result
    full = timings["cache"].result

    def vs_naive(name: str) -> str:
        error = float(np.abs(timings[name].result - naive).max() / np.abs(naive).max())
        return f"max difference from naive {error:.1e} of peak"

    def row(label: str, name: str, notes: str) -> str:
        return (f"| {label} | {timings[name].cell()} | {ratio(t[name], t['bandwidth'])} "
                f"| {ratio(t['naive'], t[name])} | {notes} |")

    lines = [
        f"### One frame, {args.lights} lights, {args.size}x{args.size} half-float RGBA "
        f"(cache {stack_bytes / 1e9:.2f} GB)",
        "",
        "| path | time: median (min) | vs bandwidth | naive / path | notes |",
        "|---|---:|---:|---:|---|",
        row("bandwidth: read the cached bytes once", "bandwidth",
            f"{stack_bytes / t['bandwidth'] / 1e9:.1f} GB/s, `readinto` {chunk / 1e6:.1f} MB (one tile) at a time"),
        row("naive numpy einsum, float32 in memory", "naive",
            f"`einsum('lhwc,lc->hwc')`, stack {args.lights * args.size**2 * 12 / 1e9:.1f} GB, built untimed"),
        row("(a) relight from EXR files", "files", f"decode + sum, streamed; {vs_naive('files')}"),
        row(f"(b) relight from cache, {DEFAULT_KERNEL} kernel", "cache", vs_naive("cache")),
        *([row("(b') the same, numpy kernel (the fallback where the C one is not built)", "cache_numpy",
               vs_naive("cache_numpy"))] if "cache_numpy" in t else []),
        row(f"(c) low-rank K={args.rank}", "lowrank",
            f"PSNR vs (b) {psnr(full, timings['lowrank'].result):.1f} dB; "
            f"stack relative error {error:.3f}; form built once in {lowrank_build_s:.1f} s"),
        row("ingest (once per plate)", "ingest", f"decode {args.lights} EXRs, write and hash the cache; "
            f"{ratio(t['ingest'], t['decode'])} the plain decode"),
        row("re-ingest (`--force`, or the EXRs changed)", "reingest", "the same, after removing the old cache; "
            f"{ratio(t['reingest'], t['decode'])} the plain decode"),
        row("plain decode", "decode", f"OIIO decode of the {args.lights} EXRs to half, {decode_threads} threads (as ingest), "
            "nothing kept"),
        "",
        f"Median of {args.repeats} interleaved runs ({slow_repeats} for (a), naive, the ingests and decode). Page cache warm: "
        "the stack file is dropped from the page cache after ingest and read once before timing "
        "(as in a later session).",
    ]
    return Section(lines, {
        "cache <= 1.5x bandwidth": (ratio(t["cache"], t["bandwidth"]), t["cache"] <= 1.5 * t["bandwidth"]),
        "naive >= 5x cache": (ratio(t["naive"], t["cache"]), t["naive"] >= 5 * t["cache"]),
        "ingest <= 1.3x decode": (ratio(t["ingest"], t["decode"]), t["ingest"] <= 1.3 * t["decode"]),
    })


def decode_all(capture: Capture, threads: int) -> None:
    """Decode every OLAT image of the frame with OpenImageIO on ``threads`` threads, keeping nothing: the
    floor of any ingest."""
    def decode(index: int) -> None:
        oiio.ImageBuf(str(capture.olat_path(index, FRAME))).get_pixels(oiio.HALF)

    with ThreadPoolExecutor(max_workers=threads) as pool:
        list(pool.map(decode, range(capture.light_count)))


def live_edit(args: argparse.Namespace, root: Path) -> Section:
    """Time the stage weights of a live edit under an HDRI world: the HDRI integrated with nothing kept (the
    pixels located on the stage), a world rotation (the pixels' places kept), an edit with the integral kept."""
    hdri = root / "sky.exr"
    write_image(hdri, procedural_sky(args.hdri // 2), "float")
    directions, rgb = fibonacci_directions(args.lights), np.ones((args.lights, 3))
    rotation, method = 30.0, DEFAULT_WEIGHT_METHOD.value
    version = HdriFile.of(hdri)
    version.radiance()                      # decoded once, untimed: the service keeps the last few HDRIs loaded
    kept = environment_received(hdri, rotation, directions, method)
    intensities, rotations = iter(np.linspace(1.0, 2.0, args.repeats)), iter(np.linspace(31.0, 89.0, args.repeats))

    def point_light_edit() -> np.ndarray:
        point = PointLight(np.array([1.0, 2.0, 2.0]), np.full(3, next(intensities)))
        return stage_weights([EnvironmentLight(hdri, rotation), point], directions, rgb, method)

    def from_nothing() -> np.ndarray:
        forget_latlong_locations()
        return integrate_environment(version, rotation, directions, method)

    timings = interleaved_timings({"integrated": from_nothing,
                                   "rotated": lambda: integrate_environment(version, next(rotations), directions,
                                                                            method),
                                   "kept": point_light_edit}, args.repeats)
    integrated, rotated, edit = timings["integrated"], timings["rotated"], timings["kept"]
    same = np.array_equal(integrated.result, kept)
    lines = [
        f"### Live edit under a {args.hdri}x{args.hdri // 2} HDRI world, {args.lights} lights: stage weights",
        "",
        "| step | time: median (min) | notes |",
        "|---|---:|---|",
        f"| HDRI integrated, nothing kept | {integrated.cell()} | a new HDRI size or stage: every pixel located |",
        f"| world rotated | {rotated.cell()} | the pixels' places on the stage kept, the columns turned |",
        f"| edit of a point light, HDRI integral kept | {edit.cell()} | HDRI + point light weights |",
        "",
        f"Median of {args.repeats} interleaved runs; the HDRI decoded once before (the service keeps it). "
        f"Kept integral {'equal to' if same else 'DIFFERENT FROM'} the integrated one bit for bit; a rotation is "
        f"{integrated.median / rotated.median:.0f}x faster than integrating from nothing, an edit that keeps "
        f"the integral {integrated.median / edit.median:.0f}x.",
    ]
    return Section(lines, {"kept HDRI integral equals a fresh one": ("bit for bit" if same else "differs", same)})


def big_frame(args: argparse.Namespace, root: Path) -> Section:
    """Ingest and relight the ``--big`` frame, each step in its own child process."""
    size, lights = args.big, args.lights
    cache_bytes = lights * size * size * 3 * 2
    free = shutil.disk_usage(root).free
    if free < BIG_CACHE_HEADROOM * cache_bytes:
        return Section([f"### {size}x{size} frame skipped: {free / 1e9:.1f} GB free under {root}, "
                        f"needs about {BIG_CACHE_HEADROOM * cache_bytes / 1e9:.1f} GB"])
    folder = root / "big"
    folder.mkdir()
    start = time.perf_counter()
    make_capture(folder, size, lights, distinct=args.big_distinct)
    print(f"wrote {args.big_distinct} EXRs of {size}x{size} in {time.perf_counter() - start:.1f} s", file=sys.stderr)
    rows, thumbs, peaks = [], {}, []
    for step, label, notes in (
        ("ingest", "ingest", f"decode {lights} EXRs, write the {cache_bytes / 1e9:.1f} GB cache"),
        ("cache", "(b) relight from cache", "GB/s of cache read; what ingest left in the page cache, the rest from disk"),
        ("files", "(a) relight from EXR files", f"decode + sum of {lights} EXRs, streamed"),
    ):
        thumb = folder / f"{step}.npy"
        result = run_child(step, folder, folder / "cache", thumb)
        if thumb.is_file():
            thumbs[step] = np.load(thumb)
        peaks.append(result["peak_rss"])
        if step == "cache":
            notes = f"{cache_bytes / result['seconds'] / 1e9:.1f} {notes}"
        rows.append(f"| {label} | {result['seconds']:.1f} s | {result['peak_rss'] / 1e9:.2f} GB "
                    f"| {verdict(result['peak_rss'] < PEAK_LIMIT_BYTES)} | {notes} |")
        print(f"big {step}: {result}", file=sys.stderr)
    agreement = float(np.abs(thumbs["cache"] - thumbs["files"]).max() / np.abs(thumbs["files"]).max())
    lines = [
        f"### One frame, {lights} lights, {size}x{size} half-float RGBA (cache {cache_bytes / 1e9:.1f} GB)",
        "",
        "| step (own child process) | time | peak RSS (VmHWM) | < 3 GB | notes |",
        "|---|---:|---:|---|---|",
        *rows,
        "",
        f"(a) and (b) agree to {agreement:.1e} of peak (1/16 subsample). Only {args.big_distinct} distinct "
        f"{size}x{size} EXRs were written; the other {lights - args.big_distinct} light files are symlinks to "
        f"them: every file is still opened and decoded, and the cache holds all {lights} lights.",
    ]
    peak = max(peaks)
    return Section(lines, {f"{size}x{size} peak memory < 3 GB": (f"{peak / 1e9:.2f} GB", peak < PEAK_LIMIT_BYTES)})


NAIVE_CALL = """
import json, sys
import numpy as np
import OpenImageIO as oiio
frames, weights, out = json.load(open(sys.argv[1])), np.load(sys.argv[2]), sys.argv[3]
for frame, paths in frames.items():
    total = None
    for index, rgb in enumerate(weights):
        pixels = oiio.ImageBuf(paths[index]).get_pixels(oiio.FLOAT)
        contribution = pixels[..., :3] * rgb.astype(np.float32)
        total = contribution if total is None else total + contribution
        alpha = pixels[..., 3:4] if index == 0 else alpha
    result = oiio.ImageBuf(oiio.ImageSpec(total.shape[1], total.shape[0], 4, oiio.HALF))
    result.set_pixels(oiio.ROI(), np.concatenate([total, alpha], axis=2))
    result.write(out.replace("####", frame))
"""


def per_call(args: argparse.Namespace, root: Path) -> Section:
    """Whole ``relume relight`` commands against a naive script, each call its own process."""
    folder = root / "call"
    frames = [FRAME + offset for offset in range(args.call_frames)]
    capture = make_capture(folder / "capture", args.call_size, args.lights, frames=frames)
    sky = folder / "sky.exr"
    write_image(sky, procedural_sky(256), "float")
    weights_file = folder / "weights.npy"
    np.save(weights_file, capture_weights(capture, [EnvironmentLight(sky)]))
    paths_file = folder / "olat_paths.json"
    paths_file.write_text(json.dumps({str(frame): [str(capture.olat_path(i, frame)) for i in range(capture.light_count)]
                                      for frame in frames}))
    relume = [sys.executable, "-m", "engine", "-q", "relight", str(capture.folder), "--env", str(sky),
              "--out", str(folder / "relit" / "r.####.exr")]
    naive = [sys.executable, "-c", NAIVE_CALL, str(paths_file), str(weights_file), str(folder / "naive.####.exr")]

    def run(command: list[str]) -> None:
        subprocess.run(command, check=True, capture_output=True, timeout=600)

    repo = Path(__file__).resolve().parents[1]
    run([sys.executable, "-m", "compileall", "-q", str(repo / "engine"), str(repo / "relume_host")])  # as install.py does
    run(relume)                      # the first call builds the cache and keeps the HDRI's integral (untimed)
    timings = interleaved_timings({"relume": partial(run, relume), "naive": partial(run, naive),
                                   "python": partial(run, [sys.executable, "-c", "pass"])}, args.repeats)
    t = {name: timing.median for name, timing in timings.items()}
    what = f"{len(frames)} frame{'s' if len(frames) > 1 else ''} of {args.call_size}x{args.call_size}"
    lines = [
        f"### Per call: {what}, {args.lights} lights, under a {sky.name} environment",
        "",
        "| command | time: median (min) | naive / command |",
        "|---|---:|---:|",
        f"| `relume relight CAPTURE --env sky.exr --out ...` (cache built by an earlier call) | "
        f"{timings['relume'].cell()} | {ratio(t['naive'], t['relume'])} |",
        f"| naive script: OIIO decode of {args.lights} EXRs + numpy sum per frame, weights given | "
        f"{timings['naive'].cell()} | 1.0x |",
        f"| `python -c pass` (the interpreter's own start) | {timings['python'].cell()} | |",
        "",
        f"Median of {args.repeats} interleaved runs, each a new process, the engine's bytecode compiled as "
        "`install.py` leaves it.",
    ]
    return Section(lines, {"naive >= 6x call": (ratio(t["naive"], t["relume"]), t["naive"] >= 6 * t["relume"])})


def machine_line(load_before: tuple[float, ...], load_after: tuple[float, ...]) -> str:
    model = next((line.split(":", 1)[1].strip() for line in Path("/proc/cpuinfo").read_text().splitlines()
                  if line.startswith("model name")), platform.machine())
    loads = [", ".join(f"{v:.2f}" for v in load) for load in (load_before, load_after)]
    return (f"Machine: {model}, {os.cpu_count()} cores, {os.sysconf('SC_PHYS_PAGES') * os.sysconf('SC_PAGE_SIZE') / 1e9:.0f} GB; "
            f"{usable_cores()} worker threads. Load average (1, 5, 15 min) {loads[0]} before, "
            f"{loads[1]} after (other processes share the machine).")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--size", type=int, default=1024, help="small frame width = height (px); 0 skips it")
    parser.add_argument("--lights", type=int, default=150, help="stage light count")
    parser.add_argument("--big", type=int, default=4096, help="big frame width = height (px); 0 skips it")
    parser.add_argument("--big-distinct", type=int, default=6, help="distinct EXRs written for the big frame")
    parser.add_argument("--hdri", type=int, default=4096, help="live edit's HDRI width (px); 0 skips it")
    parser.add_argument("--rank", type=int, default=32, help="low-rank K")
    parser.add_argument("--repeats", type=int, default=5, help="timed runs per path (median)")
    parser.add_argument("--call-size", type=int, default=512, help="per-call frame width = height (px); 0 skips it")
    parser.add_argument("--call-frames", type=int, default=2, help="frames per call (issue 12 measured two)")
    parser.add_argument("--workdir", type=Path, help="data folder (default: a new temporary folder)")
    parser.add_argument("--keep", action="store_true", help="keep the data folder")
    parser.add_argument("--child", choices=("ingest", "cache", "files"), help=argparse.SUPPRESS)
    parser.add_argument("--cache-dir", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--child-out", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child_step(args.child, args.workdir, args.cache_dir, args.child_out)
        return

    if args.workdir:
        args.workdir.mkdir(parents=True, exist_ok=True)
    root = Path(tempfile.mkdtemp(prefix="relume-bench-", dir=args.workdir))
    load_before = os.getloadavg()
    try:
        sections = (([small_frame(args, root)] if args.size else []) + ([per_call(args, root)] if args.call_size else [])
                    + ([live_edit(args, root)] if args.hdri else [])
                    + ([big_frame(args, root)] if args.big else []))
    finally:
        if not args.keep:
            shutil.rmtree(root, ignore_errors=True)
    print(machine_line(load_before, os.getloadavg()) + (f" Data kept in {root}." if args.keep else ""))
    for section in sections:
        print()
        print("\n".join(section.lines))
    targets = [f"{label}: {value} {verdict(ok)}" for section in sections for label, (value, ok) in section.targets.items()]
    print()
    print("Targets: " + "; ".join(targets) + ".")


if __name__ == "__main__":
    main()

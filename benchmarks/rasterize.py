"""Rasteriser benchmark: G-buffers of the ICT face mesh, against a naive per-triangle loop.

    python benchmarks/rasterize.py [--size 512] [--threads 2] [--repeats 15] [--device cpu|cuda]

Measures (median and best of ``--repeats``, wall clock, ``torch.set_num_threads(--threads)``):

* coverage      nearest triangle per pixel only (:func:`engine.render.coverage.rasterize_coverage`).
* G-buffer      :func:`engine.render.rasterize`: mask, depth, triangle ids, barycentrics, position,
                world/camera/face normals and UVs, all ~52k triangles of the full mesh (26,719 vertices),
                and again for the opaque ``face_and_head`` submesh, and with back faces culled.
* soft          the same G-buffer plus soft silhouette alpha (``soft_sigma=1``).
* backward      forward G-buffer + backward of a loss on position, normals and alpha.
* batch of 8    eight different expressions in one call, per frame.
* shadow maps   150 directional-light depth maps at 256x256 of the submesh (the light stage's count).
* naive         the textbook loop: for each triangle, its bounding box, edge functions and a depth
                test in numpy. Timed on ``--naive-triangles`` triangles spread over the mesh and
                extrapolated linearly to the full count (it is linear in triangles); marked "extrap.".

Target (issue 3): 512x512 G-buffer of the full mesh < 100 ms on the 2-core CPU. The load average is
printed with the table: with two intra-op threads on two cores, any other busy process stalls torch's
thread pool and inflates every time several-fold, so only numbers from an otherwise idle machine count.
"""

from __future__ import annotations

import argparse
import math
import os
import platform
import statistics
import time
from collections.abc import Callable

import numpy as np
import torch

from engine.face.model import FaceModel
from engine.render import Camera, rasterize, shadow_map
from engine.render.coverage import rasterize_coverage

TARGET_MS = 100.0


def timed(run: Callable[[], object], repeats: int, device: str) -> tuple[float, float]:
    """(median, best) wall seconds of ``run`` after one warm-up call."""
    run()
    times = []
    for _ in range(repeats):
        if device == "cuda":
            torch.cuda.synchronize()
        start = time.perf_counter()
        run()
        if device == "cuda":
            torch.cuda.synchronize()
        times.append(time.perf_counter() - start)
    return statistics.median(times), min(times)


def naive_rasterize(xy: np.ndarray, depth: np.ndarray, triangles: np.ndarray, height: int, width: int) -> np.ndarray:
    """Per-triangle loop: bounding box, barycentrics over the box, depth test. Returns triangle ids."""
    zbuffer = np.full((height, width), np.inf, np.float32)
    ids = np.full((height, width), -1, np.int64)
    for index, (a, b, c) in enumerate(triangles):
        x, y, z = xy[[a, b, c], 0], xy[[a, b, c], 1], depth[[a, b, c]]
        x0, x1 = max(math.ceil(x.min() - 0.5), 0), min(math.floor(x.max() - 0.5), width - 1)
        y0, y1 = max(math.ceil(y.min() - 0.5), 0), min(math.floor(y.max() - 0.5), height - 1)
        if x1 < x0 or y1 < y0:
            continue
        area = (x[1] - x[0]) * (y[2] - y[0]) - (x[2] - x[0]) * (y[1] - y[0])
        if abs(area) < 1e-12:
            continue
        px, py = np.meshgrid(np.arange(x0, x1 + 1) + 0.5, np.arange(y0, y1 + 1) + 0.5)
        w0 = ((x[1] - px) * (y[2] - py) - (x[2] - px) * (y[1] - py)) / area
        w1 = ((x[2] - px) * (y[0] - py) - (x[0] - px) * (y[2] - py)) / area
        w2 = 1.0 - w0 - w1
        inside = (w0 >= 0) & (w1 >= 0) & (w2 >= 0)
        z_pixel = 1.0 / (w0 / z[0] + w1 / z[1] + w2 / z[2])
        box = zbuffer[y0 : y1 + 1, x0 : x1 + 1]
        closer = inside & (z_pixel < box)
        box[closer] = z_pixel[closer]
        ids[y0 : y1 + 1, x0 : x1 + 1][closer] = index
    return ids


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--size", type=int, default=512)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--repeats", type=int, default=15)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--naive-triangles", type=int, default=4000)
    parser.add_argument("--lights", type=int, default=150)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    device = args.device

    model = FaceModel.load().to(device)
    opaque = model.submesh()
    camera = Camera.look_at((0.08, 0.05, 0.9), (0.0, 0.0, 0.0), fov_deg=30.0, width=args.size, height=args.size)
    torch.manual_seed(0)
    expressions = torch.rand(8, model.expression_count, device=device) * 0.5
    vertices = model.vertices(torch.randn(1, model.identity_count, device=device))[0]
    batch = model.vertices(torch.randn(8, model.identity_count, device=device) * 0.5, expressions)
    full = model.triangles
    uvs = dict(uvs=model.uvs, uv_triangles=model.triangle_uv_ids)
    rows: list[tuple[str, float, float]] = []

    def add(name: str, run: Callable[[], object], repeats: int = args.repeats, per: int = 1) -> None:
        median, best = timed(run, repeats, device)
        rows.append((name, median / per, best / per))
        print(f"  {name}: {1000 * median / per:.1f} ms", flush=True)

    xy, depth = camera.to(device).project(vertices[None])
    add("coverage only, full mesh", lambda: rasterize_coverage(xy, depth, full, args.size, args.size))
    add("G-buffer, full mesh (+uv)", lambda: rasterize(camera, vertices, full, **uvs))
    add("G-buffer, face_and_head submesh",
        lambda: rasterize(camera, vertices, opaque.triangles, model.uvs, opaque.triangle_uv_ids))
    add("G-buffer, full mesh, back faces culled", lambda: rasterize(camera, vertices, full, cull_backfaces=True))
    add("G-buffer + soft alpha (sigma 1 px), full", lambda: rasterize(camera, vertices, full, soft_sigma=1.0))

    def forward_backward() -> None:
        verts = vertices.detach().requires_grad_(True)
        gb = rasterize(camera, verts, full, soft_sigma=1.0)
        (gb.position.sum() + gb.normal_camera.sum() + gb.alpha.sum()).backward()

    add("forward + backward (soft), full", forward_backward, repeats=max(3, args.repeats // 3))
    add("G-buffer, batch of 8 expressions, per frame", lambda: rasterize(camera, batch, full), repeats=3, per=8)
    index = torch.arange(args.lights, device=device) + 0.5
    polar, azimuth = torch.acos(1 - 2 * index / args.lights), math.pi * (1 + 5**0.5) * index
    lights = torch.stack([torch.sin(polar) * torch.cos(azimuth), torch.cos(polar),
                          torch.sin(polar) * torch.sin(azimuth)], dim=1)
    add(f"{args.lights} shadow maps 256x256, submesh", lambda: shadow_map(vertices, opaque.triangles, lights, 256),
        repeats=3)

    # The naive loop on a spread subset of triangles, extrapolated to the full mesh.
    subset = full[:: max(1, len(full) // args.naive_triangles)].cpu().numpy()
    xy_np, depth_np = xy[0].cpu().numpy(), depth[0].cpu().numpy()
    median, best = timed(lambda: naive_rasterize(xy_np, depth_np, subset, args.size, args.size), 3, "cpu")
    scale = len(full) / len(subset)
    rows.append(("naive per-triangle loop, full mesh (extrap.)", median * scale, best * scale))

    print(f"\nLoad average (1, 5, 15 min) at the end: {', '.join(f'{x:.1f}' for x in os.getloadavg())}")
    print(f"\nRasteriser, {args.size}x{args.size}, ICT face mesh ({model.vertex_count} vertices, {len(full)} "
          f"triangles), device {device}, {args.threads} CPU threads, torch {torch.__version__}, "
          f"{platform.processor() or platform.machine()}\n")
    print("| step | median ms | best ms |")
    print("|---|---:|---:|")
    for name, median, best in rows:
        print(f"| {name} | {1000 * median:.1f} | {1000 * best:.1f} |")
    gbuffer = next(r for r in rows if r[0].startswith("G-buffer, full mesh (+uv)"))
    naive = rows[-1]
    print(f"\nG-buffer of the full mesh: {1000 * gbuffer[1]:.1f} ms median (target < {TARGET_MS:.0f} ms: "
          f"{'met' if 1000 * gbuffer[1] < TARGET_MS else 'NOT met'}); the naive loop's coverage alone is "
          f"{naive[1] / gbuffer[1]:.0f}x slower.")


if __name__ == "__main__":
    main()

"""Measure the detector-to-ICT landmark table (``python -m engine.track.calibrate``).

Renders synthetic performers of the *calibration seeds* below (never used for evaluation), under the
stage's uniform tracking light and under the source video's key/fill/rim light, through both synthetic
cameras; runs the FaceMesh detector; and for every detected point finds the triangle of the true mesh
under it and its perspective-correct barycentrics. Each hit is mapped onto the mean face; per landmark
the medoid hit is kept and the median distance of the hits to it is the landmark's spread (mm). See
:mod:`engine.track.correspondence` for how the table is used.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np
import torch
from tqdm import tqdm

from engine.face.model import FaceModel
from engine.render.camera import Camera
from engine.synth.dome import make_dome
from engine.synth.generate import SOURCE_AMBIENT, SOURCE_LIGHTS, make_performer, source_camera, stage_camera
from engine.track.correspondence import TABLE_FORMAT, TABLE_PATH
from engine.track.footage import auto_expose
from engine.track.landmarks import POINT_COUNT, FaceMeshDetector
from relume_host.atomic import write_bytes_atomic

CALIBRATION_SEEDS = (900, 901, 902, 903)
SPREAD_FULL_WEIGHT_MM = 1.5   # landmarks this stable or better get weight 1; weight falls as 1/spread^2
MIN_HIT_RATE = 0.6


def _lightings(light_count: int = 60) -> list[tuple[np.ndarray, np.ndarray]]:
    """(directions, irradiance) of the uniform tracking dome and of the source video's lights."""
    dome = make_dome(light_count)
    uniform = (dome.directions, np.full((light_count, 3), dome.solid_angle))
    directions = np.concatenate([np.asarray([d for d, _ in SOURCE_LIGHTS]), dome.directions])
    directions /= np.linalg.norm(directions, axis=1, keepdims=True)
    irradiance = np.concatenate([np.asarray([e for _, e in SOURCE_LIGHTS]),
                                 np.full((light_count, 3), SOURCE_AMBIENT * dome.solid_angle)])
    return [uniform, (directions, irradiance)]


def _hits(camera: Camera, vertices: torch.Tensor, triangle_id: torch.Tensor, triangles: torch.Tensor,
          points: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """For detected pixel positions (N, 2): the submesh triangle under each (-1 = none) and its
    perspective-correct barycentrics (N, 3)."""
    height, width = triangle_id.shape
    col = np.clip(points[:, 0].astype(int), 0, width - 1)
    row = np.clip(points[:, 1].astype(int), 0, height - 1)
    tri = triangle_id[row, col].numpy()
    xy, depth = camera.project(vertices)
    corners = triangles[np.clip(tri, 0, None)]
    a, b, c = (xy[corners[:, k]].numpy().astype(np.float64) for k in range(3))
    p = points
    area = (b[:, 0] - a[:, 0]) * (c[:, 1] - a[:, 1]) - (c[:, 0] - a[:, 0]) * (b[:, 1] - a[:, 1])
    wa = ((b[:, 0] - p[:, 0]) * (c[:, 1] - p[:, 1]) - (c[:, 0] - p[:, 0]) * (b[:, 1] - p[:, 1])) / area
    wb = ((c[:, 0] - p[:, 0]) * (a[:, 1] - p[:, 1]) - (a[:, 0] - p[:, 0]) * (c[:, 1] - p[:, 1])) / area
    screen = np.stack([wa, wb, 1.0 - wa - wb], axis=1)
    inverse = screen / depth[corners].numpy()
    return tri, inverse / inverse.sum(axis=1, keepdims=True), corners


def calibrate(frames_per_performer: int = 40, size: int = 256, progress: bool = True) -> dict:
    """Render, detect and aggregate; returns the table as a JSON-ready dict."""
    model = FaceModel.load()
    submesh = model.submesh("face_and_head")
    mean_face = model.vertices()[0].numpy()
    lightings = _lightings()
    canonical: list[list[np.ndarray]] = [[] for _ in range(POINT_COUNT)]
    records: list[list[tuple[int, np.ndarray]]] = [[] for _ in range(POINT_COUNT)]
    detections = 0
    runs = [(seed, stream) for seed in CALIBRATION_SEEDS for stream in (0, 1)]
    bar = tqdm(total=len(runs) * frames_per_performer, desc="calibrate", unit="frame", disable=not progress)
    with FaceMeshDetector(max_faces=1) as detector:
        for run, (seed, stream) in enumerate(runs):
            camera = (stage_camera if run % 2 == 0 else source_camera)(size)
            performer = make_performer(model, seed, stream, frames_per_performer, camera, 24.0, 96)
            for index in range(frames_per_performer):
                vertices = performer.vertices(index)
                surface = performer.renderer.surface(vertices)
                directions, irradiance = lightings[index % 2]
                radiance = performer.renderer.total_radiance(surface, directions, irradiance)
                image = surface.to_image(radiance).numpy()
                faces = detector.detect(auto_expose(image))
                bar.update(1)
                if not faces:
                    continue
                detections += 1
                tri, bary, _ = _hits(camera, vertices, surface.gbuffer.triangle_id, submesh.triangles,
                                     faces[0].points)
                for k in np.flatnonzero(tri >= 0):
                    full = int(submesh.triangle_index[tri[k]])
                    ids = model.triangles[full].numpy()
                    canonical[k].append(bary[k] @ mean_face[ids])
                    records[k].append((full, bary[k]))
    bar.close()
    rows = []
    for k in range(POINT_COUNT):
        points = np.asarray(canonical[k])
        hit_rate = len(points) / max(detections, 1)
        median = np.median(points, axis=0)
        medoid = int(np.argmin(np.linalg.norm(points - median, axis=1)))
        spread = float(np.median(np.linalg.norm(points - points[medoid], axis=1))) * 1000.0
        weight = min(1.0, (SPREAD_FULL_WEIGHT_MM / max(spread, 1e-3)) ** 2) if hit_rate >= MIN_HIT_RATE else 0.0
        triangle, bary = records[k][medoid]
        rows.append({"index": k, "triangle": triangle, "barycentrics": [round(float(b), 6) for b in bary],
                     "weight": round(weight, 4), "spread_mm": round(spread, 3), "hit_rate": round(hit_rate, 3)})
    return {"format": TABLE_FORMAT, "detector": "mediapipe==0.10.21 FaceMesh, refine_landmarks (478 points)",
            "model": "ICT FaceKit (ict_face_model.npz), triangles of engine.face.FaceModel",
            "calibration_seeds": list(CALIBRATION_SEEDS), "frames_per_performer": frames_per_performer,
            "image_size": size, "detections": detections, "landmarks": rows}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m engine.track.calibrate", description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=TABLE_PATH, help=f"table to write (default {TABLE_PATH})")
    parser.add_argument("--frames", type=int, default=40, help="frames per calibration performer (default 40)")
    args = parser.parse_args(argv)
    table = calibrate(args.frames)
    write_bytes_atomic(args.out, json.dumps(table, indent=0).encode())
    weights = np.array([r["weight"] for r in table["landmarks"]])
    print(f"wrote {args.out}: {table['detections']} detections, {int((weights >= 0.99).sum())} landmarks at full "
          f"weight, {int((weights == 0).sum())} unused")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

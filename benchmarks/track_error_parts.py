"""Where a track's vertex error sits: ``relume track`` on a tuning capture or its source video, the error taken apart.

    python benchmarks/track_error_parts.py [--seed 905] [--frames 100] [--lights 20] [--workdir DIR]
                                           [--footage capture|source] [--focal PX] [--temporal W]
                                           [--true-identity] [--exact-landmarks]
                                           [--source-lights LIGHTS_FILE]

A diagnostic, run on the **tuning** seeds (905-908; never on the held-out seeds 11 and 12 the README
reports). It tracks the capture (or, with ``--footage source``, its source video) as ``relume track`` does
(with ``--focal`` a known focal length, else the one the capture's ``capture.yaml`` gives, which the
synthetic stage writes since 2026-12-04; a fitted one for a video or where it gives none; ``--temporal``
another temporal weight; ``--true-identity`` the identity fixed at the truth, as ``--identity-from`` fixes
it, to see what is left without any error of shape; ``--exact-landmarks`` the detector's points replaced by
the landmark table's points on the true mesh, projected with the true camera, to see what is left without any
error of the detector; ``--source-lights`` the source video lit by a lights file, e.g. an HDRI, instead of the
synthetic stage's key, fill and rim light) and prints, against the synthetic stage's truth (narrow face,
millimetres):

* the vertex error as reported (one similarity for the whole sequence, :mod:`engine.track.evaluate`);
* each frame aligned by its own similarity (what is left without per-frame pose errors);
* the identity alone: the fitted neutral against the true one, one similarity, and its x / y / z parts;
* the expressions alone: the fitted weights on the true identity, in model space;
* per-frame pose: the face centroid's error after the sequence's similarity (x, y, z), the residual rotation,
  the depth error's correlation with the true head yaw, and the per-frame vertex error's with the
  per-frame depth error;
* the fitted against the true focal length;
* the detector: its points against the table's points on the true mesh (pixels, weighted by the table's
  weights), and what is left once each landmark's mean offset over the sequence is taken away; and how the
  image size of its point set changes from frame to frame against the exact one (percent; a fit that believes
  the points moves the face's depth by the same percent);
* the footage's optical flow (OpenCV DIS, two settings) against the true mesh's frame-to-frame motion: error,
  mean motion and the slope of the flow on the true motion (below 1: measured short);
* the reprojection of the 68 landmark vertices by group (jaw, brows, nose, eyes, mouth), and the share of it
  that is each landmark's mean offset over the sequence (a bias of the fitted face, not jitter).
"""

from __future__ import annotations

import argparse
import json
import os
import tempfile
from pathlib import Path

import cv2
import numpy as np
import torch
from track import synthetic_capture  # benchmarks/track.py, beside this script: the same capture

from engine.face.model import FaceModel
from engine.render.rasterize import vertex_normals
from engine.stage.capture import Capture
from engine.track.correspondence import Correspondence
from engine.track.evaluate import accuracy, project_pinhole, true_camera_vertices, umeyama
from engine.track.fit import NARROW_FACE_VERTICES, FitSettings, SequenceFitter
from engine.track.footage import Footage
from engine.track.geometry import track_vertices
from engine.track.pipeline import Detected, TrackOptions, detect, footage_settings, run_track, track_record
from engine.track.track_file import write_track


def aligned_error_mm(fitted: np.ndarray, truth: np.ndarray) -> tuple[np.ndarray, float]:
    """(N, 3) points (metres) -> the fitted points moved by the best similarity onto the truth, and their
    mean distance to it in millimetres."""
    scale, rotation, shift = umeyama(fitted, truth)
    moved = scale * fitted @ rotation.T + shift
    return moved, float(np.linalg.norm(moved - truth, axis=-1).mean() * 1000.0)


def sequence_aligned(fitted: np.ndarray, truth: np.ndarray) -> np.ndarray:
    """Fitted vertices (T, V, 3, metres) moved by the one similarity that best maps the whole sequence onto ``truth``
    (the vertex error's alignment, :mod:`engine.track.evaluate`)."""
    moved, _ = aligned_error_mm(fitted.reshape(-1, 3), truth.reshape(-1, 3))
    return moved.reshape(fitted.shape)


def centroid_error_mm(aligned: np.ndarray, truth: np.ndarray) -> np.ndarray:
    """Per-frame offset (T, 3, millimetres, camera x, y, z) of the aligned face centroid from the true one."""
    return (aligned.mean(axis=1) - truth.mean(axis=1)) * 1000.0


def depth_slope(aligned: np.ndarray, truth: np.ndarray) -> float:
    """Slope of the aligned face centroid's per-frame depth on the true one (below 1: the depth motion flattened)."""
    true_depth = truth.mean(axis=1)[:, 2]
    return float(np.polyfit(true_depth - true_depth.mean(), aligned.mean(axis=1)[:, 2] - true_depth.mean(), 1)[0])


def neutral(model: FaceModel, identity: list[float]) -> np.ndarray:
    """The narrow face (V, 3) of an identity with every expression weight 0 (model space, metres)."""
    with torch.no_grad():
        weights = torch.tensor(identity, dtype=torch.float32)[None]
        return model.vertices(weights, torch.zeros(1, model.expression_count))[0].numpy()[:NARROW_FACE_VERTICES]


LANDMARK_GROUPS = {"jaw": slice(0, 17), "brows": slice(17, 27), "nose": slice(27, 36), "eyes": slice(36, 48),
                   "mouth": slice(48, 68)}   # the 68 Multi-PIE landmarks' order


def table_points(model: FaceModel, table: Correspondence, truth: np.ndarray, K: list) -> np.ndarray:
    """(T, N, 2) pixels: the landmark table's points on the true meshes ``truth`` (T, V, 3; camera space, metres,
    :func:`engine.track.evaluate.true_camera_vertices`), projected with the true intrinsics ``K``."""
    corners = table.corners(model.triangles)
    points = table.points(torch.from_numpy(truth).float(), corners).numpy().astype(np.float64)
    return project_pinhole(points, K[0][0], K[0][2], K[1][2])


def offset_share(errors: np.ndarray, weight: np.ndarray) -> tuple[float, float]:
    """For (T, N, 2) errors (pixels): the weighted mean distance, and that distance once each landmark's mean
    over the frames is taken away."""
    def mean(e: np.ndarray) -> float:
        return float((np.linalg.norm(e, axis=-1).mean(axis=0) * weight).sum() / weight.sum())
    return mean(errors), mean(errors - errors.mean(axis=0))


def scale_change(detected: np.ndarray, exact: np.ndarray, weight: np.ndarray) -> np.ndarray:
    """For (T, N, 2) detected and exact points (pixels): each frame's size of the detected point set against the
    exact one's (weighted RMS distance from their centroids), each landmark's mean offset over the frames taken
    away first, as log ratios in percent. Along the line of sight a face's image size is focal * size / depth,
    so a percent of it is a percent of the depth to a fit that believes the points."""
    detected = detected - (detected - exact).mean(axis=0)
    w = weight[None, :, None] / weight.sum()

    def size(points: np.ndarray) -> np.ndarray:
        centre = (points * w).sum(axis=1, keepdims=True)
        return np.sqrt(((points - centre) ** 2 * w).sum(axis=(1, 2)))
    return 100.0 * np.log(size(detected) / size(exact))


FLOW_SETTINGS = {"DIS medium": {}, "DIS finest scale, 10 variational iterations": {"finest_scale": 0, "refinement": 10}}


def flow_against_truth(frames: list, truth: np.ndarray, triangles: torch.Tensor, K: list, finest_scale: int | None = None,
                       refinement: int | None = None) -> tuple[float, float, float]:
    """OpenCV's DIS optical flow of the footage (frame t -> t+1, on the detector's 8-bit image made grey) against the
    true mesh's motion ``truth`` (T, V, 3, camera space, metres) at every 2nd narrow-face vertex facing the camera
    (n_z > 0.3, no depth test): mean error (px), mean true motion (px) and the slope of the flow on the true motion
    (least squares through 0 over both axes; 1 = unbiased, below 1 = motion measured short)."""
    dis = cv2.DISOpticalFlow_create(cv2.DISOPTICAL_FLOW_PRESET_MEDIUM)
    if finest_scale is not None:
        dis.setFinestScale(finest_scale)
    if refinement is not None:
        dis.setVariationalRefinementIterations(refinement)
    ids = np.arange(0, NARROW_FACE_VERTICES, 2)
    pixels = project_pinhole(truth[:, ids], K[0][0], K[0][2], K[1][2]).astype(np.float32)
    grey = [cv2.cvtColor(frame.srgb, cv2.COLOR_RGB2GRAY) for frame in frames]
    measured, true = [], []
    for t in range(len(frames) - 1):
        facing = vertex_normals(torch.from_numpy(truth[t]).float(), triangles)[ids, 2].numpy() > 0.3
        flow = dis.calc(grey[t], grey[t + 1], None)
        at = pixels[t, facing] - 0.5                         # remap samples at pixel centres
        measured.append(np.stack([cv2.remap(flow[..., k], at[:, :1], at[:, 1:], cv2.INTER_LINEAR)[:, 0]
                                  for k in range(2)], axis=1))
        true.append(pixels[t + 1, facing] - pixels[t, facing])
    measured, true = np.concatenate(measured), np.concatenate(true)
    return (float(np.linalg.norm(measured - true, axis=1).mean()), float(np.linalg.norm(true, axis=1).mean()),
            float((measured * true).sum() / (true * true).sum()))


def track_exact(model: FaceModel, table: Correspondence, detected: Detected, exact: np.ndarray, source: str,
                settings: FitSettings, out: Path) -> dict:
    """``relume track``'s fit of the ``detected`` footage with the detector's points replaced by ``exact`` (T, N, 2),
    the table's points on the true mesh of each detected frame (:func:`table_points`)."""
    points = [None if p is None else e.astype(np.float32) for p, e in zip(detected.points, exact)]
    fit = SequenceFitter(model, table, detected.size, settings).fit(points, None, detected.frames)
    track = track_record(model, fit, detected.numbers, detected.size, source)
    write_track(out, track)
    return track


def tuning_arguments(parser: argparse.ArgumentParser, footage: str) -> None:
    """The options of the tracking diagnostics: which tuning capture, and which of its footages (default ``footage``)."""
    parser.add_argument("--seed", type=int, default=905)
    parser.add_argument("--frames", type=int, default=100)
    parser.add_argument("--lights", type=int, default=20)
    parser.add_argument("--workdir", type=Path)
    parser.add_argument("--footage", choices=("capture", "source"), default=footage,
                        help="the capture (tracking frames, OLAT normals) or its source video")
    parser.add_argument("--source-lights", type=Path, help="lights file for the source video (synth --source-lights)")


def tuning_footage(args: argparse.Namespace, prefix: str) -> tuple[Path, str, Path]:
    """The tuning capture of :func:`tuning_arguments`' options (made once in ``--workdir``, else in a new temporary
    folder named ``prefix``), the footage ``relume track`` reads in it, and the truth's ``params.json`` for that."""
    work = args.workdir or Path(tempfile.mkdtemp(prefix=prefix))
    capture = synthetic_capture(work, args.seed, args.frames, 256, args.lights, args.source_lights)
    if args.footage == "capture":
        return capture, str(capture), capture / "ground_truth/params.json"
    return capture, str(capture / "source/frames/frame.####.png"), capture / "source/params.json"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    tuning_arguments(parser, "capture")
    parser.add_argument("--focal", type=float, help="known focal length (px); default fitted")
    parser.add_argument("--temporal", type=float, default=FitSettings.temporal)
    parser.add_argument("--true-identity", action="store_true", help="fix the identity at the truth")
    parser.add_argument("--exact-landmarks", action="store_true",
                        help="fit the table's points on the true mesh instead of the detector's")
    args = parser.parse_args()
    if args.exact_landmarks and args.true_identity:
        parser.error("--exact-landmarks and --true-identity: one at a time")
    torch.set_num_threads(os.cpu_count() or 1)
    capture, source, params_path = tuning_footage(args, "relume_track_parts_")
    work = capture.parent
    model = FaceModel.load()
    settings = FitSettings(focal_px=args.focal, temporal=args.temporal)
    params = json.loads(params_path.read_text())
    # the detector's points, for its residual below and for the exact-landmark fit (which needs a capture's
    # normals for its normal term, as relume track loads them)
    footage = Footage(source, normals=args.exact_landmarks and settings.normal > 0)
    detected = detect(footage, TrackOptions(source, work / "parts.track", progress=False))
    numbers = detected.numbers                       # the track's frames, in its order
    rows = [params["frames"].index(n) for n in numbers]
    whole_truth = true_camera_vertices(model, params, rows)
    table = Correspondence.load()
    exact = table_points(model, table, whole_truth, params["camera"]["K"])
    if args.exact_landmarks:
        track = track_exact(model, table, detected, exact, source, footage_settings(footage, settings),
                            work / "parts.track")
    else:
        track = run_track(TrackOptions(source, work / "parts.track", settings=settings, progress=False))
    if args.true_identity:                # the first track is only a valid file to carry the true identity
        write_track(work / "true_identity.track", dict(track, identity=params["identity"]))
        track = run_track(TrackOptions(source, work / "parts.track", settings=settings, progress=False,
                                       identity_from=work / "true_identity.track"))
    face = slice(0, NARROW_FACE_VERTICES)
    whole_fitted = track_vertices(model, track, numbers)
    fitted, truth = whole_fitted[:, face], whole_truth[:, face]

    reported = accuracy(model, params_path, track)
    per_frame = np.mean([aligned_error_mm(f, t)[1] for f, t in zip(fitted, truth)])
    fitted_neutral, true_neutral = neutral(model, track["identity"]), neutral(model, params["identity"])
    moved, identity_mm = aligned_error_mm(fitted_neutral, true_neutral)
    identity_parts = np.abs(moved - true_neutral).mean(axis=0) * 1000.0
    names = model.expression_names
    weights = np.array([[track["frames"][str(n)]["expression"][name] for name in names] for n in numbers])
    with torch.no_grad():
        true_identity = torch.tensor(params["identity"], dtype=torch.float32)[None].expand(len(rows), -1)
        on_truth = [model.vertices(true_identity, torch.tensor(w, dtype=torch.float32)).numpy()[:, face]
                    for w in (weights, np.asarray(params["expressions"])[rows])]
    expression_mm = np.linalg.norm(on_truth[0] - on_truth[1], axis=-1).mean() * 1000.0

    sequence = sequence_aligned(fitted, truth)
    centroid = centroid_error_mm(sequence, truth)
    residual = [umeyama(f, t)[1] for f, t in zip(sequence, truth)]
    angles = [np.degrees(np.arccos(np.clip((np.trace(r) - 1.0) / 2.0, -1.0, 1.0))) for r in residual]
    yaw = [np.arctan2(np.asarray(r)[0, 2], np.asarray(r)[2, 2]) for r in np.asarray(params["head_rotation"])[rows]]

    focal_from = ("--focal" if args.focal else "capture.yaml's camera.focal_px"
                  if args.footage == "capture" and Capture.load(capture).focal_px else "fitted")
    print(f"seed {args.seed} {args.footage}, {args.frames} frames, {args.lights} lights; focal length {focal_from}, "
          f"temporal {args.temporal}" + ("; identity fixed at the truth" if args.true_identity else "")
          + ("; the table's exact points instead of the detector's" if args.exact_landmarks else ""))
    print(f"vertex error as reported (one similarity): {reported.vertex_mm:.2f} mm")
    print(f"each frame aligned by its own similarity: {per_frame:.2f} mm")
    print(f"identity alone (neutral): {identity_mm:.2f} mm; mean |dx|, |dy|, |dz| "
          f"{identity_parts[0]:.2f}, {identity_parts[1]:.2f}, {identity_parts[2]:.2f} mm")
    print(f"expressions alone (fitted weights on the true identity): {expression_mm:.2f} mm")
    print("per-frame pose: centroid error mean |x|, |y|, |z| " + ", ".join(f"{v:.2f}" for v in np.abs(centroid).mean(0))
          + f" mm; residual rotation {np.mean(angles):.2f} deg; depth error vs yaw correlation "
          f"{np.corrcoef(centroid[:, 2], yaw)[0, 1]:+.2f}")
    frame_error = np.linalg.norm(sequence - truth, axis=-1).mean(axis=1) * 1000.0
    print(f"per-frame vertex error {frame_error.mean():.2f} mm; its correlation with the per-frame |depth error| "
          f"{np.corrcoef(frame_error, np.abs(centroid[:, 2]))[0, 1]:+.2f}")
    true_depth = truth.mean(axis=1)[:, 2] * 1000.0
    slope = depth_slope(sequence, truth)
    print(f"depth motion: the truth's spans {np.ptp(true_depth):.1f} mm; fitted against true depth, slope {slope:.2f}")
    print(f"focal length: {track['intrinsics']['focal_px']:.1f} px ({focal_from}), true {params['camera']['K'][0][0]:.1f} px")

    found = [i for i, p in enumerate(detected.points) if p is not None]
    points, weight = np.stack([detected.points[i] for i in found]), table.weight.numpy()
    whole, varying = offset_share(points - exact[found], weight)
    print(f"detector against the table's points on the true mesh: {whole:.2f} px; without each landmark's mean "
          f"offset {varying:.2f} px")
    size = scale_change(points, exact[found], weight)
    depth = float(-truth.mean(axis=1)[:, 2].mean()) * 1000.0
    smooth = np.convolve(size, np.ones(9) / 9.0, mode="valid")
    print(f"detector's image size of the face per frame: std {size.std():.2f} % ({size.std() / 100.0 * depth:.1f} mm "
          f"of depth at {depth:.0f} mm), of which slow (9-frame mean) {smooth.std():.2f} %; correlation with the "
          f"fitted face's depth error {np.corrcoef(size, centroid[found, 2])[0, 1]:+.2f}")
    flows = {name: flow_against_truth(detected.frames, whole_truth, model.triangles, params["camera"]["K"], **kw)
             for name, kw in FLOW_SETTINGS.items()}
    print("optical flow against the true mesh's motion, frame to frame: " + "; ".join(
        f"{name} {error:.3f} px error at {motion:.3f} px motion, slope {slope:.2f}"
        for name, (error, motion, slope) in flows.items()))
    intrinsics = track["intrinsics"]
    landmarks = whole_fitted[:, model.landmark_ids.numpy()]
    fitted_2d = project_pinhole(landmarks, intrinsics["focal_px"], intrinsics["cx"], intrinsics["cy"])
    errors = fitted_2d - np.asarray(params["landmarks_2d"])[rows]
    parts = {name: offset_share(errors[:, group], np.ones(group.stop - group.start))[0]
             for name, group in LANDMARK_GROUPS.items()}
    whole, varying = offset_share(errors, np.ones(errors.shape[1]))
    print("reprojection by group: " + ", ".join(f"{name} {value:.2f}" for name, value in parts.items())
          + f" px; all {whole:.2f} px, without each landmark's mean offset {varying:.2f} px")


if __name__ == "__main__":
    main()

"""Is the truth where the fit's energy is least? ``relume track``'s fit started at the synthetic stage's truth, term by term.

    python benchmarks/track_from_truth.py [--seed 905] [--frames 100] [--lights 20] [--workdir DIR]
                                          [--footage source|capture] [--source-lights LIGHTS_FILE]

A diagnostic, run on the **tuning** seeds (905-908; never on the held-out seeds 11 and 12 the README reports).
The fit (:class:`engine.track.fit.SequenceFitter`, its default settings) is started at the true head poses,
expressions, identity and focal length (:class:`engine.track.fit.FitStart`) instead of its PnP and rigid stages,
then runs its stages with some terms left out; where it ends is where those terms are least near the truth. Each
row prints the vertex error (one similarity for the sequence, :mod:`engine.track.evaluate`), the landmark
reprojection, the face's mean per-frame depth error after that similarity and the slope of the fitted per-frame
depth on the true one (below 1: the depth motion flattened). The rows:

* **from its own start**: the fit as ``relume track`` runs it (PnP start), for comparison;
* **whole energy**: every term, the detector's landmarks; then with the landmark table's points on the true mesh
  (``exact landmarks``: no error of the detector);
* **detector's landmarks alone**: the landmark stage (landmark and temporal terms) with no priors;
* **priors on exact landmarks**: the landmark stage with the identity and expression priors;
* **photometric** / **shading** / **normals**, each alone beside the exact landmarks (no priors): the refinement
  with only that dense term (shading on a video, normals on a capture).
"""

from __future__ import annotations

import argparse
import json
import os
import time
from dataclasses import replace

import numpy as np
import torch
from track_error_parts import (  # beside this script
    centroid_error_mm,
    depth_slope,
    sequence_aligned,
    table_points,
    tuning_arguments,
    tuning_footage,
)

from engine.face.model import FaceModel
from engine.track.correspondence import Correspondence
from engine.track.evaluate import accuracy, true_camera_vertices, true_poses
from engine.track.fit import NARROW_FACE_VERTICES, FitSettings, FitStart, SequenceFitter
from engine.track.footage import Footage
from engine.track.geometry import track_vertices
from engine.track.pipeline import TrackOptions, detect, footage_settings, track_record

NO_PRIORS = {"identity_prior": 0.0, "expression_l1": 0.0}
NO_DENSE = {"photometric": 0.0, "shading": 0.0, "normal": 0.0, "refine_iterations": 0}
DENSE_ALONE = {"landmark_iterations": 0, **NO_PRIORS}

# row label -> (from the truth, exact landmarks, settings changed from the defaults)
ROWS: dict[str, tuple[bool, bool, dict]] = {
    "from its own start (relume track)": (False, False, {}),
    "whole energy": (True, False, {}),
    "whole energy, exact landmarks": (True, True, {}),
    "detector's landmarks alone": (True, False, {**NO_DENSE, **NO_PRIORS}),
    "priors on exact landmarks": (True, True, NO_DENSE),
    "photometric alone, exact landmarks": (True, True, {**DENSE_ALONE, "shading": 0.0, "normal": 0.0}),
    "shading alone, exact landmarks": (True, True, {**DENSE_ALONE, "photometric": 0.0}),
    "normals alone, exact landmarks": (True, True, {**DENSE_ALONE, "photometric": 0.0}),
}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    tuning_arguments(parser, "source")
    args = parser.parse_args()
    torch.set_num_threads(os.cpu_count() or 1)
    capture, source, params_path = tuning_footage(args, "relume_track_truth_")
    model = FaceModel.load()
    params = json.loads(params_path.read_text())
    footage = Footage(source, normals=args.footage == "capture")
    settings = footage_settings(footage, FitSettings())
    detected = detect(footage, TrackOptions(source, capture.parent / "truth.track", progress=False))
    rows = [params["frames"].index(n) for n in detected.numbers]
    face = slice(0, NARROW_FACE_VERTICES)
    truth = true_camera_vertices(model, params, rows)
    true_face = truth[:, face]
    table = Correspondence.load()
    exact = table_points(model, table, truth, params["camera"]["K"]).astype(np.float32)
    rotations, translations = true_poses(params, rows)
    start = FitStart(rotations, translations, np.asarray(params["expressions"])[rows], np.asarray(params["identity"]),
                     float(params["camera"]["K"][0][0]))
    skip = "normals alone" if args.footage == "source" else "shading alone"
    focal = "fitted" if settings.focal_px is None else "the capture camera's"
    print(f"seed {args.seed} {args.footage}, {len(rows)} frames; focal length {focal}; true depth span "
          f"{np.ptp(true_face.mean(axis=1)[:, 2]) * 1000.0:.1f} mm (narrow face)")
    for label, (from_truth, exact_points, changes) in ROWS.items():
        if label.startswith(skip):
            continue
        points = [None if p is None else e for p, e in zip(detected.points, exact)] if exact_points else detected.points
        began = time.perf_counter()
        fit = SequenceFitter(model, table, detected.size, replace(settings, **changes)).fit(
            points, None, detected.frames, start=start if from_truth else None)
        track = track_record(model, fit, detected.numbers, detected.size, source)
        reported = accuracy(model, params_path, track)
        moved = sequence_aligned(track_vertices(model, track, detected.numbers)[:, face], true_face)
        depth_mm = np.abs(centroid_error_mm(moved, true_face)[:, 2]).mean()
        slope = depth_slope(moved, true_face)
        print(f"{label:38s} {reported.vertex_mm:5.2f} mm, reprojection {reported.reprojection_px:.2f} px, depth "
              f"{depth_mm:.2f} mm, depth slope {slope:.2f}, focal {fit.focal_px:.0f} px "
              f"({time.perf_counter() - began:.0f} s)", flush=True)


if __name__ == "__main__":
    main()

"""``relume track``: footage -> landmarks -> sequence fit -> ``.track`` (and an optional preview)."""

from __future__ import annotations

import time
from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np
from tqdm import tqdm

from engine.errors import InputError
from engine.face.model import FaceModel
from engine.track.correspondence import Correspondence
from engine.track.fit import FitSettings, SequenceFit, SequenceFitter
from engine.track.footage import Footage, FootageFrame
from engine.track.landmarks import FaceMeshDetector
from engine.track.track_file import FORMAT, VERSION, model_fingerprint, read_track, write_track


@dataclass(frozen=True)
class TrackOptions:
    """What ``relume track`` does. ``face``: which face when several are found (0 = the largest)."""

    source: str
    out: Path
    frames: list[int] | None = None
    identity_from: Path | None = None
    preview: Path | None = None
    face: int = 0
    strict: bool = False
    first_frame: int = 1
    model_path: Path | None = None
    settings: FitSettings = field(default_factory=FitSettings)
    progress: bool = True


@dataclass
class Detected:
    """The footage's frames as the fit needs them."""

    numbers: list[int]
    points: list[np.ndarray | None]
    frames: list[FootageFrame]
    size: tuple[int, int]


def detect(footage: Footage, options: TrackOptions) -> Detected:
    """Run the landmark detector on every frame (keeping the frames for the dense terms and preview)."""
    numbers, points, frames = [], [], []
    with FaceMeshDetector(max_faces=max(4, options.face + 1)) as detector:
        for frame in tqdm(footage, total=len(footage), desc="landmarks", unit="frame", disable=not options.progress):
            faces = detector.detect(frame.srgb)
            if options.face >= len(faces):
                if options.strict:
                    raise InputError(frame.source, f"frame {frame.number}: no face found"
                                     + (f" (face {options.face} asked, {len(faces)} found)" if faces else ""))
                chosen = None
            else:
                chosen = faces[options.face].points
            numbers.append(frame.number)
            points.append(chosen)
            frames.append(frame)
    if all(p is None for p in points):
        raise InputError(footage.source, f"no face found in any of its {len(numbers)} frames")
    return Detected(numbers, points, frames, frames[0].size)


def track_record(model: FaceModel, fit: SequenceFit, numbers: list[int], size: tuple[int, int], source: str) -> dict:
    """The ``.track`` dict of a fitted sequence."""
    names = model.expression_names
    frames = {}
    for index, number in enumerate(numbers):
        error = fit.landmark_error_px[index]
        frames[str(number)] = {
            "expression": {n: round(float(w), 6) for n, w in zip(names, fit.expressions[index])},
            "rotation": np.round(fit.rotations[index].astype(np.float64), 8).tolist(),
            "translation": np.round(fit.translations[index].astype(np.float64), 8).tolist(),
            "landmark_error_px": None if not np.isfinite(error) else round(float(error), 4),
            "confidence": round(float(fit.confidence[index]), 4),
            "face_found": bool(fit.face_found[index]),
        }
    return {
        "format": FORMAT, "version": VERSION,
        "model": {"file": model.source.name, "sha256": model_fingerprint(model.source),
                  "identity_modes": int(len(fit.identity)), "expression_names": names},
        "source": source,
        "image_size": [int(size[0]), int(size[1])],
        "intrinsics": {"focal_px": round(fit.focal_px, 4), "cx": fit.principal_point[0], "cy": fit.principal_point[1]},
        "camera": "x_cam = R @ x_model + t; camera x right, y up, looking down -Z; metres; pixels from the "
                  "top-left corner, v down",
        "identity": np.round(fit.identity.astype(np.float64), 6).tolist(),
        "frames": frames,
    }


def footage_settings(footage: Footage, settings: FitSettings) -> FitSettings:
    """``settings`` for this footage: a capture's calibrated stage camera gives the focal length where the
    settings give none."""
    if settings.focal_px is None and footage.kind == "capture" and footage.capture.focal_px is not None:
        return replace(settings, focal_px=footage.capture.focal_px)
    return settings


def run_track(options: TrackOptions) -> dict:
    """Track ``options.source`` and write ``options.out``; returns the track written."""
    start = time.perf_counter()
    model = FaceModel.load(options.model_path)
    identity = None
    if options.identity_from is not None:
        identity = np.asarray(read_track(options.identity_from, model.source)["identity"], dtype=np.float32)
    footage = Footage(options.source, options.frames, options.first_frame, normals=options.settings.normal > 0)
    settings = footage_settings(footage, options.settings)
    detected = detect(footage, options)
    fitter = SequenceFitter(model, Correspondence.load(), detected.size, settings)
    bar = tqdm(desc="fit", unit="step", disable=not options.progress)

    def progress(stage: str, step: int, total: int) -> None:
        if bar.total != total or bar.desc != f"fit ({stage})":
            bar.reset(total)
            bar.set_description(f"fit ({stage})")
        bar.update(1)

    fit = fitter.fit(detected.points, identity, detected.frames, progress)
    bar.close()
    track = track_record(model, fit, detected.numbers, detected.size, str(options.source))
    track["timing_s"] = round(time.perf_counter() - start, 2)
    if options.preview is not None:
        from engine.track.preview import write_preview

        write_preview(options.preview, model, track, detected)
    write_track(options.out, track)
    return track

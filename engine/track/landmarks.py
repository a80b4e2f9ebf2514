"""2-D face landmarks from MediaPipe's FaceMesh model, run offline from the ``mediapipe`` wheel.

``mediapipe==0.10.21`` ships the FaceMesh TFLite graphs inside its wheel (Apache-2.0, as is the model,
see its model card), so detection needs no download. It is installed ``--no-deps`` beside
``opencv-python-headless`` (its declared ``opencv-contrib-python`` and ``jax`` are not needed by the
legacy FaceMesh solution used here); see ``requirements-tracking.txt``.

A detection is 478 points (468 mesh points + 10 iris points with ``refine_landmarks``) in pixels:
x right, y down, origin at the image's top-left corner (the rasteriser's convention, pixel centres at
+0.5). :mod:`engine.track.correspondence` maps each point onto the ICT mesh.
"""

from __future__ import annotations

import contextlib
import os
from dataclasses import dataclass

import numpy as np

from engine.errors import InputError

POINT_COUNT = 478


@dataclass(frozen=True)
class Detection:
    """One face: ``points`` (478, 2) pixels; ``area`` of its bounding box in square pixels."""

    points: np.ndarray

    @property
    def area(self) -> float:
        span = self.points.max(axis=0) - self.points.min(axis=0)
        return float(span[0] * span[1])


class FaceMeshDetector:
    """MediaPipe FaceMesh on 8-bit sRGB images; ``max_faces`` faces per image, each with 478 points.

    ``static`` treats every frame as a new image (no tracking between calls): frames may come in any
    order and a detection never leans on the previous frame's mistakes.
    """

    def __init__(self, max_faces: int = 4, min_confidence: float = 0.3) -> None:
        os.environ.setdefault("GLOG_minloglevel", "2")  # quiet the C++ logs of the graph start-up
        os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
        try:
            with _quiet_stderr():
                from mediapipe.python.solutions import face_mesh
        except ImportError as exc:
            raise InputError("mediapipe", f"the face landmark detector is not installed ({exc}); install it with "
                             "`pip install --no-deps -r requirements-tracking.txt` (or run install.py)") from None
        with _quiet_stderr():
            self._mesh = face_mesh.FaceMesh(static_image_mode=True, max_num_faces=max_faces, refine_landmarks=True,
                                            min_detection_confidence=min_confidence)

    def detect(self, srgb: np.ndarray) -> list[Detection]:
        """Faces in an (H, W, 3) uint8 sRGB image, largest first."""
        height, width = srgb.shape[:2]
        with _quiet_stderr():  # the graph logs from C++ on its first images
            result = self._mesh.process(np.ascontiguousarray(srgb))
        faces = []
        for face in result.multi_face_landmarks or []:
            points = np.array([(p.x * width, p.y * height) for p in face.landmark], dtype=np.float64)
            if len(points) == POINT_COUNT:
                faces.append(Detection(points))
        return sorted(faces, key=lambda d: -d.area)

    def close(self) -> None:
        self._mesh.close()

    def __enter__(self) -> FaceMeshDetector:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()


@contextlib.contextmanager
def _quiet_stderr():
    """Silence file descriptor 2 while MediaPipe's graph starts (it logs from C++, not Python)."""
    try:
        saved = os.dup(2)
    except OSError:
        yield
        return
    with open(os.devnull, "w") as null:
        os.dup2(null.fileno(), 2)
        try:
            yield
        finally:
            os.dup2(saved, 2)
            os.close(saved)

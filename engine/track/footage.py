"""Footage for tracking: a capture folder, an image sequence pattern or a video file, frame by frame.

Every frame comes as :class:`FootageFrame`: the frame number, a scene-linear float32 RGB image and the
8-bit sRGB image the landmark detector sees, plus an optional coverage mask (the capture's matte or
an EXR's alpha) for the silhouette term.

* **Capture folder** (``capture.yaml``): the capture's ``tracking`` frames where it has them, else the
  sum of its OLAT images (a uniformly lit image). Frames are the capture's. With ``normals`` (default)
  each frame also carries the photometric-stereo normals of its OLATs (:mod:`engine.track.normals`).
* **Image sequence**: ``plate.####.png`` (``%04d`` works too); EXR is scene-linear, PNG/JPG sRGB.
  Frames are the numbers found on disk.
* **Video file** any format OpenCV reads (sRGB); frames are numbered from ``first_frame`` (default 1).

Linear images are shown to the detector auto-exposed: the 99th percentile of the lit pixels maps to
0.85 before the sRGB curve, so a dim sum of OLATs and a bright tracking frame look alike.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from engine.errors import InputError
from engine.io.colour import srgb_decode, srgb_encode
from engine.io.exr import read_image
from engine.stage.capture import CAPTURE_FILE, Capture, describe_frames
from engine.track.normals import photometric_normals

_FRAME_FIELD = re.compile(r"#+|%0?(\d*)d")
VIDEO_SUFFIXES = (".mov", ".mp4", ".avi", ".mkv", ".m4v", ".webm", ".mxf")
SRGB_SUFFIXES = (".png", ".jpg", ".jpeg")
LINEAR_SUFFIXES = (".exr",)
EXPOSE_TO = 0.85


@dataclass
class FootageFrame:
    """One frame: ``linear`` (H, W, 3) float32 scene-linear, ``srgb`` (H, W, 3) uint8 for the detector,
    ``mask`` (H, W) float32 coverage in [0, 1] or None, where it came from (for messages), and for a
    capture's frames ``normals`` (H, W, 3) from its OLATs (:mod:`engine.track.normals`; camera frame,
    zero where unknown), else None."""

    number: int
    linear: np.ndarray
    srgb: np.ndarray
    mask: np.ndarray | None
    source: str
    normals: np.ndarray | None = None

    @property
    def size(self) -> tuple[int, int]:
        """(width, height) in pixels."""
        return self.linear.shape[1], self.linear.shape[0]


def auto_expose(linear: np.ndarray) -> np.ndarray:
    """8-bit sRGB of a linear image, scaled so its lit pixels' 99th percentile reads ``EXPOSE_TO``."""
    peak = linear.max(axis=2)
    lit = peak[peak > 1e-6]
    scale = EXPOSE_TO / float(np.percentile(lit, 99)) if lit.size else 1.0
    return np.round(srgb_encode(linear * scale) * 255.0).astype(np.uint8)


class Footage:
    """Frames of one input, read lazily in order. ``frames`` lists the numbers (after ``--frames``)."""

    def __init__(self, source: str | Path, frames: list[int] | None = None, first_frame: int = 1,
                 normals: bool = True) -> None:
        self.source = str(source)
        self.normals = normals
        path = Path(source)
        if (path / CAPTURE_FILE).is_file() or path.name == CAPTURE_FILE:
            self.kind = "capture"
            self.capture = Capture.load(path)
            available = self.capture.frames
        elif _FRAME_FIELD.search(path.name):
            self.kind = "sequence"
            self._files = _sequence_files(path)
            available = sorted(self._files)
        elif path.suffix.lower() in VIDEO_SUFFIXES or (path.is_file() and path.suffix.lower() not in
                                                        SRGB_SUFFIXES + LINEAR_SUFFIXES):
            self.kind = "video"
            self.first_frame = first_frame
            available = list(range(first_frame, first_frame + _video_length(path)))
        elif path.is_dir():
            raise InputError(path, f"a folder without {CAPTURE_FILE}: give a capture folder, an image sequence "
                             "(frame.####.png) or a video file")
        else:
            raise InputError(path, "not found" if not path.exists() else
                             "a single image; give an image sequence with a frame field (frame.####.png)")
        if frames is not None:
            missing = sorted(set(frames) - set(available))
            if missing:
                raise InputError(path, f"frame {missing[0]} is not in the footage (it has {describe_frames(available)})")
            available = [f for f in available if f in set(frames)]
        self.frames = available

    def __len__(self) -> int:
        return len(self.frames)

    def __iter__(self) -> Iterator[FootageFrame]:
        if self.kind == "video":
            yield from self._video_frames()
            return
        size = None
        for number in self.frames:
            frame = self._capture_frame(number) if self.kind == "capture" else _image_frame(self._files[number],
                                                                                         number)
            if size is not None and frame.size != size:
                raise InputError(frame.source, f"frame {number} is {frame.size[0]}x{frame.size[1]}, earlier frames "
                                 f"are {size[0]}x{size[1]}: all frames must have one size")
            size = frame.size
            yield frame

    # ------------------------------------------------------------------ capture
    def _capture_frame(self, number: int) -> FootageFrame:
        capture = self.capture
        tracking = capture.tracking_path(number)
        has_tracking = tracking is not None and tracking.is_file()
        olats, olat_alpha = (self._olats(number) if self.normals or not has_tracking else (None, None))
        if has_tracking:
            image = read_image(tracking)
            linear, source = image.rgb.astype(np.float32), str(tracking)
            alpha = image.alpha
        else:
            linear, alpha, source = olats.sum(axis=0), olat_alpha, str(capture.olat_path(0, number))
        matte = capture.matte_path(number)
        if matte is not None and matte.is_file():
            alpha = read_image(matte).rgb[..., 0]
        _check_finite(linear, source, number)
        mask = None if alpha is None else np.clip(alpha.astype(np.float32), 0.0, 1.0)
        normals = None
        if olats is not None and self.normals:
            normals = photometric_normals(olats, capture.directions, capture.rgb)
        return FootageFrame(number, linear, auto_expose(linear), mask, source, normals)

    def _olats(self, number: int) -> tuple[np.ndarray, np.ndarray | None]:
        """The frame's OLAT images (L, H, W, 3) float32 and the first one's alpha."""
        capture = self.capture
        capture.check_files(number)
        images, alpha = [], None
        for index in range(capture.light_count):
            image = read_image(capture.olat_path(index, number))
            rgb = image.rgb.astype(np.float32)
            if images and rgb.shape != images[0].shape:
                raise InputError(capture.olat_path(index, number), f"frame {number}: OLAT images differ in size")
            _check_finite(rgb, str(capture.olat_path(index, number)), number)
            images.append(rgb)
            alpha = image.alpha if alpha is None else alpha
        return np.stack(images), alpha

    # ------------------------------------------------------------------ video
    def _video_frames(self) -> Iterator[FootageFrame]:
        video = cv2.VideoCapture(self.source)
        wanted = set(self.frames)
        size = None
        try:
            number = self.first_frame
            while number <= self.frames[-1]:
                ok, bgr = video.read()
                if not ok:
                    raise InputError(self.source, f"frame {number}: cannot decode (corrupt or truncated video)")
                if number in wanted:
                    rgb = np.ascontiguousarray(bgr[..., ::-1])
                    frame = FootageFrame(number, srgb_decode(rgb / 255.0), rgb, None, f"{self.source}#{number}")
                    if size is not None and frame.size != size:
                        raise InputError(self.source, f"frame {number}: size changes within the video")
                    size = frame.size
                    yield frame
                number += 1
        finally:
            video.release()


def _sequence_files(pattern: Path) -> dict[int, Path]:
    """Frame number -> file for ``folder/name.####.ext`` (or ``%04d``); InputError when none match."""
    folder = pattern.parent if str(pattern.parent) else Path(".")
    name = pattern.name
    field = _FRAME_FIELD.search(name)
    head, tail = re.escape(name[:field.start()]), re.escape(name[field.end():])
    matcher = re.compile(f"^{head}(-?\\d+){tail}$")
    if pattern.suffix.lower() not in SRGB_SUFFIXES + LINEAR_SUFFIXES:
        raise InputError(pattern, f"unsupported image type {pattern.suffix!r} (use .png, .jpg or .exr)")
    files = {}
    if folder.is_dir():
        for entry in folder.iterdir():
            match = matcher.match(entry.name)
            if match and entry.is_file():
                files[int(match.group(1))] = entry
    if not files:
        raise InputError(pattern, "no files match this pattern")
    return files


def _image_frame(path: Path, number: int) -> FootageFrame:
    if path.suffix.lower() in LINEAR_SUFFIXES:
        image = read_image(path)
        linear = image.rgb.astype(np.float32)
        _check_finite(linear, str(path), number)
        mask = None if image.alpha is None else np.clip(image.alpha.astype(np.float32), 0.0, 1.0)
        return FootageFrame(number, linear, auto_expose(linear), mask, str(path))
    bgr = cv2.imread(str(path), cv2.IMREAD_COLOR)
    if bgr is None:
        raise InputError(path, f"frame {number}: cannot decode the image (corrupt or not an image)")
    rgb = np.ascontiguousarray(bgr[..., ::-1])
    return FootageFrame(number, srgb_decode(rgb / 255.0), rgb, None, str(path))


def _check_finite(linear: np.ndarray, source: str, number: int) -> None:
    bad = int(np.count_nonzero(~np.isfinite(linear)))
    if bad:
        raise InputError(source, f"frame {number}: {bad} pixel values are NaN or infinite")


def _video_length(path: Path) -> int:
    if not path.is_file():
        raise InputError(path, "not found")
    video = cv2.VideoCapture(str(path))
    try:
        if not video.isOpened():
            raise InputError(path, "cannot open the video (unknown format or corrupt file)")
        count = int(video.get(cv2.CAP_PROP_FRAME_COUNT))
    finally:
        video.release()
    if count <= 0:
        raise InputError(path, "the video has no frames")
    return count

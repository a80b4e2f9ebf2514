"""Capture folders: ``capture.yaml`` plus one OLAT image sequence per stage light.

Format (all paths relative to the capture folder, directions in the engine frame: Y up,
subject looking +Z)::

    frames: [1001, 1002]            # a list, or a range string "1001-1100"
    olat: "olat/L{light:03d}/frame.{frame:04d}.exr"
    lights:
      - {id: 0, direction: [x, y, z], rgb: [r, g, b]}   # unit vector subject->light;
                                                          # rgb = irradiance on the subject
    tracking: "tracking/frame.{frame:04d}.exr"   # optional: fully lit frames (face tracking)
    matte: "matte/frame.{frame:04d}.exr"         # optional: alpha matte (else OLAT alpha)
    colorspace: "lin_rec709"                     # optional OCIO name, default scene-linear Rec.709

``rgb`` shares units with HDRI radiance times steradians, so a stage light's weight under an
environment L is the integral of L over that light's share of the sphere divided by its rgb.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import yaml

from engine.errors import InputError
from engine.io.yaml_file import load_yaml
from relume_host.atomic import write_bytes_atomic

CAPTURE_FILE = "capture.yaml"
DEFAULT_OLAT_PATTERN = "olat/L{light:03d}/frame.{frame:04d}.exr"
MAX_FRAMES = 1_000_000     # a frame range longer than this is a typo (and would not fit in memory)
DEFAULT_COLORSPACE = "lin_rec709"


def describe_frames(frames: Sequence[int]) -> str:
    """Frame numbers for a message: "no frames", "frame 1001", "30 frames, 1001-1030"."""
    if not frames:
        return "no frames"
    if len(frames) == 1:
        return f"frame {frames[0]}"
    return f"{len(frames)} frames, {min(frames)}-{max(frames)}"


def parse_frames(spec: str | int | Sequence[int], where: str | Path = "frames") -> list[int]:
    """Frames from a list, one int, or ranges such as "1001-1100" or "1001-1010,1020"."""
    if isinstance(spec, int):
        return [spec]
    if isinstance(spec, str):
        frames: list[int] = []
        try:
            for part in spec.split(","):
                part = part.strip()
                if "-" in part[1:]:
                    cut = part.index("-", 1)
                    first, last = int(part[:cut]), int(part[cut + 1 :])
                    if last < first:
                        raise ValueError
                    if last - first >= MAX_FRAMES:
                        raise InputError(where, f"frame range {part} holds {last - first + 1} frames, more than "
                                                f"{MAX_FRAMES}")
                    frames.extend(range(first, last + 1))
                elif part:
                    frames.append(int(part))
        except ValueError:
            raise InputError(where, f"bad frame range {spec!r} (use e.g. 1001-1100 or 1001,1005)") from None
        if not frames:
            raise InputError(where, "no frames given")
        return frames
    try:
        frames = [int(f) for f in spec]
    except (TypeError, ValueError):
        raise InputError(where, f"frames must be integers, got {spec!r}") from None
    if not frames:
        raise InputError(where, "no frames given")
    return frames


def unit_vectors(values: object, where: str | Path, what: str) -> np.ndarray:
    """Normalise (N, 3) direction vectors, naming ``what`` in the error for a zero or bad one."""
    try:
        vectors = np.asarray(values, dtype=np.float64).reshape(-1, 3)
    except (TypeError, ValueError):
        raise InputError(where, f"{what}: directions must be [x, y, z] triples") from None
    norms = np.linalg.norm(vectors, axis=1)
    bad = np.flatnonzero(~np.isfinite(norms) | (norms < 1e-9))
    if bad.size:
        raise InputError(where, f"{what} {int(bad[0])}: zero or non-finite direction {vectors[bad[0]].tolist()}")
    return vectors / norms[:, None]


@dataclass(frozen=True)
class Capture:
    """A light-stage capture folder, validated.

    directions: (L, 3) unit vectors subject->light in the engine frame.
    rgb: (L, 3) irradiance each stage light puts on the subject (radiance x steradian units).
    """

    folder: Path
    frames: list[int]
    olat_pattern: str
    light_ids: list[int]
    directions: np.ndarray
    rgb: np.ndarray
    tracking_pattern: str | None = None
    matte_pattern: str | None = None
    colorspace: str = DEFAULT_COLORSPACE
    focal_px: float | None = None       # the stage camera's calibrated focal length, pixels of the images
    extra: dict = field(default_factory=dict)

    @property
    def light_count(self) -> int:
        return len(self.light_ids)

    def olat_path(self, light_index: int, frame: int) -> Path:
        """Path of stage light ``light_index`` (position in ``lights``, not its id) at ``frame``."""
        return self.folder / self.olat_pattern.format(light=self.light_ids[light_index], frame=frame)

    def tracking_path(self, frame: int) -> Path | None:
        return None if self.tracking_pattern is None else self.folder / self.tracking_pattern.format(frame=frame)

    def matte_path(self, frame: int) -> Path | None:
        return None if self.matte_pattern is None else self.folder / self.matte_pattern.format(frame=frame)

    def check_files(self, frame: int) -> None:
        """Raise InputError when an OLAT file of ``frame`` is missing or the folder holds more
        light sequences than ``capture.yaml`` lists."""
        for index in range(self.light_count):
            path = self.olat_path(index, frame)
            if not path.is_file():
                raise InputError(path, f"missing OLAT image for light id {self.light_ids[index]}, frame {frame} "
                                 f"({self.light_count} lights listed in {self.folder / CAPTURE_FILE})")
        extra_path = self.folder / self.olat_pattern.format(light=max(self.light_ids) + 1, frame=frame)
        if extra_path.is_file():
            raise InputError(extra_path, f"image for a light not listed in {self.folder / CAPTURE_FILE} "
                             f"(it lists {self.light_count} lights): light count does not match the files")

    @classmethod
    def load(cls, folder: str | Path) -> Capture:
        """Load and validate ``folder/capture.yaml`` (``folder`` may also be the yaml itself)."""
        folder = Path(folder)
        yaml_path = folder if folder.suffix in (".yaml", ".yml") else folder / CAPTURE_FILE
        folder = yaml_path.parent
        data = load_yaml(yaml_path, "capture description not found (a capture is a folder with capture.yaml)")
        if not isinstance(data, dict):
            raise InputError(yaml_path, "expected a mapping with frames, olat and lights")
        for key in ("frames", "olat", "lights"):
            if key not in data:
                raise InputError(yaml_path, f"missing key '{key}'")
        pattern = str(data["olat"])
        if "{light" not in pattern or "{frame" not in pattern:
            raise InputError(yaml_path, f"olat pattern {pattern!r} needs {{light...}} and {{frame...}} fields")
        lights = data["lights"]
        if not isinstance(lights, list) or not lights:
            raise InputError(yaml_path, "lights must be a non-empty list")
        try:
            ids = [int(light["id"]) for light in lights]
            rgb = np.asarray([np.broadcast_to(np.asarray(light["rgb"], dtype=np.float64), 3) for light in lights])
            raw_directions = [light["direction"] for light in lights]
        except (KeyError, TypeError, ValueError) as exc:
            raise InputError(yaml_path, f"each light needs id, direction [x, y, z] and rgb [r, g, b] ({exc})") from None
        if len(set(ids)) != len(ids):
            raise InputError(yaml_path, "light ids must be unique")
        if not np.all(np.isfinite(rgb)) or np.any(rgb <= 0):
            raise InputError(yaml_path, "light rgb values must be finite and positive")
        known = {"frames", "olat", "lights", "tracking", "matte", "colorspace", "camera"}
        return cls(
            folder=folder,
            frames=parse_frames(data["frames"], yaml_path),
            olat_pattern=pattern,
            light_ids=ids,
            directions=unit_vectors(raw_directions, yaml_path, "light"),
            rgb=rgb,
            tracking_pattern=data.get("tracking"),
            matte_pattern=data.get("matte"),
            colorspace=str(data.get("colorspace", DEFAULT_COLORSPACE)),
            focal_px=_focal(data.get("camera"), yaml_path),
            extra={k: v for k, v in data.items() if k not in known},
        )


def _focal(camera: object, yaml_path: Path) -> float | None:
    """The optional ``camera: {focal_px: F}`` of capture.yaml (positive pixels), or None."""
    if camera is None:
        return None
    focal = camera.get("focal_px") if isinstance(camera, dict) else None
    try:
        value = float(focal)
    except (TypeError, ValueError):
        value = math.nan
    if not (math.isfinite(value) and value > 0):
        raise InputError(yaml_path, f"camera must be a mapping with focal_px, a positive number of pixels (got {camera!r})")
    return value


def write_capture_yaml(
    folder: str | Path,
    frames: Sequence[int],
    directions: np.ndarray,
    rgb: np.ndarray,
    olat_pattern: str = DEFAULT_OLAT_PATTERN,
    tracking_pattern: str | None = None,
    matte_pattern: str | None = None,
    focal_px: float | None = None,
    extra: dict | None = None,
) -> Path:
    """Write ``capture.yaml`` for lights with ids 0..L-1 (``focal_px``: the camera's calibrated focal length
    in pixels, when known); returns its path."""
    data: dict = {
        "frames": [int(f) for f in frames],
        "olat": olat_pattern,
        "lights": [
            {"id": i, "direction": [round(float(v), 9) for v in d], "rgb": [float(v) for v in c]}
            for i, (d, c) in enumerate(zip(np.asarray(directions), np.asarray(rgb)))
        ],
        "colorspace": DEFAULT_COLORSPACE,
    }
    if tracking_pattern:
        data["tracking"] = tracking_pattern
    if matte_pattern:
        data["matte"] = matte_pattern
    if focal_px is not None:
        data["camera"] = {"focal_px": round(float(focal_px), 4)}
    data.update(extra or {})
    path = Path(folder) / CAPTURE_FILE
    write_bytes_atomic(path, yaml.safe_dump(data, sort_keys=False, default_flow_style=None).encode())
    return path

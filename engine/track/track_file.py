"""The ``.track`` file: a fitted (or transferred) facial performance, JSON, versioned, written atomically.

Other tools read it, so its names are fixed::

    {
      "format": "relume-track", "version": 1,
      "model": {"file": "ict_face_model.npz", "sha256": "...", "identity_modes": 100,
                "expression_names": ["browDown_L", ...]},
      "source": "what was tracked (path)",
      "image_size": [width, height],
      "intrinsics": {"focal_px": f, "cx": cx, "cy": cy},
      "camera": "x_cam = R @ x_model + t; camera x right, y up, looking down -Z; metres; pixels from the
                 top-left corner, v down",
      "identity": [100 floats],
      "frames": {
        "1001": {"expression": {"browDown_L": 0.0, ...}, "rotation": [[...], [...], [...]],
                 "translation": [x, y, z], "landmark_error_px": 0.8, "confidence": 0.9, "face_found": true},
        ...
      }
    }

``landmark_error_px`` is the weighted mean distance between the detected landmarks and the fitted
model's (null where no face was found); ``confidence`` is ``exp(-error / 3 px)`` (0 without a face).
A transferred track adds ``"transfer": {...}`` saying where its parts came from.
"""

from __future__ import annotations

import hashlib
import json
from functools import lru_cache
from pathlib import Path

from engine.errors import InputError
from relume_host.atomic import write_bytes_atomic

FORMAT = "relume-track"
VERSION = 1
FRAME_KEYS = ("expression", "rotation", "translation", "landmark_error_px", "confidence", "face_found")


@lru_cache(maxsize=4)
def _sha256(path: str, size: int, mtime_ns: int) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def model_fingerprint(path: Path) -> str:
    """sha256 of the model file (cached per path, size and modification time)."""
    stat = Path(path).stat()
    return _sha256(str(Path(path).resolve()), stat.st_size, stat.st_mtime_ns)


def write_track(path: str | Path, track: dict) -> Path:
    """Write ``track`` (a dict in the format above) atomically; returns the path."""
    path = Path(path)
    write_bytes_atomic(path, (json.dumps(track, indent=1) + "\n").encode())
    return path


def read_track(path: str | Path, model_path: Path | None = None) -> dict:
    """Read and validate a ``.track``; with ``model_path``, refuse a track made with another model file."""
    path = Path(path)
    try:
        track = json.loads(path.read_text())
    except FileNotFoundError:
        raise InputError(path, "track file not found") from None
    except (OSError, UnicodeDecodeError, ValueError) as exc:
        raise InputError(path, f"not a readable .track file ({exc})") from None
    if not isinstance(track, dict) or track.get("format") != FORMAT:
        raise InputError(path, f"not a {FORMAT} file")
    if track.get("version") != VERSION:
        raise InputError(path, f"track format version {track.get('version')!r}; this Relume reads version {VERSION}")
    for key in ("model", "image_size", "intrinsics", "identity", "frames"):
        if key not in track:
            raise InputError(path, f"missing key '{key}'")
    if not isinstance(track["frames"], dict) or not track["frames"]:
        raise InputError(path, "no frames")
    for number, record in track["frames"].items():
        missing = [k for k in FRAME_KEYS if k not in record]
        if missing or not number.lstrip("-").isdigit():
            raise InputError(path, f"frame {number!r}: missing {', '.join(missing) or 'a numeric frame number'}")
    if model_path is not None:
        expected = model_fingerprint(model_path)
        if track["model"].get("sha256") != expected:
            raise InputError(path, f"made with another face model file (sha256 {str(track['model'].get('sha256'))[:12]}…,"
                             f" this one is {expected[:12]}… at {model_path})")
    return track


def frame_numbers(track: dict) -> list[int]:
    """The track's frame numbers in ascending order."""
    return sorted(int(f) for f in track["frames"])

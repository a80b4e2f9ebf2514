"""Request bodies of the service, validated into engine objects; captures stay loaded between calls.

Paths in a request are absolute, or relative to the request's ``project`` folder (the host's
project or script folder, absolute); the service has no working folder of its own to resolve them
against. Outputs must carry their endpoint's suffix (``.exr`` image sequences, checked by the relight job, ``.track``, ``.npz``).
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path
from typing import TypeVar

from engine.errors import InputError
from engine.lighting.lights import LightsFile, frame_lights_from_dicts, lights_from_dicts
from engine.lighting.request import Lighting
from engine.reenact.settings import TEMPORAL_SMOOTHING, Precision, Runtime
from engine.stage.capture import CAPTURE_FILE, Capture, parse_frames
from relume_host.vocabulary import DEFAULT_WEIGHT_METHOD

E = TypeVar("E", bound=StrEnum)


class CaptureStore:
    """Loaded captures by folder, reloaded when their ``capture.yaml`` changes on disk.

    Keeping the Capture (and through it the per-frame cache files) between calls is what makes
    a live relight cost one cached read instead of a YAML parse and an EXR decode.
    """

    def __init__(self) -> None:
        self._captures: dict[Path, tuple[int, Capture]] = {}
        self._lock = threading.Lock()

    def __len__(self) -> int:
        return len(self._captures)

    def get(self, folder: Path) -> Capture:
        yaml_path = folder if folder.suffix in (".yaml", ".yml") else folder / CAPTURE_FILE
        key = yaml_path.resolve()
        try:
            stamp = key.stat().st_mtime_ns
        except OSError:
            raise InputError(yaml_path, "capture description not found (a capture is a folder with capture.yaml)") from None
        with self._lock:
            known = self._captures.get(key)
            if known is None or known[0] != stamp:
                known = (stamp, Capture.load(key))
                self._captures[key] = known
            return known[1]


def _field(body: dict, key: str, kind: type | tuple[type, ...], default: object = None, required: bool = False):
    if key not in body or body[key] is None:
        if required:
            raise InputError(f"request: '{key}'", "missing")
        return default
    value = body[key]
    if isinstance(value, bool) and kind in (int, float, (int, float)):
        raise InputError(f"request: '{key}'", f"must be a number, got {value!r}")
    if not isinstance(value, kind):
        raise InputError(f"request: '{key}'", f"has the wrong type ({type(value).__name__})")
    return value


def _project(body: dict) -> Path | None:
    """The request's ``project`` folder (absolute), which its relative paths are relative to."""
    value = _field(body, "project", str)
    if value is None:
        return None
    folder = Path(value).expanduser()
    if not folder.is_absolute():
        raise InputError("request: 'project'", f"must be an absolute folder, got {value!r}")
    return folder


def _path(body: dict, key: str, suffix: str | None = None) -> Path:
    """The path in ``body[key]``: absolute, or relative to ``project``; an output also ends in ``suffix``."""
    value = _field(body, key, str, required=True)
    if not value.strip() or "\0" in value:
        raise InputError(f"request: '{key}'", f"must be a path, got {value!r}")
    path = Path(value).expanduser()
    if not path.is_absolute():
        project = _project(body)
        if project is None:
            raise InputError(f"request: '{key}'", f"relative path {value!r} needs the request's 'project' folder")
        path = project / path
    if suffix is not None and not path.name.lower().endswith(suffix):
        raise InputError(f"request: '{key}'", f"output must be a {suffix} file, got {path.name!r}")
    return path


def parse_lighting(body: dict, captures: CaptureStore) -> Lighting:
    """The lighting every request shares: ``capture``, ``lights``, ``exposure``, ``method`` (and ``frame_lights``:
    frame -> lights-file entries, for the frames lit otherwise), checked as the command line's are. Environment
    files named relatively are looked up in ``project``, else beside the capture."""
    if not isinstance(body, dict):
        raise InputError("request", "body must be a JSON object")
    capture = captures.get(_path(body, "capture"))
    base = _project(body) or capture.folder
    lights = lights_from_dicts(_field(body, "lights", list, required=True), "request: lights", base)
    frame_lights = frame_lights_from_dicts(_field(body, "frame_lights", dict, {}), "request: 'frame_lights'", base)
    return Lighting(capture, LightsFile(lights, frame_lights), float(_field(body, "exposure", (int, float), 0.0)),
                    _field(body, "method", str, DEFAULT_WEIGHT_METHOD.value), where="request: '{}'")


@dataclass(frozen=True)
class RelightRequest:
    """``POST /relight``: lighting plus output pattern, frames and job options; ``frame_lights`` (frame ->
    lights-file entries) lights those frames with their own lights (animated lights)."""

    lighting: Lighting
    out: Path
    frames: list[int]
    skip_existing: bool
    wait: bool

    @classmethod
    def parse(cls, body: dict, captures: CaptureStore) -> RelightRequest:
        lighting = parse_lighting(body, captures)
        frames_spec = _field(body, "frames", (list, str, int), None)
        frames = lighting.capture.frames if frames_spec is None else parse_frames(frames_spec, "request: 'frames'")
        return cls(lighting, _path(body, "out"), frames,
                   bool(_field(body, "skip_existing", bool, False)), bool(_field(body, "wait", bool, False)))


@dataclass(frozen=True)
class RigRequest:
    """``POST /rig``: write the performer rig of a track (:mod:`engine.track.rig`)."""

    track: Path
    out: Path

    @classmethod
    def parse(cls, body: dict) -> RigRequest:
        return cls(_path(body, "track"), _path(body, "out", ".npz"))


@dataclass(frozen=True)
class TrackRequest:
    """``POST /track``: a host's keyed animation of a rig, written as a ``.track``."""

    rig: Path
    frames: dict
    out: Path

    @classmethod
    def parse(cls, body: dict) -> TrackRequest:
        return cls(_path(body, "rig"), _field(body, "frames", dict, required=True), _path(body, "out", ".track"))


def _choice(body: dict, key: str, kind: type[E], default: E) -> E:
    """A closed choice (a StrEnum's value) from ``body[key]``; ``default`` when absent."""
    value = _field(body, key, str, default.value)
    try:
        return kind(value)
    except ValueError:
        known = ", ".join(member.value for member in kind)
        raise InputError(f"request: '{key}'", f"must be one of {known}, got {value!r}") from None


@dataclass(frozen=True)
class ReenactRequest:
    """``POST /reenact``: a trained model and a track -> a reenacted capture folder, as a job. The fields
    are ``relume reenact``'s options, with its defaults (:mod:`engine.reenact.settings`)."""

    model: Path
    track: Path
    out: Path
    runtime: Runtime
    precision: Precision
    temporal_smoothing: float
    skip_existing: bool
    wait: bool

    @classmethod
    def parse(cls, body: dict) -> ReenactRequest:
        return cls(_path(body, "model"), _path(body, "track"), _path(body, "out"),
                   runtime=_choice(body, "runtime", Runtime, Runtime.ONNXRUNTIME),
                   precision=_choice(body, "precision", Precision, Precision.AUTO),
                   temporal_smoothing=float(_field(body, "temporal_smoothing", (int, float), TEMPORAL_SMOOTHING)),
                   skip_existing=bool(_field(body, "skip_existing", bool, False)),
                   wait=bool(_field(body, "wait", bool, False)))

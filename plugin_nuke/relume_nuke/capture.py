"""A light-stage capture as the adapter sees it: the engine's ``info --json`` description.

The capture's OLAT pattern uses Python format fields (``olat/L{light:03d}/frame.{frame:04d}.exr``);
Nuke's Read wants one path per light with the frame written as hashes (``frame.####.exr``).
Directions are unit vectors subject->light in the engine frame (Y up, subject looking +Z),
which is Nuke's world frame too.
"""

from __future__ import annotations

import json
import os
import re
from dataclasses import dataclass, replace

from relume_nuke.engine_cli import run_engine_json
from relume_nuke.host import os_path

_FRAME_FIELD = re.compile(r"\{frame(?::([^}]*))?\}")
_ZERO_PADDED = re.compile(r"0?(\d+)d?")


def hashes_for(spec: str | None, pattern: str) -> str:
    """Nuke's frame padding for a format spec: '' or 'd' -> '#', '04d' -> '####'."""
    if spec in (None, "", "d"):
        return "#"
    match = _ZERO_PADDED.fullmatch(spec)
    if match is None or (not spec.startswith("0") and int(match.group(1)) > 1):
        raise ValueError(f"{pattern}: frame field {{frame:{spec}}} cannot be written for Nuke (use {{frame:04d}})")
    return "#" * int(match.group(1))


def nuke_sequence_path(folder: str, pattern: str, **fields: int) -> str:
    """``folder/pattern`` with {frame...} as hashes and the other fields (e.g. light) filled in."""
    hashed = _FRAME_FIELD.sub(lambda m: hashes_for(m.group(1), pattern), pattern)
    folder = folder.replace("\\", "/").rstrip("/")
    return f"{folder}/{hashed.format(**fields)}".replace("\\", "/")


@dataclass(frozen=True)
class CaptureInfo:
    """What ``python -m engine info CAPTURE --json`` reports.

    folder: absolute capture folder; frames: frame numbers; olat/matte: patterns relative to folder;
    light_ids: stage light ids in capture order; directions: (L, 3) engine-frame unit vectors;
    rgb: (L, 3) irradiance per stage light; colorspace: OCIO name of the OLAT images; matte_channel:
    "alpha" or "red" (the matte files' channel holding the matte), None without a matte.
    """

    folder: str
    frames: tuple
    olat: str
    light_ids: tuple
    directions: tuple
    rgb: tuple
    matte: str | None = None
    colorspace: str = "lin_rec709"
    matte_channel: str | None = None

    @classmethod
    def from_dict(cls, data: dict) -> CaptureInfo:
        return cls(folder=str(data["folder"]), frames=tuple(int(f) for f in data["frames"]), olat=str(data["olat"]),
                   light_ids=tuple(int(i) for i in data["light_ids"]),
                   directions=tuple(tuple(float(v) for v in d) for d in data["directions"]),
                   rgb=tuple(tuple(float(v) for v in c) for c in data["rgb"]),
                   matte=data.get("matte"), colorspace=str(data.get("colorspace", "lin_rec709")),
                   matte_channel=data.get("matte_channel"))

    def to_json(self) -> str:
        return json.dumps({"folder": self.folder, "frames": list(self.frames), "olat": self.olat,
                           "light_ids": list(self.light_ids), "directions": [list(d) for d in self.directions],
                           "rgb": [list(c) for c in self.rgb], "matte": self.matte, "colorspace": self.colorspace,
                           "matte_channel": self.matte_channel})

    @property
    def light_count(self) -> int:
        return len(self.light_ids)

    @property
    def first_frame(self) -> int:
        return min(self.frames)

    @property
    def last_frame(self) -> int:
        return max(self.frames)

    def olat_sequence(self, index: int) -> str:
        """Nuke file path (``####`` frames) of stage light ``index`` (position, not id)."""
        return nuke_sequence_path(self.folder, self.olat, light=self.light_ids[index])

    def matte_sequence(self) -> str | None:
        return None if not self.matte else nuke_sequence_path(self.folder, self.matte)


def capture_folder(path: str) -> str:
    """The capture folder for a ``capture`` knob value (the folder itself or its capture.yaml), as the script
    names it: normalised (``cap/``, ``cap/capture.yaml`` and ``x/../cap`` are one capture) but not through
    the site's filename filters (:func:`relume_nuke.host.os_path` maps it for the engine and the disk)."""
    path = path.strip().replace("\\", "/")
    if path.lower().endswith((".yaml", ".yml")):
        path = os.path.dirname(path)
    return os.path.normpath(os.path.abspath(path)).replace("\\", "/") if path else ""


def load_capture(path: str) -> CaptureInfo:
    """Ask the engine to validate and describe the capture at ``path`` (folder or capture.yaml, as the script
    names it; the engine gets it through the site's filename filters). The description keeps the script's
    name for the folder, so the stage-light Reads hold the script's paths and Nuke filters them on each
    machine that opens them."""
    folder = capture_folder(path)
    return replace(CaptureInfo.from_dict(run_engine_json("info", os_path(folder))), folder=folder)

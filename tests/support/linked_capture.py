"""Multi-frame captures made of links to one frame of another capture (no extra renders, no copies)."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from engine.stage.capture import Capture, write_capture_yaml


def linked_capture(source: Capture, source_frame: int, folder: Path, frames: Sequence[int]) -> Capture:
    """A capture in ``folder`` whose every frame's OLAT files link to ``source``'s ``source_frame``."""
    for frame in frames:
        for index in range(source.light_count):
            target = folder / source.olat_pattern.format(light=source.light_ids[index], frame=frame)
            target.parent.mkdir(parents=True, exist_ok=True)
            target.symlink_to(source.olat_path(index, source_frame))
    write_capture_yaml(folder, frames, source.directions, source.rgb)
    return Capture.load(folder)

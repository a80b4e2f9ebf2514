"""A relight job over a frame range: output naming, resume, progress, atomic frames."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import KW_ONLY, dataclass, replace
from pathlib import Path

import numpy as np
from tqdm import tqdm

from engine.errors import InputError, OutputError
from engine.io.exr import write_image
from engine.relight.cache_policy import cache_pays
from engine.relight.frame import CacheOptions, relight_frame
from engine.stage.capture import Capture, describe_frames
from relume_host.atomic import atomic_path, exclusive_writer
from relume_host.frames import frame_path


def frame_output_path(pattern: str | Path, frame: int) -> Path:
    """Expand ``name.####.exr`` (or ``name.%04d.exr``) for ``frame``: :func:`relume_host.frames.frame_path`."""
    return Path(frame_path(str(pattern), frame))


def check_output_pattern(pattern: str | Path, frames: Sequence[int]) -> None:
    """Fail before any work when the output cannot hold the frames or its folder is unwritable."""
    if len(frames) > 1 and frame_output_path(pattern, frames[0]) == frame_output_path(pattern, frames[-1]):
        raise InputError(pattern, "output needs a frame number field (name.####.exr) for several frames")
    first = frame_output_path(pattern, frames[0])
    if first.suffix.lower() != ".exr":
        raise InputError(pattern, "output must be an .exr image sequence")
    try:
        with atomic_path(first.parent / ".relume_write_test") as probe:
            probe.write_bytes(b"")
    except OutputError as exc:
        raise OutputError(first, exc.problem) from None  # name the artist's output, not the probe
    (first.parent / ".relume_write_test").unlink(missing_ok=True)  # a farm job beside us may have removed it


@dataclass
class RelightJob:
    """Relight ``frames`` of ``capture`` with per-light ``weights`` (L, 3) into ``out_pattern``; a frame in
    ``frame_weights`` uses its own (L, 3) instead (animated lights)."""

    capture: Capture
    weights: np.ndarray
    out_pattern: str
    frames: Sequence[int]
    _: KW_ONLY
    skip_existing: bool = False
    cache: CacheOptions = CacheOptions()
    frame_weights: Mapping[int, np.ndarray] | None = None

    def pending_frames(self) -> list[int]:
        return [f for f in self.frames if not (self.skip_existing and frame_output_path(self.out_pattern, f).is_file())]

    def run(self, progress: bool = True, on_frame: Callable[[int, Path], None] | None = None) -> list[Path]:
        """Relight every pending frame; returns the paths written. Each frame is written atomically,
        so a stopped job resumes with ``skip_existing``."""
        unknown = sorted(set(self.frames) - set(self.capture.frames))
        if unknown:
            raise InputError(self.capture.folder / "capture.yaml", f"frames not in the capture: {unknown[:5]} "
                             f"(it has {describe_frames(self.capture.frames)})")
        check_output_pattern(self.out_pattern, list(self.frames))
        pending = self.pending_frames()
        if self.cache.enabled and pending and not cache_pays(self.capture, pending, self.cache.folder):
            self.cache = replace(self.cache, enabled=False)
        written = []
        for frame in tqdm(pending, desc="relight", unit="frame", disable=not progress):
            path = frame_output_path(self.out_pattern, frame)
            with exclusive_writer(path):
                self._write_frame(frame, path)
            written.append(path)
            if on_frame is not None:
                on_frame(frame, path)
        return written

    def _write_frame(self, frame: int, path: Path) -> None:
        weights = self.weights if not self.frame_weights else self.frame_weights.get(frame, self.weights)
        rgba = relight_frame(self.capture, weights, frame, self.cache)
        with np.errstate(over="ignore"):          # overflow is reported below, per frame
            rgba = rgba.astype(np.float16)
        bad = int(np.count_nonzero(~np.isfinite(rgba).all(axis=2)))
        if bad:
            raise InputError(path, f"frame {frame}: {bad} pixels would be NaN or infinite in half float (beyond "
                                   "65504): check the lights' strengths, the exposure and the stage rgb units; "
                                   "not written")
        try:
            write_image(path, rgba, "half")
        except OSError as exc:
            raise OutputError(path, f"cannot write ({exc})") from exc

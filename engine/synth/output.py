"""Writing the synthetic stage's files: a small thread pool of atomic image writes.

EXR encoding (zip compression) dominates the stage's run time at 150 images per frame, so
writes go to worker threads (OpenImageIO releases the GIL while it compresses) while the next
frame renders; queued images hold at most ``max_pending_bytes`` of pixels, which bounds memory.
"""

from __future__ import annotations

from collections import deque
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path

import cv2
import numpy as np

from engine.errors import OutputError
from engine.io.colour import srgb_encode
from engine.io.exr import write_image
from relume_host.atomic import atomic_path


def write_labels_png(path: Path, labels: np.ndarray) -> None:
    """Write (H, W) integer labels in [0, 255] as a one-channel 8-bit PNG, atomically."""
    with atomic_path(path) as tmp:
        if not cv2.imwrite(str(tmp), labels.astype(np.uint8)):
            raise OutputError(path, "cannot write PNG")


def write_srgb_png(path: Path, linear_rgb: np.ndarray) -> None:
    """Write scene-linear (H, W, 3) RGB as an 8-bit sRGB PNG (clipped to [0, 1]), atomically."""
    srgb = srgb_encode(linear_rgb)
    with atomic_path(path) as tmp:
        if not cv2.imwrite(str(tmp), np.round(srgb[..., ::-1] * 255.0).astype(np.uint8)):
            raise OutputError(path, "cannot write PNG")


class ImageWriter:
    """Queue image writes on ``threads`` worker threads; :meth:`close` waits and re-raises failures."""

    def __init__(self, threads: int = 2, max_pending_bytes: int = 256 << 20) -> None:
        self._pool = ThreadPoolExecutor(max_workers=threads, thread_name_prefix="synth-write")
        self._pending: deque[tuple[Future, int]] = deque()
        self._pending_bytes = 0
        self._max_pending_bytes = max_pending_bytes

    def _pop(self) -> None:
        future, size = self._pending.popleft()
        self._pending_bytes -= size
        future.result()

    def _submit(self, pixels: np.ndarray, function, *args) -> None:
        while self._pending and self._pending_bytes + pixels.nbytes > self._max_pending_bytes:
            self._pop()
        self._pending.append((self._pool.submit(function, *args), pixels.nbytes))
        self._pending_bytes += pixels.nbytes

    def exr(self, path: Path, pixels: np.ndarray, pixel_type: str = "half") -> None:
        self._submit(pixels, write_image, path, pixels, pixel_type)

    def labels(self, path: Path, labels: np.ndarray) -> None:
        self._submit(labels, write_labels_png, path, labels)

    def srgb(self, path: Path, linear_rgb: np.ndarray) -> None:
        self._submit(linear_rgb, write_srgb_png, path, linear_rgb)

    def wait(self) -> None:
        """Block until every queued write is done (raises the first failure)."""
        while self._pending:
            self._pop()

    def close(self) -> None:
        try:
            self.wait()
        finally:
            self._pool.shutdown(wait=True, cancel_futures=True)

    def __enter__(self) -> ImageWriter:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

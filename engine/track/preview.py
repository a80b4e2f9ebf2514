"""``relume track --preview DIR``: the fitted mesh drawn over the plate, per frame, plus a contact sheet.

``DIR/overlay.{frame:04d}.png``: the plate (sRGB) with the fitted face shaded grey (head-light) at 45 %
opacity and the detected landmarks (green; red where the detector found no face); ``DIR/contact_sheet.png``
shows up to eight frames spread over the sequence.
"""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import torch

from engine.errors import OutputError
from engine.face.model import FaceModel
from engine.render.rasterize import rasterize
from engine.track.geometry import track_camera, track_vertices
from relume_host.atomic import atomic_path

OPACITY = 0.45
SHEET_TILES = 8
SHEET_COLUMNS = 4


def _write_png(path: Path, bgr: np.ndarray) -> None:
    with atomic_path(path) as tmp:
        if not cv2.imwrite(str(tmp), bgr):
            raise OutputError(path, "cannot write PNG")


def overlay(model: FaceModel, track: dict, number: int, srgb: np.ndarray, points: np.ndarray | None) -> np.ndarray:
    """BGR uint8 image: ``srgb`` (H, W, 3) with frame ``number`` of ``track`` drawn over it."""
    vertices = track_vertices(model, track, [number])
    height = srgb.shape[0]
    submesh = model.submesh("face_and_head")
    with torch.no_grad():
        gbuffer = rasterize(track_camera(track), torch.from_numpy(vertices[0]).float(), submesh.triangles)
    shade = (0.25 + 0.75 * gbuffer.normal_camera[..., 2].clamp(0, 1)).numpy()[..., None] * 255.0
    mask = gbuffer.mask.numpy()[..., None]
    image = srgb.astype(np.float32)
    image = np.where(mask, (1 - OPACITY) * image + OPACITY * shade, image)
    bgr = np.ascontiguousarray(np.clip(image, 0, 255).astype(np.uint8)[..., ::-1])
    if points is not None:
        for x, y in points:
            cv2.circle(bgr, (int(round(x)), int(round(y))), 1, (60, 230, 60), -1, cv2.LINE_AA)
    else:
        cv2.putText(bgr, "no face", (6, height - 8), cv2.FONT_HERSHEY_SIMPLEX, 0.5, (40, 40, 230), 1, cv2.LINE_AA)
    return bgr


def write_preview(folder: Path, model: FaceModel, track: dict, detected) -> Path:
    """Write the overlays and ``contact_sheet.png`` into ``folder``; returns the sheet's path."""
    folder = Path(folder)
    tiles = []
    picks = set(np.linspace(0, len(detected.numbers) - 1, min(SHEET_TILES, len(detected.numbers))).round().astype(int))
    for index, (number, frame, points) in enumerate(zip(detected.numbers, detected.frames, detected.points)):
        bgr = overlay(model, track, number, frame.srgb, points)
        _write_png(folder / f"overlay.{number:04d}.png", bgr)
        if index in picks:
            tile = bgr.copy()
            cv2.putText(tile, str(number), (6, 18), cv2.FONT_HERSHEY_SIMPLEX, 0.5, (255, 255, 255), 1, cv2.LINE_AA)
            tiles.append(tile)
    while len(tiles) % SHEET_COLUMNS and len(tiles) > SHEET_COLUMNS:
        tiles.append(np.zeros_like(tiles[0]))
    rows = [np.concatenate(tiles[i:i + SHEET_COLUMNS], axis=1) for i in range(0, len(tiles), SHEET_COLUMNS)]
    sheet = folder / "contact_sheet.png"
    _write_png(sheet, np.concatenate(rows, axis=0))
    return sheet

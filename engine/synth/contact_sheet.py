"""A PNG contact sheet of a synthetic capture: what a person checks before using the data.

Rows are a few frames spread over the sequence; columns are the fully lit tracking frame, four
stage lights (front-left key, right side, top, back rim), the albedo, the segmentation labels,
the forward optical flow on a colour wheel (hue = direction, saturation = magnitude, legend in
the header) and, where the capture has one, the direct render under the ``--relight`` lights.
Images are scene-linear, shown as sRGB; OLATs are scaled by pi so a white surface facing the
light shows white.
"""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np

from engine.io.colour import srgb_decode
from engine.io.exr import read_image
from engine.stage.capture import Capture
from engine.synth.flow import flow_to_colour
from engine.synth.layout import GROUND_TRUTH, GT_PATTERNS, RELIT_PATTERN
from engine.synth.output import write_srgb_png

SHEET_FILE = "contact_sheet.png"
TILE = 256
HEADER = 28
# Lights shown: nearest stage light to each of these directions (subject->light, engine frame).
LIGHT_TARGETS = (("key", (-0.6, 0.4, 0.7)), ("side", (0.95, 0.0, 0.3)), ("top", (0.0, 1.0, 0.2)),
                 ("rim", (0.3, 0.3, -0.9)))
REGION_COLOURS = np.array([[0.0, 0.0, 0.0], [0.85, 0.6, 0.45], [0.2, 0.45, 1.0], [0.9, 0.1, 0.15], [0.25, 0.8, 0.3]])


def _tile(rgb: np.ndarray) -> np.ndarray:
    """Resize to TILE x TILE (area filter), float32 linear RGB."""
    rgb = np.asarray(rgb, dtype=np.float32)
    if rgb.shape[:2] != (TILE, TILE):
        rgb = cv2.resize(rgb, (TILE, TILE), interpolation=cv2.INTER_AREA)
    return rgb


def _wheel(size: int) -> np.ndarray:
    """A flow colour-wheel legend (size, size, 3) in display colours."""
    axis = np.linspace(-1.0, 1.0, size)
    x, y = np.meshgrid(axis, axis)
    flow = np.stack([x, y, np.zeros_like(x), (np.hypot(x, y) <= 1.0).astype(float)], axis=-1)
    return flow_to_colour(flow, 1.0)


def _label(image: np.ndarray, text: str, x: int, y: int = HEADER - 9) -> None:
    cv2.putText(image, text, (x + 6, y), cv2.FONT_HERSHEY_SIMPLEX, 0.5, (1.0, 1.0, 1.0), 1, cv2.LINE_AA)


def write_contact_sheet(folder: str | Path, rows: int = 4) -> Path:
    """Write ``folder/contact_sheet.png`` for the capture in ``folder``; returns its path."""
    capture = Capture.load(folder)
    gt = capture.folder / GROUND_TRUTH
    last = max(len(capture.frames) - 2, 0)  # the last frame has no forward flow
    frames = [capture.frames[int(round(i))] for i in np.linspace(0, last, min(rows, last + 1))]
    lights = [(name, int(np.argmax(capture.directions @ (np.asarray(t) / np.linalg.norm(t)))))
              for name, t in LIGHT_TARGETS]
    relit = any((gt / RELIT_PATTERN.format(frame=f)).is_file() for f in capture.frames)
    names = ["tracking", *(f"L{capture.light_ids[i]:03d} {name}" for name, i in lights), "albedo", "segments",
             "flow fwd"]
    names += ["relit (direct)"] if relit else []
    flows = [read_image(gt / GT_PATTERNS["flow_forward"].format(frame=f)) for f in frames]
    magnitudes = np.concatenate([np.hypot(fl.rgb[..., 0], fl.rgb[..., 1])[fl.alpha > 0] for fl in flows])
    scale = float(np.percentile(magnitudes, 99)) if magnitudes.size else 1.0
    sheet = np.zeros((HEADER + TILE * len(frames), TILE * len(names), 3), dtype=np.float32)
    for column, name in enumerate(names):
        _label(sheet, name, column * TILE)
    wheel = srgb_decode(_wheel(HEADER - 4))
    flow_x = names.index("flow fwd") * TILE + TILE - HEADER
    sheet[2:HEADER - 2, flow_x:flow_x + HEADER - 4] = wheel
    for row, (frame, flow) in enumerate(zip(frames, flows)):
        tiles = [read_image(capture.tracking_path(frame)).rgb]
        tiles += [read_image(capture.olat_path(i, frame)).rgb * np.pi for _, i in lights]
        tiles.append(read_image(gt / GT_PATTERNS["albedo"].format(frame=frame)).rgb)
        labels = cv2.imread(str(gt / GT_PATTERNS["segmentation"].format(frame=frame)), cv2.IMREAD_UNCHANGED)
        tiles.append(srgb_decode(REGION_COLOURS[np.clip(labels, 0, len(REGION_COLOURS) - 1)]))
        tiles.append(srgb_decode(flow_to_colour(np.concatenate([flow.rgb, flow.alpha[..., None]], axis=-1), scale)))
        if relit:
            path = gt / RELIT_PATTERN.format(frame=frame)
            tiles.append(read_image(path).rgb if path.is_file() else np.zeros((TILE, TILE, 3)))
        top = HEADER + row * TILE
        for column, image in enumerate(tiles):
            sheet[top:top + TILE, column * TILE:(column + 1) * TILE] = _tile(image)
        _label(sheet, f"frame {frame}", 0, top + 18)
    path = capture.folder / SHEET_FILE
    write_srgb_png(path, sheet)
    return path

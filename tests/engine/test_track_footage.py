"""What ``relume track`` reads from an image sequence or a video (:mod:`engine.track.footage`): the frames on
disk and their numbers, scene-linear values from sRGB files (in RGB order, not OpenCV's BGR), EXRs as they are
with their alpha as the mask, and the detector's auto-exposed 8-bit image. Capture folders, and footage refused
through ``relume track`` (frames of another size, corrupt files), are covered in ``test_track.py``."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest

from engine.errors import InputError
from engine.io.colour import srgb_decode, srgb_encode
from engine.io.exr import write_image
from engine.track.footage import EXPOSE_TO, Footage, auto_expose

SIZE = (24, 32)      # height, width


def _pixels(seed: int) -> np.ndarray:
    """8-bit RGB (H, W, 3) whose channels differ everywhere (a swap of R and B shows)."""
    rng = np.random.default_rng(seed)
    rgb = rng.integers(0, 256, (*SIZE, 3), dtype=np.uint8)
    rgb[..., 0] = rgb[..., 2] // 2 + 100                                  # R never equals B
    return rgb


def test_png_sequence_frames_numbers_and_linear_values(tmp_path: Path) -> None:
    for number in (7, 9, 12):
        cv2.imwrite(str(tmp_path / f"plate.{number:04d}.png"), _pixels(number)[..., ::-1])     # OpenCV writes BGR
    (tmp_path / "plate.0010.txt").write_text("not a frame")
    footage = Footage(tmp_path / "plate.####.png")
    assert footage.frames == [7, 9, 12] and len(footage) == 3
    frames = list(footage)
    assert [f.number for f in frames] == [7, 9, 12]
    for frame in frames:
        rgb = _pixels(frame.number)
        assert np.array_equal(frame.srgb, rgb)                             # the file's own pixels, RGB order
        assert np.allclose(frame.linear, srgb_decode(rgb / 255.0), atol=1e-6)
        assert frame.mask is None and frame.size == (SIZE[1], SIZE[0])
    assert Footage(tmp_path / "plate.%04d.png", frames=[9, 12]).frames == [9, 12]
    with pytest.raises(InputError, match="frame 8 is not in the footage"):
        Footage(tmp_path / "plate.####.png", frames=[8])


def test_exr_sequence_is_scene_linear_with_its_alpha_as_mask(tmp_path: Path) -> None:
    rng = np.random.default_rng(1)
    linear = rng.uniform(0.0, 3.0, (*SIZE, 3)).astype(np.float32)
    alpha = np.zeros((*SIZE, 1), np.float32)
    alpha[4:20, 6:26] = 1.0
    write_image(tmp_path / "plate.1001.exr", np.concatenate([linear, alpha], axis=2), pixel_type="float")
    frame = next(iter(Footage(tmp_path / "plate.####.exr")))
    assert frame.number == 1001
    assert np.array_equal(frame.linear, linear) and np.array_equal(frame.mask, alpha[..., 0])
    assert np.array_equal(frame.srgb, auto_expose(linear))


def test_auto_exposure_maps_the_lit_99th_percentile_to_its_level() -> None:
    """A dim face on a black frame (a tenth of it lit) with a specular glint: the lit pixels' 99th percentile,
    not the glint and not the black, sets the exposure."""
    linear = np.zeros((100, 100, 3), np.float32)
    ramp = 0.01 + 0.03 * np.linspace(0.0, 1.0, 1000, dtype=np.float32) ** 8      # few bright skin pixels
    linear[:10, :100] = ramp.reshape(10, 100)[..., None]
    linear[5, 5] = 1.0                                                    # the glint
    lit = linear[..., 0][linear[..., 0] > 0]
    level = EXPOSE_TO / float(np.percentile(lit, 99))
    shown = auto_expose(linear)
    values = linear[:10, 10:, 0]
    expected = np.round(srgb_encode(values * level) * 255.0)
    assert np.abs(shown[:10, 10:, 0].astype(int) - expected).max() <= 1
    near = np.abs(values * level - EXPOSE_TO).argmin()
    assert abs(int(shown[:10, 10:, 0].ravel()[near]) - round(float(srgb_encode(np.float32(EXPOSE_TO))) * 255)) <= 1
    assert shown[5, 5, 0] == 255 and shown[10:].max() == 0 and shown.dtype == np.uint8


def test_video_frames_are_numbered_from_the_first_frame(tmp_path: Path) -> None:
    path = tmp_path / "clip.avi"
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"MJPG"), 24.0, (SIZE[1], SIZE[0]))
    flat = [np.full((*SIZE, 3), (200, 120, 40 + 60 * i), np.uint8) for i in range(4)]     # RGB, B rising
    for rgb in flat:
        writer.write(np.ascontiguousarray(rgb[..., ::-1]))
    writer.release()
    footage = Footage(path, frames=[1002, 1003], first_frame=1000)
    frames = list(footage)
    assert footage.frames == [1002, 1003] and [f.number for f in frames] == [1002, 1003]
    for frame, rgb in zip(frames, flat[2:]):
        assert np.abs(frame.srgb.astype(int) - rgb).max() <= 6                          # JPEG-compressed
        assert np.allclose(frame.linear, srgb_decode(frame.srgb / 255.0), atol=1e-6)
        assert frame.source.endswith(f"clip.avi#{frame.number}")


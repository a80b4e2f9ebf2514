"""The reenactment scores (``engine.reenact.evaluate``) on images whose answers are known by construction."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from engine.reenact.evaluate import flicker, nearest_training_frames, psnr, temporal_error

FRAMES, SIZE = 6, 32


def moving_sequence(seed: int = 0, brightening: float = 0.05) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """A smooth texture sliding 1 px right per frame and getting brighter by ``brightening`` per frame (shading
    that changes), all pixels covered, and its true backward flow (-1, 0) (valid away from the left edge,
    which enters the frame)."""
    rng = np.random.default_rng(seed)
    texture = np.cumsum(np.cumsum(rng.random((SIZE, SIZE + FRAMES, 3)), 0), 1)
    texture /= texture.max()
    images = np.stack([texture[:, FRAMES - t:FRAMES - t + SIZE] * (1.0 + brightening * t) for t in range(FRAMES)])
    flows = np.zeros((FRAMES, SIZE, SIZE, 3), np.float32)
    flows[1:, :, :, 0] = -1.0
    flows[1:, :, 2:, 2] = 1.0
    return images.astype(np.float32), np.ones((FRAMES, SIZE, SIZE), bool), flows


def test_psnr_matches_its_definition_on_the_covered_pixels() -> None:
    truth, masks, _ = moving_sequence()
    masks[:, :, : SIZE // 2] = False
    noisy = truth.copy()
    noisy[:, :, SIZE // 2:] += 0.01 * np.percentile(truth[masks], 99)
    noisy[:, :, : SIZE // 2] = 100.0                        # uncovered: ignored
    assert psnr(noisy, truth, masks) == pytest.approx(40.0, abs=1e-3)


def test_temporal_error_is_zero_for_the_truth_and_sees_a_change_the_output_misses() -> None:
    truth, masks, flows = moving_sequence()
    assert temporal_error(truth, truth, masks, flows) == pytest.approx(0.0, abs=1e-6)
    unshaded, _, _ = moving_sequence(brightening=0.0)        # moves right, misses the change in shading
    truth_change = flicker(truth, truth, masks, flows)
    assert flicker(unshaded, truth, masks, flows) < 0.2 * truth_change            # "flickers" less than the truth
    assert temporal_error(unshaded, truth, masks, flows) > 0.8 * truth_change     # but its change is wrong


def test_flicker_and_temporal_error_grow_with_noise_that_changes_every_frame() -> None:
    truth, masks, flows = moving_sequence()
    noisy = truth + np.random.default_rng(1).normal(0.0, 0.02, truth.shape).astype(np.float32)
    assert flicker(noisy, truth, masks, flows) > flicker(truth, truth, masks, flows) + 0.01
    assert temporal_error(noisy, truth, masks, flows) > 0.02


def test_nearest_training_frame_has_the_closest_true_expression(tmp_path: Path) -> None:
    expressions = [[0.0, 0.0], [1.0, 0.0], [0.0, 1.0], [0.9, 0.1], [0.1, 0.8]]
    folder = tmp_path / "ground_truth"
    folder.mkdir()
    (folder / "params.json").write_text(json.dumps({"frames": [1001, 1002, 1003, 1004, 1005],
                                                    "expressions": expressions}))
    assert nearest_training_frames(tmp_path, [1001, 1002, 1003], [1004, 1005]) == [1002, 1003]
